//! Point sets and neighbour lists: validation, duplicate rows, exact distances in a fixed
//! summation order (the same bits for every caller and instruction-set level), the column mean,
//! the GEMM wrapper, and the kNN result type.

use crate::error::{check_finite, Error, Result};
use crate::simd::{dispatched, Isa};
use rayon::prelude::*;

/// Extra candidates kept beyond k before the exact recomputation.
pub fn margin_for(k: usize) -> usize {
    (k / 2).max(8)
}

/// Result of a kNN search: row-major `(n, k)` distances (ascending) and indices.
#[derive(Debug, Clone)]
pub struct Knn {
    pub n: usize,
    pub k: usize,
    pub distances: Vec<f64>,
    pub indices: Vec<usize>,
}

impl Knn {
    pub fn row_dist(&self, i: usize) -> &[f64] {
        &self.distances[i * self.k..(i + 1) * self.k]
    }
}

/// Validate a row-major `(n, dim)` point set.
pub fn check_points(x: &[f64], n: usize, dim: usize) -> Result<()> {
    if dim == 0 {
        return Err(Error::arg(
            "X",
            "has 0 columns; pass an (n_points, dim) array with dim >= 1",
        ));
    }
    if x.len() != n * dim {
        return Err(Error::arg(
            "X",
            format!(
                "buffer has {} values, expected n*dim = {}",
                x.len(),
                n * dim
            ),
        ));
    }
    check_finite("X", x)
}

/// Largest |value| below which no rescaling is needed ([`rescale_exponent`]): squared
/// distances of values up to 2^300 stay far inside float64's range.
const SAFE_MAX: f64 = 2.037035976334486e90; // 2^300
/// Smallest largest-|value| that needs no rescaling (2^-300).
const SAFE_MIN: f64 = 4.909093465297727e-91; // 2^-300

/// The power-of-two exponent `e` by which to divide the data so that its largest |value| lies
/// in [0.5, 1), when that value lies outside `[2^-300, 2^300]` (squared distances could
/// overflow or underflow float64); 0 otherwise, so ordinary data are used unchanged.
pub(crate) fn rescale_exponent(x: &[f64]) -> i32 {
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 || (SAFE_MIN..=SAFE_MAX).contains(&m) {
        return 0;
    }
    libm::frexp(m).1
}

/// `x * 2^-e`: exact for every value that stays a normal float (a power-of-two scaling).
pub(crate) fn rescaled(x: &[f64], e: i32) -> std::borrow::Cow<'_, [f64]> {
    if e == 0 {
        std::borrow::Cow::Borrowed(x)
    } else {
        std::borrow::Cow::Owned(x.iter().map(|&v| libm::scalbn(v, -e)).collect())
    }
}

/// Indices (ascending) of the first occurrence of every distinct row.
pub fn unique_rows(x: &[f64], n: usize, dim: usize) -> Vec<usize> {
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let mut order: Vec<usize> = (0..n).collect();
    // partial_cmp: -0.0 == 0.0 (same point); inputs are finite
    order.par_sort_unstable_by(|&a, &b| {
        row(a)
            .iter()
            .zip(row(b))
            .map(|(u, v)| u.partial_cmp(v).unwrap_or(std::cmp::Ordering::Equal))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut keep = Vec::with_capacity(n);
    for (p, &i) in order.iter().enumerate() {
        if p == 0 || row(order[p - 1]) != row(i) {
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// Exact Euclidean distance `sqrt(sum (a_t - b_t)^2)`, summed in a fixed order: 8 interleaved
/// partial sums (lane `l` takes the terms `t = l (mod 8)`), combined pairwise, then the tail.
/// The order depends only on the length, so every caller (brute force, k-d tree) gets the same
/// bits for the same pair; the interleaving breaks the serial add chain and vectorises.
#[inline(always)]
pub fn exact_dist(a: &[f64], b: &[f64]) -> f64 {
    exact_d2(a, b).sqrt()
}

/// Squared distance of [`exact_dist`] (same summation order).
#[inline(always)]
pub fn exact_d2(a: &[f64], b: &[f64]) -> f64 {
    let m = a.len().min(b.len());
    let (a, b) = (&a[..m], &b[..m]);
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (u, v) in ca.zip(cb) {
        for l in 0..8 {
            let t = u[l] - v[l];
            acc[l] += t * t;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (u, v) in ra.iter().zip(rb) {
        let t = u - v;
        s += t * t;
    }
    s
}

dispatched! {
    /// `out[c] = exact_d2(xi, x_j)` for the rows `j = js[c]` of `x` (row length `dim`).
    pub(crate) fn exact_d2_many<'a>(
        x: &'a [f64],
        dim: usize,
        xi: &'a [f64],
        js: &'a [usize],
        out: &'a mut [f64],
    ) -> () => exact_d2_many_in
}

#[inline(always)]
// `I` only selects the instantiation: the body is compiled with its instruction set
#[allow(clippy::extra_unused_type_parameters)]
fn exact_d2_many_in<I: Isa>(x: &[f64], dim: usize, xi: &[f64], js: &[usize], out: &mut [f64]) {
    for (o, &j) in out.iter_mut().zip(js) {
        *o = exact_d2(xi, &x[j * dim..(j + 1) * dim]);
    }
}

dispatched! {
    /// Appends to `out` every row `j` of `x` (row length `dim`) with `exact_d2(xi, x_j) <= bound`.
    pub(crate) fn rows_within<'a>(
        x: &'a [f64],
        dim: usize,
        xi: &'a [f64],
        bound: f64,
        out: &'a mut Vec<usize>,
    ) -> () => rows_within_in
}

#[inline(always)]
// `I` only selects the instantiation: the body is compiled with its instruction set
#[allow(clippy::extra_unused_type_parameters)]
fn rows_within_in<I: Isa>(x: &[f64], dim: usize, xi: &[f64], bound: f64, out: &mut Vec<usize>) {
    for (j, xj) in x.chunks_exact(dim).enumerate() {
        if exact_d2(xi, xj) <= bound {
            out.push(j);
        }
    }
}

dispatched! {
    /// Mean of the rows of `x` (`n x dim`, row-major), summed in row order (deterministic).
    pub(crate) fn column_mean<'a>(x: &'a [f64], n: usize, dim: usize) -> Vec<f64> => column_mean_in
}

#[inline(always)]
// `I` only selects the instantiation: the body is compiled with its instruction set
#[allow(clippy::extra_unused_type_parameters)]
fn column_mean_in<I: Isa>(x: &[f64], n: usize, dim: usize) -> Vec<f64> {
    let mut mean = vec![0.0; dim];
    for row in x.chunks_exact(dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in mean.iter_mut() {
        *m /= n as f64;
    }
    mean
}

/// `out = a b` (row-major `m x n`, row stride n) for `a` (`m x k`, strides `a_rs`, `a_cs`)
/// and `b` (`k x n`, strides `b_rs`, `b_cs`), by the `gemm` crate's kernel on the calling
/// thread (so the bits do not depend on the thread count).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_into(
    out: &mut [f64],
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    a_rs: usize,
    a_cs: usize,
    b: &[f64],
    b_rs: usize,
    b_cs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    assert!(
        out.len() >= m * n
            && (m - 1) * a_rs + (k - 1) * a_cs < a.len()
            && (k - 1) * b_rs + (n - 1) * b_cs < b.len()
    );
    // SAFETY: the assertion above keeps every strided access inside `a`, `b` and `out`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
