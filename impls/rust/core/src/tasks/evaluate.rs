//! The `evaluate` task: N-way one-shot accuracy by Koch's protocol (trials drawn from
//! `dataset.eval_root` with `Rng(seed, "trials")`) or Lake's (the runs of `params.runs`),
//! scored by the siamese network or the modified Hausdorff distance (docs/evaluation.md).
//! Writes `predictions.tsv`; `trials_per_s` counts embedding and scoring, not decoding. The
//! siamese scorer first makes `warmup_batches` untimed embedding calls on the first batch
//! (`first_batch_s`: the first call's seconds); the MHD scorer ignores `warmup_batches`.
//! Where `task_s` went: `setup_s` (the weights read, the network built), `draw_s` (the trials
//! drawn or Lake's runs read), `load_s` (each distinct image decoded), `warmup_s`, `embed_s`,
//! `score_s`; the rest is writing.

use std::path::Path;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::init::InitName;
use crate::network::Network;
use crate::params::{EvaluateParams, Protocol, ScorerName};
use crate::result::{Metric, Outcome};
use crate::rng::Rng;
use crate::sampling::Dataset;
use crate::scoring::{format_predictions, run_error_pct, score_trials, Scorer};
use crate::tasks::common::{build_network, koch_root, lake_root, network_shape, start_params};
use crate::trials::{draw_koch_trials, load_trials, read_lake_runs, Trial, TrialSet};

/// Output file of `evaluate`.
pub const PREDICTIONS_FILE: &str = "predictions.tsv";

/// Koch's trials of `root`: `ways`-way, `count` trials from `Rng(seed, "trials")`.
pub fn koch_trial_set(
    root: &Path,
    ways: usize,
    count: usize,
    seed: u64,
    events: &Events,
) -> Result<TrialSet> {
    let drawn = draw_koch(root, ways, count, seed)?;
    let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
    load_trials(root, &drawn, &mut progress)
}

/// Koch's trials of `root` drawn, their images not yet decoded.
fn draw_koch(root: &Path, ways: usize, count: usize, seed: u64) -> Result<Vec<Trial>> {
    let dataset = Dataset::scan(root)?;
    let skipped = (0..dataset.alphabets().len())
        .filter(|&a| dataset.characters_of(a).len() < ways)
        .count();
    if skipped > 0 {
        eprintln!(
            "evaluate: {skipped} alphabet(s) of {} have fewer than {ways} characters and are skipped",
            root.display()
        );
    }
    draw_koch_trials(&dataset, ways, count, &mut Rng::new(seed, "trials"))
}

/// The trials of the job's protocol with their images decoded, and the seconds spent drawing
/// (or reading) them and decoding their images.
fn load(job: &Job, params: &EvaluateParams, events: &Events) -> Result<(TrialSet, f64, f64)> {
    let began = Instant::now();
    let (root, drawn) = match params.protocol {
        Protocol::Lake => {
            let root = lake_root(params.runs.as_ref())?;
            (root, read_lake_runs(root, params.ways)?)
        }
        Protocol::Koch => {
            let root = koch_root(job)?;
            (root, draw_koch(root, params.ways, params.trials, job.seed)?)
        }
    };
    let drawn_at = Instant::now();
    let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
    let trials = load_trials(root, &drawn, &mut progress)?;
    let draw_s = (drawn_at - began).as_secs_f64();
    Ok((trials, draw_s, drawn_at.elapsed().as_secs_f64()))
}

/// Run `evaluate` for `job`.
pub fn run<N: Network>(job: &Job, params: &EvaluateParams, events: &Events) -> Result<Outcome> {
    let task_start = Instant::now();
    let start = match params.scorer {
        ScorerName::Mhd => None,
        ScorerName::Siamese => {
            let shape = network_shape(job)?;
            if job.inputs.weights.is_none() {
                return Err(Error::job(
                    "inputs.weights",
                    "got null, expected a weights file for scorer: siamese",
                ));
            }
            Some(start_params(job, shape, InitName::Paper)?)
        }
    };
    let mut setup_s = task_start.elapsed().as_secs_f64();
    let (trials, draw_s, load_s) = events.phase("load", || load(job, params, events))?;
    let outcome = events.phase("evaluate", || {
        let batch = params.batch.min(trials.paths.len()).max(1);
        let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
        let result = match start {
            Some(start) => {
                let building = Instant::now();
                let mut net = build_network::<N>(job, start, batch, false)?;
                setup_s += building.elapsed().as_secs_f64();
                let mut scorer = Scorer::Siamese {
                    net: &mut net,
                    batch,
                    warmup_batches: params.warmup_batches,
                };
                score_trials(&mut scorer, &trials, &mut progress)?
            }
            None => score_trials(&mut Scorer::<N>::Mhd, &trials, &mut progress)?,
        };
        events.progress(trials.len(), trials.len(), "trials");
        Ok::<_, Error>(result)
    })?;
    let accuracy = outcome.accuracy();
    events.metric("accuracy", accuracy, None, None);
    let path = job.out_dir.join(PREDICTIONS_FILE);
    events.phase("write", || {
        std::fs::write(&path, format_predictions(&trials, &outcome))
            .map_err(|e| Error::output(&path, "predictions", e))
    })?;
    let mut result = Outcome::default()
        .metric("accuracy", accuracy)
        .metric("trials", trials.len());
    if params.protocol == Protocol::Lake {
        let errors = run_error_pct(&trials, &outcome);
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        result = result
            .metric("error_pct", mean)
            .metric("run_error_pct", Metric::List(errors));
    } else {
        result = result.metric(
            "error_pct",
            100.0 * outcome.wrong() as f64 / trials.len() as f64,
        );
    }
    if let Some(seconds) = outcome.first_batch_s {
        result = result.metric("first_batch_s", seconds);
    }
    let evaluate_s = outcome.embed_s + outcome.score_s;
    Ok(result
        .metric("images", trials.paths.len())
        .metric("setup_s", setup_s)
        .metric("draw_s", draw_s)
        .metric("load_s", load_s)
        .metric("warmup_s", outcome.warmup_s)
        .metric("embed_s", outcome.embed_s)
        .metric("score_s", outcome.score_s)
        .metric(
            "trials_per_s",
            trials.len() as f64 / evaluate_s.max(f64::MIN_POSITIVE),
        )
        .metric("task_s", task_start.elapsed().as_secs_f64())
        .output("predictions", PREDICTIONS_FILE))
}
