//! The job file (protocol v1, docs/protocol.md and docs/schemas/job.schema.json) as typed data.
//!
//! [`read_job`] reads the file; [`parse_job`] checks `format_version` and `task` first, then
//! deserialises the job into `#[serde(deny_unknown_fields)]` structs with
//! `serde_path_to_error`, so every message names the field path
//! (`params: unknown field `foo`, expected one of `pairs`, `same_alphabet``,
//! `dataset.root: invalid type: ...`), and finally checks value ranges.
//!
//! `params` is kept as JSON until the task is known (serde's `flatten` cannot be combined with
//! `deny_unknown_fields`), then parsed by [`crate::params::parse_params`] into the task's own
//! struct.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::network::ConvAlgo;
use crate::params::{
    check, describe, parse_params, task_names, typed, unknown_task, OptimizerSpec, Task, TaskKind,
};

/// The protocol version this program speaks.
pub const FORMAT_VERSION: u64 = 1;
/// `dataset`: the folder pairs are drawn from and paths are relative to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub root: PathBuf,
    #[serde(default)]
    pub eval_root: Option<PathBuf>,
}

/// `inputs`: files to use instead of sampling or initialising.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    #[serde(default)]
    pub pairs: Option<PathBuf>,
    #[serde(default)]
    pub weights: Option<PathBuf>,
    /// The ONNX export of `weights`, for the back-ends that run an ONNX engine (manifest
    /// `model_file: onnx`; docs/protocol.md, "The ONNX export"); null or absent otherwise.
    #[serde(default)]
    pub onnx: Option<PathBuf>,
}

/// `model`: the resolved network shape, and (optionally) how each conv layer is computed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub filters: [usize; 4],
    pub kernels: [usize; 4],
    pub embedding: usize,
    pub input: usize,
    /// The algorithm of each conv layer (absent: direct for all); the harness writes it only
    /// for implementations whose manifest declares FFT convolution.
    #[serde(default)]
    pub conv: Option<[ConvAlgo; 4]>,
}

/// A validated job.
#[derive(Debug, Clone)]
pub struct Job {
    pub task: Task,
    pub seed: u64,
    pub threads: usize,
    pub out_dir: PathBuf,
    pub dataset: DatasetSpec,
    pub inputs: Inputs,
    pub model: Option<ModelSpec>,
    /// The optimiser of `step` and `train` (defaults when absent).
    pub optimizer: Option<OptimizerSpec>,
    /// The distortions of `train` and `augment`, not parsed yet.
    pub augment: Option<Value>,
}

/// The job as written, `params` not yet parsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // format_version and task are checked before, from the raw JSON
struct RawJob {
    format_version: u64,
    task: String,
    seed: u64,
    threads: usize,
    out_dir: PathBuf,
    dataset: DatasetSpec,
    inputs: Inputs,
    #[serde(default)]
    model: Option<ModelSpec>,
    #[serde(default)]
    optimizer: Option<OptimizerSpec>,
    #[serde(default)]
    augment: Option<Value>,
    params: Value,
}

/// Validate a decoded job JSON and return the typed [`Job`].
pub fn parse_job(raw: Value) -> Result<Job> {
    let Value::Object(object) = &raw else {
        return Err(Error::job(
            "job",
            format!("got {}, expected an object", describe(Some(&raw))),
        ));
    };
    let version = object.get("format_version");
    if version.and_then(Value::as_u64) != Some(FORMAT_VERSION) {
        return Err(Error::job(
            "format_version",
            format!(
                "got {}, expected {FORMAT_VERSION} (protocol v1)",
                describe(version)
            ),
        ));
    }
    match object.get("task") {
        Some(Value::String(task)) if TaskKind::from_name(task).is_some() => {}
        Some(Value::String(task)) => return Err(unknown_task(task)),
        other => {
            let known = task_names("", ", ");
            return Err(Error::job(
                "task",
                format!("got {}, expected one of {known}", describe(other)),
            ));
        }
    }
    // serde also builds structs from arrays; the protocol wants objects.
    for (field, nullable) in [
        ("dataset", false),
        ("inputs", false),
        ("model", true),
        ("params", false),
    ] {
        match object.get(field) {
            None | Some(Value::Object(_)) => {}
            Some(Value::Null) if nullable => {}
            Some(other) => {
                let expected = if nullable {
                    "an object or null"
                } else {
                    "an object"
                };
                return Err(Error::job(
                    field,
                    format!("got {}, expected {expected}", describe(Some(other))),
                ));
            }
        }
    }
    let job: RawJob = typed(raw, "job")?;
    check((1..=1024).contains(&job.threads), "threads", || {
        format!("got {}, expected an integer in [1, 1024]", job.threads)
    })?;
    check(!job.out_dir.as_os_str().is_empty(), "out_dir", || {
        "got an empty string, expected a folder".into()
    })?;
    check(
        !job.dataset.root.as_os_str().is_empty(),
        "dataset.root",
        || "got an empty string, expected a folder".into(),
    )?;
    if let Some(model) = &job.model {
        let positive = model.filters.iter().chain(&model.kernels).all(|&v| v >= 1);
        check(positive && model.embedding >= 1, "model", || {
            format!("got {model:?}, expected filters, kernels and embedding >= 1")
        })?;
        check(model.input >= 8, "model.input", || {
            format!("got {}, expected >= 8", model.input)
        })?;
    }
    if let Some(optimizer) = &job.optimizer {
        optimizer.check()?;
    }
    Ok(Job {
        task: parse_params(&job.task, job.params)?,
        seed: job.seed,
        threads: job.threads,
        out_dir: job.out_dir,
        dataset: job.dataset,
        inputs: job.inputs,
        model: job.model,
        optimizer: job.optimizer,
        augment: job.augment,
    })
}

/// Read and parse a job file.
pub fn read_job(path: &Path) -> Result<Value> {
    let text = std::fs::read(path).map_err(|source| Error::JobFile {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|err| {
        Error::job(
            path.display().to_string(),
            format!("not a JSON job file ({err})"),
        )
    })
}

/// `out_dir` of a job that may be invalid, if it names an existing folder.
pub fn known_out_dir(raw: &Value) -> Option<PathBuf> {
    let out_dir = Path::new(raw.get("out_dir")?.as_str()?);
    (!out_dir.as_os_str().is_empty() && out_dir.is_dir()).then(|| out_dir.to_path_buf())
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
