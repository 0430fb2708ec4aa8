//! Element-wise activations: the fused bias + ReLU + flatten after the last convolution, and
//! the sigmoid of the embedding, forward and backward.
//!
//! The last convolution has no pooling: its output in group layout (`[c, g*P]`, conv.rs) gets
//! the bias and ReLU and is flattened per image in C, H, W order into the rows of the fc1
//! input (`[g, c*P]`), the interchange layout of `fc1.weight`.

/// Forward: rows `x` (`[g, c*P]`) = relu(y + bias) of `y` (`[c, g*P]`).
pub fn bias_relu_flatten(y: &[f32], bias: &[f32], g: usize, p: usize, x: &mut [f32]) {
    let c = bias.len();
    for j in 0..g {
        for (ch, b) in bias.iter().enumerate() {
            let src = &y[ch * g * p + j * p..ch * g * p + (j + 1) * p];
            let dst = &mut x[j * c * p + ch * p..j * c * p + (ch + 1) * p];
            for (d, s) in dst.iter_mut().zip(src) {
                *d = (s + b).max(0.0);
            }
        }
    }
}

/// Backward of [`bias_relu_flatten`]: from `dx` and the forward output `x` (both `[g, c*P]`),
/// overwrite `dy` (`[c, g*P]`) with the gradient before bias and ReLU.
pub fn bias_relu_flatten_backward(
    dx: &[f32],
    x: &[f32],
    c: usize,
    g: usize,
    p: usize,
    dy: &mut [f32],
) {
    for j in 0..g {
        for ch in 0..c {
            let dst = &mut dy[ch * g * p + j * p..ch * g * p + (j + 1) * p];
            let range = j * c * p + ch * p..j * c * p + (ch + 1) * p;
            for ((d, g), v) in dst.iter_mut().zip(&dx[range.clone()]).zip(&x[range]) {
                *d = if *v > 0.0 { *g } else { 0.0 };
            }
        }
    }
}

/// The logistic function, computed without overflow for large |z|.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// In place: `values = sigmoid(values + bias)` for rows of `bias.len()` values.
pub fn bias_sigmoid(values: &mut [f32], bias: &[f32]) {
    for row in values.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = sigmoid(*v + b);
        }
    }
}

/// In place: `grad *= s * (1 - s)` where `s` is the sigmoid's output.
pub fn sigmoid_backward(grad: &mut [f32], s: &[f32]) {
    for (g, s) in grad.iter_mut().zip(s) {
        *g *= s * (1.0 - s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
        assert!((sigmoid(0.3) + sigmoid(-0.3) - 1.0).abs() < 1e-7);
    }

    #[test]
    fn sigmoid_backward_matches_finite_differences() {
        let z = [-2.0f32, -0.3, 0.0, 0.7, 3.0];
        let mut s = z;
        bias_sigmoid(&mut s, &[0.0]);
        let mut grad = [1.0f32; 5];
        sigmoid_backward(&mut grad, &s);
        for (i, zi) in z.iter().enumerate() {
            let eps = 1e-3f64;
            let f = |x: f64| 1.0 / (1.0 + (-x).exp());
            let fd = (f(*zi as f64 + eps) - f(*zi as f64 - eps)) / (2.0 * eps);
            assert!((fd - grad[i] as f64).abs() < 1e-5);
        }
    }

    #[test]
    fn relu_flatten_backward_matches_finite_differences() {
        let (c, g, p) = (3, 2, 4);
        let y: Vec<f32> = (0..c * g * p)
            .map(|i| ((i * 7) % 24) as f32 * 0.1 - 1.15)
            .collect();
        let bias = [0.05, -0.1, 0.2];
        let r: Vec<f32> = (0..c * g * p).map(|i| (i % 3) as f32 - 1.0).collect();
        let loss = |y: &[f32]| -> f64 {
            let mut x = vec![0.0; y.len()];
            bias_relu_flatten(y, &bias, g, p, &mut x);
            x.iter()
                .zip(&r)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum()
        };
        let mut x = vec![0.0; y.len()];
        bias_relu_flatten(&y, &bias, g, p, &mut x);
        let mut dy = vec![0.0; y.len()];
        bias_relu_flatten_backward(&r, &x, c, g, p, &mut dy);
        for i in 0..y.len() {
            let (mut yp, mut ym) = (y.clone(), y.clone());
            yp[i] += 1e-3;
            ym[i] -= 1e-3;
            let fd = (loss(&yp) - loss(&ym)) / 2e-3;
            assert!((fd - dy[i] as f64).abs() < 1e-2, "{i} {fd} {}", dy[i]);
        }
    }
}
