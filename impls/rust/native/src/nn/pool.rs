//! Bias, ReLU and 2x2 max-pooling (stride 2, floor mode) fused, forward and backward.
//!
//! The forward pass reads a convolution's output in group layout (`[c, g*side*side]`, see
//! conv.rs), adds the bias, applies ReLU and keeps the maximum of each 2x2 window, writing the
//! pooled images one after the other (`[g, c, side/2, side/2]`) and the window position of
//! each maximum (0..4, row-major; the first maximum wins, as in PyTorch). Rows and columns
//! beyond `2*(side/2)` are dropped (floor mode). Because ReLU is monotonic, `max(relu(x))` is
//! `relu(max(x))` and the ReLU derivative at the kept position is `pooled > 0`, so the
//! full-resolution activations are never stored: the backward pass needs only the pooled
//! values and the argmax bytes.

/// Forward: `y` is `[c, g*side*side]` (no bias yet); writes `pooled` and `argmax`, both
/// `[g, c, (side/2)^2]`.
pub fn forward(
    y: &[f32],
    bias: &[f32],
    g: usize,
    side: usize,
    pooled: &mut [f32],
    argmax: &mut [u8],
) {
    let c = bias.len();
    let (p, half) = (side * side, side / 2);
    let width = g * p;
    for j in 0..g {
        for ch in 0..c {
            let plane = &y[ch * width + j * p..ch * width + (j + 1) * p];
            let base = (j * c + ch) * half * half;
            let out = &mut pooled[base..base + half * half];
            let arg = &mut argmax[base..base + half * half];
            let b = bias[ch];
            for py in 0..half {
                let r0 = &plane[2 * py * side..2 * py * side + side];
                let r1 = &plane[(2 * py + 1) * side..(2 * py + 1) * side + side];
                for px in 0..half {
                    let window = [r0[2 * px], r0[2 * px + 1], r1[2 * px], r1[2 * px + 1]];
                    let mut best = 0;
                    for (i, v) in window.iter().enumerate().skip(1) {
                        if *v > window[best] {
                            best = i;
                        }
                    }
                    out[py * half + px] = (window[best] + b).max(0.0);
                    arg[py * half + px] = best as u8;
                }
            }
        }
    }
}

/// Backward: from the gradient of the pooled output `dpooled` (`[g, c, (side/2)^2]`), the
/// pooled values and argmax of [`forward`], overwrite `dy` (`[c, g*side*side]`) with the
/// gradient of the convolution's output (bias included, i.e. before the bias was added).
pub fn backward(
    dpooled: &[f32],
    pooled: &[f32],
    argmax: &[u8],
    c: usize,
    g: usize,
    side: usize,
    dy: &mut [f32],
) {
    let (p, half) = (side * side, side / 2);
    let width = g * p;
    dy[..c * width].fill(0.0);
    for j in 0..g {
        for ch in 0..c {
            let plane = &mut dy[ch * width + j * p..ch * width + (j + 1) * p];
            let base = (j * c + ch) * half * half;
            for q in 0..half * half {
                let (value, grad) = (pooled[base + q], dpooled[base + q]);
                if value > 0.0 {
                    let a = argmax[base + q] as usize;
                    let (py, px) = (q / half, q % half);
                    let (yy, xx) = (2 * py + a / 2, 2 * px + a % 2);
                    plane[yy * side + xx] = grad;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_with_bias_relu_and_floor_mode() {
        // One image, one channel, side 5 (the last row and column are dropped).
        let y: Vec<f32> = (0..25).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let (mut pooled, mut arg) = (vec![0.0; 4], vec![0u8; 4]);
        forward(&y, &[0.5], 1, 5, &mut pooled, &mut arg);
        for q in 0..4 {
            let (py, px) = (q / 2, q % 2);
            let w = [
                y[2 * py * 5 + 2 * px],
                y[2 * py * 5 + 2 * px + 1],
                y[(2 * py + 1) * 5 + 2 * px],
                y[(2 * py + 1) * 5 + 2 * px + 1],
            ];
            let max = w.iter().cloned().fold(f32::MIN, f32::max);
            assert_eq!(pooled[q], (max + 0.5).max(0.0));
            assert_eq!(w[arg[q] as usize], max);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        // Distinct values away from the ReLU kink so the function is smooth around them.
        let (c, g, side) = (2, 2, 4);
        let n = c * g * side * side;
        let y: Vec<f32> = (0..n).map(|i| ((i * 13) % n) as f32 * 0.1 - 1.05).collect();
        let bias = [0.1, -0.2];
        let r: Vec<f32> = (0..c * g * 4).map(|i| (i % 5) as f32 - 2.0).collect();
        let loss = |y: &[f32]| -> f64 {
            let (mut pooled, mut arg) = (vec![0.0; c * g * 4], vec![0u8; c * g * 4]);
            forward(y, &bias, g, side, &mut pooled, &mut arg);
            pooled
                .iter()
                .zip(&r)
                .map(|(p, r)| (*p as f64) * (*r as f64))
                .sum()
        };
        let (mut pooled, mut arg) = (vec![0.0; c * g * 4], vec![0u8; c * g * 4]);
        forward(&y, &bias, g, side, &mut pooled, &mut arg);
        let mut dy = vec![9.0; n];
        backward(&r, &pooled, &arg, c, g, side, &mut dy);
        let eps = 1e-3;
        for i in 0..n {
            let (mut yp, mut ym) = (y.clone(), y.clone());
            yp[i] += eps;
            ym[i] -= eps;
            let fd = (loss(&yp) - loss(&ym)) / (2.0 * eps as f64);
            assert!((fd - dy[i] as f64).abs() < 1e-2, "dy[{i}] {fd} {}", dy[i]);
        }
    }
}
