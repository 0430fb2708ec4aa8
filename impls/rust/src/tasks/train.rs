//! The `train` task (in progress).
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::result::Outcome;

/// `params` of `train`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {}

/// Checks of `train`'s params beyond their types.
pub fn check(_p: &TrainParams) -> Result<()> {
    Ok(())
}

/// Run `train` for `job`.
pub fn run(_job: &Job, _p: &TrainParams, _e: &Events) -> Result<Outcome> {
    Err(Error::job(
        "task",
        "`train` is not implemented by rust-native yet",
    ))
}
