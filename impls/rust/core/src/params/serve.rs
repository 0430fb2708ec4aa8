//! `params` of the `serve` task (docs/protocol.md, "`serve`"): its defaults and its checks
//! beyond the types, the bounds of docs/schemas/job.schema.json.

use std::path::PathBuf;

use serde::Deserialize;

use super::{check_int, check_warmup, Protocol};
use crate::error::{Error, Result};

/// When the queries of `serve` arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// A query arrives the moment the previous one is answered.
    BackToBack,
    /// Arrivals at exponential gaps of mean `1 / rate_per_s`, from `Rng(seed, "arrivals")`.
    Poisson,
}

/// `params` of `serve`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeParams {
    pub protocol: Protocol,
    pub ways: usize,
    /// Koch episodes (ignored by `lake`).
    pub episodes: usize,
    /// `lake`: the all_runs folder.
    pub runs: Option<PathBuf>,
    /// Measured queries.
    pub queries: usize,
    /// Untimed queries after the cold one.
    pub warmup_queries: usize,
    pub arrival: Arrival,
    pub rate_per_s: f64,
}

impl Default for ServeParams {
    fn default() -> Self {
        ServeParams {
            protocol: Protocol::Koch,
            ways: 20,
            episodes: 10,
            runs: None,
            queries: 500,
            warmup_queries: 20,
            arrival: Arrival::BackToBack,
            rate_per_s: 20.0,
        }
    }
}

/// The largest `rate_per_s` of the job schema.
pub const MAX_RATE_PER_S: f64 = 1_000_000.0;

/// Checks of `serve`'s params beyond their types.
pub fn check_serve(p: &ServeParams) -> Result<()> {
    check_int("ways", p.ways, 2, 1000)?;
    check_int("episodes", p.episodes, 1, 100_000)?;
    check_int("queries", p.queries, 1, 10_000_000)?;
    check_warmup("warmup_queries", p.warmup_queries)?;
    if !(p.rate_per_s > 0.0 && p.rate_per_s <= MAX_RATE_PER_S) {
        return Err(Error::job(
            "params.rate_per_s",
            format!(
                "got {}, expected a number in (0, {MAX_RATE_PER_S}]",
                p.rate_per_s
            ),
        ));
    }
    if p.runs.as_ref().is_some_and(|r| r.as_os_str().is_empty()) {
        return Err(Error::job(
            "params.runs",
            "got an empty string, expected a folder",
        ));
    }
    Ok(())
}
