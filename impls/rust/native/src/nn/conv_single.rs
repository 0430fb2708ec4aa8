//! Valid, stride-1 convolution of a single input channel by direct register-blocked loops:
//! the `paper` network's conv1 (1 -> 64 channels, 10x10 over 105x105), without im2col.
//!
//! Lowered onto GEMM, such a layer is a product of depth `k*k = 100` whose right-hand side is
//! the 3.7 MB column matrix of each image: written by im2col, then read and packed again by the
//! GEMM for only `2 * cout` flops per element, so the product runs far below the FMA peak
//! (about a third of it, `benches/nn_step.rs` profile). Here each output row is computed in
//! blocks of [`XB`] pixels for [`OB`] output channels held in registers: per kernel tap one
//! unaligned load of `XB` input pixels (the image, 44 KB, stays in L1/L2) and `OB` broadcast
//! weights feed `OB * XB / lanes` FMAs. The weight gradient blocks the same way over kernel
//! columns: per tap row, [`OB`] channels of the output gradient against [`KB`] shifted input
//! windows, summed over the plane. Layouts are conv.rs's: weights `[cout, k*k]`, outputs
//! `[cout, g*P]`; the bias is added by the pooling that follows.

use super::conv::ConvGeom;

/// Output channels per register block.
const OB: usize = 4;
/// Output pixels per register block (along a row): three 8-lane vectors.
const XB: usize = 24;
/// Kernel columns per register block of the weight gradient.
const KB: usize = 2;
/// Output pixels per vector of the weight gradient's sums.
const VB: usize = 8;

/// Whether this kernel computes `geom`: one input channel, whole channel blocks, kernels of
/// at least [`KB`] columns, and rows that its pixel blocks cover but for at most an eighth
/// (the rest runs by scalar loops): conv1 of `paper`, `cpu` (96 px) and `small` (48 px), not
/// `tiny`'s 28 px, where im2col + GEMM took 15-20% fewer instructions (callgrind, the CI gate).
pub fn handles(geom: &ConvGeom) -> bool {
    let so = geom.side_out();
    fits(geom) && 8 * (so % XB) <= so
}

/// What [`forward`] and [`backward`] can compute at all (any row length).
pub fn fits(geom: &ConvGeom) -> bool {
    geom.cin == 1 && geom.cout % OB == 0 && geom.k >= KB
}

/// `y = w (*) x` for `g` single-channel images: `y` is `[cout, g*P]` (no bias).
pub fn forward(geom: &ConvGeom, weight: &[f32], input: &[f32], g: usize, y: &mut [f32]) {
    assert!(
        fits(geom),
        "conv_single takes one input channel, whole channel blocks"
    );
    let (n, k, so, p) = (geom.side_in, geom.k, geom.side_out(), geom.pixels_out());
    let (kk, width) = (k * k, g * p);
    assert!(input.len() >= g * n * n && weight.len() >= geom.cout * kk);
    assert!(y.len() >= geom.cout * width);
    for j in 0..g {
        let image = &input[j * n * n..(j + 1) * n * n];
        for ob in (0..geom.cout).step_by(OB) {
            let w = &weight[ob * kk..(ob + OB) * kk];
            for oy in 0..so {
                let at = |o: usize| (ob + o) * width + j * p + oy * so;
                let mut ox = 0;
                while ox + XB <= so {
                    let mut acc = [[0.0f32; XB]; OB];
                    block(&image[oy * n + ox..], n, k, w, &mut acc);
                    for (o, acc) in acc.iter().enumerate() {
                        y[at(o) + ox..at(o) + ox + XB].copy_from_slice(acc);
                    }
                    ox += XB;
                }
                for ox in ox..so {
                    for o in 0..OB {
                        let mut sum = 0.0f32;
                        for ki in 0..k {
                            let row = &image[(oy + ki) * n + ox..];
                            for kj in 0..k {
                                sum = w[o * kk + ki * k + kj].mul_add(row[kj], sum);
                            }
                        }
                        y[at(o) + ox] = sum;
                    }
                }
            }
        }
    }
}

/// Backward of [`forward`] given `dy` (`[cout, g*P]`): adds the weight gradient to `dweight`
/// (`[cout, k*k]`) and the bias gradient to `dbias`. A first layer needs no input gradient.
pub fn backward(
    geom: &ConvGeom,
    input: &[f32],
    dy: &[f32],
    g: usize,
    dweight: &mut [f32],
    dbias: &mut [f32],
) {
    assert!(
        fits(geom),
        "conv_single takes one input channel, whole channel blocks"
    );
    let (n, k, so, p) = (geom.side_in, geom.k, geom.side_out(), geom.pixels_out());
    let (kk, width) = (k * k, g * p);
    assert!(input.len() >= g * n * n && dy.len() >= geom.cout * width);
    assert!(dweight.len() >= geom.cout * kk && dbias.len() >= geom.cout);
    for (db, row) in dbias.iter_mut().zip(dy.chunks_exact(width)) {
        *db += row.iter().sum::<f32>();
    }
    let full = so - so % VB;
    for ob in (0..geom.cout).step_by(OB) {
        for ki in 0..k {
            let mut kj0 = 0;
            while kj0 < k {
                let kb = KB.min(k - kj0);
                let first = KB - kb;
                // sums[o][c] over every image and output pixel, in VB lanes.
                let mut acc = [[[0.0f32; VB]; KB]; OB];
                let mut tail = [[0.0f32; KB]; OB];
                for j in 0..g {
                    let image = &input[j * n * n..(j + 1) * n * n];
                    let planes: [&[f32]; OB] = std::array::from_fn(|o| {
                        let at = (ob + o) * width + j * p;
                        &dy[at..at + p]
                    });
                    // A last block of fewer than KB columns starts `first` columns early:
                    // those sums are computed again and not stored.
                    let x = &image[ki * n + kj0 - first..];
                    grad_plane(planes, x, n, so, full, &mut acc);
                    for oy in 0..so {
                        let row = &image[(oy + ki) * n..];
                        for ox in full..so {
                            for c in 0..kb {
                                let x = row[ox + kj0 + c];
                                for o in 0..OB {
                                    tail[o][c] = planes[o][oy * so + ox].mul_add(x, tail[o][c]);
                                }
                            }
                        }
                    }
                }
                for o in 0..OB {
                    for c in 0..kb {
                        let sum = acc[o][first + c].iter().sum::<f32>() + tail[o][c];
                        dweight[(ob + o) * kk + ki * k + kj0 + c] += sum;
                    }
                }
                kj0 += kb;
            }
        }
    }
}

/// One block of [`XB`] outputs along a row for [`OB`] channels: `acc[o][t] = sum_{ki, kj}
/// w[o][ki*k + kj] x[ki*n + t + kj]`, `x` starting at the block's first input pixel.
#[inline]
fn block(x: &[f32], n: usize, k: usize, w: &[f32], acc: &mut [[f32; XB]; OB]) {
    assert!(x.len() >= (k - 1) * n + k - 1 + XB && w.len() >= OB * k * k);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        // SAFETY: the features are enabled at compile time; every load is within `x` and `w`
        // by the assert above (the last tap reads x[(k-1)*n + k-1 .. + XB]).
        unsafe { avx2::block(x.as_ptr(), n, k, w.as_ptr(), acc) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        let kk = k * k;
        for ki in 0..k {
            for kj in 0..k {
                let xs = &x[ki * n + kj..ki * n + kj + XB];
                for (o, acc) in acc.iter_mut().enumerate() {
                    let wv = w[o * kk + ki * k + kj];
                    for (a, &xv) in acc.iter_mut().zip(xs) {
                        *a = wv.mul_add(xv, *a);
                    }
                }
            }
        }
    }
}

/// The weight gradient's sums for [`OB`] channels and [`KB`] kernel columns over the first
/// `len` pixels (a multiple of [`VB`]) of each of `rows` output rows of one image:
/// `acc[o][c][lane] += sum_{oy, t} dy_o[oy*rows + t] x[oy*n + t + c]` (`dy` planes of side
/// `rows`, `x` the image from the block's first tap).
#[inline]
fn grad_plane(
    dy: [&[f32]; OB],
    x: &[f32],
    n: usize,
    rows: usize,
    len: usize,
    acc: &mut [[[f32; VB]; KB]; OB],
) {
    assert!(len % VB == 0 && len <= rows && dy.iter().all(|d| d.len() >= rows * rows));
    assert!(rows == 0 || x.len() >= (rows - 1) * n + len + KB - 1);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        // SAFETY: features enabled at compile time; loads within `dy` and `x` by the asserts.
        unsafe { avx2::grad_plane(dy.map(<[f32]>::as_ptr), x.as_ptr(), n, rows, len, acc) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    for oy in 0..rows {
        for t in (0..len).step_by(VB) {
            for c in 0..KB {
                for o in 0..OB {
                    for lane in 0..VB {
                        let (d, xv) = (dy[o][oy * rows + t + lane], x[oy * n + t + c + lane]);
                        acc[o][c][lane] = d.mul_add(xv, acc[o][c][lane]);
                    }
                }
            }
        }
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod avx2 {
    use super::{KB, OB, VB, XB};
    use std::arch::x86_64::*;

    /// [`super::block`] in registers: 4 channels x 3 vectors of 8 = 12 accumulators.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `x` must hold `(k-1)*n + k-1 + XB` floats and `w`
    /// `OB*k*k`.
    #[inline]
    pub unsafe fn block(
        x: *const f32,
        n: usize,
        k: usize,
        w: *const f32,
        acc: &mut [[f32; XB]; OB],
    ) {
        const _: () = assert!(OB == 4 && XB == 24);
        let kk = k * k;
        let mut a = [_mm256_setzero_ps(); 12];
        for ki in 0..k {
            for kj in 0..k {
                let tap = ki * k + kj;
                let p = x.add(ki * n + kj);
                let x0 = _mm256_loadu_ps(p);
                let x1 = _mm256_loadu_ps(p.add(8));
                let x2 = _mm256_loadu_ps(p.add(16));
                for o in 0..4 {
                    let wv = _mm256_broadcast_ss(&*w.add(o * kk + tap));
                    a[3 * o] = _mm256_fmadd_ps(wv, x0, a[3 * o]);
                    a[3 * o + 1] = _mm256_fmadd_ps(wv, x1, a[3 * o + 1]);
                    a[3 * o + 2] = _mm256_fmadd_ps(wv, x2, a[3 * o + 2]);
                }
            }
        }
        for o in 0..4 {
            for v in 0..3 {
                _mm256_storeu_ps(acc[o][8 * v..].as_mut_ptr(), a[3 * o + v]);
            }
        }
    }

    /// [`super::grad_plane`] in registers: 4 channels x 2 columns = 8 accumulators.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; each `dy[o]` must hold `rows * rows` floats and `x`
    /// `(rows - 1) * n + len + KB - 1`.
    #[inline]
    pub unsafe fn grad_plane(
        dy: [*const f32; OB],
        x: *const f32,
        n: usize,
        rows: usize,
        len: usize,
        acc: &mut [[[f32; VB]; KB]; OB],
    ) {
        const _: () = assert!(OB == 4 && KB == 2 && VB == 8);
        let mut a = [_mm256_setzero_ps(); 8];
        for oy in 0..rows {
            let xr = x.add(oy * n);
            for t in (0..len).step_by(VB) {
                let x0 = _mm256_loadu_ps(xr.add(t));
                let x1 = _mm256_loadu_ps(xr.add(t + 1));
                for o in 0..4 {
                    let d = _mm256_loadu_ps(dy[o].add(oy * rows + t));
                    a[2 * o] = _mm256_fmadd_ps(d, x0, a[2 * o]);
                    a[2 * o + 1] = _mm256_fmadd_ps(d, x1, a[2 * o + 1]);
                }
            }
        }
        for o in 0..4 {
            for c in 0..2 {
                let mut sum = [0.0f32; 8];
                _mm256_storeu_ps(sum.as_mut_ptr(), a[2 * o + c]);
                for (s, v) in acc[o][c].iter_mut().zip(sum) {
                    *s += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv;
    use crate::nn::conv_ref::{self, widen, Error};

    fn values(n: usize, salt: u64) -> Vec<f32> {
        let mut rng = oneshot_core::rng::Rng::new(salt, "test");
        (0..n).map(|_| rng.uniform() as f32 - 0.5).collect()
    }

    /// Against the float64 definition and the im2col path, on sides with and without a tail
    /// of pixels past the last full block, odd kernels, several images.
    #[test]
    fn matches_the_definition_and_the_im2col_path() {
        for &(cout, k, side, g) in &[(8, 10, 40, 2), (4, 5, 32, 3), (12, 3, 21, 1)] {
            let geom = ConvGeom {
                cin: 1,
                cout,
                k,
                side_in: side,
            };
            let (p, width) = (geom.pixels_out(), g * geom.pixels_out());
            let w = values(cout * k * k, 1);
            let x = values(g * side * side, 2);
            let dy = values(cout * width, 3);
            let mut y = vec![f32::NAN; cout * width];
            forward(&geom, &w, &x, g, &mut y);
            let y_ref = conv_ref::forward(&geom, &widen(&w), &widen(&x), g);
            let e = Error::of(&y, &y_ref);
            assert!(e.rel_max < 1e-6, "forward {cout} {k} {side}: {e:?}");

            let (mut dw, mut db) = (vec![0.5; w.len()], vec![0.25; cout]);
            backward(&geom, &x, &dy, g, &mut dw, &mut db);
            let (dw_ref, _) = conv_ref::backward(&geom, &widen(&w), &widen(&x), &widen(&dy), g);
            let shifted: Vec<f64> = dw_ref.iter().map(|v| v + 0.5).collect();
            let e = Error::of(&dw, &shifted);
            assert!(e.rel_max < 1e-5, "weight gradient {cout} {k} {side}: {e:?}");

            let mut col = vec![0.0; geom.col_rows() * width];
            let (mut dw_c, mut db_c) = (vec![0.5; w.len()], vec![0.25; cout]);
            conv::backward(&geom, &w, &x, &dy, g, &mut col, &mut dw_c, &mut db_c, None);
            for (a, b) in db.iter().zip(&db_c) {
                assert!((a - b).abs() < 1e-4, "bias gradient {a} against {b}");
            }
            assert_eq!(p * g, width);
        }
    }

    #[test]
    fn takes_only_single_channel_layers_of_whole_blocks() {
        let geom = |cin, cout| ConvGeom {
            cin,
            cout,
            k: 10,
            side_in: 105,
        };
        assert!(handles(&geom(1, 64)) && handles(&geom(1, 4)));
        assert!(!handles(&geom(2, 64)) && !handles(&geom(1, 6)));
        let tiny = ConvGeom {
            cin: 1,
            cout: 4,
            k: 5,
            side_in: 32,
        };
        assert!(
            !handles(&tiny) && fits(&tiny),
            "28 px rows leave a 4 px scalar tail"
        );
    }
}
