//! N-way one-shot scoring (docs/evaluation.md, "Scoring").
//!
//! A [`Scorer`] rates a query against each candidate of every trial of a [`TrialSet`]: the
//! siamese network (each distinct image embedded once, then the head's logit of
//! `|e_q - e_c|`) or minus the modified Hausdorff distance (mhd.rs). [`judge`] picks the
//! candidate with the strictly highest score: a trial whose best score is shared (or is NaN)
//! has no prediction and counts as wrong, so a constant scorer gets no credit.
//! [`format_predictions`] writes `predictions.tsv` exactly as the Python implementation.
//! The siamese scorer first makes `warmup_batches` untimed embedding calls on the first batch
//! (docs/protocol.md, "Steady state and cold start"); `embed_s` then covers embedding every
//! image once, unpacking included.

use std::time::Instant;

use rayon::prelude::*;

use crate::data::{image, Progress, PACKED_BYTES};
use crate::error::Result;
use crate::mhd::{modified_hausdorff, Cloud};
use crate::network::head::head_forward;
use crate::network::Network;
use crate::trials::TrialSet;

/// Header of `predictions.tsv`.
pub const PREDICTIONS_HEADER: &str = "trial\tquery\tpredicted\tanswer\tcorrect";

/// Scores and verdicts of a trial set.
#[derive(Debug, Clone)]
pub struct OneShotOutcome {
    /// `[T * ways]` scores.
    pub scores: Vec<f64>,
    /// Position of the unique best candidate per trial, `None` when there is none.
    pub predicted: Vec<Option<usize>>,
    pub correct: Vec<bool>,
    pub embed_s: f64,
    pub score_s: f64,
    /// Seconds of the first embedding call (the first warm-up call, else the first timed one);
    /// `None` for the MHD scorer.
    pub first_batch_s: Option<f64>,
    /// Seconds of the untimed warm-up calls (0 without any).
    pub warmup_s: f64,
}

impl OneShotOutcome {
    /// Fraction of right trials.
    pub fn accuracy(&self) -> f64 {
        if self.correct.is_empty() {
            return 0.0;
        }
        self.correct.iter().filter(|&&c| c).count() as f64 / self.correct.len() as f64
    }

    /// Number of wrong trials.
    pub fn wrong(&self) -> usize {
        self.correct.iter().filter(|&&c| !c).count()
    }
}

/// The position of the unique highest score, if any (a tie or a NaN: none).
pub fn judge_one(scores: &[f64]) -> Option<usize> {
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut at_best = scores.iter().enumerate().filter(|(_, &s)| s == best);
    let first = at_best.next()?.0;
    at_best.next().is_none().then_some(first)
}

/// Predictions and verdicts of `[T * ways]` scores against the answers.
pub fn judge(scores: &[f64], ways: usize, answers: &[usize]) -> (Vec<Option<usize>>, Vec<bool>) {
    let predicted: Vec<Option<usize>> = scores.chunks_exact(ways).map(judge_one).collect();
    let correct = predicted
        .iter()
        .zip(answers)
        .map(|(p, &a)| *p == Some(a))
        .collect();
    (predicted, correct)
}

/// What rates pairs of images.
pub enum Scorer<'a, N: Network> {
    /// The siamese network, embedding `batch` images per call, after `warmup_batches` untimed
    /// calls on the first batch.
    Siamese {
        net: &'a mut N,
        batch: usize,
        warmup_batches: usize,
    },
    /// Minus the modified Hausdorff distance.
    Mhd,
}

/// One embedding call: unpack `rows` and embed them into `out`; its seconds.
fn embed_call<N: Network>(net: &mut N, rows: &[&[u8]], out: &mut [f32]) -> Result<f64> {
    let began = Instant::now();
    crate::extra_work::run();
    net.set_inputs(rows, &[])?;
    net.embed(rows.len(), out)?;
    Ok(began.elapsed().as_secs_f64())
}

/// `calls` untimed embedding calls on the first `batch` images of `images` (outputs
/// discarded); the first call's seconds, `None` without calls or images.
pub fn warm_up<N: Network>(
    net: &mut N,
    batch: usize,
    images: &[u8],
    calls: usize,
) -> Result<Option<f64>> {
    let m = (images.len() / PACKED_BYTES).min(batch);
    if m == 0 {
        return Ok(None);
    }
    let rows: Vec<&[u8]> = (0..m).map(|i| image(images, i)).collect();
    let mut out = vec![0.0f32; m * net.shape().embedding];
    let mut first_s = None;
    for _ in 0..calls {
        let seconds = embed_call(net, &rows, &mut out)?;
        first_s.get_or_insert(seconds);
    }
    Ok(first_s)
}

/// Embeddings `[M, E]` of packed images `[M, 1379]`, `batch` images per network call, and the
/// seconds of the first call (`None` without images).
pub fn embed_images<N: Network>(
    net: &mut N,
    batch: usize,
    images: &[u8],
    progress: Progress<'_>,
) -> Result<(Vec<f32>, Option<f64>)> {
    let m = images.len() / PACKED_BYTES;
    let e = net.shape().embedding;
    let mut out = vec![0.0f32; m * e];
    let mut first_s = None;
    let mut start = 0;
    while start < m {
        let stop = (start + batch).min(m);
        let rows: Vec<&[u8]> = (start..stop).map(|i| image(images, i)).collect();
        let seconds = embed_call(net, &rows, &mut out[start * e..stop * e])?;
        first_s.get_or_insert(seconds);
        progress(stop, m);
        start = stop;
    }
    Ok((out, first_s))
}

/// Embed each distinct image once, score every (query, candidate) pair, judge each trial.
///
/// `progress` gets (images embedded, distinct images) after each network call.
pub fn score_trials<N: Network>(
    scorer: &mut Scorer<'_, N>,
    trials: &TrialSet,
    progress: Progress<'_>,
) -> Result<OneShotOutcome> {
    let ways = trials.ways;
    let pairs = trials.len() * ways;
    let warming = Instant::now();
    let warm_s = match scorer {
        Scorer::Siamese {
            net,
            batch,
            warmup_batches,
        } => warm_up(*net, *batch, &trials.images, *warmup_batches)?,
        Scorer::Mhd => None,
    };
    let began = Instant::now();
    let warmup_s = if warm_s.is_some() {
        (began - warming).as_secs_f64()
    } else {
        0.0
    };
    let scores: Vec<f64>;
    let embedded;
    let mut first_batch_s = None;
    match scorer {
        Scorer::Siamese { net, batch, .. } => {
            let (emb, first_s) = embed_images(*net, *batch, &trials.images, progress)?;
            embedded = Instant::now();
            first_batch_s = warm_s.or(first_s);
            let e = net.shape().embedding;
            let (weight, bias) = net.head()?;
            let (mut e1, mut e2) = (vec![0.0f32; ways * e], vec![0.0f32; ways * e]);
            let mut logits = vec![0.0f32; ways];
            let mut all = Vec::with_capacity(pairs);
            for t in 0..trials.len() {
                let q = trials.queries[t];
                for (k, &c) in trials.candidates_of(t).iter().enumerate() {
                    e1[k * e..(k + 1) * e].copy_from_slice(&emb[q * e..(q + 1) * e]);
                    e2[k * e..(k + 1) * e].copy_from_slice(&emb[c * e..(c + 1) * e]);
                }
                head_forward(&e1, &e2, &weight, bias, &mut logits);
                all.extend(logits.iter().map(|&z| f64::from(z)));
            }
            scores = all;
        }
        Scorer::Mhd => {
            let clouds: Vec<Cloud> = trials
                .images
                .par_chunks(PACKED_BYTES)
                .map(Cloud::new)
                .collect();
            embedded = Instant::now();
            scores = (0..pairs)
                .into_par_iter()
                .map(|i| {
                    let (t, k) = (i / ways, i % ways);
                    let q = &clouds[trials.queries[t]];
                    -modified_hausdorff(q, &clouds[trials.candidates_of(t)[k]])
                })
                .collect();
        }
    }
    let scored = Instant::now();
    let (predicted, correct) = judge(&scores, ways, &trials.answers);
    Ok(OneShotOutcome {
        scores,
        predicted,
        correct,
        embed_s: (embedded - began).as_secs_f64(),
        score_s: (scored - embedded).as_secs_f64(),
        first_batch_s,
        warmup_s,
    })
}

/// Lake's error per run, `100 * wrong / trials` of the run, runs in order.
pub fn run_error_pct(trials: &TrialSet, outcome: &OneShotOutcome) -> Vec<f64> {
    let runs = trials.runs.iter().copied().max().map_or(0, |r| r + 1);
    (0..runs)
        .filter_map(|run| {
            let hits: Vec<bool> = (0..trials.len())
                .filter(|&t| trials.runs[t] == run)
                .map(|t| outcome.correct[t])
                .collect();
            let wrong = hits.iter().filter(|&&h| !h).count();
            (!hits.is_empty()).then(|| 100.0 * wrong as f64 / hits.len() as f64)
        })
        .collect()
}

/// `predictions.tsv`: trial, query, predicted (or `-`), answer, correct (1/0).
pub fn format_predictions(trials: &TrialSet, outcome: &OneShotOutcome) -> String {
    let mut text = String::from(PREDICTIONS_HEADER);
    text.push('\n');
    for t in 0..trials.len() {
        let row = trials.candidates_of(t);
        let predicted = outcome.predicted[t].map_or("-", |k| trials.paths[row[k]].as_str());
        let answer = &trials.paths[row[trials.answers[t]]];
        let query = &trials.paths[trials.queries[t]];
        let correct = u8::from(outcome.correct[t]);
        text.push_str(&format!("{t}\t{query}\t{predicted}\t{answer}\t{correct}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_and_nan_are_wrong() {
        assert_eq!(judge_one(&[0.1, 0.5, 0.2]), Some(1));
        assert_eq!(judge_one(&[0.5, 0.5, 0.2]), None);
        assert_eq!(judge_one(&[0.1, f64::NAN, 0.2]), None);
        assert_eq!(judge_one(&[f64::NEG_INFINITY; 3]), None);
    }

    #[test]
    fn a_constant_scorer_scores_zero() {
        let scores = vec![1.0; 5 * 4];
        let (predicted, correct) = judge(&scores, 4, &[0, 1, 2, 3, 0]);
        assert!(predicted.iter().all(Option::is_none));
        assert!(correct.iter().all(|c| !c));
    }
}
