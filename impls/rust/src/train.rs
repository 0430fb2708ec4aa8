//! The training loop (in progress).
