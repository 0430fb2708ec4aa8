//! oneshot-core: everything of the Rust implementations of oneshot-bench but the network's
//! arithmetic.
//!
//! The Koch, Zemel and Salakhutdinov (2015) siamese one-shot network on Omniglot, driven by the
//! harness through protocol v1 (`oneshot run JOB.json`, docs/protocol.md). Each back-end
//! (rust-native, rust-tch, rust-burn, rust-candle) is a binary that implements
//! [`network::Network`] and calls [`cli::main`]; the data side follows docs/sampling.md exactly,
//! so pair files and decoded pixels match the Python implementation byte for byte:
//!
//! - [`cli`]: the command line every Rust binary shares;
//! - [`job`], [`params`], [`events`], [`result`], [`tasks`]: the protocol: the job file, every
//!   task's parameters (with the optimiser's section), stdout events, result.json, and the tasks
//!   themselves; [`program`]: which implementation this binary is;
//! - [`rng`]: the shared generator (xoshiro256**, SplitMix64 seeding, Lemire's draw);
//! - [`sampling`]: the data set scan and pair sampling; [`pairfile`]: the TSV pair file;
//! - [`data`]: 105x105 1-bit PNGs decoded in parallel into bit-packed images;
//! - [`augment`]: Koch's affine distortions; [`pairsource`]: the pairs of each training epoch;
//! - [`trials`]: one-shot trials (Koch's drawn, Lake's runs); [`episodes`]: the episodes of
//!   `serve`; [`scoring`]: N-way scoring and judging; [`mhd`]: the modified Hausdorff distance
//!   baseline;
//! - [`network`]: the shape, parameter layout, initial weights, weights file, input unpacking,
//!   optimiser schedule and the [`network::Network`] trait;
//! - [`error`]: the error type and exit codes; [`extra_work`]: the `ONESHOT_EXTRA_WORK` slowdown
//!   that proves the CI benchmark gates can fail.

pub mod augment;
pub mod cli;
pub mod data;
pub mod episodes;
pub mod error;
pub mod events;
pub mod extra_work;
pub mod job;
pub mod mhd;
pub mod network;
pub mod pairfile;
pub mod pairsource;
pub mod params;
pub mod program;
pub mod result;
pub mod rng;
pub mod sampling;
pub mod scoring;
pub mod tasks;
pub mod trials;

#[cfg(test)]
mod test_support;

pub use error::{Error, Result};
