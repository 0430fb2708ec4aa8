//! Criterion benchmarks of a whole training step and of the forward pass on the `paper`
//! shape at batch 32 (pairs), on a rayon pool of `NN_BENCH_THREADS` threads (default 2).
//! `NN_BENCH_SHAPE=small` (or `cpu`, `tiny`, `paper`) picks the harness preset of that name and
//! `NN_BENCH_PAIRS=64` the batch in pairs.
//!
//! Run: `cargo bench --bench nn_step`. Before the criterion groups it prints a per-stage
//! time profile of a few steps (seconds per step, thread 0's share inside the conv tower).
//! `NN_BENCH_IM2COL=1` lowers every convolution by im2col (no implicit GEMM). `NN_BENCH_AB=N`
//! instead runs N interleaved rounds of both lowerings (forward, then training step, each
//! variant in turn, one process) and prints medians of wall and process CPU seconds: on a
//! machine shared with other jobs the CPU seconds are the steadier figure.
//! `NN_BENCH_FFT=0,1,0,0` computes the layers marked 1 by FFT (conv_fft.rs; `all` for every
//! layer); `NN_BENCH_PROFILE_ONLY=1` stops after the profile.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use oneshot_native::nn::model::{thread_pool, SiameseNet, Workspace};
use oneshot_native::nn::optim::{LayerSettings, Optimizer, Rule};
use oneshot_native::nn::{init, Shape};

/// The harness presets (harness/run/presets.py) by name.
fn shape() -> Shape {
    let name = std::env::var("NN_BENCH_SHAPE").unwrap_or_else(|_| "paper".into());
    let (filters, kernels, embedding, input) = match name.as_str() {
        "paper" => return Shape::paper(),
        "tiny" => return Shape::tiny(),
        "cpu" => ([32, 64, 64, 128], [10, 7, 4, 4], 1024, 105),
        "small" => ([32, 64, 64, 128], [5, 5, 3, 3], 1024, 52),
        other => panic!("NN_BENCH_SHAPE={other}: expected paper, cpu, small or tiny"),
    };
    Shape {
        filters,
        kernels,
        embedding,
        input,
    }
}

fn pairs() -> usize {
    std::env::var("NN_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

fn threads() -> usize {
    std::env::var("NN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn setup(train: bool) -> (SiameseNet, Workspace, Vec<f32>) {
    let mut net = SiameseNet::new(init::paper(shape(), 1).unwrap()).unwrap();
    if std::env::var_os("NN_BENCH_IM2COL").is_some() {
        net = net.with_implicit([false; 4]);
    }
    if let Ok(layers) = std::env::var("NN_BENCH_FFT") {
        let mut fft = [layers == "all"; 4];
        for (l, v) in layers.split(',').enumerate().take(4) {
            fft[l] |= v.trim() == "1";
        }
        net = net.with_fft(fft);
    }
    let mut ws = net.workspace(2 * pairs(), threads(), train);
    for (i, v) in net.inputs_mut(&mut ws).iter_mut().enumerate() {
        *v = if ((i * 2_654_435_761usize) >> 13) % 5 == 0 {
            1.0
        } else {
            0.0
        };
    }
    let labels = (0..pairs()).map(|i| (i % 2) as f32).collect();
    (net, ws, labels)
}

fn optimizer(net: &SiameseNet) -> Optimizer {
    let rule = Rule::Sgd {
        momentum_start: 0.5,
        momentum_epochs: 10,
        lr_decay: 0.01,
    };
    Optimizer::new(&net.params, rule, |_| LayerSettings {
        lr: 1e-3,
        momentum: 0.9,
        l2: 2e-4,
    })
}

/// User + system CPU seconds of this process so far (Linux, 10 ms resolution).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Interleaved rounds of implicit-GEMM and im2col lowering: medians of wall and CPU seconds.
fn ab(rounds: usize) {
    let pool = thread_pool(threads()).unwrap();
    let (net, mut ws, labels) = setup(true);
    let im2col = net.clone().with_implicit([false; 4]);
    let n = pairs();
    let mut ws2 = im2col.workspace(2 * n, threads(), true);
    net.inputs_mut(&mut ws2)
        .copy_from_slice(net.inputs_mut(&mut ws));
    let mut times = vec![vec![]; 8];
    pool.install(|| {
        for round in 0..=rounds {
            for (v, (net, ws)) in [(&net, &mut ws), (&im2col, &mut ws2)]
                .into_iter()
                .enumerate()
            {
                for task in 0..2 {
                    let (began, cpu) = (Instant::now(), cpu_s());
                    if task == 0 {
                        net.forward_pairs(ws, n);
                    } else {
                        net.train_batch(ws, &labels);
                    }
                    if round > 0 {
                        times[4 * v + 2 * task].push(began.elapsed().as_secs_f64());
                        times[4 * v + 2 * task + 1].push(cpu_s() - cpu);
                    }
                }
            }
        }
    });
    for (v, name) in ["implicit", "im2col"].iter().enumerate() {
        for (task, what) in ["forward", "train_batch"].iter().enumerate() {
            let wall = median(&mut times[4 * v + 2 * task]);
            let cpu = median(&mut times[4 * v + 2 * task + 1]);
            eprintln!(
                "{name:8} {what:11} median wall {wall:.3} s, cpu {cpu:.2} s ({rounds} rounds)"
            );
        }
    }
}

fn profile() {
    let pool = thread_pool(threads()).unwrap();
    let (mut net, mut ws, labels) = setup(true);
    let mut opt = optimizer(&net);
    let n = pairs();
    let flop = shape().train_pair_flop().unwrap() * n as f64;
    pool.install(|| {
        for step in 0..4 {
            let began = Instant::now();
            net.train_batch(&mut ws, &labels);
            let grads_s = began.elapsed().as_secs_f64();
            opt.step(&mut net.params, &ws.grads);
            let step_s = began.elapsed().as_secs_f64();
            eprintln!(
                "step {step}: {step_s:.3} s ({:.1} pairs/s, {:.0} GFLOP/s), optimiser {:.3} s",
                n as f64 / step_s,
                flop / step_s / 1e9,
                step_s - grads_s
            );
            eprintln!("  {}", ws.profile_line());
        }
        let (net, mut ws, _) = setup(false);
        let flop = shape().pair_forward_flop().unwrap() * n as f64;
        for call in 0..4 {
            let began = Instant::now();
            net.forward_pairs(&mut ws, n);
            let forward_s = began.elapsed().as_secs_f64();
            eprintln!(
                "forward {call}: {forward_s:.3} s ({:.1} pairs/s, {:.0} GFLOP/s)",
                n as f64 / forward_s,
                flop / forward_s / 1e9
            );
            eprintln!("  {}", ws.profile_line());
        }
    });
}

fn bench(c: &mut Criterion) {
    let pool = thread_pool(threads()).unwrap();
    let n = pairs();
    let mut group = c.benchmark_group(format!(
        "{}_batch{n}",
        std::env::var("NN_BENCH_SHAPE").unwrap_or_else(|_| "paper".into()),
    ));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    {
        let (mut net, mut ws, labels) = setup(true);
        let mut opt = optimizer(&net);
        group.bench_function("train_step", |b| {
            b.iter(|| {
                pool.install(|| {
                    black_box(net.train_batch(&mut ws, &labels));
                    opt.step(&mut net.params, &ws.grads);
                })
            })
        });
    }
    {
        let (net, mut ws, _) = setup(false);
        group.bench_function("forward", |b| {
            b.iter(|| pool.install(|| net.forward_pairs(&mut ws, n)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Some(rounds) = std::env::var("NN_BENCH_AB")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        ab(rounds);
        return;
    }
    profile();
    if std::env::var_os("NN_BENCH_PROFILE_ONLY").is_some() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
