//! The `train` task: a full training run with validation, early stopping and the best weights
//! (docs/protocol.md, "`train`"), mirroring the Python implementation (train.py).
//!
//! Each epoch sets the optimiser's schedule, takes its pairs from [`PairSource`], trains on
//! consecutive batches and, with `augment.enabled`, makes `augment.copies` more passes with
//! both images distorted (left images of a batch, then right, from one `Rng(seed, "augment")`).
//! Validation is Koch's one-shot accuracy on `dataset.eval_root` with trials drawn once before
//! training; the best validation's weights are written (the final ones without validation).
//! A non-finite loss stops with exit 1, naming epoch and step, after saving the last good or
//! best weights. The training network also embeds the validation images, in calls of `2 * batch` images.
//! Steady state (docs/protocol.md): the first `warmup_steps` steps train but are left out of
//! `train_s` and `train_pairs_per_s` (every step counts when the run has no more steps);
//! `first_batch_s` is step 0's seconds; `wall_s` and `time_to_accuracy_s` never pause.
//!
//! [`run`] loads and loops over the epochs; a [`Training`] runs each epoch ([`Training::epoch`]),
//! each step ([`Training::batch`]) and each validation ([`Training::validate`]), and makes the
//! result ([`Training::outcome`]).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::augment::{apply_packed, draw, AugmentSpec};
use crate::data::{image, PACKED_BYTES};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::optim::Optimizer;
use crate::network::{weights, Network, Shape};
use crate::pairsource::{EpochPairs, PairSource};
use crate::params::TrainParams;
use crate::result::{Metric, Outcome};
use crate::rng::Rng;
use crate::scoring::{score_trials, Scorer};
use crate::tasks::common::{build_network, network_shape, start_params, WEIGHTS_FILE};
use crate::tasks::evaluate::koch_trial_set;
use crate::trials::TrialSet;

fn log(line: &str) {
    eprintln!("{line}");
}

/// Validation state: the trials and the best accuracy so far.
struct Validation {
    trials: TrialSet,
    best: f64,
    last: Option<f64>,
    stale: usize,
    seconds: f64,
    time_to_accuracy_s: Option<f64>,
    at_step: Option<usize>,
}

/// The steps taken and their clocks: every step's seconds and pairs, and those of the steps
/// after the warm-up.
#[derive(Default)]
struct Clock {
    step: usize,
    pairs_seen: usize,
    all_s: f64,
    steady_s: f64,
    steady_pairs: usize,
    first_batch_s: Option<f64>,
}

/// A training run under way: the network and its optimiser, validation, augmentation, and
/// what the run has measured so far.
struct Training<'a, N: Network> {
    job: &'a Job,
    params: &'a TrainParams,
    events: &'a Events,
    net: N,
    optimizer: Optimizer,
    validation: Option<Validation>,
    augment: AugmentSpec,
    augment_rng: Rng,
    /// A batch's distorted images (left, then right) and its labels.
    distorted: Vec<u8>,
    labels: Vec<f32>,
    clock: Clock,
    /// One mean loss per epoch run.
    epoch_losses: Vec<f64>,
    /// Why training stops; empty while it goes on.
    stop: String,
    weights_path: PathBuf,
    /// Time to accuracy (and `wall_s`) counts from the first data touched.
    data_start: Instant,
}

/// Run `train` for `job`.
pub fn run<N: Network>(job: &Job, params: &TrainParams, events: &Events) -> Result<Outcome> {
    let shape = network_shape(job)?;
    let spec = job.optimizer.unwrap_or_default();
    spec.check()?;
    let augment = AugmentSpec::from_job(job.augment.as_ref())?;
    if (params.target_accuracy.is_some() || params.patience > 0) && job.dataset.eval_root.is_none()
    {
        return Err(Error::job(
            "dataset.eval_root",
            "null, expected an evaluation folder when params.target_accuracy or params.patience \
             is set (validation needs one-shot trials)",
        ));
    }
    let start = start_params(job, shape, params.init)?;
    let optimizer = spec.build(&start);
    let net = build_network::<N>(job, start, 2 * params.batch, true)?;
    let weights_path = job.out_dir.join(WEIGHTS_FILE);

    let data_start = Instant::now(); // time to accuracy counts from the first data touched
    let (validation, mut source) = events.phase("load", || load(job, params, events))?;
    let mut training = Training {
        job,
        params,
        events,
        net,
        optimizer,
        validation,
        augment_rng: Rng::new(job.seed, "augment"),
        augment,
        distorted: vec![0u8; 2 * params.batch * PACKED_BYTES],
        labels: vec![0.0f32; params.batch],
        clock: Clock::default(),
        epoch_losses: Vec::new(),
        stop: String::new(),
        weights_path,
        data_start,
    };

    log(&format!(
        "{:>5}  {:>8}  {:>8}  {:>8}",
        "epoch", "loss", "accuracy", "seconds"
    ));
    events.phase("train", || {
        for epoch in 0..params.epochs {
            training.epoch(&mut source, epoch)?;
            if !training.stop.is_empty() {
                break;
            }
        }
        Ok::<_, Error>(())
    })?;

    events.phase("write", || {
        if training.validation.is_none() {
            save(&training.net, &training.weights_path)?;
        }
        Ok::<_, Error>(())
    })?;
    training.outcome(shape)
}

/// The validation trials (with `dataset.eval_root`) and the training pairs' source.
fn load(
    job: &Job,
    params: &TrainParams,
    events: &Events,
) -> Result<(Option<Validation>, PairSource)> {
    let validation = match &job.dataset.eval_root {
        Some(root) => Some(Validation {
            trials: koch_trial_set(
                root,
                params.validation.ways,
                params.validation.trials,
                job.seed,
                events,
            )?,
            best: -1.0,
            last: None,
            stale: 0,
            seconds: 0.0,
            time_to_accuracy_s: None,
            at_step: None,
        }),
        None => None,
    };
    let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
    let source = match &job.inputs.pairs {
        Some(file) => PairSource::fixed(file, &job.dataset.root, job.seed, &mut progress)?,
        None => PairSource::sampled(
            &job.dataset.root,
            params.pairs,
            params.same_alphabet,
            job.seed,
            &mut progress,
        )?,
    };
    Ok((validation, source))
}

/// Writes the network's current parameters as the weights file `path`.
fn save<N: Network>(net: &N, path: &Path) -> Result<()> {
    let now = net.params()?;
    weights::save(path, &now, &now.data, "")
}

impl<N: Network> Training<'_, N> {
    /// One epoch: its schedule and pairs, every pass over them (distorted after the first),
    /// the validations due, and its log line.
    fn epoch(&mut self, source: &mut PairSource, epoch: usize) -> Result<()> {
        let params = self.params;
        let epoch_start = Instant::now();
        self.optimizer.set_epoch(epoch as u64);
        let pairs = source.epoch()?;
        let n = pairs.labels.len();
        let passes = 1 + if self.augment.enabled {
            self.augment.copies
        } else {
            0
        };
        let (mut losses, mut window) = (Vec::new(), Vec::new());
        'passes: for pass in 0..passes {
            for start in (0..n).step_by(params.batch) {
                let batch = start..(start + params.batch).min(n);
                let loss = self.batch(&source.images, &pairs, batch, pass, epoch)?;
                let step = self.clock.step;
                losses.push(loss);
                window.push(loss);
                if window.len() >= params.log_every_steps {
                    let mean = window.iter().sum::<f64>() / window.len() as f64;
                    let (step, epoch) = (Some(step as u64), Some(epoch as u64));
                    self.events.metric("loss", mean, step, epoch);
                    window.clear();
                }
                if params.validate_every_steps > 0 && step % params.validate_every_steps == 0 {
                    self.validate(epoch)?;
                }
                if self.stop.is_empty() {
                    if let Some(limit) = params.max_seconds {
                        if self.data_start.elapsed().as_secs_f64() >= limit {
                            self.stop = format!("max_seconds {limit} reached");
                        }
                    }
                }
                if !self.stop.is_empty() {
                    break 'passes;
                }
            }
        }
        self.epoch_losses
            .push(losses.iter().sum::<f64>() / losses.len().max(1) as f64);
        let last = !self.stop.is_empty() || epoch + 1 == params.epochs;
        let validated_here =
            self.validation.as_ref().and_then(|v| v.at_step) == Some(self.clock.step);
        if (params.validate_every_steps == 0 || last) && !validated_here {
            self.validate(epoch)?;
        }
        let shown = match self.validation.as_ref().and_then(|v| v.last) {
            Some(a) => format!("{:>8}", format!("{:.2}%", a * 100.0)),
            None => format!("{:>8}", "-"),
        };
        let seconds = epoch_start.elapsed().as_secs_f64();
        let mean = self.epoch_losses[self.epoch_losses.len() - 1];
        log(&format!("{epoch:5}  {mean:8.4}  {shown}  {seconds:8.1}"));
        if !self.stop.is_empty() {
            log(&format!("stopped: {stop}", stop = self.stop));
        }
        Ok(())
    }

    /// One step on the pairs `batch` of `pairs` (images in `images`), distorted when `pass` is
    /// not the first: inputs set, trained, updated and timed; its loss.
    fn batch(
        &mut self,
        images: &[u8],
        pairs: &EpochPairs,
        batch: Range<usize>,
        pass: usize,
        epoch: usize,
    ) -> Result<f64> {
        let m = batch.len();
        let left: Vec<&[u8]> = batch
            .clone()
            .map(|i| image(images, pairs.left[i]))
            .collect();
        let right: Vec<&[u8]> = batch
            .clone()
            .map(|i| image(images, pairs.right[i]))
            .collect();
        if pass > 0 {
            // Left images in order, then right (docs/augment.md).
            for (k, src) in left.iter().chain(&right).enumerate() {
                let d = draw(&mut self.augment_rng, &self.augment);
                let out = &mut self.distorted[k * PACKED_BYTES..(k + 1) * PACKED_BYTES];
                apply_packed(src, &d, out);
            }
            let (l, r) = self.distorted[..2 * m * PACKED_BYTES].split_at(m * PACKED_BYTES);
            let l: Vec<&[u8]> = l.chunks_exact(PACKED_BYTES).collect();
            let r: Vec<&[u8]> = r.chunks_exact(PACKED_BYTES).collect();
            self.net.set_inputs(&l, &r)?;
        } else {
            self.net.set_inputs(&left, &right)?;
        }
        for (label, &y) in self.labels.iter_mut().zip(&pairs.labels[batch]) {
            *label = f32::from(y);
        }
        let began = Instant::now();
        crate::extra_work::run();
        let loss = self.net.train_batch(&self.labels[..m])?;
        if !loss.is_finite() {
            // No validated weights yet: keep the last good ones.
            if self.validation.as_ref().is_none_or(|v| v.best < 0.0) {
                save(&self.net, &self.weights_path)?;
            }
            return Err(Error::Runtime(format!(
                "epoch {epoch} step {step}: loss is {loss}, training stopped; \
                 {WEIGHTS_FILE} holds the last good weights (lower the learning rate?)",
                step = self.clock.step
            )));
        }
        self.net.update(&mut self.optimizer)?;
        let seconds = began.elapsed().as_secs_f64();
        let clock = &mut self.clock;
        clock.first_batch_s.get_or_insert(seconds);
        clock.all_s += seconds;
        if clock.step >= self.params.warmup_steps {
            clock.steady_s += seconds;
            clock.steady_pairs += m;
        }
        clock.pairs_seen += m;
        clock.step += 1;
        Ok(loss)
    }

    /// Validate now (without validation, nothing): record the accuracy, keep the best
    /// weights, decide on stopping.
    fn validate(&mut self, epoch: usize) -> Result<()> {
        let Some(v) = self.validation.as_mut() else {
            return Ok(());
        };
        let (params, step) = (self.params, self.clock.step);
        v.at_step = Some(step);
        let began = Instant::now();
        let net = &mut self.net;
        let accuracy = self.events.phase("evaluate", || {
            let mut scorer = Scorer::Siamese {
                net: &mut *net,
                batch: 2 * params.batch,
                warmup_batches: 0, // validation is outside the timed steps
            };
            Ok::<_, Error>(score_trials(&mut scorer, &v.trials, &mut |_, _| {})?.accuracy())
        })?;
        v.seconds += began.elapsed().as_secs_f64();
        v.last = Some(accuracy);
        let (step, epoch) = (Some(step as u64), Some(epoch as u64));
        self.events.metric("val_accuracy", accuracy, step, epoch);
        if accuracy > v.best {
            v.best = accuracy;
            v.stale = 0;
            save(&self.net, &self.weights_path)?;
        } else {
            v.stale += 1;
            if params.patience > 0 && v.stale >= params.patience {
                self.stop = format!("no improvement in {} validations", v.stale);
            }
        }
        if let Some(target) = params.target_accuracy {
            if accuracy >= target && v.time_to_accuracy_s.is_none() {
                v.time_to_accuracy_s = Some(self.data_start.elapsed().as_secs_f64());
                self.stop = format!("target accuracy {target} reached");
            }
        }
        Ok(())
    }

    /// The run's result: its counts, clocks, throughput and validation.
    fn outcome(self, shape: Shape) -> Result<Outcome> {
        let clock = &self.clock;
        // With no more steps than the warm-up, every step is timed (as `step` does).
        let (train_s, timed_pairs) = if clock.step > self.params.warmup_steps {
            (clock.steady_s, clock.steady_pairs)
        } else {
            (clock.all_s, clock.pairs_seen)
        };
        let pairs_per_s = timed_pairs as f64 / train_s.max(f64::MIN_POSITIVE);
        let validation = self.validation.as_ref();
        let mut outcome = Outcome::default()
            .metric("epochs_run", self.epoch_losses.len())
            .metric("steps", clock.step)
            .metric("train_pairs", clock.pairs_seen)
            .metric("train_s", train_s)
            .metric("validation_s", validation.map_or(0.0, |v| v.seconds))
            .metric("wall_s", self.data_start.elapsed().as_secs_f64())
            .metric("train_pairs_per_s", pairs_per_s)
            .metric("first_batch_s", clock.first_batch_s.unwrap_or(0.0))
            .metric("gflop_per_s", pairs_per_s * shape.train_pair_flop()? / 1e9)
            .metric("epoch_losses", Metric::List(self.epoch_losses))
            .metric("threads", self.job.threads);
        if let Some(v) = validation {
            if let Some(last) = v.last {
                outcome = outcome
                    .metric("final_val_accuracy", last)
                    .metric("best_val_accuracy", v.best);
            }
            if let Some(t) = v.time_to_accuracy_s {
                outcome = outcome.metric("time_to_accuracy_s", t);
            }
        }
        Ok(outcome.output("weights", WEIGHTS_FILE))
    }
}
