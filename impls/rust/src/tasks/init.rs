//! The `init` task, and what every network task shares: the network shape from the job's
//! `model` and the starting parameters (`inputs.weights`, else drawn from the job seed).
//!
//! `init` writes `weights.safetensors` for `model` with `params.init` (`paper` or `he`);
//! metric `parameters` (docs/protocol.md, "Network tasks").

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::nn::init::{self, InitName};
use crate::nn::params::Params;
use crate::nn::{weights, Shape};
use crate::result::Outcome;

/// Output file of `init`, `step` and `train`.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// `params` of `init`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitParams {
    pub init: InitName,
}

/// The job's `model` as a checked [`Shape`]; an invalid-job error when missing or impossible.
pub fn network_shape(job: &Job) -> Result<Shape> {
    let model = job.model.as_ref().ok_or_else(|| {
        Error::job(
            "model",
            format!(
                "got null, expected the network shape {{filters, kernels, embedding, input}} for \
                 task {}",
                job.task.name()
            ),
        )
    })?;
    let shape = Shape {
        filters: model.filters,
        kernels: model.kernels,
        embedding: model.embedding,
        input: model.input,
    };
    shape.sides()?;
    Ok(shape)
}

/// The parameters a network task starts from: `inputs.weights`, else `init` from the seed.
pub fn start_params(job: &Job, shape: Shape, init: InitName) -> Result<Params> {
    match &job.inputs.weights {
        Some(path) => weights::load(path, shape),
        None => init::draw(init, shape, job.seed),
    }
}

/// Run `init` for `job`.
pub fn run(job: &Job, params: &InitParams, events: &Events) -> Result<Outcome> {
    let shape = network_shape(job)?;
    let drawn = events.phase("init", || init::draw(params.init, shape, job.seed))?;
    let path = job.out_dir.join(WEIGHTS_FILE);
    events.phase("write", || weights::save(&path, &drawn, &drawn.data, ""))?;
    Ok(Outcome::default()
        .metric("parameters", drawn.data.len())
        .output("weights", WEIGHTS_FILE))
}
