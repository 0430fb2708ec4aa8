//! rust-candle: the siamese network on candle's CPU tensors behind the core's `Network` trait.

pub mod backend;

pub use backend::CandleNet;
