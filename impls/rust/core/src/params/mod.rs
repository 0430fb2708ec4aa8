//! Every task's `params`: one typed struct per task, its defaults and its checks beyond the
//! types (docs/protocol.md; the bounds are those of docs/schemas/job.schema.json), and
//! [`parse_params`], which turns a job's task name and `params` object into a [`Task`].
//!
//! Tasks depend on this module, never the reverse: adding a task is its struct and arm here,
//! its module in `tasks`, and its arm in `tasks::run_task`.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

mod field;
mod kind;
mod optimizer;
mod serve;

pub(crate) use field::{check, describe, typed};
pub(crate) use kind::{task_names, unknown_task};
pub use kind::{TaskKind, NOT_IMPLEMENTED};
pub use optimizer::{LayerOverride, LayersSpec, OptimizerSpec, RuleName};
pub use serve::{check_serve, Arrival, ServeParams, MAX_RATE_PER_S};

use crate::error::{Error, Result};
use crate::network::init::InitName;

/// `params` of the `sample` task.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleParams {
    pub pairs: usize,
    #[serde(default = "default_same_alphabet")]
    pub same_alphabet: f64,
}

fn default_same_alphabet() -> f64 {
    0.5
}

/// What the `load` task decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadSource {
    /// The images of `inputs.pairs`.
    Pairs,
    /// Every image of `dataset.root`.
    Dataset,
}

/// `params` of the `load` task.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadParams {
    pub source: LoadSource,
}

/// A task with its parsed parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    Sample(SampleParams),
    Load(LoadParams),
    Init(InitParams),
    Forward(ForwardParams),
    Step(StepParams),
    Augment(AugmentParams),
    Evaluate(EvaluateParams),
    Train(TrainParams),
    Serve(ServeParams),
}

impl Task {
    /// The kind of task.
    pub fn kind(&self) -> TaskKind {
        match self {
            Task::Sample(_) => TaskKind::Sample,
            Task::Load(_) => TaskKind::Load,
            Task::Init(_) => TaskKind::Init,
            Task::Forward(_) => TaskKind::Forward,
            Task::Step(_) => TaskKind::Step,
            Task::Augment(_) => TaskKind::Augment,
            Task::Evaluate(_) => TaskKind::Evaluate,
            Task::Train(_) => TaskKind::Train,
            Task::Serve(_) => TaskKind::Serve,
        }
    }

    /// The task's protocol name.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// Parse the task's `params` (an object) into its typed struct.
pub fn parse_params(task: &str, params: Value) -> Result<Task> {
    let Some(kind) = TaskKind::from_name(task) else {
        return Err(unknown_task(task));
    };
    let task = match kind {
        TaskKind::Sample => {
            let p: SampleParams = typed(params, "params")?;
            check(p.pairs >= 1, "params.pairs", || {
                format!("got {}, expected >= 1", p.pairs)
            })?;
            check(
                (0.0..=1.0).contains(&p.same_alphabet),
                "params.same_alphabet",
                || format!("got {}, expected a number in [0, 1]", p.same_alphabet),
            )?;
            Task::Sample(p)
        }
        TaskKind::Load => Task::Load(typed(params, "params")?),
        TaskKind::Init => Task::Init(typed(params, "params")?),
        TaskKind::Forward => {
            let p: ForwardParams = typed(params, "params")?;
            check_forward(&p)?;
            Task::Forward(p)
        }
        TaskKind::Step => {
            let p: StepParams = typed(params, "params")?;
            check_step(&p)?;
            Task::Step(p)
        }
        TaskKind::Augment => Task::Augment(typed(params, "params")?),
        TaskKind::Evaluate => {
            let p: EvaluateParams = typed(params, "params")?;
            check_evaluate(&p)?;
            Task::Evaluate(p)
        }
        TaskKind::Train => {
            let p: TrainParams = typed(params, "params")?;
            check_train(&p)?;
            Task::Train(p)
        }
        TaskKind::Serve => {
            let p: ServeParams = typed(params, "params")?;
            check_serve(&p)?;
            Task::Serve(p)
        }
    };
    Ok(task)
}

/// `params` of `init`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitParams {
    pub init: InitName,
}

/// `params` of `forward`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardParams {
    pub batch: usize,
    /// Untimed network calls on the first batch before the timed ones.
    pub warmup_batches: usize,
}

impl Default for ForwardParams {
    fn default() -> Self {
        ForwardParams {
            batch: 64,
            warmup_batches: 1,
        }
    }
}

/// The largest `warmup_batches` / `warmup_steps` of the job schema.
pub const MAX_WARMUP: usize = 1_000_000;

/// Checks of `forward`'s params beyond their types.
pub fn check_forward(params: &ForwardParams) -> Result<()> {
    check_int("batch", params.batch, 1, 1_000_000)?;
    check_warmup("warmup_batches", params.warmup_batches)
}

/// `params.<field>`, an integer within the job schema's `[lo, hi]`.
fn check_int(field: &str, value: usize, lo: usize, hi: usize) -> Result<()> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(Error::job(
        format!("params.{field}"),
        format!("got {value}, expected an integer in [{lo}, {hi}]"),
    ))
}

/// `params.<field>`, a count of warm-up calls, within the schema's [0, 1000000].
pub fn check_warmup(field: &str, value: usize) -> Result<()> {
    check_int(field, value, 0, MAX_WARMUP)
}

/// `params` of `step`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepParams {
    pub steps: usize,
    pub batch: usize,
    pub save_gradients: bool,
    pub warmup_steps: usize,
    pub init: InitName,
}

impl Default for StepParams {
    fn default() -> Self {
        StepParams {
            steps: 10,
            batch: 32,
            save_gradients: false,
            warmup_steps: 1,
            init: InitName::Paper,
        }
    }
}

/// Checks of `step`'s params beyond their types.
pub fn check_step(params: &StepParams) -> Result<()> {
    check_int("steps", params.steps, 1, 1_000_000)?;
    check_int("batch", params.batch, 1, 1_000_000)?;
    check_warmup("warmup_steps", params.warmup_steps)
}

/// `params` of `augment`: none (the ranges are the job's `augment` section).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentParams {}

/// Which trials to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Koch,
    Lake,
}

/// Which scorer rates the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScorerName {
    Siamese,
    Mhd,
}

/// `params` of `evaluate`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateParams {
    pub protocol: Protocol,
    pub ways: usize,
    pub trials: usize,
    pub runs: Option<PathBuf>,
    pub scorer: ScorerName,
    pub batch: usize,
    /// Untimed embedding calls on the first batch (`siamese` only).
    pub warmup_batches: usize,
}

impl Default for EvaluateParams {
    fn default() -> Self {
        EvaluateParams {
            protocol: Protocol::Koch,
            ways: 20,
            trials: 400,
            runs: None,
            scorer: ScorerName::Siamese,
            batch: 128,
            warmup_batches: 1,
        }
    }
}

/// Checks of `evaluate`'s params beyond their types.
pub fn check_evaluate(p: &EvaluateParams) -> Result<()> {
    let bad = |field: &str, got: usize, range: &str| {
        Err(Error::job(
            format!("params.{field}"),
            format!("got {got}, expected an integer in {range}"),
        ))
    };
    if !(2..=1000).contains(&p.ways) {
        return bad("ways", p.ways, "[2, 1000]");
    }
    if !(1..=10_000_000).contains(&p.trials) {
        return bad("trials", p.trials, "[1, 10000000]");
    }
    if !(1..=1_000_000).contains(&p.batch) {
        return bad("batch", p.batch, "[1, 1000000]");
    }
    check_warmup("warmup_batches", p.warmup_batches)?;
    if p.runs.as_ref().is_some_and(|r| r.as_os_str().is_empty()) {
        return Err(Error::job(
            "params.runs",
            "got an empty string, expected a folder",
        ));
    }
    Ok(())
}

/// `params.validation` of `train`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSpec {
    pub ways: usize,
    pub trials: usize,
}

impl Default for ValidationSpec {
    fn default() -> Self {
        ValidationSpec {
            ways: 20,
            trials: 400,
        }
    }
}

/// `params` of `train`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    pub epochs: usize,
    pub batch: usize,
    pub pairs: usize,
    pub same_alphabet: f64,
    pub validate_every_steps: usize,
    pub validation: ValidationSpec,
    pub patience: usize,
    pub target_accuracy: Option<f64>,
    pub max_seconds: Option<f64>,
    pub log_every_steps: usize,
    pub init: InitName,
    /// Steps left out of `train_s` and `train_pairs_per_s`.
    pub warmup_steps: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 10,
            batch: 32,
            pairs: 30_000,
            same_alphabet: 0.5,
            validate_every_steps: 0,
            validation: ValidationSpec::default(),
            patience: 0,
            target_accuracy: None,
            max_seconds: None,
            log_every_steps: 50,
            init: InitName::Paper,
            warmup_steps: 1,
        }
    }
}

/// Checks of `train`'s params beyond their types.
pub fn check_train(p: &TrainParams) -> Result<()> {
    let real = |field: &str, v: f64, lo: f64, hi: f64| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(Error::job(
                format!("params.{field}"),
                format!("got {v}, expected a number in [{lo}, {hi}]"),
            ))
        }
    };
    check_int("epochs", p.epochs, 1, 1_000_000)?;
    check_int("batch", p.batch, 1, 1_000_000)?;
    check_int("pairs", p.pairs, 1, 100_000_000)?;
    check_int("validation.ways", p.validation.ways, 2, 1000)?;
    check_int("validation.trials", p.validation.trials, 1, 1_000_000)?;
    check_int("log_every_steps", p.log_every_steps, 1, 100_000_000)?;
    check_int(
        "validate_every_steps",
        p.validate_every_steps,
        0,
        100_000_000,
    )?;
    check_int("patience", p.patience, 0, 1_000_000)?;
    check_warmup("warmup_steps", p.warmup_steps)?;
    real("same_alphabet", p.same_alphabet, 0.0, 1.0)?;
    if let Some(t) = p.target_accuracy {
        real("target_accuracy", t, 0.0, 1.0)?;
    }
    if let Some(s) = p.max_seconds {
        real("max_seconds", s, 0.0, 1e9)?;
    }
    Ok(())
}
