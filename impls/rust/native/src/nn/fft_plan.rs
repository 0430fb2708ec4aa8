//! The plane transforms of the FFT convolution (conv_fft.rs): [`FftPlan`], the real-to-complex
//! and complex transforms of one FFT side `n`, planned once and shared by every thread, and
//! [`PlaneScratch`], one thread's buffers for them. A plane's half spectrum (`h = n / 2 + 1`
//! columns of the real-to-complex axis) is written to, and read from, a strided destination, so
//! that a layer can store its spectra frequency-major (`[f][row][col]`, `f = u * n + v`).

use std::fmt;
use std::sync::Arc;

use num_complex::Complex32 as C32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

/// The transforms of one FFT side, planned once and shared by every thread.
#[derive(Clone)]
pub struct FftPlan {
    n: usize,
    h: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
}

impl fmt::Debug for FftPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FftPlan({}x{})", self.n, self.n)
    }
}

/// Per-thread buffers of the plane transforms.
#[derive(Debug, Clone, Default)]
pub struct PlaneScratch {
    row: Vec<f32>,
    spec: Vec<C32>,
    at: Vec<C32>,
    fft: Vec<C32>,
    real: Vec<C32>,
}

impl FftPlan {
    /// Transforms of `n x n` planes.
    pub fn new(n: usize) -> Self {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        FftPlan {
            n,
            h: n / 2 + 1,
            r2c: real.plan_fft_forward(n),
            c2r: real.plan_fft_inverse(n),
            fwd: complex.plan_fft_forward(n),
            inv: complex.plan_fft_inverse(n),
        }
    }

    /// The FFT side `n` (planes are `n x n`).
    pub fn side(&self) -> usize {
        self.n
    }

    /// Frequencies of one plane's half spectrum (`n * h`).
    pub fn freqs(&self) -> usize {
        self.n * self.h
    }

    /// Buffers for [`Self::forward_plane`] and [`Self::inverse_plane`].
    pub fn scratch(&self) -> PlaneScratch {
        let fft = self
            .fwd
            .get_inplace_scratch_len()
            .max(self.inv.get_inplace_scratch_len());
        let real = self.r2c.get_scratch_len().max(self.c2r.get_scratch_len());
        PlaneScratch {
            row: vec![0.0; self.n],
            spec: vec![C32::default(); self.h],
            at: vec![C32::default(); self.h * self.n],
            fft: vec![C32::default(); fft],
            real: vec![C32::default(); real],
        }
    }

    /// The half spectrum of the `rows x cols` plane `src` (row stride `src_rs`), zero-padded
    /// to `n x n`: frequency `f` goes to `dst[f * stride]`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_plane(
        &self,
        src: &[f32],
        rows: usize,
        cols: usize,
        src_rs: usize,
        dst: &mut [C32],
        stride: usize,
        s: &mut PlaneScratch,
    ) {
        let (n, h) = (self.n, self.h);
        s.at.fill(C32::default());
        for r in 0..rows {
            s.row[..cols].copy_from_slice(&src[r * src_rs..r * src_rs + cols]);
            s.row[cols..].fill(0.0);
            self.r2c
                .process_with_scratch(&mut s.row, &mut s.spec, &mut s.real)
                .expect("buffer lengths come from the plan");
            for (u, v) in s.spec.iter().enumerate() {
                s.at[u * n + r] = *v;
            }
        }
        self.fwd.process_with_scratch(&mut s.at, &mut s.fft);
        for (f, v) in s.at[..h * n].iter().enumerate() {
            dst[f * stride] = *v;
        }
    }

    /// The real plane of the half spectrum `src[f * stride]`, scaled by `scale`: its top-left
    /// `rows x cols` corner is added to (`accumulate`) or written over `dst` (row stride
    /// `dst_rs`).
    #[allow(clippy::too_many_arguments)]
    pub fn inverse_plane(
        &self,
        src: &[C32],
        stride: usize,
        rows: usize,
        cols: usize,
        scale: f32,
        dst: &mut [f32],
        dst_rs: usize,
        accumulate: bool,
        s: &mut PlaneScratch,
    ) {
        let (n, h) = (self.n, self.h);
        for (f, v) in s.at.iter_mut().enumerate() {
            *v = src[f * stride];
        }
        self.inv.process_with_scratch(&mut s.at, &mut s.fft);
        for r in 0..rows {
            for u in 0..h {
                s.spec[u] = s.at[u * n + r];
            }
            // The spectrum of a real row: its DC (and, for even n, Nyquist) bins are real; the
            // imaginary parts left there are rounding, which the inverse ignores.
            s.spec[0].im = 0.0;
            if n % 2 == 0 {
                s.spec[h - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(&mut s.spec, &mut s.row, &mut s.real)
                .expect("buffer lengths come from the plan");
            let out = &mut dst[r * dst_rs..r * dst_rs + cols];
            if accumulate {
                for (d, v) in out.iter_mut().zip(&s.row) {
                    *d += v * scale;
                }
            } else {
                for (d, v) in out.iter_mut().zip(&s.row) {
                    *d = v * scale;
                }
            }
        }
    }
}
