//! The `step` task: `steps` timed optimiser steps at batch `batch` from the starting weights
//! on `inputs.pairs` (step k uses pairs `k*batch ..`, each index modulo N), epoch 0 of the
//! job's `optimizer` (docs/protocol.md, "`step`").
//!
//! Writes the final `weights.safetensors` and, with `save_gradients`, `grads.safetensors` (the
//! gradients of step 0's mean BCE, before L2 and the update, named `grad.<tensor>`). A step's
//! time covers forward, backward and update, not the unpacking of its images; the first
//! `warmup_steps` steps train but are left out of `step_s` and `pairs_per_s` (every step is
//! timed when there are no more), and `first_batch_s` is step 0's seconds. A non-finite
//! loss stops the task (exit 1) naming the step, after writing the last good weights.

use std::time::Instant;

use crate::data::image;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::{weights, Network};
use crate::params::StepParams;
use crate::result::{Metric, Outcome};
use crate::tasks::common::{
    build_network, network_shape, read_pair_images, start_params, WEIGHTS_FILE,
};

/// Gradients file of `step`.
pub const GRADS_FILE: &str = "grads.safetensors";

/// Run `step` for `job`.
pub fn run<N: Network>(job: &Job, params: &StepParams, events: &Events) -> Result<Outcome> {
    let shape = network_shape(job)?;
    let spec = job.optimizer.unwrap_or_default();
    spec.check()?;
    let start = start_params(job, shape, params.init)?;
    let images = events.phase("load", || read_pair_images(job, events))?;
    let n = images.labels.len();
    let mut optimizer = spec.build(&start);
    let mut net = build_network::<N>(job, start, 2 * params.batch, true)?;
    let mut losses = Vec::with_capacity(params.steps);
    let mut grads: Option<Vec<f32>> = None;
    let (mut timed_s, mut timed_steps) = (0.0, 0usize);
    let mut first_batch_s = 0.0;
    let mut labels = vec![0.0f32; params.batch];
    // Copying out step 0's gradients (save_gradients) is not part of the step.
    let mut skipped_s = 0.0;
    let result = events.phase("step", || {
        for step in 0..params.steps {
            let index = |i: usize| (step * params.batch + i) % n;
            let left: Vec<&[u8]> = (0..params.batch)
                .map(|i| image(&images.left, index(i)))
                .collect();
            let right: Vec<&[u8]> = (0..params.batch)
                .map(|i| image(&images.right, index(i)))
                .collect();
            for (i, label) in labels.iter_mut().enumerate() {
                *label = f32::from(images.labels[index(i)]);
            }
            net.set_inputs(&left, &right)?;
            let began = Instant::now();
            crate::extra_work::run();
            let loss = net.train_batch(&labels)?;
            if !loss.is_finite() {
                return Err(Error::Runtime(format!(
                    "step {step}: loss is {loss}, expected a finite number (the last good \
                     weights are in {WEIGHTS_FILE})"
                )));
            }
            if step == 0 && params.save_gradients {
                let paused = Instant::now();
                grads = Some(net.gradients()?);
                skipped_s = paused.elapsed().as_secs_f64();
            }
            net.update(&mut optimizer)?;
            let elapsed = began.elapsed().as_secs_f64() - skipped_s;
            skipped_s = 0.0;
            if step == 0 {
                first_batch_s = elapsed;
            }
            if step >= params.warmup_steps || params.steps <= params.warmup_steps {
                timed_s += elapsed;
                timed_steps += 1;
            }
            losses.push(loss);
            events.metric("loss", loss, Some(step as u64), None);
            events.progress(step + 1, params.steps, "steps");
        }
        Ok(())
    });
    let weights_path = job.out_dir.join(WEIGHTS_FILE);
    events.phase("write", || {
        let last = net.params()?;
        weights::save(&weights_path, &last, &last.data, "")?;
        if let Some(grads) = &grads {
            weights::save(&job.out_dir.join(GRADS_FILE), &last, grads, "grad.")?;
        }
        Ok::<_, Error>(())
    })?;
    result?;
    let pairs_per_s = (timed_steps * params.batch) as f64 / timed_s.max(f64::MIN_POSITIVE);
    let mut outcome = Outcome::default()
        .metric("losses", Metric::List(losses))
        .metric("steps", params.steps)
        .metric("timed_steps", timed_steps)
        .metric("step_s", timed_s / timed_steps.max(1) as f64)
        .metric("pairs_per_s", pairs_per_s)
        .metric("gflop_per_s", pairs_per_s * shape.train_pair_flop()? / 1e9)
        .metric("first_batch_s", first_batch_s)
        .output("weights", WEIGHTS_FILE);
    if grads.is_some() {
        outcome = outcome.output("gradients", GRADS_FILE);
    }
    Ok(outcome)
}
