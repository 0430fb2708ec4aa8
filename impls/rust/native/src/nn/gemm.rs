//! The one matrix multiplication of the network: `C = A B` or `C += A B` in float32.
//!
//! Every layer lowers its heavy work onto [`sgemm`]. Matrices are strided views over slices
//! ([`View`], [`ViewMut`]), so transposes cost nothing. The backend is the `gemm` crate with its
//! AVX-512 (`x86-v4`) kernels, chosen by measurement on this model's shapes (see
//! `benches/nn_gemm.rs` and the crate's README). `threads` > 1 lets the crate split one product
//! over the current rayon pool; the layers pass 1 when they already run one product per thread.
//! The FFT layers' per-frequency products are its complex counterpart on the same crate,
//! [`cgemm`] (complex float32, single-threaded, with the conjugation of one operand).

use num_complex::Complex32 as C32;

/// A read-only strided matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// A writable strided matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Debug)]
pub struct ViewMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `rows x cols` matrix (so a `cols x rows` view).
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows: cols,
            cols: rows,
            rs: 1,
            cs: cols,
        }
    }

    fn check(&self, what: &str) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "gemm: {what} view out of bounds");
        }
    }
}

impl<'a> ViewMut<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        ViewMut {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `rows x cols` matrix (so a `cols x rows` view).
    pub fn transposed(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        ViewMut {
            data,
            rows: cols,
            cols: rows,
            rs: 1,
            cs: cols,
        }
    }
}

/// `c = a b` (`accumulate == false`) or `c += a b`, split over `threads` threads of the
/// current rayon pool.
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice (a caller bug).
pub fn sgemm(a: View<'_>, b: View<'_>, c: ViewMut<'_>, accumulate: bool, threads: usize) {
    assert!(
        a.rows == c.rows && b.cols == c.cols && a.cols == b.rows,
        "gemm: shapes {}x{} * {}x{} -> {}x{}",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    a.check("lhs");
    b.check("rhs");
    if c.rows > 0 && c.cols > 0 {
        let last = (c.rows - 1) * c.rs + (c.cols - 1) * c.cs;
        assert!(last < c.data.len(), "gemm: dst view out of bounds");
    } else {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            for i in 0..c.rows {
                for j in 0..c.cols {
                    c.data[i * c.rs + j * c.cs] = 0.0;
                }
            }
        }
        return;
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index of the three views inside its slice, and
    // `c` is borrowed mutably, so it aliases neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            c.rows,
            c.cols,
            a.cols,
            c.data.as_mut_ptr(),
            c.cs as isize,
            c.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Complex `c (+)= op(a) op(b)` over raw strides (row, column), one thread, `conj_b`
/// conjugating `b`: the per-frequency products of the FFT layers (conv_fft.rs).
#[allow(clippy::too_many_arguments)]
pub fn cgemm(
    (m, n, k): (usize, usize, usize),
    c: &mut [C32],
    (c_rs, c_cs): (usize, usize),
    accumulate: bool,
    a: &[C32],
    (a_rs, a_cs): (usize, usize),
    b: &[C32],
    (b_rs, b_cs): (usize, usize),
    conj_b: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * c_rs + (n - 1) * c_cs < c.len(),
        "cgemm: dst out of bounds"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    c[i * c_rs + j * c_cs] = C32::default();
                }
            }
        }
        return;
    }
    assert!(
        (m - 1) * a_rs + (k - 1) * a_cs < a.len(),
        "cgemm: lhs out of bounds"
    );
    assert!(
        (k - 1) * b_rs + (n - 1) * b_cs < b.len(),
        "cgemm: rhs out of bounds"
    );
    let one = C32::new(1.0, 0.0);
    // SAFETY: the asserts keep every index of the three matrices inside its slice, and `c`
    // is borrowed mutably, so it aliases neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs as isize,
            c_rs as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            one,
            one,
            false,
            false,
            conj_b,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View<'_>, b: View<'_>) -> Vec<f64> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for p in 0..a.cols {
                    out[i * b.cols + j] +=
                        a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
            }
        }
        out
    }

    fn values(n: usize, salt: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 + salt * 11) % 23) as f32 / 7.0 - 1.5)
            .collect()
    }

    #[test]
    fn matches_naive_product_on_odd_shapes_and_transposes() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (65, 3, 31), (2, 129, 5)] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let av = if ta {
                    View::transposed(&a, k, m)
                } else {
                    View::rows(&a, m, k)
                };
                let bv = if tb {
                    View::transposed(&b, n, k)
                } else {
                    View::rows(&b, k, n)
                };
                let expected = naive(av, bv);
                let mut c = vec![1.0f32; m * n];
                sgemm(av, bv, ViewMut::rows(&mut c, m, n), true, 1);
                for (got, want) in c.iter().zip(&expected) {
                    assert!((*got as f64 - (want + 1.0)).abs() < 1e-4, "{got} {want}");
                }
                let mut ct = vec![0.0f32; m * n];
                sgemm(av, bv, ViewMut::transposed(&mut ct, n, m), false, 2);
                for i in 0..m {
                    for j in 0..n {
                        let want = expected[i * n + j];
                        assert!((ct[j * m + i] as f64 - want).abs() < 1e-4);
                    }
                }
            }
        }
    }
}
