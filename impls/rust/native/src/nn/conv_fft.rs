//! Valid, stride-1 2-D convolution by FFT, forward and backward: fewer multiplications than
//! the direct (GEMM-lowered) convolution of conv.rs for large kernels.
//!
//! Every plane is transformed at the FFT side `n = side_in`: a valid correlation's outputs
//! (`side_out = n - k + 1`) and the full convolution of the backward pass (`so + k - 1 = n`)
//! then never wrap around, so no padding beyond the input is needed. With the DFT
//! `X[u] = sum_p x[p] e^{-2 pi i u p / n}` (2-D, real input, `h = n / 2 + 1` columns kept):
//!
//! - forward   `y[j,o] = sum_c x[j,c] (*) w[o,c]`  is `Y[j,o] = sum_c X[j,c] conj(W[o,c])`;
//! - input grad `dx[j,c] = sum_o dy[j,o] * w[o,c]` is `DX[j,c] = sum_o DY[j,o] W[o,c]`;
//! - weight grad `dw[o,c] = sum_j x[j,c] (*) dy[j,o]` is `DW[o,c] = sum_j X[j,c] conj(DY[j,o])`
//!
//! (`(*)` correlation, `*` convolution). Per frequency each is one complex GEMM over the
//! channels (the `gemm` crate's c32 kernels, with its conjugation flags), so a layer costs
//! `F = n * h` products of `[g, cin] x [cin, cout]` plus one transform per plane, instead of
//! `k * k` times the output's multiply-adds. The transforms of a layer's inputs (`X`) are
//! kept from the forward pass for the weight gradient; the weights' transforms (`W`) are made
//! by every thread, whenever the weights changed (model.rs), and shared by all of them.
//!
//! Spectra are stored frequency-major, `[f][row][col]` with `f = u * n + v` (`u < h` the
//! real-to-complex axis, along a row of the image), so each frequency's matrix is contiguous.
//! The plane transforms are fft_plan.rs's, the per-frequency complex GEMM gemm.rs's `cgemm`.

use num_complex::Complex32 as C32;

use super::conv::ConvGeom;
use super::gemm::cgemm;

pub use super::fft_plan::{FftPlan, PlaneScratch};

/// Complex numbers of the weights' spectra of a layer (`[f][cin][cout]`).
pub fn weights_len(plan: &FftPlan, geom: &ConvGeom) -> usize {
    plan.freqs() * geom.cin * geom.cout
}

/// Complex numbers of the input spectra of `g` images (`[f][g][cin]`).
pub fn inputs_len(plan: &FftPlan, geom: &ConvGeom, g: usize) -> usize {
    plan.freqs() * g * geom.cin
}

/// Complex numbers of the output (or output-gradient) spectra of `g` images (`[f][g][cout]`).
pub fn outputs_len(plan: &FftPlan, geom: &ConvGeom, g: usize) -> usize {
    plan.freqs() * g * geom.cout
}

/// The spectra `what` (`[f][cin][cout]`) of the weights (`[cout, cin, k, k]`), one output
/// channel per task of the current rayon pool.
pub fn transform_weights(plan: &FftPlan, geom: &ConvGeom, weight: &[f32], what: &mut [C32]) {
    use rayon::prelude::*;

    let (k, cin, cout) = (geom.k, geom.cin, geom.cout);
    assert!(
        what.len() >= weights_len(plan, geom),
        "weight spectra too short"
    );
    assert!(weight.len() >= cout * cin * k * k, "weights too short");
    /// The spectra's base pointer, shared by the tasks.
    struct Spectra(*mut C32);
    // SAFETY: every task writes only the frequencies of its own output channel `o`, indices
    // `f * cin * cout + c * cout + o`, which no other task touches; the slice outlives the
    // parallel loop, which joins before this function returns.
    unsafe impl Sync for Spectra {}
    let base = Spectra(what.as_mut_ptr());
    let base = &base;
    (0..cout).into_par_iter().for_each_init(
        || (plan.scratch(), vec![C32::default(); plan.freqs()]),
        |(s, tmp), o| {
            for c in 0..cin {
                let w = &weight[(o * cin + c) * k * k..];
                plan.forward_plane(w, k, k, k, tmp, 1, s);
                for (f, v) in tmp.iter().enumerate() {
                    // SAFETY: in bounds by the assert above; disjoint per `o` (see `Spectra`).
                    unsafe { *base.0.add(f * cin * cout + c * cout + o) = *v };
                }
            }
        },
    );
}

/// The spectra `xhat` (`[f][g][cin]`) of `g` input images (`[cin, n, n]` each).
pub fn transform_inputs(
    plan: &FftPlan,
    geom: &ConvGeom,
    input: &[f32],
    g: usize,
    xhat: &mut [C32],
    s: &mut PlaneScratch,
) {
    let (n, cin) = (geom.side_in, geom.cin);
    for j in 0..g {
        for c in 0..cin {
            let plane = &input[j * geom.input_len() + c * n * n..];
            plan.forward_plane(plane, n, n, n, &mut xhat[j * cin + c..], g * cin, s);
        }
    }
}

/// `y = w (*) x` for `g` images from their input spectra `xhat`, the weights' `what` and the
/// images' [`input_support`]: `y` is `[cout, g*P]` like conv.rs's (no bias); `yhat` is scratch.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    plan: &FftPlan,
    geom: &ConvGeom,
    what: &[C32],
    xhat: &[C32],
    support: &[u8],
    g: usize,
    yhat: &mut [C32],
    y: &mut [f32],
    s: &mut PlaneScratch,
) {
    let (cin, cout, so, p) = (geom.cin, geom.cout, geom.side_out(), geom.pixels_out());
    for f in 0..plan.freqs() {
        cgemm(
            (g, cout, cin),
            &mut yhat[f * g * cout..(f + 1) * g * cout],
            (cout, 1),
            false,
            &xhat[f * g * cin..(f + 1) * g * cin],
            (cin, 1),
            &what[f * cin * cout..(f + 1) * cin * cout],
            (cout, 1),
            true,
        );
    }
    let scale = 1.0 / (plan.side() * plan.side()) as f32;
    for o in 0..cout {
        for j in 0..g {
            let dst = &mut y[o * g * p + j * p..o * g * p + (j + 1) * p];
            plan.inverse_plane(
                &yhat[j * cout + o..],
                g * cout,
                so,
                so,
                scale,
                dst,
                so,
                false,
                s,
            );
            for (v, &on) in dst.iter_mut().zip(&support[j * p..(j + 1) * p]) {
                if on == 0 {
                    *v = 0.0;
                }
            }
        }
    }
}

/// Marks, for `g` input images, the outputs whose receptive field holds a nonzero input in
/// some channel (`support[j * P + pixel]`).
///
/// A direct convolution gives exactly zero where its inputs are all zero (the blank paper
/// around a character, once ReLU has cut the first layer's response there); the FFT spreads
/// rounding of about 1e-7 of the plane's size over every output instead. With zero biases (He
/// initialisation) the next ReLU sits exactly at zero, so that noise would decide which blank
/// positions pass a gradient: measured on `cpu`, it moved the conv2..conv4 bias gradients by up
/// to 77% against the direct convolution (their weight gradients, which the zero inputs
/// multiply, stayed within 1e-6). [`forward`] therefore sets the outputs off the support to
/// the exact zero the direct convolution gives; no other output is touched.
pub fn input_support(geom: &ConvGeom, input: &[f32], g: usize, support: &mut [u8]) {
    let (n, k, so, p) = (geom.side_in, geom.k, geom.side_out(), geom.pixels_out());
    // Integral image of "some channel is nonzero" per pixel.
    let mut sums = vec![0u32; (n + 1) * (n + 1)];
    for j in 0..g {
        let image = &input[j * geom.input_len()..(j + 1) * geom.input_len()];
        for r in 0..n {
            let mut row = 0u32;
            for c in 0..n {
                let q = r * n + c;
                row += u32::from((0..geom.cin).any(|ch| image[ch * n * n + q] != 0.0));
                sums[(r + 1) * (n + 1) + c + 1] = sums[r * (n + 1) + c + 1] + row;
            }
        }
        for oy in 0..so {
            for ox in 0..so {
                let at = |r: usize, c: usize| sums[r * (n + 1) + c];
                let count = at(oy + k, ox + k) + at(oy, ox) - at(oy, ox + k) - at(oy + k, ox);
                support[j * p + oy * so + ox] = u8::from(count > 0);
            }
        }
    }
}

/// Backward of [`forward`] for `g` images given `dy` (`[cout, g*P]`): adds the bias gradient
/// to `dbias` and the weight gradient's spectra to `dwhat` (`[f][cin][cout]`; finish with
/// [`finish_weight_grad`]), and when `dinput` is given overwrites it with the input
/// gradient of the `g` images. `dyhat` and `dxhat` are scratch.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    plan: &FftPlan,
    geom: &ConvGeom,
    what: &[C32],
    xhat: &[C32],
    dy: &[f32],
    g: usize,
    dyhat: &mut [C32],
    dxhat: &mut [C32],
    dwhat: &mut [C32],
    dbias: &mut [f32],
    dinput: Option<&mut [f32]>,
    s: &mut PlaneScratch,
) {
    let (n, cin, cout) = (geom.side_in, geom.cin, geom.cout);
    let (so, p) = (geom.side_out(), geom.pixels_out());
    let width = g * p;
    for (db, row) in dbias.iter_mut().zip(dy[..cout * width].chunks_exact(width)) {
        *db += row.iter().sum::<f32>();
    }
    for o in 0..cout {
        for j in 0..g {
            let plane = &dy[o * width + j * p..];
            plan.forward_plane(plane, so, so, so, &mut dyhat[j * cout + o..], g * cout, s);
        }
    }
    for f in 0..plan.freqs() {
        let xf = &xhat[f * g * cin..(f + 1) * g * cin];
        let dyf = &dyhat[f * g * cout..(f + 1) * g * cout];
        // DW_f[c][o] += sum_j X_f[j][c] conj(DY_f[j][o])
        cgemm(
            (cin, cout, g),
            &mut dwhat[f * cin * cout..(f + 1) * cin * cout],
            (cout, 1),
            true,
            xf,
            (1, cin),
            dyf,
            (cout, 1),
            true,
        );
        if dinput.is_some() {
            // DX_f[j][c] = sum_o DY_f[j][o] W_f[c][o]
            cgemm(
                (g, cin, cout),
                &mut dxhat[f * g * cin..(f + 1) * g * cin],
                (cin, 1),
                false,
                dyf,
                (cout, 1),
                &what[f * cin * cout..(f + 1) * cin * cout],
                (1, cout),
                false,
            );
        }
    }
    if let Some(dinput) = dinput {
        let scale = 1.0 / (n * n) as f32;
        for j in 0..g {
            for c in 0..cin {
                let dst = &mut dinput[j * geom.input_len() + c * n * n..];
                plan.inverse_plane(
                    &dxhat[j * cin + c..],
                    g * cin,
                    n,
                    n,
                    scale,
                    dst,
                    n,
                    false,
                    s,
                );
            }
        }
    }
}

/// Adds the weight gradient whose spectra [`backward`] summed in `dwhat` to `dweight`
/// (`[cout, cin, k, k]`).
pub fn finish_weight_grad(
    plan: &FftPlan,
    geom: &ConvGeom,
    dwhat: &[C32],
    dweight: &mut [f32],
    s: &mut PlaneScratch,
) {
    let (k, cin, cout) = (geom.k, geom.cin, geom.cout);
    let scale = 1.0 / (plan.side() * plan.side()) as f32;
    for o in 0..cout {
        for c in 0..cin {
            let dst = &mut dweight[(o * cin + c) * k * k..(o * cin + c + 1) * k * k];
            plan.inverse_plane(
                &dwhat[c * cout + o..],
                cin * cout,
                k,
                k,
                scale,
                dst,
                k,
                true,
                s,
            );
        }
    }
}

/// [`forward`] and [`backward`] (with [`finish_weight_grad`]) of one layer by FFT in one call,
/// allocating every buffer: for tests and tools that compare algorithms.
pub fn convolve(
    geom: &ConvGeom,
    weight: &[f32],
    input: &[f32],
    dy: &[f32],
    g: usize,
) -> super::conv::Layer {
    let plan = FftPlan::new(geom.side_in);
    let mut s = plan.scratch();
    let (wl, xl) = (weights_len(&plan, geom), inputs_len(&plan, geom, g));
    let (mut what, mut dwhat) = (vec![C32::default(); wl], vec![C32::default(); wl]);
    let (mut xhat, mut dxhat) = (vec![C32::default(); xl], vec![C32::default(); xl]);
    let mut yhat = vec![C32::default(); outputs_len(&plan, geom, g)];
    let mut support = vec![0; g * geom.pixels_out()];
    let width = g * geom.pixels_out();
    let mut out = super::conv::Layer {
        y: vec![0.0; geom.cout * width],
        dinput: vec![f32::NAN; g * geom.input_len()], // backward overwrites it
        dweight: vec![0.0; geom.cout * geom.col_rows()],
        dbias: vec![0.0; geom.cout],
    };
    transform_weights(&plan, geom, weight, &mut what);
    transform_inputs(&plan, geom, input, g, &mut xhat, &mut s);
    input_support(geom, input, g, &mut support);
    forward(
        &plan, geom, &what, &xhat, &support, g, &mut yhat, &mut out.y, &mut s,
    );
    backward(
        &plan,
        geom,
        &what,
        &xhat,
        dy,
        g,
        &mut yhat,
        &mut dxhat,
        &mut dwhat,
        &mut out.dbias,
        Some(&mut out.dinput),
        &mut s,
    );
    finish_weight_grad(&plan, geom, &dwhat, &mut out.dweight, &mut s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv;

    fn values(n: usize, salt: u64) -> Vec<f32> {
        let mut rng = oneshot_core::rng::Rng::new(salt, "test");
        (0..n).map(|_| rng.uniform() as f32 - 0.5).collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: fft {x} direct {y}"
            );
        }
    }

    /// The FFT's float32 rounding, judged against float64 (conv_ref.rs) beside the im2col
    /// path's: on a conv2-like layer (k 7, post-ReLU inputs) every output of both stays within
    /// a few times float32's epsilon of the reference, relative to its norm.
    #[test]
    fn stays_near_float64_as_the_direct_convolution_does() {
        use crate::nn::conv_ref::{self, widen, Error};
        let geom = ConvGeom {
            cin: 12,
            cout: 8,
            k: 7,
            side_in: 20,
        };
        let g = 2;
        let (p, rows) = (geom.pixels_out(), geom.col_rows());
        let w = values(geom.cout * rows, 4);
        let x: Vec<f32> = values(g * geom.input_len(), 5)
            .into_iter()
            .map(|v| v.max(0.0))
            .collect();
        let dy = values(geom.cout * g * p, 6);
        let y_ref = conv_ref::forward(&geom, &widen(&w), &widen(&x), g);
        let (dw_ref, dx_ref) = conv_ref::backward(&geom, &widen(&w), &widen(&x), &widen(&dy), g);

        let direct = conv::convolve(&geom, &w, &x, &dy, g);
        let fft = convolve(&geom, &w, &x, &dy, g);

        let eps = f32::EPSILON as f64;
        for (what, got, direct, reference) in [
            ("y", &fft.y, &direct.y, &y_ref),
            ("dx", &fft.dinput, &direct.dinput, &dx_ref),
            ("dw", &fft.dweight, &direct.dweight, &dw_ref),
        ] {
            let (fft, direct) = (Error::of(got, reference), Error::of(direct, reference));
            assert!(direct.rel_rms < 4.0 * eps, "{what}: direct {direct:?}");
            assert!(
                fft.rel_rms < 8.0 * eps,
                "{what}: fft {fft:?} (direct {direct:?})"
            );
            assert!(fft.rel_max < 64.0 * eps, "{what}: fft {fft:?}");
        }
    }

    /// Forward, input and weight gradient against conv.rs's im2col path, for even and odd
    /// FFT sides and several groups.
    #[test]
    fn matches_the_direct_convolution_forward_and_backward() {
        for &(cin, cout, k, side, g) in &[(3, 5, 3, 8, 2), (2, 4, 4, 9, 3), (1, 6, 5, 11, 1)] {
            let geom = ConvGeom {
                cin,
                cout,
                k,
                side_in: side,
            };
            let (p, rows) = (geom.pixels_out(), geom.col_rows());
            let w = values(cout * rows, 1);
            let x = values(g * geom.input_len(), 2);
            let dy = values(cout * g * p, 3);
            let direct = conv::convolve(&geom, &w, &x, &dy, g);
            let fft = convolve(&geom, &w, &x, &dy, g);
            close(&fft.y, &direct.y, 1e-5, "y");
            close(&fft.dinput, &direct.dinput, 1e-5, "dx");
            close(&fft.dweight, &direct.dweight, 1e-5, "dw");
            close(&fft.dbias, &direct.dbias, 1e-6, "db");
        }
    }
}
