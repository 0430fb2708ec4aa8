//! oneshot: the Rust implementation of oneshot-bench.
//!
//! The Koch, Zemel and Salakhutdinov (2015) siamese one-shot network on Omniglot, driven by the
//! harness through protocol v1 (`oneshot run JOB.json`, docs/protocol.md). The data side
//! follows docs/sampling.md exactly, so pair files and decoded pixels match the Python
//! implementation byte for byte:
//!
//! - [`rng`]: the shared generator (xoshiro256**, SplitMix64 seeding, Lemire's draw);
//! - [`sampling`]: the data set scan and pair sampling; [`pairfile`]: the TSV pair file;
//! - [`data`]: 105x105 1-bit PNGs decoded in parallel into bit-packed images;
//! - [`job`], [`events`], [`result`], [`tasks`]: the protocol: job parsing, stdout events,
//!   result.json and the tasks;
//! - [`error`]: the error type and exit codes.

pub mod augment;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod events;
pub mod job;
pub mod mhd;
pub mod nn;
pub mod pairfile;
pub mod result;
pub mod rng;
pub mod sampling;
pub mod tasks;
pub mod train;
pub mod trials;

#[cfg(test)]
mod test_support;

pub use error::{Error, Result};
