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

use std::time::Instant;

use crate::augment::{apply_packed, draw, AugmentSpec};
use crate::data::{image, PACKED_BYTES};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::{weights, Network};
use crate::pairsource::PairSource;
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
    let mut optimizer = spec.build(&start);
    let mut net = build_network::<N>(job, start, 2 * params.batch, true)?;
    let weights_path = job.out_dir.join(WEIGHTS_FILE);
    let save = |net: &N| {
        let now = net.params()?;
        weights::save(&weights_path, &now, &now.data, "")
    };

    let data_start = Instant::now(); // time to accuracy counts from the first data touched
    let (mut validation, mut source) = events.phase("load", || {
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
        Ok::<_, Error>((validation, source))
    })?;

    let batch = params.batch;
    let mut augment_rng = Rng::new(job.seed, "augment");
    let passes = 1 + if augment.enabled { augment.copies } else { 0 };
    let mut distorted = vec![0u8; 2 * batch * PACKED_BYTES];
    let mut labels = vec![0.0f32; batch];
    let (mut step, mut pairs_seen) = (0usize, 0usize);
    // Every step's seconds and pairs, and those of the steps after the warm-up.
    let (mut all_s, mut steady_s, mut steady_pairs) = (0.0f64, 0.0f64, 0usize);
    let mut first_batch_s: Option<f64> = None;
    let (mut epochs_run, mut epoch_losses) = (0usize, Vec::new());
    let mut stop = String::new();

    // Validate now: record the accuracy, keep the best weights, decide on stopping.
    let validate = |net: &mut N,
                    validation: &mut Option<Validation>,
                    step: usize,
                    epoch: usize,
                    stop: &mut String|
     -> Result<()> {
        let Some(v) = validation.as_mut() else {
            return Ok(());
        };
        v.at_step = Some(step);
        let began = Instant::now();
        let accuracy = events.phase("evaluate", || {
            let mut scorer = Scorer::Siamese {
                net: &mut *net,
                batch: 2 * batch,
                warmup_batches: 0, // validation is outside the timed steps
            };
            Ok::<_, Error>(score_trials(&mut scorer, &v.trials, &mut |_, _| {})?.accuracy())
        })?;
        v.seconds += began.elapsed().as_secs_f64();
        v.last = Some(accuracy);
        events.metric(
            "val_accuracy",
            accuracy,
            Some(step as u64),
            Some(epoch as u64),
        );
        if accuracy > v.best {
            v.best = accuracy;
            v.stale = 0;
            save(net)?;
        } else {
            v.stale += 1;
            if params.patience > 0 && v.stale >= params.patience {
                *stop = format!("no improvement in {} validations", v.stale);
            }
        }
        if let Some(target) = params.target_accuracy {
            if accuracy >= target && v.time_to_accuracy_s.is_none() {
                v.time_to_accuracy_s = Some(data_start.elapsed().as_secs_f64());
                *stop = format!("target accuracy {target} reached");
            }
        }
        Ok(())
    };

    log(&format!(
        "{:>5}  {:>8}  {:>8}  {:>8}",
        "epoch", "loss", "accuracy", "seconds"
    ));
    events.phase("train", || {
        for epoch in 0..params.epochs {
            let epoch_start = Instant::now();
            optimizer.set_epoch(epoch as u64);
            let pairs = source.epoch()?;
            let n = pairs.labels.len();
            let (mut losses, mut window) = (Vec::new(), Vec::new());
            'passes: for pass in 0..passes {
                for start in (0..n).step_by(batch) {
                    let stop_at = (start + batch).min(n);
                    let m = stop_at - start;
                    let left: Vec<&[u8]> = (start..stop_at)
                        .map(|i| image(&source.images, pairs.left[i]))
                        .collect();
                    let right: Vec<&[u8]> = (start..stop_at)
                        .map(|i| image(&source.images, pairs.right[i]))
                        .collect();
                    if pass > 0 {
                        // Left images in order, then right (docs/augment.md).
                        for (k, src) in left.iter().chain(&right).enumerate() {
                            let d = draw(&mut augment_rng, &augment);
                            let out = &mut distorted[k * PACKED_BYTES..(k + 1) * PACKED_BYTES];
                            apply_packed(src, &d, out);
                        }
                        let (l, r) = distorted[..2 * m * PACKED_BYTES].split_at(m * PACKED_BYTES);
                        let l: Vec<&[u8]> = l.chunks_exact(PACKED_BYTES).collect();
                        let r: Vec<&[u8]> = r.chunks_exact(PACKED_BYTES).collect();
                        net.set_inputs(&l, &r)?;
                    } else {
                        net.set_inputs(&left, &right)?;
                    }
                    for (label, &y) in labels.iter_mut().zip(&pairs.labels[start..stop_at]) {
                        *label = f32::from(y);
                    }
                    let began = Instant::now();
                    crate::extra_work::run();
                    let loss = net.train_batch(&labels[..m])?;
                    if !loss.is_finite() {
                        if validation.as_ref().is_none_or(|v| v.best < 0.0) {
                            save(&net)?; // no validated weights yet: keep the last good ones
                        }
                        return Err(Error::Runtime(format!(
                            "epoch {epoch} step {step}: loss is {loss}, training stopped; \
                             {WEIGHTS_FILE} holds the last good weights (lower the learning rate?)"
                        )));
                    }
                    net.update(&mut optimizer)?;
                    let seconds = began.elapsed().as_secs_f64();
                    first_batch_s.get_or_insert(seconds);
                    all_s += seconds;
                    if step >= params.warmup_steps {
                        steady_s += seconds;
                        steady_pairs += m;
                    }
                    pairs_seen += m;
                    step += 1;
                    losses.push(loss);
                    window.push(loss);
                    if window.len() >= params.log_every_steps {
                        let mean = window.iter().sum::<f64>() / window.len() as f64;
                        events.metric("loss", mean, Some(step as u64), Some(epoch as u64));
                        window.clear();
                    }
                    if params.validate_every_steps > 0 && step % params.validate_every_steps == 0 {
                        validate(&mut net, &mut validation, step, epoch, &mut stop)?;
                    }
                    if stop.is_empty() {
                        if let Some(limit) = params.max_seconds {
                            if data_start.elapsed().as_secs_f64() >= limit {
                                stop = format!("max_seconds {limit} reached");
                            }
                        }
                    }
                    if !stop.is_empty() {
                        break 'passes;
                    }
                }
            }
            epochs_run += 1;
            epoch_losses.push(losses.iter().sum::<f64>() / losses.len().max(1) as f64);
            let last = !stop.is_empty() || epoch + 1 == params.epochs;
            let validated_here = validation.as_ref().and_then(|v| v.at_step) == Some(step);
            if (params.validate_every_steps == 0 || last) && !validated_here {
                validate(&mut net, &mut validation, step, epoch, &mut stop)?;
            }
            let shown = match validation.as_ref().and_then(|v| v.last) {
                Some(a) => format!("{:>8}", format!("{:.2}%", a * 100.0)),
                None => format!("{:>8}", "-"),
            };
            let seconds = epoch_start.elapsed().as_secs_f64();
            let mean = epoch_losses[epoch_losses.len() - 1];
            log(&format!("{epoch:5}  {mean:8.4}  {shown}  {seconds:8.1}"));
            if !stop.is_empty() {
                log(&format!("stopped: {stop}"));
                break;
            }
        }
        Ok::<_, Error>(())
    })?;

    events.phase("write", || {
        if validation.is_none() {
            save(&net)?;
        }
        Ok::<_, Error>(())
    })?;
    // With no more steps than the warm-up, every step is timed (as `step` does).
    let (train_s, timed_pairs) = if step > params.warmup_steps {
        (steady_s, steady_pairs)
    } else {
        (all_s, pairs_seen)
    };
    let pairs_per_s = timed_pairs as f64 / train_s.max(f64::MIN_POSITIVE);
    let mut outcome = Outcome::default()
        .metric("epochs_run", epochs_run)
        .metric("steps", step)
        .metric("train_pairs", pairs_seen)
        .metric("train_s", train_s)
        .metric(
            "validation_s",
            validation.as_ref().map_or(0.0, |v| v.seconds),
        )
        .metric("wall_s", data_start.elapsed().as_secs_f64())
        .metric("train_pairs_per_s", pairs_per_s)
        .metric("first_batch_s", first_batch_s.unwrap_or(0.0))
        .metric("gflop_per_s", pairs_per_s * shape.train_pair_flop()? / 1e9)
        .metric("epoch_losses", Metric::List(epoch_losses))
        .metric("threads", job.threads);
    if let Some(v) = &validation {
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
