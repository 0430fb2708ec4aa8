//! One image through one convolution, single-threaded, lowered two ways: im2col + GEMM
//! (conv.rs) against GEMMs over shifted channels-last views (conv_implicit.rs), in both
//! operand orders, forward and backward (weight and input gradients). Prints the best of 3
//! runs of ~0.7 s in *useful* GFLOP/s (2*cout*cin*k*k*so*so per pass, so the columns the
//! implicit GEMM computes and drops count as loss). Two rounds, to see the noise.
//!
//! Run: `cargo bench --bench conv_lowering [-- CIN COUT K SIDE]` (default: conv2 of `paper`,
//! 64 128 7 48; conv1 is 1 64 10 105, conv3 128 128 4 21).
use oneshot_native::nn::conv::{self, ConvGeom};
use oneshot_native::nn::gemm::{sgemm, View, ViewMut};
use std::time::{Duration, Instant};

fn values(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7 + salt) % 13) as f32) * 0.01 - 0.05)
        .collect()
}

fn measure(name: &str, flop: f64, f: &mut dyn FnMut()) {
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let began = Instant::now();
        let mut done = 0;
        while began.elapsed() < Duration::from_millis(700) {
            f();
            done += 1;
        }
        best = best.max(done as f64 * flop / began.elapsed().as_secs_f64() / 1e9);
    }
    eprintln!("{name:30} {best:6.1} useful GFLOP/s");
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (cin, cout, k, side) = if args.len() == 4 {
        (args[0], args[1], args[2], args[3])
    } else {
        (64usize, 128usize, 7usize, 48usize)
    };
    let so = side - k + 1;
    let geom = ConvGeom {
        cin,
        cout,
        k,
        side_in: side,
    };
    let flop = 2.0 * (cout * cin * k * k * so * so) as f64;
    let w = values(cout * cin * k * k, 1);
    let x = values(cin * side * side, 2);
    let mut col = vec![0.0; geom.col_rows() * so * so];
    let mut y = vec![0.0; cout * so * so];
    // NHWC input with padding
    let mut xh = vec![0.0f32; (side * side + k) * cin];
    for c in 0..cin {
        for p in 0..side * side {
            xh[p * cin + c] = x[c * side * side + p];
        }
    }
    // weights per ki: [kj*cin + c, cout] and transposed [cout, kj*cin + c]
    let kk = k * cin;
    let mut wk = vec![0.0f32; k * kk * cout];
    let mut wkt = vec![0.0f32; k * cout * kk];
    for o in 0..cout {
        for c in 0..cin {
            for ki in 0..k {
                for kj in 0..k {
                    let v = w[((o * cin + c) * k + ki) * k + kj];
                    wk[ki * kk * cout + (kj * cin + c) * cout + o] = v;
                    wkt[ki * cout * kk + o * kk + kj * cin + c] = v;
                }
            }
        }
    }
    let rows = (so - 1) * side + so;
    let mut yh = vec![0.0f32; rows * cout];
    let mut yt = vec![0.0f32; cout * so * side];
    for _round in 0..2 {
        measure("im2col+gemm", flop, &mut || {
            conv::forward(&geom, &w, &x, 1, &mut col, &mut y)
        });
        measure("im2col+gemm C[p,o]", flop, &mut || {
            conv::im2col(&geom, &x, 1, &mut col);
            sgemm(
                View::transposed(&col, geom.col_rows(), so * so),
                View::transposed(&w, cout, geom.col_rows()),
                ViewMut::transposed(&mut y, cout, so * so),
                false,
                1,
            );
        });
        measure("im2col only", flop, &mut || {
            conv::im2col(&geom, &x, 1, &mut col)
        });
        measure("implicit C[p,o]", flop, &mut || {
            for ki in 0..k {
                let a = View {
                    data: &xh[ki * side * cin..],
                    rows,
                    cols: kk,
                    rs: cin,
                    cs: 1,
                };
                sgemm(
                    a,
                    View::rows(&wk[ki * kk * cout..(ki + 1) * kk * cout], kk, cout),
                    ViewMut::rows(&mut yh, rows, cout),
                    ki > 0,
                    1,
                );
            }
        });
        measure("implicit C[o,p]", flop, &mut || {
            for ki in 0..k {
                let b = View {
                    data: &xh[ki * side * cin..],
                    rows: kk,
                    cols: rows,
                    rs: 1,
                    cs: cin,
                };
                sgemm(
                    View::rows(&wkt[ki * cout * kk..(ki + 1) * cout * kk], cout, kk),
                    b,
                    ViewMut {
                        data: &mut yt,
                        rows: cout,
                        cols: rows,
                        rs: so * side,
                        cs: 1,
                    },
                    ki > 0,
                    1,
                );
            }
        });
        let dy = values(cout * so * so, 3);
        let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; cout], vec![0.0; x.len()]);
        measure("bwd im2col dW only", flop, &mut || {
            conv::backward(&geom, &w, &x, &dy, 1, &mut col, &mut dw, &mut db, None)
        });
        measure("bwd im2col dW+dX", flop, &mut || {
            conv::backward(
                &geom,
                &w,
                &x,
                &dy,
                1,
                &mut col,
                &mut dw,
                &mut db,
                Some(&mut dx),
            )
        });
        let mut g = vec![0.0f32; k * kk * cout];
        measure("bwd implicit dW", flop, &mut || {
            for ki in 0..k {
                let a = View {
                    data: &xh[ki * side * cin..],
                    rows: kk,
                    cols: rows,
                    rs: 1,
                    cs: cin,
                };
                sgemm(
                    a,
                    View::rows(&yh, rows, cout),
                    ViewMut::rows(&mut g[ki * kk * cout..(ki + 1) * kk * cout], kk, cout),
                    false,
                    1,
                );
            }
        });
        let p0 = (k - 1) * side + k - 1;
        let dpad = values((p0 + side * side) * cout, 4);
        let wf = values(k * k * cout * cin, 5);
        let mut dxh = vec![0.0f32; side * side * cin];
        measure("bwd implicit dX", flop, &mut || {
            for ki in 0..k {
                let a = View {
                    data: &dpad[ki * side * cout..],
                    rows: side * side,
                    cols: k * cout,
                    rs: cout,
                    cs: 1,
                };
                sgemm(
                    a,
                    View::rows(
                        &wf[ki * k * cout * cin..(ki + 1) * k * cout * cin],
                        k * cout,
                        cin,
                    ),
                    ViewMut::rows(&mut dxh, side * side, cin),
                    ki > 0,
                    1,
                );
            }
        });
    }
    // check
    for o in [0, 5, cout - 1] {
        for (oy, ox) in [(0, 0), (3, 2), (so - 1, so - 1)] {
            let a = y[o * so * so + oy * so + ox];
            let b = yh[(oy * side + ox) * cout + o];
            let c = yt[o * so * side + oy * side + ox];
            assert!((a - b).abs() < 1e-3 && (a - c).abs() < 1e-3, "{a} {b} {c}");
        }
    }
    eprintln!("ok");
}
