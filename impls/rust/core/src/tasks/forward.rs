//! The `forward` task: embeddings of both towers and the logits of every pair of
//! `inputs.pairs`, in file order, `batch` pairs per network call (docs/protocol.md).
//!
//! Writes `outputs.safetensors` (`emb1` [N, E], `emb2` [N, E], `logits` [N]). Steady state
//! (docs/protocol.md, "Steady state and cold start"): `warmup_batches` untimed calls on the
//! first batch's inputs, same batch size, outputs discarded; then every batch is
//! timed. `forward_s` counts only the timed network calls, their outputs copied out (decoding
//! the packed images into floats and file I/O are outside it); `pairs_per_s = pairs / forward_s`; `gflop_per_s` uses
//! the analytic counts; `first_batch_s` is the first network call (the first warm-up call, or
//! the first timed batch without warm-up).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::init::InitName;
use crate::network::{weights, Network};
use crate::params::ForwardParams;
use crate::result::Outcome;
use crate::tasks::common::{build_network, network_shape, read_pair_images, rows, start_params};

/// Output file of `forward`.
pub const OUTPUTS_FILE: &str = "outputs.safetensors";

/// Run `forward` for `job` on back-end `N`.
pub fn run<N: Network>(job: &Job, params: &ForwardParams, events: &Events) -> Result<Outcome> {
    let shape = network_shape(job)?;
    let start = start_params(job, shape, InitName::Paper)?;
    let images = events.phase("load", || read_pair_images(job, events))?;
    let n = images.labels.len();
    let e = shape.embedding;
    let batch = params.batch.min(n);
    let mut net = build_network::<N>(job, start, 2 * batch, false)?;
    let (mut emb1, mut emb2, mut logits) = (vec![0.0; n * e], vec![0.0; n * e], vec![0.0; n]);
    let (mut emb, mut batch_logits) = (vec![0.0; 2 * batch * e], vec![0.0; batch]);
    let mut forward_s = 0.0;
    let mut first_batch_s: Option<f64> = None;
    events.phase("forward", || {
        if params.warmup_batches > 0 {
            // The first batch's inputs, as the first timed call will see them.
            net.set_inputs(
                &rows(&images.left, 0, batch),
                &rows(&images.right, 0, batch),
            )?;
            for _ in 0..params.warmup_batches {
                let began = Instant::now();
                crate::extra_work::run();
                net.forward_pairs(batch, &mut emb, &mut batch_logits)?;
                let seconds = began.elapsed().as_secs_f64();
                first_batch_s.get_or_insert(seconds);
            }
        }
        for start in (0..n).step_by(batch) {
            let stop = (start + batch).min(n);
            let m = stop - start;
            net.set_inputs(
                &rows(&images.left, start, stop),
                &rows(&images.right, start, stop),
            )?;
            let began = Instant::now();
            crate::extra_work::run();
            net.forward_pairs(m, &mut emb[..2 * m * e], &mut batch_logits[..m])?;
            let seconds = began.elapsed().as_secs_f64();
            forward_s += seconds;
            first_batch_s.get_or_insert(seconds);
            emb1[start * e..stop * e].copy_from_slice(&emb[..m * e]);
            emb2[start * e..stop * e].copy_from_slice(&emb[m * e..2 * m * e]);
            logits[start..stop].copy_from_slice(&batch_logits[..m]);
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
