//! Where one query's time goes: the `paper` network embedding one image (`serve`'s query, a
//! call of one image) and, beside it, the support set of 20 (its enrolment), per stage (tower,
//! conv1..conv4 as the thread that ran them saw them, fc1), direct and with FFT conv layers.
//! Then the choices of the one-image path side by side, interleaved (a shared machine's noise
//! hits both alike): fc1 as the GEMM of batches against the GEMV of one row, and conv2 (the
//! implicit GEMM) and conv3 (im2col) with their GEMMs on one thread against the whole pool.
//! Pool size: `NN_BENCH_THREADS` (default 2); calls per row: `NN_BENCH_CALLS` (default 20).
//!
//! Run: `cargo bench --bench nn_embed1`.

use std::time::Instant;

use oneshot_native::nn::conv::{self, ConvGeom};
use oneshot_native::nn::conv_implicit;
use oneshot_native::nn::linear;
use oneshot_native::nn::model::{thread_pool, SiameseNet};
use oneshot_native::nn::{init, Shape};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Mean milliseconds of `a` and of `b`, called alternately `calls` times each.
fn ab(calls: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut sa, mut sb) = (0.0, 0.0);
    a();
    b();
    for _ in 0..calls {
        let began = Instant::now();
        a();
        sa += began.elapsed().as_secs_f64();
        let began = Instant::now();
        b();
        sb += began.elapsed().as_secs_f64();
    }
    (sa * 1e3 / calls as f64, sb * 1e3 / calls as f64)
}

fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7) % 13) as f32 * 0.01 - 0.05)
        .collect()
}

/// The one-image path's choices against the batched path's, per layer.
fn choices(threads: usize, calls: usize) {
    let pool = thread_pool(threads).unwrap();
    let (inputs, outputs) = (9216, 4096);
    let (x, w) = (values(inputs), values(inputs * outputs));
    let (mut z, mut zt, mut z1) = (vec![0.0; outputs], vec![0.0; outputs], vec![0.0; outputs]);
    let (gemm, gemv) = pool.install(|| {
        ab(
            calls,
            || linear::forward(&x, &w, 1, inputs, outputs, &mut z, &mut zt, threads),
            || linear::forward_one(&x, &w, inputs, &mut z1, threads),
        )
    });
    eprintln!("fc1, one image: GEMM {gemm:.2} ms, GEMV {gemv:.2} ms");
    let conv2 = ConvGeom {
        cin: 64,
        cout: 128,
        k: 7,
        side_in: 48,
    };
    let mut packed = vec![0.0; conv_implicit::packed_len(&conv2)];
    conv_implicit::pack_weights(&conv2, &values(conv2.cout * conv2.col_rows()), &mut packed);
    let x2 = values(conv2.input_len());
    let mut scratch = vec![0.0; conv_implicit::scratch_len(&conv2)];
    let mut y = vec![0.0; conv2.cout * conv2.pixels_out()];
    let (one, all) = pool.install(|| {
        let mut y2 = y.clone();
        let mut scratch2 = scratch.clone();
        ab(
            calls,
            || conv_implicit::forward_on(&conv2, &packed, &x2, &mut scratch, &mut y, 1),
            || conv_implicit::forward_on(&conv2, &packed, &x2, &mut scratch2, &mut y2, threads),
        )
    });
    eprintln!(
        "conv2 (implicit GEMM), one image: 1 thread {one:.2} ms, {threads} threads {all:.2} ms"
    );
    let conv3 = ConvGeom {
        cin: 128,
        cout: 128,
        k: 4,
        side_in: 21,
    };
    let w3 = values(conv3.cout * conv3.col_rows());
    let x3 = values(conv3.input_len());
    let mut col = vec![0.0; conv3.col_rows() * conv3.pixels_out()];
    let mut y3 = vec![0.0; conv3.cout * conv3.pixels_out()];
    let (one, all) = pool.install(|| {
        let (mut col2, mut y4) = (col.clone(), y3.clone());
        ab(
            calls,
            || conv::forward_on(&conv3, &w3, &x3, 1, &mut col, &mut y3, 1),
            || conv::forward_on(&conv3, &w3, &x3, 1, &mut col2, &mut y4, threads),
        )
    });
    eprintln!("conv3 (im2col), one image: 1 thread {one:.2} ms, {threads} threads {all:.2} ms");
}

fn main() {
    let threads = env("NN_BENCH_THREADS", 2);
    let calls = env("NN_BENCH_CALLS", 20);
    choices(threads, calls);
    let pool = thread_pool(threads).unwrap();
    let params = init::paper(Shape::paper(), 1).unwrap();
    for fft in [false, true] {
        let built = Instant::now();
        let net = SiameseNet::new(params.clone())
            .unwrap()
            .with_fft([false, fft, fft, fft]);
        let mut ws = net.workspace(20, threads, false);
        let build_s = built.elapsed().as_secs_f64();
        let side = net.shape().input;
        for (i, x) in net.inputs_mut(&mut ws).iter_mut().enumerate() {
            *x = ((i * 7919) % (side * 3) < side) as u8 as f32;
        }
        let label = if fft { "fft" } else { "direct" };
        eprintln!("{label}: workspace built in {build_s:.3} s");
        pool.install(|| {
            for images in [1, 20] {
                net.embed(&mut ws, images);
                ws.profile_line();
                let began = Instant::now();
                for _ in 0..calls {
                    net.embed(&mut ws, images);
                }
                let per_call = began.elapsed().as_secs_f64() / calls as f64;
                eprintln!(
                    "{label} embed({images}): {:.2} ms per call; totals over {calls} calls: {}",
                    per_call * 1e3,
                    ws.profile_line()
                );
            }
        });
    }
}
