//! Forward of a valid, stride-1 convolution as an implicit GEMM over shifted views of a
//! channels-last image: no im2col buffer.
//!
//! With the image stored channels-last (`[side*side, cin]`, NHWC), the `k*cin` inputs that
//! kernel row `ki` sees for output pixel `(oy, ox)` are contiguous: they start at float
//! `((oy + ki)*side + ox)*cin`. Indexing outputs by `q = oy*side + ox` over the *full* input
//! width makes that start `(q + ki*side)*cin`, one stride for every row, so kernel row `ki` is
//! a plain strided view of the image (`[m, k*cin]`, row stride `cin`, rows overlapping) and
//! the convolution is `k` accumulated GEMMs `Y[q, o] += X_ki[q, :] W_ki[:, o]` with
//! `m = (so-1)*side + so` rows. The rows with `ox >= so` are computed and dropped: for conv2
//! of the `paper` shape (48 -> 42) that is 14% more arithmetic, yet the product runs about
//! 16% faster than im2col + GEMM, which writes and packs a 22 MB column matrix per image
//! (`benches/conv_lowering.rs`). The result is written back in the group layout of conv.rs
//! (`[cout, P]`) so pooling is unchanged.
//!
//! The backward pass uses the same views. The weight gradient of kernel row `ki` is
//! `X_ki^T dY` with `dY` laid out like the product (`[q, o]`, dropped rows zero). The input
//! gradient is the full correlation of `dY` with the flipped kernel: with `dY` padded by
//! `(k-1)*side + k-1` zero rows in front and `(k-1)*side` behind, input pixel `r = y*side + x`
//! sees `dY` rows `r + ki'*side + kj'` (`ki' = k-1-ki`, `kj' = k-1-kj`), so it is again `k`
//! accumulated GEMMs over shifted views, of the padded gradient; the zero rows of the dropped
//! columns are exactly the out-of-range terms.

use super::conv::ConvGeom;
use super::gemm::{sgemm, View, ViewMut};

/// Whether a layer's forward runs faster as an implicit GEMM than by im2col (measured on the
/// `paper` shape's layers, `benches/conv_lowering.rs`): each kernel row must give the GEMM a
/// deep enough product (`k*cin >= 64`), and the dropped columns must stay at most 1/7 of the
/// computed ones. In `paper` this picks conv2 only.
pub fn preferred(geom: &ConvGeom) -> bool {
    geom.k * geom.cin >= 64 && 7 * geom.side_in <= 8 * geom.side_out()
}

/// Rows of the implicit product (`m`).
pub fn gemm_rows(geom: &ConvGeom) -> usize {
    (geom.side_out() - 1) * geom.side_in + geom.side_out()
}

/// Floats of the packed weights (`[k][k*cin][cout]`).
pub fn packed_len(geom: &ConvGeom) -> usize {
    geom.k * geom.k * geom.cin * geom.cout
}

/// Floats of the scratch [`forward`] needs: the channels-last image, then the product.
pub fn scratch_len(geom: &ConvGeom) -> usize {
    geom.input_len() + gemm_rows(geom) * geom.cout
}

/// Zero rows in front of the padded output gradient.
fn pad_rows(geom: &ConvGeom) -> usize {
    (geom.k - 1) * geom.side_in + geom.k - 1
}

/// Floats of the scratch [`backward`] needs: the channels-last image, the padded output
/// gradient, the weight gradient in operand layout and the channels-last input gradient.
pub fn backward_scratch_len(geom: &ConvGeom) -> usize {
    let pixels = geom.side_in * geom.side_in;
    2 * geom.input_len() + (pad_rows(geom) + pixels) * geom.cout + packed_len(geom)
}

/// Rearranges OIHW weights into the flipped operand layout of the input gradient
/// (`[ki'][kj'*cout + o][c]` = `W[o, c, k-1-ki', k-1-kj']`).
pub fn pack_flipped_weights(geom: &ConvGeom, weight: &[f32], packed: &mut [f32]) {
    let (k, cin, cout) = (geom.k, geom.cin, geom.cout);
    for o in 0..cout {
        for c in 0..cin {
            for ki in 0..k {
                for kj in 0..k {
                    let (fi, fj) = (k - 1 - ki, k - 1 - kj);
                    packed[((fi * k + fj) * cout + o) * cin + c] =
                        weight[((o * cin + c) * k + ki) * k + kj];
                }
            }
        }
    }
}

/// Writes the channels-last copy (`[side*side, cin]`) of one `[cin, side*side]` image.
fn to_channels_last(cin: usize, pixels: usize, input: &[f32], image: &mut [f32]) {
    for c in 0..cin {
        for (q, &v) in input[c * pixels..(c + 1) * pixels].iter().enumerate() {
            image[q * cin + c] = v;
        }
    }
}

/// `out = sum_i X_i * W_i` over the kernel rows `i`: `X_i` is the strided view of `src` that
/// starts `i * shift` floats in (`rows` x `depth`, row stride `stride`, overlapping rows), `W_i`
/// the `i`-th `depth` x `cols` block of `weights` (one per kernel row); `out` is `rows` x `cols`, row-major.
/// Each GEMM runs on `threads` threads of the current pool.
#[allow(clippy::too_many_arguments)]
fn shifted_products(
    src: &[f32],
    shift: usize,
    stride: usize,
    rows: usize,
    depth: usize,
    weights: &[f32],
    cols: usize,
    out: &mut [f32],
    threads: usize,
) {
    let block = depth * cols;
    for (i, w) in weights.chunks_exact(block).enumerate() {
        let x = View {
            data: &src[i * shift..],
            rows,
            cols: depth,
            rs: stride,
            cs: 1,
        };
        sgemm(
            x,
            View::rows(w, depth, cols),
            ViewMut::rows(out, rows, cols),
            i > 0,
            threads,
        );
    }
}

/// Rearranges OIHW weights into `packed` (`[ki][kj*cin + c][o]`), one GEMM operand per
/// kernel row.
pub fn pack_weights(geom: &ConvGeom, weight: &[f32], packed: &mut [f32]) {
    let (k, cin, cout) = (geom.k, geom.cin, geom.cout);
    let kk = k * cin;
    for o in 0..cout {
        for c in 0..cin {
            for ki in 0..k {
                let src = &weight[((o * cin + c) * k + ki) * k..((o * cin + c) * k + ki + 1) * k];
                for (kj, &v) in src.iter().enumerate() {
                    packed[(ki * kk + kj * cin + c) * cout + o] = v;
                }
            }
        }
    }
}

/// `y = W * input` for one image (`[cin, side, side]`), `y` in group layout `[cout, P]`
/// (no bias); `packed` from [`pack_weights`], `scratch` of [`scratch_len`] floats.
pub fn forward(geom: &ConvGeom, packed: &[f32], input: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    forward_on(geom, packed, input, scratch, y, 1);
}

/// [`forward`] with its GEMMs on `threads` threads of the current pool (a call of one image,
/// where the tower has no other image for the other threads).
pub fn forward_on(
    geom: &ConvGeom,
    packed: &[f32],
    input: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
    threads: usize,
) {
    let (k, cin, cout, side, so) = (geom.k, geom.cin, geom.cout, geom.side_in, geom.side_out());
    let (kk, m, pixels) = (k * cin, gemm_rows(geom), side * side);
    let (image, product) = scratch[..scratch_len(geom)].split_at_mut(geom.input_len());
    to_channels_last(cin, pixels, input, image);
    let packed = &packed[..packed_len(geom)];
    shifted_products(
        image,
        side * cin,
        cin,
        m,
        kk,
        packed,
        cout,
        product,
        threads,
    );
    for oy in 0..so {
        for ox in 0..so {
            let src = &product[(oy * side + ox) * cout..(oy * side + ox + 1) * cout];
            for (o, &v) in src.iter().enumerate() {
                y[o * so * so + oy * so + ox] = v;
            }
        }
    }
}

/// Backward of [`forward`] for one image given the output gradient `dy` (`[cout, P]`): adds
/// to `dweight` (OIHW) and `dbias`, and when `dinput` is given overwrites it with the gradient
/// of the image (`[cin, side, side]`). `flipped` from [`pack_flipped_weights`], `scratch` of
/// [`backward_scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    geom: &ConvGeom,
    flipped: &[f32],
    input: &[f32],
    dy: &[f32],
    scratch: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dinput: Option<&mut [f32]>,
) {
    let (k, cin, cout, side, so) = (geom.k, geom.cin, geom.cout, geom.side_in, geom.side_out());
    let (kk, m, pixels, p) = (k * cin, gemm_rows(geom), side * side, so * so);
    let pad = pad_rows(geom);
    let scratch = &mut scratch[..backward_scratch_len(geom)];
    let (image, rest) = scratch.split_at_mut(geom.input_len());
    let (dpad, rest) = rest.split_at_mut((pad + pixels) * cout);
    let (grad, dimage) = rest.split_at_mut(packed_len(geom));
    for (db, row) in dbias.iter_mut().zip(dy.chunks_exact(p)) {
        *db += row.iter().sum::<f32>();
    }
    to_channels_last(cin, pixels, input, image);
    dpad.fill(0.0);
    for o in 0..cout {
        for oy in 0..so {
            for ox in 0..so {
                dpad[(pad + oy * side + ox) * cout + o] = dy[o * p + oy * so + ox];
            }
        }
    }
    for ki in 0..k {
        let rows_t = View {
            data: &image[ki * side * cin..],
            rows: kk,
            cols: m,
            rs: 1,
            cs: cin,
        };
        sgemm(
            rows_t,
            View::rows(&dpad[pad * cout..(pad + m) * cout], m, cout),
            ViewMut::rows(&mut grad[ki * kk * cout..(ki + 1) * kk * cout], kk, cout),
            false,
            1,
        );
    }
    for o in 0..cout {
        for c in 0..cin {
            for ki in 0..k {
                for kj in 0..k {
                    dweight[((o * cin + c) * k + ki) * k + kj] +=
                        grad[(ki * kk + kj * cin + c) * cout + o];
                }
            }
        }
    }
    let Some(dinput) = dinput else {
        return;
    };
    let flipped = &flipped[..packed_len(geom)];
    shifted_products(
        dpad,
        side * cout,
        cout,
        pixels,
        k * cout,
        flipped,
        cin,
        dimage,
        1,
    );
    for c in 0..cin {
        for (q, d) in dinput[c * pixels..(c + 1) * pixels].iter_mut().enumerate() {
            *d = dimage[q * cin + c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv;

    fn values(n: usize, salt: u64) -> Vec<f32> {
        let mut rng = oneshot_core::rng::Rng::new(salt, "test");
        (0..n).map(|_| rng.uniform() as f32 - 0.5).collect()
    }

    #[test]
    fn matches_im2col_lowering() {
        for geom in [
            ConvGeom {
                cin: 3,
                cout: 5,
                k: 3,
                side_in: 7,
            },
            ConvGeom {
                cin: 16,
                cout: 8,
                k: 4,
                side_in: 12,
            },
            ConvGeom {
                cin: 2,
                cout: 3,
                k: 1,
                side_in: 4,
            },
        ] {
            let p = geom.pixels_out();
            let (w, x) = (
                values(geom.cout * geom.col_rows(), 1),
                values(geom.input_len(), 2),
            );
            let mut col = vec![0.0; geom.col_rows() * p];
            let mut want = vec![0.0; geom.cout * p];
            conv::forward(&geom, &w, &x, 1, &mut col, &mut want);
            let mut packed = vec![0.0; packed_len(&geom)];
            pack_weights(&geom, &w, &mut packed);
            let mut scratch = vec![f32::NAN; scratch_len(&geom)];
            let mut got = vec![0.0; geom.cout * p];
            forward(&geom, &packed, &x, &mut scratch, &mut got);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{geom:?}: {a} {b}");
            }
        }
    }

    #[test]
    fn backward_matches_im2col_lowering() {
        for geom in [
            ConvGeom {
                cin: 3,
                cout: 5,
                k: 3,
                side_in: 7,
            },
            ConvGeom {
                cin: 4,
                cout: 6,
                k: 4,
                side_in: 9,
            },
        ] {
            let p = geom.pixels_out();
            let (w, x) = (
                values(geom.cout * geom.col_rows(), 3),
                values(geom.input_len(), 4),
            );
            let dy = values(geom.cout * p, 5);
            let mut col = vec![0.0; geom.col_rows() * p];
            let (mut dw_want, mut db_want) = (values(w.len(), 6), values(geom.cout, 7));
            let mut dx_want = vec![0.0; x.len()];
            let (mut dw, mut db) = (dw_want.clone(), db_want.clone());
            conv::backward(
                &geom,
                &w,
                &x,
                &dy,
                1,
                &mut col,
                &mut dw_want,
                &mut db_want,
                Some(&mut dx_want),
            );
            let mut flipped = vec![0.0; packed_len(&geom)];
            pack_flipped_weights(&geom, &w, &mut flipped);
            let mut scratch = vec![f32::NAN; backward_scratch_len(&geom)];
            let mut dx = vec![f32::NAN; x.len()];
            backward(
                &geom,
                &flipped,
                &x,
                &dy,
                &mut scratch,
                &mut dw,
                &mut db,
                Some(&mut dx),
            );
            for (got, want) in [(&dw, &dw_want), (&db, &db_want), (&dx, &dx_want)] {
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((a - b).abs() < 1e-5, "{geom:?}: {a} {b}");
                }
            }
        }
    }

    #[test]
    fn prefers_only_conv2_of_the_paper_shape() {
        let sides = crate::nn::Shape::paper().sides().unwrap();
        let (filters, kernels) = ([1, 64, 128, 128], [10, 7, 4, 4]);
        let picked: Vec<bool> = (0..4)
            .map(|l| {
                preferred(&ConvGeom {
                    cin: filters[l],
                    cout: 1,
                    k: kernels[l],
                    side_in: sides.inputs[l],
                })
            })
            .collect();
        assert_eq!(picked, [false, true, false, false]);
    }
}
