//! The siamese head on embeddings: `logit = out(|e1 - e2|)`, the score of a pair of images.
//!
//! Every back-end's network ends in this head; the one-shot scorer applies it to embeddings
//! computed once per image (docs/evaluation.md).

/// Logits `[n]` of pairs of embeddings `e1`, `e2` (`[n, e]`) with `out.weight` `[1, e]`, `out.bias`.
pub fn head_forward(e1: &[f32], e2: &[f32], weight: &[f32], bias: f32, logits: &mut [f32]) {
    let e = weight.len();
    for (i, logit) in logits.iter_mut().enumerate() {
        let (a, b) = (&e1[i * e..(i + 1) * e], &e2[i * e..(i + 1) * e]);
        let dot: f32 = a
            .iter()
            .zip(b)
            .zip(weight)
            .map(|((x, y), w)| (x - y).abs() * w)
            .sum();
        *logit = dot + bias;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_the_weighted_l1_distance_plus_bias() {
        let mut logits = [0.0f32; 2];
        head_forward(
            &[1.0, 2.0, 0.0, 0.0],
            &[0.0, 4.0, 0.0, 0.0],
            &[0.5, -1.0],
            0.25,
            &mut logits,
        );
        assert_eq!(logits, [0.5 - 2.0 + 0.25, 0.25]);
    }
}
