//! What `conv: fft` saves and costs on the layers it chooses: per layer, the error of the
//! float32 FFT convolution (conv_fft.rs) and of the float32 im2col convolution (conv.rs)
//! against a float64 reference by the definition (conv_ref.rs) — forward, input gradient and
//! weight gradient — the floating-point operations of each, and the memory their buffers take.
//!
//! Inputs are like a tower's: post-ReLU activations (about half exact zeros) on a blank margin
//! (zeros) around a "character", He-scaled weights, an output gradient of both signs. `g`
//! images per group, the model's FFT group by default.
//!
//! Run: `cargo run --release --example conv_error [-- --group G]`.

use num_complex::Complex32 as C32;
use oneshot_core::rng::Rng;
use oneshot_native::nn::conv::{self, ConvGeom};
use oneshot_native::nn::conv_fft::{self, FftPlan};
use oneshot_native::nn::conv_ref::{self, widen, Error};

/// The layers `conv: fft` runs by FFT: conv2 of `paper`, `cpu` and `small`.
const LAYERS: [(&str, ConvGeom); 3] = [
    (
        "paper conv2",
        ConvGeom {
            cin: 64,
            cout: 128,
            k: 7,
            side_in: 48,
        },
    ),
    (
        "cpu conv2",
        ConvGeom {
            cin: 32,
            cout: 64,
            k: 7,
            side_in: 48,
        },
    ),
    (
        "small conv2",
        ConvGeom {
            cin: 32,
            cout: 64,
            k: 5,
            side_in: 24,
        },
    ),
];

fn activations(geom: &ConvGeom, g: usize, rng: &mut Rng) -> Vec<f32> {
    let n = geom.side_in;
    let margin = n / 5;
    let mut x = vec![0.0; g * geom.input_len()];
    for (i, v) in x.iter_mut().enumerate() {
        let (r, c) = ((i / n) % n, i % n);
        let inside = (margin..n - margin).contains(&r) && (margin..n - margin).contains(&c);
        let u = rng.uniform() as f32 - 0.5;
        if inside && u > 0.0 {
            *v = u;
        }
    }
    x
}

fn symmetric(n: usize, scale: f32, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.uniform() as f32 * 2.0 - 1.0) * scale)
        .collect()
}

fn group_arg() -> usize {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--group") {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse().ok()) {
            Some(g) if g > 0 => g,
            _ => {
                eprintln!("conv_error: --group takes a positive number of images");
                std::process::exit(2);
            }
        },
        None => 4,
    }
}

fn mib(complex: usize) -> f64 {
    (complex * std::mem::size_of::<C32>()) as f64 / (1 << 20) as f64
}

fn main() {
    let g = group_arg();
    println!("group of {g} images; error = ||a - ref|| / ||ref|| (max |a - ref| / max |ref|)");
    println!("| layer | output | direct f32 | fft f32 | direct GFLOP | fft GFLOP |");
    println!("| --- | --- | --- | --- | ---: | ---: |");
    let mut memory = Vec::new();
    for (name, geom) in LAYERS {
        let mut rng = Rng::new(13, name);
        let width = g * geom.pixels_out();
        let x = activations(&geom, g, &mut rng);
        let he = (6.0 / geom.col_rows() as f32).sqrt();
        let w = symmetric(geom.cout * geom.col_rows(), he, &mut rng);
        let dy = symmetric(geom.cout * width, 1e-3, &mut rng);

        let y_ref = conv_ref::forward(&geom, &widen(&w), &widen(&x), g);
        let (dw_ref, dx_ref) = conv_ref::backward(&geom, &widen(&w), &widen(&x), &widen(&dy), g);

        let direct = conv::convolve(&geom, &w, &x, &dy, g);
        let fft = conv_fft::convolve(&geom, &w, &x, &dy, g);
        let plan = FftPlan::new(geom.side_in);
        let (wl, xl, yl) = (
            conv_fft::weights_len(&plan, &geom),
            conv_fft::inputs_len(&plan, &geom, g),
            conv_fft::outputs_len(&plan, &geom, g),
        );

        // Floating-point operations of one group: the direct convolution's multiply-adds;
        // the FFT's complex products (8 flops each) plus its plane transforms, counted as
        // 2.5 N log2 N per real transform of N points (half a complex one's 5 N log2 N). The
        // weights' transforms (forward, and the weight gradient's inverse) are once per step.
        let (n, f) = (geom.side_in as f64, plan.freqs() as f64);
        let direct_flop = 2.0 * (geom.cout * geom.col_rows() * width) as f64 / 1e9;
        let transform = 2.5 * n * n * (n * n).log2();
        let products = 8.0 * f * (g * geom.cin * geom.cout) as f64;
        let planes = ((g * (geom.cin + geom.cout)) as f64) * transform;
        let fft_flop = (products + planes) / 1e9;
        let rows = [
            ("y", Error::of(&direct.y, &y_ref), Error::of(&fft.y, &y_ref)),
            (
                "dx",
                Error::of(&direct.dinput, &dx_ref),
                Error::of(&fft.dinput, &dx_ref),
            ),
            (
                "dw",
                Error::of(&direct.dweight, &dw_ref),
                Error::of(&fft.dweight, &dw_ref),
            ),
        ];
        for (output, direct, fft) in rows {
            println!(
                "| {name} | {output} | {:.1e} ({:.1e}) | {:.1e} ({:.1e}) | {direct_flop:.3} | {fft_flop:.3} |",
                direct.rel_rms, direct.rel_max, fft.rel_rms, fft.rel_max,
            );
        }
        let weight_flop = 2.0 * (geom.cin * geom.cout) as f64 * transform / 1e9;
        let col_mib = (geom.col_rows() * width * 4) as f64 / (1 << 20) as f64;
        memory.push(format!(
            "| {name} | {col_mib:.1} | {:.1} | {:.1} | {weight_flop:.3} |",
            mib(2 * wl),
            mib(2 * xl + yl),
        ));
    }
    println!();
    println!(
        "| layer | im2col columns per group, MiB | weight spectra W and dW, MiB | \
         spectra per group X, DX, Y/DY, MiB | weight transforms per step, GFLOP |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for row in memory {
        println!("{row}");
    }
}
