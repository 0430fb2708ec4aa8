//! Valid, stride-1 2-D convolution lowered onto GEMM by im2col, forward and backward.
//!
//! A *group* of `g` images is convolved in one product so that small feature maps still give
//! the GEMM a wide right-hand side: the column matrix is `[cin*k*k, g*P]` (P = output pixels,
//! image `j` in columns `j*P..(j+1)*P`), the weights `[cout, cin*k*k]` (PyTorch OIHW flattened)
//! and the output `[cout, g*P]`. Inputs are `g` images of `[cin, side, side]`, one after the
//! other. The bias is added by the fused activation that follows (pool.rs, activation.rs); the
//! backward pass here gives the bias gradient as row sums of the output gradient.

use super::gemm::{sgemm, View, ViewMut};

/// The geometry of one convolution layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub side_in: usize,
}

impl ConvGeom {
    /// Side of the output.
    pub fn side_out(&self) -> usize {
        self.side_in - self.k + 1
    }
    /// Output pixels per image (P).
    pub fn pixels_out(&self) -> usize {
        self.side_out() * self.side_out()
    }
    /// Rows of the column matrix (cin*k*k).
    pub fn col_rows(&self) -> usize {
        self.cin * self.k * self.k
    }
    /// Floats of one input image.
    pub fn input_len(&self) -> usize {
        self.cin * self.side_in * self.side_in
    }
    /// Images per GEMM: enough for at least `min_cols` output columns, at most `max_images`.
    pub fn group(&self, min_cols: usize, max_images: usize) -> usize {
        min_cols
            .div_ceil(self.pixels_out())
            .clamp(1, max_images.max(1))
    }
}

/// Writes the column matrix of `g` images into `col` (`[cin*k*k, g*P]`).
pub fn im2col(geom: &ConvGeom, input: &[f32], g: usize, col: &mut [f32]) {
    let (k, side, so) = (geom.k, geom.side_in, geom.side_out());
    let (p, width) = (geom.pixels_out(), g * geom.pixels_out());
    for j in 0..g {
        let image = &input[j * geom.input_len()..(j + 1) * geom.input_len()];
        for c in 0..geom.cin {
            let plane = &image[c * side * side..(c + 1) * side * side];
            for ki in 0..k {
                for kj in 0..k {
                    let row = (c * k + ki) * k + kj;
                    let dst = &mut col[row * width + j * p..row * width + (j + 1) * p];
                    for oy in 0..so {
                        let src = &plane[(oy + ki) * side + kj..(oy + ki) * side + kj + so];
                        dst[oy * so..(oy + 1) * so].copy_from_slice(src);
                    }
                }
            }
        }
    }
}

/// Adds the column matrix `col` (`[cin*k*k, g*P]`) back onto `g` images of `[cin, side, side]`
/// (the adjoint of [`im2col`]); `out` is overwritten.
pub fn col2im(geom: &ConvGeom, col: &[f32], g: usize, out: &mut [f32]) {
    let (k, side, so) = (geom.k, geom.side_in, geom.side_out());
    let (p, width) = (geom.pixels_out(), g * geom.pixels_out());
    out[..g * geom.input_len()].fill(0.0);
    for j in 0..g {
        let image = &mut out[j * geom.input_len()..(j + 1) * geom.input_len()];
        for c in 0..geom.cin {
            let plane = &mut image[c * side * side..(c + 1) * side * side];
            for ki in 0..k {
                for kj in 0..k {
                    let row = (c * k + ki) * k + kj;
                    let src = &col[row * width + j * p..row * width + (j + 1) * p];
                    for oy in 0..so {
                        let dst = &mut plane[(oy + ki) * side + kj..(oy + ki) * side + kj + so];
                        for (d, s) in dst.iter_mut().zip(&src[oy * so..(oy + 1) * so]) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

/// `y = W * im2col(input)` for `g` images: `y` is `[cout, g*P]` (no bias); `col` is scratch.
pub fn forward(
    geom: &ConvGeom,
    weight: &[f32],
    input: &[f32],
    g: usize,
    col: &mut [f32],
    y: &mut [f32],
) {
    forward_on(geom, weight, input, g, col, y, 1);
}

/// [`forward`] with its GEMM on `threads` threads of the current pool (a call of one image,
/// where the tower has no other image for the other threads).
pub fn forward_on(
    geom: &ConvGeom,
    weight: &[f32],
    input: &[f32],
    g: usize,
    col: &mut [f32],
    y: &mut [f32],
    threads: usize,
) {
    let width = g * geom.pixels_out();
    im2col(geom, input, g, col);
    sgemm(
        View::rows(weight, geom.cout, geom.col_rows()),
        View::rows(&col[..geom.col_rows() * width], geom.col_rows(), width),
        ViewMut::rows(&mut y[..geom.cout * width], geom.cout, width),
        false,
        threads,
    );
}

/// Backward of [`forward`] for `g` images given the output gradient `dy` (`[cout, g*P]`):
/// adds to `dweight` (`[cout, cin*k*k]`) and `dbias` (`[cout]`), and when `dinput` is given
/// overwrites it with the gradient of the `g` input images. `col` is scratch.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    geom: &ConvGeom,
    weight: &[f32],
    input: &[f32],
    dy: &[f32],
    g: usize,
    col: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dinput: Option<&mut [f32]>,
) {
    let width = g * geom.pixels_out();
    let rows = geom.col_rows();
    let dy = &dy[..geom.cout * width];
    for (db, row) in dbias.iter_mut().zip(dy.chunks_exact(width)) {
        *db += row.iter().sum::<f32>();
    }
    im2col(geom, input, g, col);
    let col = &mut col[..rows * width];
    sgemm(
        View::rows(dy, geom.cout, width),
        View::transposed(col, rows, width),
        ViewMut::rows(dweight, geom.cout, rows),
        true,
        1,
    );
    if let Some(dinput) = dinput {
        sgemm(
            View::transposed(weight, geom.cout, rows),
            View::rows(dy, geom.cout, width),
            ViewMut::rows(col, rows, width),
            false,
            1,
        );
        col2im(geom, col, g, dinput);
    }
}

/// One layer's forward and backward results for `g` images: `y` and `dy` are `[cout, g*P]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub y: Vec<f32>,
    pub dinput: Vec<f32>,
    pub dweight: Vec<f32>,
    pub dbias: Vec<f32>,
}

/// [`forward`] and [`backward`] of one layer in one call, allocating every buffer: for tests
/// and tools that compare algorithms (the network keeps its buffers across steps).
pub fn convolve(geom: &ConvGeom, weight: &[f32], input: &[f32], dy: &[f32], g: usize) -> Layer {
    let width = g * geom.pixels_out();
    let mut col = vec![0.0; geom.col_rows() * width];
    let mut out = Layer {
        y: vec![0.0; geom.cout * width],
        dinput: vec![f32::NAN; g * geom.input_len()], // backward overwrites it
        dweight: vec![0.0; geom.cout * geom.col_rows()],
        dbias: vec![0.0; geom.cout],
    };
    forward(geom, weight, input, g, &mut col, &mut out.y);
    backward(
        geom,
        weight,
        input,
        dy,
        g,
        &mut col,
        &mut out.dweight,
        &mut out.dbias,
        Some(&mut out.dinput),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, salt: u64) -> Vec<f32> {
        let mut rng = oneshot_core::rng::Rng::new(salt, "test");
        (0..n).map(|_| rng.uniform() as f32 - 0.5).collect()
    }

    /// Direct convolution in f64 (conv_ref.rs): y[o, j, y, x] for g images.
    fn direct(geom: &ConvGeom, w: &[f32], input: &[f32], g: usize) -> Vec<f64> {
        use crate::nn::conv_ref::{forward, widen};
        forward(geom, &widen(w), &widen(input), g)
    }

    #[test]
    fn forward_matches_direct_convolution() {
        let geom = ConvGeom {
            cin: 3,
            cout: 5,
            k: 3,
            side_in: 7,
        };
        let g = 2;
        let (w, x) = (values(5 * 27, 1), values(g * geom.input_len(), 2));
        let mut col = vec![0.0; geom.col_rows() * g * geom.pixels_out()];
        let mut y = vec![0.0; 5 * g * geom.pixels_out()];
        forward(&geom, &w, &x, g, &mut col, &mut y);
        for (a, b) in y.iter().zip(direct(&geom, &w, &x, g)) {
            assert!((*a as f64 - b).abs() < 1e-5);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        // Loss L = sum(r * y): the convolution is linear, so central differences are exact
        // up to rounding; compare in f64 against the f32 analytic gradient.
        let geom = ConvGeom {
            cin: 2,
            cout: 3,
            k: 2,
            side_in: 5,
        };
        let g = 2;
        let (w, x) = (values(3 * 8, 3), values(g * geom.input_len(), 4));
        let r = values(3 * g * geom.pixels_out(), 5);
        let loss = |w: &[f32], x: &[f32]| -> f64 {
            direct(&geom, w, x, g)
                .iter()
                .zip(&r)
                .map(|(y, r)| y * *r as f64)
                .sum()
        };
        let mut col = vec![0.0; geom.col_rows() * g * geom.pixels_out()];
        let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; 3], vec![0.0; x.len()]);
        backward(
            &geom,
            &w,
            &x,
            &r,
            g,
            &mut col,
            &mut dw,
            &mut db,
            Some(&mut dx),
        );
        let eps = 1e-2;
        for i in 0..w.len() {
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[i] += eps;
            wm[i] -= eps;
            let fd = (loss(&wp, &x) - loss(&wm, &x)) / (2.0 * eps as f64);
            assert!((fd - dw[i] as f64).abs() < 1e-3, "dw[{i}] {fd} {}", dw[i]);
        }
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += eps;
            xm[i] -= eps;
            let fd = (loss(&w, &xp) - loss(&w, &xm)) / (2.0 * eps as f64);
            assert!((fd - dx[i] as f64).abs() < 1e-3, "dx[{i}] {fd} {}", dx[i]);
        }
        let p = geom.pixels_out();
        for (o, db) in db.iter().enumerate() {
            let want: f32 = r[o * g * p..(o + 1) * g * p].iter().sum();
            assert!((db - want).abs() < 1e-4);
        }
    }
}
