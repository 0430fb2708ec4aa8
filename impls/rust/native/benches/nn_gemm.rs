//! GEMM backends on this model's actual product shapes (`paper`, batch 32 pairs = 64 images),
//! to choose the crate by measurement: `gemm` (AVX-512 `x86-v4` kernels) against
//! `matrixmultiply` (`threading`), each on a rayon pool of `NN_BENCH_THREADS` threads (default
//! 2). For `gemm` two ways of using the threads are measured: one product split over the pool
//! (`gemm-split`) and one single-threaded product per thread (`gemm-per-thread`, how the conv
//! tower runs). Criterion reports time per product; the GFLOP/s line printed first is
//! 2*m*k*n / time.
//!
//! Run: `cargo bench --bench nn_gemm` (set MATMUL_NUM_THREADS for matrixmultiply's pool).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use oneshot_native::nn::gemm::{sgemm, View, ViewMut};
use oneshot_native::nn::model::thread_pool;
use rayon::prelude::*;

/// (name, m, k, n, rhs transposed): C[m,n] = A[m,k] B[k,n].
const SHAPES: [(&str, usize, usize, usize, bool); 10] = [
    ("conv1_fwd_img", 64, 100, 9216, false),
    ("conv2_fwd_img", 128, 3136, 1764, false),
    ("conv2_dcol_img", 3136, 128, 1764, false),
    ("conv2_dw_img", 128, 1764, 3136, true),
    ("conv3_fwd_4img", 128, 2048, 1296, false),
    ("conv4_fwd_29img", 256, 2048, 1044, false),
    ("fc1_fwd", 64, 9216, 4096, true),
    ("fc1_fwd_as_wxt", 4096, 9216, 64, true),
    ("fc1_dw", 4096, 64, 9216, false),
    ("fc1_dx", 64, 4096, 9216, false),
];

fn threads() -> usize {
    std::env::var("NN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

struct Case {
    m: usize,
    k: usize,
    n: usize,
    bt: bool,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Case {
    fn new(m: usize, k: usize, n: usize, bt: bool) -> Self {
        let a = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.01).collect();
        let b = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.01).collect();
        Case { m, k, n, bt, a, b }
    }
    fn rhs(&self) -> View<'_> {
        if self.bt {
            View::transposed(&self.b, self.n, self.k)
        } else {
            View::rows(&self.b, self.k, self.n)
        }
    }
    fn gemm(&self, c: &mut [f32], threads: usize) {
        sgemm(
            View::rows(&self.a, self.m, self.k),
            self.rhs(),
            ViewMut::rows(c, self.m, self.n),
            false,
            threads,
        );
    }
    fn matrixmultiply(&self, c: &mut [f32]) {
        let rhs = self.rhs();
        // SAFETY: the views are in bounds (checked by View's constructors' shapes).
        unsafe {
            matrixmultiply::sgemm(
                self.m,
                self.k,
                self.n,
                1.0,
                self.a.as_ptr(),
                self.k as isize,
                1,
                rhs.data.as_ptr(),
                rhs.rs as isize,
                rhs.cs as isize,
                0.0,
                c.as_mut_ptr(),
                self.n as isize,
                1,
            );
        }
    }
}

/// Runs `f` on every thread of the pool at once (one product each); returns products done.
fn per_thread(pool: &rayon::ThreadPool, bufs: &mut [Vec<f32>], case: &Case) -> usize {
    pool.install(|| bufs.par_iter_mut().for_each(|c| case.gemm(c, 1)));
    bufs.len()
}

fn gflops_table() {
    let t = threads();
    let pool = thread_pool(t).unwrap();
    eprintln!("GFLOP/s on {t} threads (best of 3 runs of ~0.5 s each)");
    for (name, m, k, n, bt) in SHAPES {
        let case = Case::new(m, k, n, bt);
        let flop = 2.0 * (m * k * n) as f64;
        let mut c = vec![0.0; m * n];
        let mut bufs = vec![vec![0.0; m * n]; t];
        let measure = |f: &mut dyn FnMut() -> usize| {
            let mut best: f64 = 0.0;
            for _ in 0..3 {
                let began = Instant::now();
                let mut done = 0;
                while began.elapsed() < Duration::from_millis(500) {
                    done += f();
                }
                best = best.max(done as f64 * flop / began.elapsed().as_secs_f64() / 1e9);
            }
            best
        };
        let split = measure(&mut || {
            pool.install(|| case.gemm(&mut c, t));
            1
        });
        let each = measure(&mut || per_thread(&pool, &mut bufs, &case));
        let mm = measure(&mut || {
            case.matrixmultiply(&mut c);
            1
        });
        eprintln!("{name:16} {m:5}x{k:5}x{n:5}  gemm-split {split:6.1}  gemm-per-thread {each:6.1}  matrixmultiply {mm:6.1}");
    }
}

fn bench(c: &mut Criterion) {
    let t = threads();
    let pool = thread_pool(t).unwrap();
    let mut group = c.benchmark_group("gemm");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (name, m, k, n, bt) in SHAPES {
        let case = Case::new(m, k, n, bt);
        let mut out = vec![0.0; m * n];
        group.bench_function(BenchmarkId::new("gemm-split", name), |b| {
            b.iter(|| pool.install(|| case.gemm(black_box(&mut out), t)))
        });
        group.bench_function(BenchmarkId::new("matrixmultiply", name), |b| {
            b.iter(|| case.matrixmultiply(black_box(&mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    gflops_table();
    if std::env::var("NN_BENCH_TABLE_ONLY").is_err() {
        benches();
        criterion::Criterion::default()
            .configure_from_args()
            .final_summary();
    }
}
