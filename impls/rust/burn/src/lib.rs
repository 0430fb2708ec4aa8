//! rust-burn: the siamese network of oneshot-bench on burn 0.22 (flex CPU back-end, autodiff),
//! as a back-end of the core's [`oneshot_core::network::Network`] trait.

pub mod backend;

pub use backend::BurnNet;
