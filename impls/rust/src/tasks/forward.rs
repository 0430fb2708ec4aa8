//! The `forward` task: embeddings of both towers and the logits of every pair of
//! `inputs.pairs`, in file order, `batch` pairs per network call (docs/protocol.md).
//!
//! Writes `outputs.safetensors` (`emb1` [N, E], `emb2` [N, E], `logits` [N]). Steady state
//! (docs/protocol.md, "Steady state and cold start"): `warmup_batches` untimed calls on the
//! first batch's inputs, same batch size and workspace, outputs discarded; then every batch is
//! timed. `forward_s` counts only the timed network calls (decoding the packed images into
//! floats and file I/O are outside it); `pairs_per_s = pairs / forward_s`; `gflop_per_s` uses
//! the analytic counts; `first_batch_s` is the first network call (the first warm-up call, or
//! the first timed batch without warm-up).

use std::time::Instant;

use serde::Deserialize;

use crate::data::{load_pairs, PairImages, PACKED_BYTES};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::nn::init::InitName;
use crate::nn::model::SiameseNet;
use crate::nn::weights;
use crate::pairfile::read_pairs;
use crate::result::Outcome;
use crate::tasks::init::{network_shape, start_params};

/// Output file of `forward`.
pub const OUTPUTS_FILE: &str = "outputs.safetensors";

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
pub fn check(params: &ForwardParams) -> Result<()> {
    if params.batch == 0 {
        return Err(Error::job("params.batch", "got 0, expected >= 1"));
    }
    check_warmup("warmup_batches", params.warmup_batches)
}

/// `params.<field>`, a count of warm-up calls, within the schema's [0, 1000000].
pub fn check_warmup(field: &str, value: usize) -> Result<()> {
    if value > MAX_WARMUP {
        return Err(Error::job(
            format!("params.{field}"),
            format!("got {value}, expected an integer in [0, {MAX_WARMUP}]"),
        ));
    }
    Ok(())
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

/// Run `forward` for `job`.
pub fn run(job: &Job, params: &ForwardParams, events: &Events) -> Result<Outcome> {
    let shape = network_shape(job)?;
    let net = SiameseNet::new(start_params(job, shape, InitName::Paper)?)?;
    let images = events.phase("load", || read_pair_images(job, events))?;
    let n = images.labels.len();
    let e = shape.embedding;
    let batch = params.batch.min(n);
    let mut ws = net.workspace(2 * batch, job.threads, false);
    let (mut emb1, mut emb2, mut logits) = (vec![0.0; n * e], vec![0.0; n * e], vec![0.0; n]);
    let mut forward_s = 0.0;
    let mut first_batch_s: Option<f64> = None;
    events.phase("forward", || {
        if params.warmup_batches > 0 {
            // The first batch's inputs, as the first timed call will see them.
            net.set_inputs(
                &mut ws,
                &rows(&images.left, 0, batch),
                &rows(&images.right, 0, batch),
            );
            for _ in 0..params.warmup_batches {
                let began = Instant::now();
                net.forward_pairs(&mut ws, batch);
                let seconds = began.elapsed().as_secs_f64();
                first_batch_s.get_or_insert(seconds);
            }
        }
        for start in (0..n).step_by(batch) {
            let stop = (start + batch).min(n);
            net.set_inputs(
                &mut ws,
                &rows(&images.left, start, stop),
                &rows(&images.right, start, stop),
            );
            let began = Instant::now();
            net.forward_pairs(&mut ws, stop - start);
            let seconds = began.elapsed().as_secs_f64();
            forward_s += seconds;
            first_batch_s.get_or_insert(seconds);
            let m = stop - start;
            let emb = net.embeddings(&ws, 2 * m);
            emb1[start * e..stop * e].copy_from_slice(&emb[..m * e]);
            emb2[start * e..stop * e].copy_from_slice(&emb[m * e..]);
            logits[start..stop].copy_from_slice(net.logits(&ws, m));
            events.progress(stop, n, "pairs");
        }
        Ok::<_, Error>(())
    })?;
    let path = job.out_dir.join(OUTPUTS_FILE);
    events.phase("write", || {
        weights::save_tensors(
            &path,
            &[
                ("emb1".into(), vec![n, e], &emb1),
                ("emb2".into(), vec![n, e], &emb2),
                ("logits".into(), vec![n], &logits),
            ],
        )
    })?;
    let pairs_per_s = n as f64 / forward_s.max(f64::MIN_POSITIVE);
    Ok(Outcome::default()
        .metric("pairs", n)
        .metric("forward_s", forward_s)
        .metric("pairs_per_s", pairs_per_s)
        .metric(
            "gflop_per_s",
            pairs_per_s * shape.pair_forward_flop()? / 1e9,
        )
        .metric("first_batch_s", first_batch_s.unwrap_or(0.0))
        .metric("warmup_batches", params.warmup_batches)
        .output("outputs", OUTPUTS_FILE))
}

/// The packed images `start..stop` of a `[N, 1379]` buffer.
fn rows(packed: &[u8], start: usize, stop: usize) -> Vec<&[u8]> {
    packed[start * PACKED_BYTES..stop * PACKED_BYTES]
        .chunks_exact(PACKED_BYTES)
        .collect()
}
