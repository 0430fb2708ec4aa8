//! Criterion benchmarks of each layer of the `paper` network, forward and backward, at the
//! sizes one training step at batch 32 (64 images) gives them: the four convolutions on one
//! group of images (single-threaded, as each thread runs them in the tower), fused pooling,
//! fc1 on the whole batch (split over the pool), and the optimiser's pass over all 38.95 M
//! parameters. Pool size: `NN_BENCH_THREADS` (default 2).
//!
//! Run: `cargo bench --bench nn_layers`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oneshot_core::params::OptimizerSpec;
use oneshot_native::nn::conv::{self, ConvGeom};
use oneshot_native::nn::conv_single;
use oneshot_native::nn::model::thread_pool;
use oneshot_native::nn::{init, linear, pool, Shape};

fn threads() -> usize {
    std::env::var("NN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7) % 13) as f32 * 0.01 - 0.05)
        .collect()
}

fn conv_layers(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    // (layer, geometry, images per group as the tower uses them)
    let layers = [
        (
            "conv1",
            ConvGeom {
                cin: 1,
                cout: 64,
                k: 10,
                side_in: 105,
            },
            1,
        ),
        (
            "conv2",
            ConvGeom {
                cin: 64,
                cout: 128,
                k: 7,
                side_in: 48,
            },
            1,
        ),
        (
            "conv3",
            ConvGeom {
                cin: 128,
                cout: 128,
                k: 4,
                side_in: 21,
            },
            4,
        ),
        (
            "conv4",
            ConvGeom {
                cin: 128,
                cout: 256,
                k: 4,
                side_in: 9,
            },
            29,
        ),
    ];
    for (name, geom, g) in layers {
        let width = g * geom.pixels_out();
        if conv_single::handles(&geom) {
            // conv1 by conv_single.rs, as the network runs it, beside the im2col path below.
            let (w, x) = (
                values(geom.cout * geom.col_rows()),
                values(g * geom.input_len()),
            );
            let mut y = values(geom.cout * width);
            group.bench_function(BenchmarkId::new("forward_single", name), |b| {
                b.iter(|| conv_single::forward(&geom, &w, &x, g, black_box(&mut y)))
            });
            let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; geom.cout]);
            group.bench_function(BenchmarkId::new("backward_single", name), |b| {
                b.iter(|| conv_single::backward(&geom, &x, &y, g, black_box(&mut dw), &mut db))
            });
        }
        let w = values(geom.cout * geom.col_rows());
        let x = values(g * geom.input_len());
        let mut col = vec![0.0; geom.col_rows() * width];
        let mut y = values(geom.cout * width);
        let (mut dw, mut db, mut dx) =
            (vec![0.0; w.len()], vec![0.0; geom.cout], vec![0.0; x.len()]);
        group.bench_function(BenchmarkId::new("forward", name), |b| {
            b.iter(|| conv::forward(&geom, &w, &x, g, &mut col, black_box(&mut y)))
        });
        let dy = values(geom.cout * width);
        group.bench_function(BenchmarkId::new("backward", name), |b| {
            b.iter(|| {
                let dx = if name == "conv1" {
                    None
                } else {
                    Some(&mut dx[..])
                };
                conv::backward(&geom, &w, &x, &dy, g, &mut col, &mut dw, &mut db, dx)
            })
        });
    }
    group.finish();
}

fn pooling(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let (ch, side) = (64, 96);
    let y = values(ch * side * side);
    let bias = values(ch);
    let (mut pooled, mut arg) = (vec![0.0; ch * 48 * 48], vec![0u8; ch * 48 * 48]);
    group.bench_function("forward_conv1_img", |b| {
        b.iter(|| pool::forward(&y, &bias, 1, side, black_box(&mut pooled), &mut arg))
    });
    let mut dy = vec![0.0; y.len()];
    group.bench_function("backward_conv1_img", |b| {
        b.iter(|| pool::backward(&pooled, &pooled, &arg, ch, 1, side, black_box(&mut dy)))
    });
    group.finish();
}

fn dense(c: &mut Criterion) {
    let t = threads();
    let pool = thread_pool(t).unwrap();
    let mut group = c.benchmark_group("fc1_batch64");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let (batch, inputs, outputs) = (64, 9216, 4096);
    let (x, w) = (values(batch * inputs), values(outputs * inputs));
    let (mut z, mut zt) = (vec![0.0; batch * outputs], vec![0.0; batch * outputs]);
    group.bench_function("forward", |b| {
        b.iter(|| {
            pool.install(|| {
                linear::forward(
                    &x,
                    &w,
                    batch,
                    inputs,
                    outputs,
                    black_box(&mut z),
                    &mut zt,
                    t,
                )
            })
        })
    });
    let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; outputs], vec![0.0; x.len()]);
    group.bench_function("backward", |b| {
        b.iter(|| {
            pool.install(|| {
                linear::backward(
                    &x,
                    &w,
                    &z,
                    batch,
                    inputs,
                    outputs,
                    &mut dw,
                    &mut db,
                    Some(&mut dx),
                    t,
                )
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("optimiser_paper");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut params = init::paper(Shape::paper(), 1).unwrap();
    let grads = values(params.data.len());
    let mut sgd = OptimizerSpec::default().build(&params);
    group.bench_function("sgd_step", |b| {
        b.iter(|| pool.install(|| sgd.step(&mut params, &grads)))
    });
    group.finish();
}

criterion_group!(benches, conv_layers, pooling, dense);
criterion_main!(benches);
