//! The siamese network of Koch, Zemel and Salakhutdinov (2015), written directly.
//!
//! Hand-written forward and backward passes of every layer on top of one GEMM wrapper
//! ([`gemm`]): convolutions lowered by im2col ([`conv`]) or as implicit GEMMs over shifted
//! channels-last views ([`conv_implicit`], where that is faster) or by FFT ([`conv_fft`], when
//! the job asks for it, with the plane transforms of fft_plan.rs), ReLU and sigmoid
//! ([`activation`]), 2x2 max-pooling with argmax ([`pool`]), fully connected layers
//! ([`linear`]), the head and the binary cross-entropy from logits ([`loss`]).
//! [`model::SiameseNet`] ties them together with a reusable [`model::Workspace`]
//! (workspace.rs), each conv layer computed as lowering.rs chooses. What every back-end shares
//! (the [`Shape`], the parameter layout, initial weights, weights file, input unpacking and the
//! optimiser) is the core's `oneshot_core::network`, re-exported here.

pub mod activation;
pub mod conv;
pub mod conv_fft;
pub mod conv_implicit;
pub mod conv_ref;
pub mod conv_single;
mod fft_plan;
pub mod gemm;
pub mod linear;
pub mod loss;
mod lowering;
pub mod model;
pub mod pool;
mod workspace;

pub use oneshot_core::network::{init, input, optim, params, weights, Shape, Sides, IMAGE_SIDE};

#[cfg(test)]
mod parity_tests;
