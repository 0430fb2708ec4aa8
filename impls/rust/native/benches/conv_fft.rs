//! Criterion benchmarks of the FFT convolution (conv_fft.rs) against the im2col convolution
//! (conv.rs) on the `paper` layers that `conv: fft` chooses (conv2) and one it leaves direct
//! (conv3), forward and backward, single-threaded on one group of images as a tower thread
//! runs them. The FFT forward includes its input transforms; its backward the output-gradient
//! transforms, both channel products and the inverse transforms of the input gradient; the
//! weight gradient's inverse transforms (once per step, not per group) are timed apart as
//! `finish_weight_grad`. Group size: `NN_BENCH_FFT_GROUP` (default 16, the model's FFT group).
//!
//! Run: `cargo bench --bench conv_fft`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use num_complex::Complex32 as C32;
use oneshot_native::nn::conv::{self, ConvGeom};
use oneshot_native::nn::conv_fft::{self, FftPlan};

fn group_size() -> usize {
    std::env::var("NN_BENCH_FFT_GROUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// Post-ReLU-like activations: about half exact zeros, the rest in (0, 0.5).
fn activations(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let v = ((i * 7919) % 101) as f32 / 101.0 - 0.5;
            v.max(0.0)
        })
        .collect()
}

fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7) % 13) as f32 * 0.01 - 0.06)
        .collect()
}

fn layers(c: &mut Criterion) {
    let g = group_size();
    let mut group = c.benchmark_group("conv_fft");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    let paper = [
        (
            "conv2",
            ConvGeom {
                cin: 64,
                cout: 128,
                k: 7,
                side_in: 48,
            },
        ),
        (
            "conv3",
            ConvGeom {
                cin: 128,
                cout: 128,
                k: 4,
                side_in: 21,
            },
        ),
    ];
    for (name, geom) in paper {
        let width = g * geom.pixels_out();
        let w = values(geom.cout * geom.col_rows());
        let x = activations(g * geom.input_len());
        let dy = values(geom.cout * width);
        let mut y = vec![0.0; geom.cout * width];
        let (mut dw, mut db, mut dx) =
            (vec![0.0; w.len()], vec![0.0; geom.cout], vec![0.0; x.len()]);

        let mut col = vec![0.0; geom.col_rows() * width];
        group.bench_function(BenchmarkId::new("direct_forward", name), |b| {
            b.iter(|| conv::forward(&geom, &w, &x, g, &mut col, black_box(&mut y)))
        });
        group.bench_function(BenchmarkId::new("direct_backward", name), |b| {
            b.iter(|| {
                conv::backward(
                    &geom,
                    &w,
                    &x,
                    &dy,
                    g,
                    &mut col,
                    &mut dw,
                    &mut db,
                    Some(black_box(&mut dx[..])),
                )
            })
        });
        drop(col);

        let plan = FftPlan::new(geom.side_in);
        let mut s = plan.scratch();
        let mut what = vec![C32::default(); conv_fft::weights_len(&plan, &geom)];
        let mut dwhat = vec![C32::default(); conv_fft::weights_len(&plan, &geom)];
        let mut xhat = vec![C32::default(); conv_fft::inputs_len(&plan, &geom, g)];
        let mut dxhat = vec![C32::default(); conv_fft::inputs_len(&plan, &geom, g)];
        let mut yhat = vec![C32::default(); conv_fft::outputs_len(&plan, &geom, g)];
        let mut support = vec![0u8; g * geom.pixels_out()];
        conv_fft::transform_weights(&plan, &geom, &w, &mut what);
        group.bench_function(BenchmarkId::new("fft_forward", name), |b| {
            b.iter(|| {
                conv_fft::transform_inputs(&plan, &geom, &x, g, &mut xhat, &mut s);
                conv_fft::input_support(&geom, &x, g, &mut support);
                conv_fft::forward(
                    &plan,
                    &geom,
                    &what,
                    &xhat,
                    &support,
                    g,
                    &mut yhat,
                    black_box(&mut y),
                    &mut s,
                )
            })
        });
        group.bench_function(BenchmarkId::new("fft_backward", name), |b| {
            b.iter(|| {
                conv_fft::backward(
                    &plan,
                    &geom,
                    &what,
                    &xhat,
                    &dy,
                    g,
                    &mut yhat,
                    &mut dxhat,
                    &mut dwhat,
                    &mut db,
                    Some(black_box(&mut dx[..])),
                    &mut s,
                )
            })
        });
        group.bench_function(BenchmarkId::new("fft_finish_weight_grad", name), |b| {
            b.iter(|| {
                conv_fft::finish_weight_grad(&plan, &geom, &dwhat, black_box(&mut dw), &mut s)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
