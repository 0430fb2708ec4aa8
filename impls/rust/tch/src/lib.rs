//! rust-tch: the siamese network on tch 0.26 (libtorch 2.13) behind the core's `Network` trait.

pub mod backend;

pub use backend::TchNet;
