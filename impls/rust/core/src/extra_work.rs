//! A deliberate slowdown and a deliberate bloat, for testing the CI benchmark gates
//! (docs/reports.md, "Gates").
//!
//! `ONESHOT_EXTRA_WORK=<n>` (read once per process) adds `n` iterations of a loop the optimiser
//! cannot remove ([`std::hint::black_box`]) inside every timed network call (`forward`, `step`,
//! `train`, the siamese scorer's embedding calls) and inside the timed section of every data
//! task (`sample`, `load`, `augment`). Both the measured time and the executed instruction
//! count grow, deterministically, and the outputs stay the same. Unset, empty or `0`: no extra
//! work (one load of a cached integer per call).
//!
//! `ONESHOT_EXTRA_MEMORY=<bytes>` (its twin) makes every task hold a buffer of that many bytes,
//! every page written, from its start to its end: the job's peak RSS grows by that much and
//! nothing else changes. A value of either that is not a non-negative integer ends the program
//! with one line on stderr and exit code 2.

use std::hint::black_box;
use std::sync::OnceLock;

/// Name of the environment variable of the slowdown.
pub const VAR: &str = "ONESHOT_EXTRA_WORK";
/// Name of the environment variable of the bloat.
pub const MEMORY_VAR: &str = "ONESHOT_EXTRA_MEMORY";

/// The iterations per call, parsed from [`VAR`] on first use.
pub fn iterations() -> u64 {
    static N: OnceLock<u64> = OnceLock::new();
    *N.get_or_init(|| read(VAR, "iterations of extra work"))
}

/// The bytes every task holds, parsed from [`MEMORY_VAR`] on first use.
pub fn memory_bytes() -> u64 {
    static N: OnceLock<u64> = OnceLock::new();
    *N.get_or_init(|| read(MEMORY_VAR, "bytes of extra memory"))
}

fn read(var: &str, what: &str) -> u64 {
    match parse_count(var, std::env::var(var).ok().as_deref(), what) {
        Ok(n) => n,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(i32::from(crate::error::EXIT_INVALID_INPUT));
        }
    }
}

/// The iterations a value of [`VAR`] asks for.
pub fn parse(value: Option<&str>) -> Result<u64, String> {
    parse_count(VAR, value, "iterations of extra work")
}

fn parse_count(var: &str, value: Option<&str>, what: &str) -> Result<u64, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| format!("{var}={text:?}: expected a non-negative integer ({what})")),
    }
}

/// The buffer of [`memory_bytes`] bytes, every page written (so resident), or none; the
/// caller holds it for as long as its task runs.
#[must_use]
pub fn ballast() -> Option<Vec<u8>> {
    let bytes = usize::try_from(memory_bytes()).unwrap_or(usize::MAX);
    (bytes > 0).then(|| black_box(vec![0xA5u8; bytes]))
}

/// Run the extra work of one call: [`iterations`] turns of a `black_box` loop.
#[inline(never)]
pub fn run() {
    spin(iterations());
}

/// `n` turns of a loop whose every value passes through `black_box`; returns the last value.
pub fn spin(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        acc = black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_rejects_the_rest() {
        assert_eq!(parse(None), Ok(0));
        assert_eq!(parse(Some("")), Ok(0));
        assert_eq!(parse(Some(" 1000 ")), Ok(1000));
        assert!(parse(Some("-1"))
            .unwrap_err()
            .contains("non-negative integer"));
        assert!(parse(Some("lots")).unwrap_err().contains(VAR));
    }

    #[test]
    fn the_bloat_parses_bytes_and_its_ballast_is_written() {
        assert_eq!(parse_count(MEMORY_VAR, Some("4096"), "bytes"), Ok(4096));
        assert!(parse_count(MEMORY_VAR, Some("1e6"), "bytes")
            .unwrap_err()
            .contains(MEMORY_VAR));
        // Unset in tests: no ballast.
        assert!(std::env::var(MEMORY_VAR).is_err() && ballast().is_none());
    }

    #[test]
    fn spin_is_deterministic() {
        assert_eq!(spin(0), 0);
        assert_eq!(spin(1000), spin(1000));
        assert_ne!(spin(1000), spin(1001));
    }
}
