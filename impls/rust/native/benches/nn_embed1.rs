//! Where one query's time goes: the `paper` network embedding one image (`serve`'s query, a
//! call of one image) and, beside it, the support set of 20 (its enrolment), per stage (tower,
//! conv1..conv4 as the thread that ran them saw them, fc1), direct and with FFT conv layers.
//! Pool size: `NN_BENCH_THREADS` (default 2); calls per row: `NN_BENCH_CALLS` (default 20).
//!
//! Run: `cargo bench --bench nn_embed1`.

use std::time::Instant;

use oneshot_native::nn::model::{thread_pool, SiameseNet};
use oneshot_native::nn::{init, Shape};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let threads = env("NN_BENCH_THREADS", 2);
    let calls = env("NN_BENCH_CALLS", 20);
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
