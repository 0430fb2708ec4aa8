//! What the tasks share: the network shape and starting parameters of a job, the packed
//! images of its pair file, the output file names, and rows of packed image buffers.

use std::path::PathBuf;

use crate::data::{load_pairs, PairImages, PACKED_BYTES};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::backend::JobFiles;
use crate::network::init::{self, InitName};
use crate::network::params::Params;
use crate::network::{weights, Network, Shape};
use crate::pairfile::read_pairs;

/// Output file of `sample`.
pub const PAIRS_FILE: &str = "pairs.tsv";
/// Output file of `load`.
pub const IMAGES_FILE: &str = "images.safetensors";
/// Output file of `init`, `step` and `train`.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

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

/// The back-end's network over `params` for calls of up to `capacity` images, computing its
/// conv layers as the job's `model.conv` says.
pub fn build_network<N: Network>(
    job: &Job,
    params: Params,
    capacity: usize,
    train: bool,
) -> Result<N> {
    let files = JobFiles {
        task: job.task.name(),
        threads: job.threads,
        weights: job.inputs.weights.as_deref(),
        onnx: job.inputs.onnx.as_deref(),
    };
    let mut net = N::from_job(&files, params, capacity, train)?;
    if let Some(conv) = job.model.as_ref().and_then(|m| m.conv) {
        net.set_conv(conv)?;
    }
    Ok(net)
}

/// The packed images of `inputs.pairs` (required by `forward` and `step`).
pub fn read_pair_images(job: &Job, events: &Events) -> Result<PairImages> {
    let path = job.inputs.pairs.as_ref().ok_or_else(|| {
        Error::job(
            "inputs.pairs",
            format!(
                "got null, expected a pair file for task {}",
                job.task.name()
            ),
        )
    })?;
    let list = read_pairs(path, &job.dataset.root)?;
    let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
    let images = load_pairs(&job.dataset.root, &list, &mut progress)?;
    if images.labels.is_empty() {
        return Err(Error::pair_file(
            path,
            None,
            "no pairs, expected at least one",
        ));
    }
    Ok(images)
}

/// The packed images `start..stop` of a `[N, 1379]` buffer, one slice each.
pub fn rows(packed: &[u8], start: usize, stop: usize) -> Vec<&[u8]> {
    packed[start * PACKED_BYTES..stop * PACKED_BYTES]
        .chunks_exact(PACKED_BYTES)
        .collect()
}

/// Lake's all_runs folder of an `evaluate` or `serve` job (`params.runs`, required for Lake).
pub fn lake_root(runs: Option<&PathBuf>) -> Result<&PathBuf> {
    runs.ok_or_else(|| {
        Error::job(
            "params.runs",
            "missing, expected the all_runs folder for protocol: lake",
        )
    })
}

/// The evaluation alphabets of a Koch `evaluate` or `serve` job (`dataset.eval_root`).
pub fn koch_root(job: &Job) -> Result<&PathBuf> {
    job.dataset.eval_root.as_ref().ok_or_else(|| {
        Error::job(
            "dataset.eval_root",
            "null, expected the evaluation alphabets' folder for protocol: koch",
        )
    })
}
