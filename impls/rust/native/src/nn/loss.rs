//! The siamese head and its loss: `logit = out(|e1 - e2|)` and the mean binary cross-entropy
//! computed stably from the logits, forward and backward.
//!
//! `bce(z, y) = max(z, 0) - z*y + ln(1 + exp(-|z|))`, averaged over the batch; its derivative
//! is `(sigmoid(z) - y) / n`. The derivative of `|d|` at 0 is 0 (PyTorch's `sign`).

use super::activation::sigmoid;

pub use oneshot_core::network::head::head_forward;

/// Mean binary cross-entropy of `logits` against `labels` (1 same, 0 different), in f64.
pub fn bce_with_logits(logits: &[f32], labels: &[f32]) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(labels)
        .map(|(&z, &y)| {
            let (z, y) = (z as f64, y as f64);
            z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
        })
        .sum();
    total / logits.len() as f64
}

/// Backward of the mean BCE through the head: overwrites `de1`, `de2` (`[n, e]`), `dweight`
/// (`[1, e]`) and returns the bias gradient.
#[allow(clippy::too_many_arguments)]
pub fn head_backward(
    e1: &[f32],
    e2: &[f32],
    weight: &[f32],
    logits: &[f32],
    labels: &[f32],
    de1: &mut [f32],
    de2: &mut [f32],
    dweight: &mut [f32],
) -> f32 {
    let (e, n) = (weight.len(), logits.len());
    dweight.fill(0.0);
    let mut dbias = 0.0;
    for i in 0..n {
        let dz = (sigmoid(logits[i]) - labels[i]) / n as f32;
        dbias += dz;
        let range = i * e..(i + 1) * e;
        let (a, b) = (&e1[range.clone()], &e2[range.clone()]);
        let (da, db) = (&mut de1[range.clone()], &mut de2[range]);
        for k in 0..e {
            let diff = a[k] - b[k];
            dweight[k] += dz * diff.abs();
            let sign = if diff > 0.0 {
                1.0
            } else if diff < 0.0 {
                -1.0
            } else {
                0.0
            };
            da[k] = dz * weight[k] * sign;
            db[k] = -da[k];
        }
    }
    dbias
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_is_stable_for_large_logits() {
        assert!((bce_with_logits(&[100.0], &[1.0])).abs() < 1e-12);
        assert!((bce_with_logits(&[-100.0], &[1.0]) - 100.0).abs() < 1e-9);
        let want = (1.0f64 + (-0.5f64).exp()).ln();
        assert!((bce_with_logits(&[0.5], &[1.0]) - want).abs() < 1e-7);
    }

    #[test]
    fn head_backward_matches_finite_differences() {
        let (n, e) = (3, 4);
        let e1: Vec<f32> = (0..n * e).map(|v| ((v * 7) % 11) as f32 * 0.09).collect();
        let e2: Vec<f32> = (0..n * e)
            .map(|v| ((v * 5) % 13) as f32 * 0.07 + 0.01)
            .collect();
        let w = [0.3f32, -0.2, 0.5, 0.1];
        let labels = [1.0f32, 0.0, 1.0];
        let loss = |e1: &[f32], e2: &[f32], w: &[f32], b: f32| -> f64 {
            let mut z = vec![0.0; n];
            head_forward(e1, e2, w, b, &mut z);
            bce_with_logits(&z, &labels)
        };
        let mut z = vec![0.0; n];
        head_forward(&e1, &e2, &w, 0.2, &mut z);
        let (mut d1, mut d2, mut dw) = (vec![0.0; n * e], vec![0.0; n * e], vec![0.0; e]);
        let db = head_backward(&e1, &e2, &w, &z, &labels, &mut d1, &mut d2, &mut dw);
        let eps = 1e-3;
        for k in 0..n * e {
            let (mut p, mut m) = (e1.clone(), e1.clone());
            p[k] += eps;
            m[k] -= eps;
            let fd = (loss(&p, &e2, &w, 0.2) - loss(&m, &e2, &w, 0.2)) / (2.0 * eps as f64);
            assert!((fd - d1[k] as f64).abs() < 1e-4, "{k} {fd} {}", d1[k]);
            let (mut p, mut m) = (e2.clone(), e2.clone());
            p[k] += eps;
            m[k] -= eps;
            let fd = (loss(&e1, &p, &w, 0.2) - loss(&e1, &m, &w, 0.2)) / (2.0 * eps as f64);
            assert!((fd - d2[k] as f64).abs() < 1e-4);
        }
        for k in 0..e {
            let (mut p, mut m) = (w, w);
            p[k] += eps;
            m[k] -= eps;
            let fd = (loss(&e1, &e2, &p, 0.2) - loss(&e1, &e2, &m, 0.2)) / (2.0 * eps as f64);
            assert!((fd - dw[k] as f64).abs() < 1e-4);
        }
        let fd =
            (loss(&e1, &e2, &w, 0.2 + eps) - loss(&e1, &e2, &w, 0.2 - eps)) / (2.0 * eps as f64);
        assert!((fd - db as f64).abs() < 1e-4);
    }
}
