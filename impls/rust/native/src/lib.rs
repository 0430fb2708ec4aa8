//! rust-native: the siamese network of Koch, Zemel and Salakhutdinov (2015) written directly
//! in Rust ([`nn`]), on the shared core (`oneshot_core`), as the `rust-native` back-end
//! ([`NativeNet`]).

pub mod nn;

mod backend;

pub use backend::NativeNet;
