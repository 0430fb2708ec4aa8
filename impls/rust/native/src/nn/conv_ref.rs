//! A float64 reference of the valid, stride-1 convolution, forward and both gradients, by
//! plain loops over the definition (no lowering, no transform): what conv.rs (float32 GEMM)
//! and conv_fft.rs (float32 FFT) are measured against ([`Error::of`], the `conv_error`
//! example, the tests). Layouts as conv.rs: inputs `g` images of `[cin, n, n]`, weights
//! `[cout, cin, k, k]`, outputs `[cout, g*P]`.

use super::conv::ConvGeom;

/// `y[o, j, p] = sum_{c, ki, kj} w[o, c, ki, kj] x[j, c, oy + ki, ox + kj]`.
pub fn forward(geom: &ConvGeom, weight: &[f64], input: &[f64], g: usize) -> Vec<f64> {
    let (n, k, so, p) = (geom.side_in, geom.k, geom.side_out(), geom.pixels_out());
    let mut y = vec![0.0; geom.cout * g * p];
    for o in 0..geom.cout {
        for j in 0..g {
            let out = &mut y[(o * g + j) * p..(o * g + j + 1) * p];
            for c in 0..geom.cin {
                let plane = &input[j * geom.input_len() + c * n * n..][..n * n];
                for ki in 0..k {
                    for kj in 0..k {
                        let w = weight[((o * geom.cin + c) * k + ki) * k + kj];
                        for oy in 0..so {
                            let src = &plane[(oy + ki) * n + kj..][..so];
                            for (v, x) in out[oy * so..(oy + 1) * so].iter_mut().zip(src) {
                                *v += w * x;
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

/// The gradients of `sum(dy * y)`: `(dweight [cout, cin, k, k], dinput [g, cin, n, n])`.
pub fn backward(
    geom: &ConvGeom,
    weight: &[f64],
    input: &[f64],
    dy: &[f64],
    g: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (n, k, so, p) = (geom.side_in, geom.k, geom.side_out(), geom.pixels_out());
    let mut dw = vec![0.0; geom.cout * geom.col_rows()];
    let mut dx = vec![0.0; g * geom.input_len()];
    for o in 0..geom.cout {
        for j in 0..g {
            let grad = &dy[(o * g + j) * p..(o * g + j + 1) * p];
            for c in 0..geom.cin {
                let at = j * geom.input_len() + c * n * n;
                for ki in 0..k {
                    for kj in 0..k {
                        let wi = ((o * geom.cin + c) * k + ki) * k + kj;
                        let (w, mut acc) = (weight[wi], 0.0);
                        for oy in 0..so {
                            let row = &grad[oy * so..(oy + 1) * so];
                            let base = at + (oy + ki) * n + kj;
                            let src = &input[base..base + so];
                            acc += row.iter().zip(src).map(|(d, x)| d * x).sum::<f64>();
                            for (v, d) in dx[base..base + so].iter_mut().zip(row) {
                                *v += w * d;
                            }
                        }
                        dw[wi] += acc;
                    }
                }
            }
        }
    }
    (dw, dx)
}

/// The error of a float32 result against its float64 reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Error {
    /// `||a - r||_2 / ||r||_2`.
    pub rel_rms: f64,
    /// `max |a - r| / max |r|`.
    pub rel_max: f64,
}

impl Error {
    /// The error of `got` against `reference` (same length).
    pub fn of(got: &[f32], reference: &[f64]) -> Error {
        assert_eq!(got.len(), reference.len(), "result and reference sizes");
        let (mut diff2, mut ref2, mut diff_max, mut ref_max) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (&a, &r) in got.iter().zip(reference) {
            let d = a as f64 - r;
            diff2 += d * d;
            ref2 += r * r;
            diff_max = diff_max.max(d.abs());
            ref_max = ref_max.max(r.abs());
        }
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { num };
        Error {
            rel_rms: ratio(diff2.sqrt(), ref2.sqrt()),
            rel_max: ratio(diff_max, ref_max),
        }
    }
}

/// Widens float32 values.
pub fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition written out for one output and one of each gradient.
    #[test]
    fn forward_and_gradients_follow_the_definition() {
        let geom = ConvGeom {
            cin: 2,
            cout: 3,
            k: 3,
            side_in: 5,
        };
        let g = 2;
        let w: Vec<f64> = (0..geom.cout * geom.col_rows())
            .map(|i| (i % 7) as f64 - 3.0)
            .collect();
        let x: Vec<f64> = (0..g * geom.input_len())
            .map(|i| (i % 5) as f64 * 0.5)
            .collect();
        let y = forward(&geom, &w, &x, g);
        // y[o=2, j=1, oy=1, ox=2]
        let (o, j, oy, ox) = (2, 1, 1, 2);
        let mut want = 0.0;
        for c in 0..2 {
            for ki in 0..3 {
                for kj in 0..3 {
                    want += w[((o * 2 + c) * 3 + ki) * 3 + kj]
                        * x[j * 50 + c * 25 + (oy + ki) * 5 + ox + kj];
                }
            }
        }
        assert_eq!(y[(o * g + j) * 9 + oy * 3 + ox], want);

        // With dy = e_(o, j, oy, ox), dw[o, c, ki, kj] = x[j, c, oy+ki, ox+kj] and
        // dx[j, c, oy+ki, ox+kj] = w[o, c, ki, kj].
        let mut dy = vec![0.0; y.len()];
        dy[(o * g + j) * 9 + oy * 3 + ox] = 1.0;
        let (dw, dx) = backward(&geom, &w, &x, &dy, g);
        for c in 0..2 {
            for ki in 0..3 {
                for kj in 0..3 {
                    let (wi, xi) = (
                        ((o * 2 + c) * 3 + ki) * 3 + kj,
                        j * 50 + c * 25 + (oy + ki) * 5 + ox + kj,
                    );
                    assert_eq!(dw[wi], x[xi]);
                    assert_eq!(dx[xi], w[wi]);
                }
            }
        }
        // Only output channel o's weights and image j's pixels get a gradient.
        let per_out = geom.col_rows();
        assert!(dw[..o * per_out].iter().all(|v| *v == 0.0));
        let img = geom.input_len();
        assert!(dx[..j * img].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn error_is_relative_to_the_reference() {
        let e = Error::of(&[1.0, 2.0, 3.0], &[1.0, 2.0, 2.0]);
        assert!((e.rel_rms - 1.0 / 3.0).abs() < 1e-12);
        assert!((e.rel_max - 0.5).abs() < 1e-12);
        assert_eq!(Error::of(&[0.0], &[0.0]).rel_rms, 0.0);
    }
}
