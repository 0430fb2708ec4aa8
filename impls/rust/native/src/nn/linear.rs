//! Fully connected layer `z = x W^T` (the bias is added by the activation that follows),
//! forward and backward, batched over rows and split over the threads of the current pool.
//!
//! Layouts are PyTorch's: `x` is `[batch, in]`, `W` is `[out, in]`, `z` is `[batch, out]`.

use rayon::prelude::*;

use super::gemm::{sgemm, View, ViewMut};

/// Forward: `z = x W^T` (`z` overwritten); `zt` (at least `batch * outputs` floats) is
/// scratch.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    x: &[f32],
    weight: &[f32],
    batch: usize,
    inputs: usize,
    outputs: usize,
    z: &mut [f32],
    zt: &mut [f32],
    threads: usize,
) {
    // Computed as z^T = W x^T into a row-major scratch, then transposed: with the long weight
    // rows as the left-hand side the `gemm` crate runs about 3x faster than x W^T here, and it
    // must write a row-major destination (a column-major one is turned back into x W^T)
    // (benches/nn_gemm.rs, fc1_fwd_as_wxt against fc1_fwd).
    let zt = &mut zt[..batch * outputs];
    sgemm(
        View::rows(weight, outputs, inputs),
        View::transposed(&x[..batch * inputs], batch, inputs),
        ViewMut::rows(zt, outputs, batch),
        false,
        threads,
    );
    transpose(zt, outputs, batch, &mut z[..batch * outputs]);
}

/// Forward of one row (`batch` 1): `z = W x` as a GEMV, the weight's rows split over the
/// threads of the current pool (`threads` of them), `z` overwritten.
///
/// At one image fc1 reads its whole weight (151 MB for `paper`) once per call and does two
/// flops per weight: memory-bound, so the GEMM's packing of the weight into cache tiles is
/// pure overhead there (benches/nn_embed1.rs: fc1 of one image about 2x faster this way).
pub fn forward_one(x: &[f32], weight: &[f32], inputs: usize, z: &mut [f32], threads: usize) {
    let x = &x[..inputs];
    let (outputs, rows) = (z.len(), z.len().div_ceil(threads.max(1)).max(1));
    z.par_chunks_mut(rows)
        .zip(weight[..outputs * inputs].par_chunks(rows * inputs))
        .for_each(|(z, w)| {
            for (out, row) in z.iter_mut().zip(w.chunks_exact(inputs)) {
                *out = dot(row, x);
            }
        });
}

/// The dot product of `a` and `b` in 32 lanes (two AVX-512 or four AVX2 registers).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 32;
    let mut acc = [0.0f32; LANES];
    let (a_main, a_tail) = a.split_at(a.len() / LANES * LANES);
    let (b_main, b_tail) = b.split_at(a_main.len());
    for (x, y) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// `dst` (`[cols, rows]`) = the transpose of row-major `src` (`[rows, cols]`), in tiles.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// Backward: from `dz` (`[batch, out]`), overwrite `dweight` (`[out, in]`) and `dbias`
/// (`[out]`), and `dx` (`[batch, in]`) when given.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    weight: &[f32],
    dz: &[f32],
    batch: usize,
    inputs: usize,
    outputs: usize,
    dweight: &mut [f32],
    dbias: &mut [f32],
    dx: Option<&mut [f32]>,
    threads: usize,
) {
    let dz = &dz[..batch * outputs];
    dbias.fill(0.0);
    for row in dz.chunks_exact(outputs) {
        for (b, d) in dbias.iter_mut().zip(row) {
            *b += d;
        }
    }
    sgemm(
        View::transposed(dz, batch, outputs),
        View::rows(&x[..batch * inputs], batch, inputs),
        ViewMut::rows(dweight, outputs, inputs),
        false,
        threads,
    );
    if let Some(dx) = dx {
        sgemm(
            View::rows(dz, batch, outputs),
            View::rows(weight, outputs, inputs),
            ViewMut::rows(&mut dx[..batch * inputs], batch, inputs),
            false,
            threads,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_one_is_the_batched_forward_of_one_row() {
        for (i, o, threads) in [(5, 4, 1), (67, 9, 2), (100, 3, 4)] {
            let x: Vec<f32> = (0..i).map(|v| ((v * 7) % 11) as f32 * 0.1 - 0.5).collect();
            let w: Vec<f32> = (0..o * i)
                .map(|v| ((v * 5) % 13) as f32 * 0.1 - 0.6)
                .collect();
            let (mut want, mut zt) = (vec![0.0; o], vec![0.0; o]);
            forward(&x, &w, 1, i, o, &mut want, &mut zt, 1);
            let mut got = vec![f32::NAN; o];
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| forward_one(&x, &w, i, &mut got, threads));
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (b, i, o) = (3, 5, 4);
        let x: Vec<f32> = (0..b * i)
            .map(|v| ((v * 7) % 11) as f32 * 0.1 - 0.5)
            .collect();
        let w: Vec<f32> = (0..o * i)
            .map(|v| ((v * 5) % 13) as f32 * 0.1 - 0.6)
            .collect();
        let r: Vec<f32> = (0..b * o).map(|v| (v % 3) as f32 - 1.0).collect();
        let loss = |x: &[f32], w: &[f32]| -> f64 {
            let (mut z, mut zt) = (vec![0.0; b * o], vec![0.0; b * o]);
            forward(x, w, b, i, o, &mut z, &mut zt, 1);
            z.iter()
                .zip(&r)
                .map(|(a, c)| (*a as f64) * (*c as f64))
                .sum()
        };
        let (mut dw, mut db, mut dx) = (vec![0.0; o * i], vec![0.0; o], vec![0.0; b * i]);
        backward(&x, &w, &r, b, i, o, &mut dw, &mut db, Some(&mut dx), 1);
        let eps = 1e-2;
        for k in 0..w.len() {
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[k] += eps;
            wm[k] -= eps;
            let fd = (loss(&x, &wp) - loss(&x, &wm)) / (2.0 * eps as f64);
            assert!((fd - dw[k] as f64).abs() < 1e-3);
        }
        for k in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[k] += eps;
            xm[k] -= eps;
            let fd = (loss(&xp, &w) - loss(&xm, &w)) / (2.0 * eps as f64);
            assert!((fd - dx[k] as f64).abs() < 1e-3);
        }
        for (k, d) in db.iter().enumerate() {
            let want: f32 = (0..b).map(|row| r[row * o + k]).sum();
            assert!((d - want).abs() < 1e-5);
        }
    }
}
