//! Which implementation this program is (`rust-native`, `rust-tch`, ...): set once at start by
//! [`crate::cli::main`], read by the start event, result.json and error messages.

use std::sync::OnceLock;

/// The implementation's id in configs and results, set once by [`set_impl_id`] at start.
static IMPL_ID: OnceLock<&'static str> = OnceLock::new();

/// Set the implementation id of this program (`rust-native`, `rust-tch`, ...); the first call
/// wins.
pub fn set_impl_id(id: &'static str) {
    let _ = IMPL_ID.set(id);
}

/// The implementation id of this program (`rust` before [`set_impl_id`]).
pub fn impl_id() -> &'static str {
    IMPL_ID.get().copied().unwrap_or("rust")
}
