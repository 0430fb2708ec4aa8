//! Running a job: read and parse the job file, run its task on a rayon pool of `threads`
//! threads, write `result.json` (docs/protocol.md).
//!
//! [`run_job_file`] is what `oneshot run JOB.json` does, [`admit_job_file`] what `oneshot check`
//! does for each of its jobs; on failure the caller prints the error and writes a failure
//! result into [`RunContext::out_dir`] when it is known. [`run_task`] dispatches a parsed job to its task module; adding a task is one module here and one arm
//! in its `match` (plus its params in `crate::params`). The network tasks are generic over
//! the back-end ([`Network`]); the data tasks are the same in every Rust binary.

pub mod augment;
pub mod common;
pub mod evaluate;
pub mod forward;
pub mod init;
pub mod load;
pub mod sample;
pub mod serve;
pub mod step;
pub mod train;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::{known_out_dir, parse_job, read_job, Job};
use crate::network::Network;
use crate::params::Task;
use crate::program::impl_id;
use crate::result::{Outcome, Record};

/// What is known about a job while it runs, for reporting a failure.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// The job's `out_dir` once it is known to be an existing folder.
    pub out_dir: Option<PathBuf>,
    /// The task name as written in the job (`unknown` before it is read).
    pub task: String,
}

/// Run the task of a parsed job on a rayon pool of exactly `job.threads` threads.
pub fn run_task<N: Network>(job: &Job, events: &Events) -> Result<Outcome> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(job.threads)
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start {} worker threads: {e}", job.threads)))?;
    // The gates' deliberate bloat (ONESHOT_EXTRA_MEMORY, extra_work.rs): held to the task's end.
    let _ballast = crate::extra_work::ballast();
    pool.install(|| match &job.task {
        Task::Sample(params) => sample::run(job, params, events),
        Task::Load(params) => load::run(job, params, events),
        Task::Init(params) => init::run(job, params, events),
        Task::Forward(params) => forward::run::<N>(job, params, events),
        Task::Step(params) => step::run::<N>(job, params, events),
        Task::Augment(params) => augment::run(job, params, events),
        Task::Evaluate(params) => evaluate::run::<N>(job, params, events),
        Task::Train(params) => train::run::<N>(job, params, events),
        Task::Serve(params) => serve::run::<N>(job, params, events),
    })
}

/// Read and parse the job file at `path`: everything `run` checks before its `start` event.
///
/// `oneshot run` calls it first and `oneshot check` alone, so a job that `check` admits is one
/// that `run` starts. `context` is filled in as the job is read, so that a caller can write a
/// failure result.
pub fn admit_job_file(path: &Path, context: &mut RunContext) -> Result<Job> {
    context.task = "unknown".to_owned();
    context.out_dir = None;
    let raw = read_job(path)?;
    context.out_dir = known_out_dir(&raw);
    if let Some(task) = raw.get("task").and_then(|t| t.as_str()) {
        context.task = task.to_owned();
    }
    let job = parse_job(raw)?;
    if context.out_dir.is_none() {
        return Err(Error::job(
            "out_dir",
            format!(
                "{:?} is not an existing folder",
                job.out_dir.display().to_string()
            ),
        ));
    }
    Ok(job)
}

/// Run the job file at `path` end to end: parse, `start` event, task, result.json.
///
/// `context` is filled in as the job is read, so that a caller can write a failure result.
pub fn run_job_file<N: Network>(
    path: &Path,
    events: &Events,
    context: &mut RunContext,
) -> Result<()> {
    let job = admit_job_file(path, context)?;
    events.start(impl_id(), job.task.name());
    let outcome = run_task::<N>(&job, events)?;
    Record::success(job.task.name(), job.seed, job.threads, &outcome)?.write(&job.out_dir)?;
    Ok(())
}
