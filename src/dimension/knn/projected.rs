//! Exact kNN for points near a low-dimensional linear subspace of a high ambient dimension
//! (model embeddings are typically like this), by pruning with a projection lower bound.
//!
//! For an orthonormal `U` (`dim x m`) and centred points `x`, `y`,
//!
//! ```text
//! |x - y|^2 = |U'(x - y)|^2 + |r_x - r_y|^2 >= |U'(x - y)|^2 + (|r_x| - |r_y|)^2 =: LB(x, y)
//! ```
//!
//! with `r = (I - U U') x` the residual off the subspace. `LB` is the squared Euclidean distance
//! between the augmented points `a = [U'x, |r|]` in `m + 1` dimensions, so:
//!
//! 1. `U`: the top principal directions of a fixed subsample, by subspace iteration with a
//!    deterministic start (Halko, Martinsson & Tropp 2011) and a small Jacobi eigensolver; `m`
//!    is the fewest directions that leave under [`RESIDUAL_FRACTION`] of the variance.
//!    Any orthonormal `U` gives a valid bound: a poor `U` costs time, never correctness.
//! 2. The `k' > k` nearest neighbours of every augmented point, by the ordinary exact search in
//!    `m + 1` dimensions (cheap).
//! 3. Exact distances in the ambient space ([`exact_d2`]) to those `k'` candidates; `tau` is the
//!    k-th smallest. If the `k'`-th bound exceeds `tau` (with a rounding allowance), no other
//!    point can be among the k nearest, and the row is exact as it stands.
//! 4. Rows that fail 3 scan all points' bounds against `tau` and compute exact distances for
//!    every point whose bound does not exceed it (a superset of the true k nearest).
//!
//! Results are the k smallest by (exact distance, index), the order of the brute-force search
//! (which gives the same answer except when more than its margin of points tie to within the
//! rounding of its GEMM form; this search has no such limit), and do not depend on the thread
//! count. When the subsample shows no low-dimensional structure,
//! or too many rows fail step 3, [`knn_projected`] declines and the caller runs brute force.

use super::brute::knn_brute;
use super::kdtree::{knn_kdtree, KDTREE_MAX_DIM};
use crate::dimension::points::{
    column_mean, exact_d2_many, gemm_into, margin_for, rows_within, Knn,
};
use crate::rng::mix64;
use crate::simd::{dispatched, Isa};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Smallest ambient dimension at which `Algorithm::Auto` tries the projection (measured on
/// a 10-dimensional cloud at n = 10^4: at 64 dimensions it beats brute force by 8% for
/// k = 20, at 96 by 23%, at 768 by 3.7x; at 32 it loses. Below ~100 dimensions a decline
/// after the candidate search would cost more than the gain, hence 96).
pub const MIN_DIM: usize = 96;
/// Smallest number of points at which `Algorithm::Auto` tries the projection.
pub const MIN_POINTS: usize = 2000;
/// Largest subspace dimension used (the augmented search runs in `m + 1` dimensions).
const MAX_RANK: usize = 24;
/// The subspace must leave at most this fraction of the subsample's variance.
const RESIDUAL_FRACTION: f64 = 1e-3;
/// Rows of the subsample used to find the subspace.
const SAMPLE: usize = 2048;
/// Extra directions carried in the subspace iteration, and its number of passes.
const OVERSAMPLE: usize = 8;
const POWER_ITERS: usize = 4;
/// Give up (brute force instead) when more than 1/GIVE_UP of the rows fail the cheap test.
const GIVE_UP: usize = 4;
/// Rows per block when projecting all points.
const ROWS: usize = 1024;

/// Row-major `m x n` product of `a` (`m x k`, strides `a_rs`, `a_cs`) and `b` (`k x n`).
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    a_rs: usize,
    a_cs: usize,
    b: &[f64],
    b_rs: usize,
    b_cs: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    gemm_into(&mut out, m, n, k, a, a_rs, a_cs, b, b_rs, b_cs);
    out
}

/// Orthonormalise the columns of `v` (`rows x cols`, row-major) in place by modified
/// Gram-Schmidt, twice ("twice is enough"); a column that vanishes is replaced by a fixed
/// pseudo-random vector and orthonormalised again.
fn orthonormalise(v: &mut [f64], rows: usize, cols: usize) {
    for c in 0..cols {
        let mut attempt = 0u64;
        loop {
            let before = (0..rows)
                .map(|r| v[r * cols + c].powi(2))
                .sum::<f64>()
                .sqrt();
            for _ in 0..2 {
                for q in 0..c {
                    let d: f64 = (0..rows).map(|r| v[r * cols + q] * v[r * cols + c]).sum();
                    for r in 0..rows {
                        v[r * cols + c] -= d * v[r * cols + q];
                    }
                }
            }
            let norm = (0..rows)
                .map(|r| v[r * cols + c].powi(2))
                .sum::<f64>()
                .sqrt();
            if norm > 1e-10 * before && norm > 1e-300 {
                for r in 0..rows {
                    v[r * cols + c] /= norm;
                }
                break;
            }
            attempt += 1;
            for r in 0..rows {
                v[r * cols + c] = uniform(0x0a7e_0000 + attempt, (r * cols + c) as u64);
            }
        }
    }
}

/// A fixed pseudo-random number in [-1, 1).
fn uniform(stream: u64, i: u64) -> f64 {
    let z = mix64(mix64(stream).wrapping_add(i));
    (z >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0
}

/// Eigen-decomposition of the symmetric `l x l` matrix `s` (row-major) by cyclic Jacobi:
/// (eigenvalues, eigenvectors as the columns of a row-major `l x l` matrix).
fn jacobi_eigen(mut s: Vec<f64>, l: usize) -> (Vec<f64>, Vec<f64>) {
    let mut e = vec![0.0; l * l];
    for i in 0..l {
        e[i * l + i] = 1.0;
    }
    for _sweep in 0..60 {
        let off: f64 = (0..l)
            .flat_map(|i| (0..l).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| s[i * l + j].powi(2))
            .sum();
        let diag: f64 = (0..l).map(|i| s[i * l + i].powi(2)).sum();
        if off <= 1e-30 * diag || off == 0.0 {
            break;
        }
        for p in 0..l {
            for q in p + 1..l {
                let apq = s[p * l + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (s[q * l + q] - s[p * l + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * c;
                for k in 0..l {
                    let (skp, skq) = (s[k * l + p], s[k * l + q]);
                    s[k * l + p] = c * skp - sn * skq;
                    s[k * l + q] = sn * skp + c * skq;
                }
                for k in 0..l {
                    let (spk, sqk) = (s[p * l + k], s[q * l + k]);
                    s[p * l + k] = c * spk - sn * sqk;
                    s[q * l + k] = sn * spk + c * sqk;
                }
                for k in 0..l {
                    let (ekp, ekq) = (e[k * l + p], e[k * l + q]);
                    e[k * l + p] = c * ekp - sn * ekq;
                    e[k * l + q] = sn * ekp + c * ekq;
                }
            }
        }
    }
    ((0..l).map(|i| s[i * l + i]).collect(), e)
}

/// The principal subspace of the centred subsample: `U` (`dim x m`, row-major), or None when
/// no `m <= MAX_RANK` with `m + 1 <= dim / 2` leaves under `RESIDUAL_FRACTION` of the variance.
fn principal_subspace(xs: &[f64], s: usize, dim: usize) -> Option<(Vec<f64>, usize)> {
    let l = (MAX_RANK + OVERSAMPLE).min(dim);
    let mut v: Vec<f64> = (0..dim * l)
        .map(|i| uniform(0x5eed_0001, i as u64))
        .collect();
    orthonormalise(&mut v, dim, l);
    for _ in 0..POWER_ITERS {
        let p = matmul(s, l, dim, xs, dim, 1, &v, l, 1); // s x l
        v = matmul(dim, l, s, xs, 1, dim, &p, l, 1); // X' P: dim x l
        orthonormalise(&mut v, dim, l);
    }
    let p = matmul(s, l, dim, xs, dim, 1, &v, l, 1);
    let mut cov = vec![0.0; l * l];
    for i in 0..s {
        let row = &p[i * l..(i + 1) * l];
        for a in 0..l {
            for b in 0..=a {
                cov[a * l + b] += row[a] * row[b];
            }
        }
    }
    for a in 0..l {
        for b in 0..a {
            cov[b * l + a] = cov[a * l + b];
        }
    }
    let (lambda, e) = jacobi_eigen(cov, l);
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|&a, &b| lambda[b].total_cmp(&lambda[a]).then(a.cmp(&b)));
    let total: f64 = xs.iter().map(|v| v * v).sum();
    if !total.is_finite() || total <= 0.0 {
        return None;
    }
    let mut captured = 0.0;
    let mut m = 0;
    while m < order.len() && m < MAX_RANK && m < dim / 2 {
        captured += lambda[order[m]].max(0.0);
        m += 1;
        if total - captured <= RESIDUAL_FRACTION * total {
            // U = V E, the m leading eigenvector columns
            let mut u = vec![0.0; dim * m];
            for d in 0..dim {
                for (c, &o) in order[..m].iter().enumerate() {
                    u[d * m + c] = (0..l).map(|t| v[d * l + t] * e[t * l + o]).sum();
                }
            }
            orthonormalise(&mut u, dim, m);
            return Some((u, m));
        }
    }
    None
}

/// Exact k nearest neighbours via the projection bound (see the module docs). `Some(None)`:
/// declined (no low-dimensional structure, or too many rows would need the slow path); the
/// caller then runs brute force. `None`: aborted.
pub fn knn_projected(
    x: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    abort: Option<&AtomicBool>,
) -> Option<Option<Knn>> {
    // a few candidates beyond k: the bound is tight when the projection applies (on the
    // benchmark data no row needs the slow path), and each extra candidate costs an exact
    // distance in the ambient dimension
    let kp = (k + margin_for(k)).min(n - 1);
    if kp <= k || n < 4 * kp {
        return Some(None);
    }
    // a row on the slow path scans n bounds in m + 1 <= 25 dimensions, which costs about
    // 17 (m + 1) / dim brute-force rows (a rough estimate from the rates of the two loops);
    // cap that work at about a quarter of a brute-force search
    let max_failed = (n / GIVE_UP).min(n * dim / (17 * GIVE_UP * (MAX_RANK + 1)));
    Some(run(x, n, dim, k, kp, max_failed, abort)?.map(|(r, _)| r))
}

dispatched! {
    /// The augmented points `[U' xc_i, |r_i|]` of rows `r0..` of `x` into `out` (`w = m + 1`
    /// values per row), with `xc = x - mean` and `r` its residual off the subspace `U`; returns
    /// the largest squared norm `|xc_i|^2` of these rows.
    fn augment_rows<'a>(
        x: &'a [f64],
        dim: usize,
        mean: &'a [f64],
        u: &'a [f64],
        m: usize,
        r0: usize,
        out: &'a mut [f64],
    ) -> f64 => augment_rows_in
}

#[inline(always)]
// `I` only selects the instantiation: the body is compiled with its instruction set
#[allow(clippy::extra_unused_type_parameters)]
fn augment_rows_in<I: Isa>(
    x: &[f64],
    dim: usize,
    mean: &[f64],
    u: &[f64],
    m: usize,
    r0: usize,
    out: &mut [f64],
) -> f64 {
    let w = m + 1;
    let rows = out.len() / w;
    let mut xc = vec![0.0; rows * dim];
    for i in 0..rows {
        for d in 0..dim {
            xc[i * dim + d] = x[(r0 + i) * dim + d] - mean[d];
        }
    }
    let z = matmul(rows, m, dim, &xc, dim, 1, u, m, 1);
    // the residual off the subspace, xc - U z, formed explicitly (the difference of
    // squared norms would lose accuracy when the residual is small)
    let back = matmul(rows, dim, m, &z, m, 1, u, 1, m);
    let mut mx: f64 = 0.0;
    for i in 0..rows {
        let row = &xc[i * dim..(i + 1) * dim];
        let n2: f64 = row.iter().map(|v| v * v).sum();
        let r2: f64 = row
            .iter()
            .zip(&back[i * dim..(i + 1) * dim])
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        out[i * w..i * w + m].copy_from_slice(&z[i * m..(i + 1) * m]);
        out[i * w + m] = r2.sqrt();
        mx = mx.max(n2);
    }
    mx
}

/// [`knn_projected`] with `kp` candidates per row and at most `max_failed` rows on the slow
/// path; also returns how many rows took it.
fn run(
    x: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    kp: usize,
    max_failed: usize,
    abort: Option<&AtomicBool>,
) -> Option<Option<(Knn, usize)>> {
    let aborted = || abort.is_some_and(|a| a.load(Ordering::Relaxed));
    // mean (fixed summation order) and the centred subsample
    let mean = column_mean(x, n, dim);
    let s = SAMPLE.min(n);
    let mut xs = vec![0.0; s * dim];
    for i in 0..s {
        let r = i * n / s;
        for d in 0..dim {
            xs[i * dim + d] = x[r * dim + d] - mean[d];
        }
    }
    let (u, m) = match principal_subspace(&xs, s, dim) {
        Some(um) => um,
        None => return Some(None),
    };
    drop(xs);
    if aborted() {
        return None;
    }
    // augmented points a_i = [U' xc_i, |r_i|] and the largest squared norm (rounding allowance)
    let w = m + 1;
    let mut aug = vec![0.0; n * w];
    let maxnorm2 = aug
        .par_chunks_mut(ROWS * w)
        .enumerate()
        .map(|(b, out)| augment_rows(x, dim, &mean, &u, m, b * ROWS, out))
        .reduce(|| 0.0, f64::max);
    if aborted() {
        return None;
    }
    // rounding allowance on a bound: errors of order eps * dim * |x|^2 in the projection, and
    // of order sqrt(eps * dim) * |x| in the residual norm; generous, as it only costs time
    let tol = 1e-6 * maxnorm2;
    // the exact search in m + 1 dimensions, as `Algorithm::Auto` chooses there (the k-d tree
    // at low dimension, else brute force; never the projection again)
    let cand = if w <= KDTREE_MAX_DIM {
        knn_kdtree(&aug, n, w, kp, abort)
    } else {
        knn_brute(&aug, n, w, kp, abort)
    }?;
    // exact distances to the candidates; rows that the bound cannot settle are listed
    // the k best candidates of row i by (exact distance, index), the order of the brute-force
    // search (two squared distances an ulp apart can share a square root, so sorting by the
    // squares could break such ties differently), as (squared distance, index)
    let exact_row = |i: usize, extra: &[usize]| -> Vec<(f64, usize)> {
        let xi = &x[i * dim..(i + 1) * dim];
        let js: Vec<usize> = cand.indices[i * kp..(i + 1) * kp]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let mut d2 = vec![0.0; js.len()];
        exact_d2_many(x, dim, xi, &js, &mut d2);
        let mut c: Vec<(f64, f64, usize)> = d2
            .iter()
            .zip(&js)
            .map(|(&d2, &j)| (d2.sqrt(), d2, j))
            .collect();
        c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
        c.dedup_by_key(|e| e.2);
        c.truncate(k);
        c.into_iter().map(|(_, d2, j)| (d2, j)).collect()
    };
    // tau^2: the largest squared distance among the k best
    let tau2_of = |c: &[(f64, usize)]| c.iter().map(|e| e.0).fold(0.0, f64::max);
    let rows: Vec<(Vec<(f64, usize)>, bool)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let c = exact_row(i, &[]);
            let lb = cand.distances[i * kp + kp - 1];
            // any other point has a squared distance of at least lb^2; the allowance keeps its
            // distance strictly above tau even after rounding, so it cannot tie either
            let settled = lb * lb > tau2_of(&c) + tol;
            (c, settled)
        })
        .collect();
    let failed: Vec<usize> = (0..n).filter(|&i| !rows[i].1).collect();
    if failed.len() > max_failed {
        return Some(None);
    }
    if aborted() {
        return None;
    }
    // the slow path: every point whose bound does not exceed tau (a superset of the true k
    // nearest, ties included); first the scan of the bounds, then, unless that leaves too many
    // exact distances to compute (dense clusters of near-duplicates), the exact distances
    let extras: Vec<Vec<usize>> = failed
        .par_iter()
        .map(|&i| {
            if aborted() {
                return Vec::new();
            }
            let tau2 = tau2_of(&rows[i].0);
            let ai = &aug[i * w..(i + 1) * w];
            let mut within = Vec::new();
            rows_within(&aug, w, ai, tau2 + tol, &mut within);
            within.retain(|&j| j != i);
            within
        })
        .collect();
    if aborted() {
        return None;
    }
    // exact distances cost dim each; cap them (at about a quarter of brute force's n^2 / 2
    // with the default max_failed = n / 4)
    let n_extra: usize = extras.iter().map(|e| e.len()).sum();
    if n_extra > max_failed * (n / 8) {
        return Some(None);
    }
    let fixed: Vec<Vec<(f64, usize)>> = failed
        .par_iter()
        .zip(&extras)
        .map(|(&i, extra)| exact_row(i, extra))
        .collect();
    let mut distances = vec![0.0; n * k];
    let mut indices = vec![0usize; n * k];
    let mut fi = 0;
    for (i, (c, ok)) in rows.iter().enumerate() {
        let c = if *ok {
            c
        } else {
            fi += 1;
            &fixed[fi - 1]
        };
        for (t, &(d2, j)) in c.iter().enumerate() {
            distances[i * k + t] = d2.sqrt();
            indices[i * k + t] = j;
        }
    }
    Some(Some((
        Knn {
            n,
            k,
            distances,
            indices,
        },
        failed.len(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dimension::knn::brute::knn_brute;
    use crate::dimension::points::margin_for;

    /// `n` points: a `rank`-dimensional Gaussian rotated into `dim` dimensions, plus isotropic
    /// noise of size `noise` and an offset of `offset` in every coordinate.
    fn near_subspace(
        n: usize,
        dim: usize,
        rank: usize,
        noise: f64,
        offset: f64,
        seed: u64,
    ) -> Vec<f64> {
        let g = |s: u64, i: u64| {
            // approximately standard normal: sum of 4 uniforms, rescaled
            (0..4).map(|t| uniform(s, 4 * i + t)).sum::<f64>() * (3.0f64 / 4.0).sqrt()
        };
        let mut basis: Vec<f64> = (0..dim * rank).map(|i| g(seed, i as u64)).collect();
        orthonormalise(&mut basis, dim, rank);
        let mut x = vec![offset; n * dim];
        for i in 0..n {
            let c: Vec<f64> = (0..rank)
                .map(|r| g(seed + 1, (i * rank + r) as u64))
                .collect();
            for d in 0..dim {
                x[i * dim + d] += (0..rank).map(|r| basis[d * rank + r] * c[r]).sum::<f64>()
                    + noise * g(seed + 2, (i * dim + d) as u64);
            }
        }
        x
    }

    fn assert_same(a: &Knn, b: &Knn) {
        assert_eq!(a.indices, b.indices);
        assert_eq!(a.distances, b.distances);
    }

    #[test]
    fn matches_brute_force_near_a_subspace() {
        let (n, dim) = (2500, 64);
        let x = near_subspace(n, dim, 6, 1e-3, 0.0, 1);
        for k in [1, 2, 5, 20] {
            let (p, failed) = run(&x, n, dim, k, 2 * k + 8, n, None)
                .unwrap()
                .expect("the projection applies");
            assert_same(&p, &knn_brute(&x, n, dim, k, None).unwrap());
            assert!(failed < n / 10, "{failed} rows on the slow path");
        }
    }

    #[test]
    fn slow_path_is_exact_too() {
        // a 2-dimensional cloud with noise comparable to the neighbour spacing and one
        // candidate beyond k: the bound settles few rows, and the rest take the scan
        let (n, dim, k) = (2000, 48, 5);
        let x = near_subspace(n, dim, 2, 4e-3, 0.0, 2);
        let (p, failed) = run(&x, n, dim, k, k + 1, n, None)
            .unwrap()
            .expect("the projection applies");
        assert!(failed > 50, "only {failed} rows took the slow path");
        assert_same(&p, &knn_brute(&x, n, dim, k, None).unwrap());
    }

    #[test]
    fn exact_subspace_offset_and_duplicates() {
        // no noise (zero residuals), a large offset, and duplicate rows (distance-0 ties)
        let (n, dim, k) = (2400, 40, 4);
        let mut x = near_subspace(n, dim, 3, 0.0, 1e3, 3);
        for i in (0..200).step_by(2) {
            let (a, b) = x.split_at_mut((i + 1) * dim);
            b[..dim].copy_from_slice(&a[i * dim..]);
        }
        let p = knn_projected(&x, n, dim, k, None)
            .unwrap()
            .expect("the projection applies");
        assert_same(&p, &knn_brute(&x, n, dim, k, None).unwrap());
    }

    /// The k nearest by (exact distance, index) from a full sort of every row.
    fn naive(x: &[f64], n: usize, dim: usize, k: usize) -> Knn {
        let (mut distances, mut indices) = (Vec::new(), Vec::new());
        for i in 0..n {
            let mut c: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    (
                        crate::dimension::points::exact_dist(
                            &x[i * dim..(i + 1) * dim],
                            &x[j * dim..(j + 1) * dim],
                        ),
                        j,
                    )
                })
                .collect();
            c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            distances.extend(c[..k].iter().map(|e| e.0));
            indices.extend(c[..k].iter().map(|e| e.1));
        }
        Knn {
            n,
            k,
            distances,
            indices,
        }
    }

    #[test]
    fn massive_ties_on_a_lattice() {
        // a 13^3 lattice, each coordinate copied into 32 columns: every point has many
        // neighbours at exactly (or within an ulp of) the same distance, so the order among
        // them is decided by index, through the square root as in the brute-force search
        let (side, copies) = (13usize, 32usize);
        let (n, dim) = (side * side * side, 3 * copies);
        let mut x = vec![0.0; n * dim];
        for i in 0..n {
            let c = [i % side, (i / side) % side, i / (side * side)];
            for (a, &ca) in c.iter().enumerate() {
                for t in 0..copies {
                    x[i * dim + a * copies + t] = 0.3 * ca as f64;
                }
            }
        }
        for k in [5, 6, 7] {
            // ties at the k-th distance send most rows to the slow path, past the default
            // budget, so allow all rows there
            let (p, _) = run(&x, n, dim, k, k + margin_for(k), n, None)
                .unwrap()
                .expect("the projection applies");
            assert_same(&p, &naive(&x, n, dim, k));
        }
    }

    #[test]
    fn declines_without_low_dimensional_structure() {
        let (n, dim) = (2500, 40);
        let x = near_subspace(n, dim, 40, 0.0, 0.0, 4);
        assert!(knn_projected(&x, n, dim, 3, None).unwrap().is_none());
    }

    #[test]
    fn abort_stops_it() {
        let (n, dim) = (2500, 64);
        let x = near_subspace(n, dim, 6, 1e-3, 0.0, 6);
        let stop = AtomicBool::new(true);
        assert!(knn_projected(&x, n, dim, 3, Some(&stop)).is_none());
    }

    #[test]
    fn thread_count_invariant() {
        let (n, dim, k) = (2500, 64, 3);
        let x = near_subspace(n, dim, 5, 1e-3, 0.0, 5);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one
            .install(|| knn_projected(&x, n, dim, k, None))
            .unwrap()
            .unwrap();
        let b = knn_projected(&x, n, dim, k, None).unwrap().unwrap();
        assert_same(&a, &b);
    }

    #[test]
    fn eigen_and_orthonormalisation() {
        let l = 6;
        let s: Vec<f64> = (0..l * l)
            .map(|i| {
                let (a, b) = (i / l, i % l);
                1.0 / (1.0 + a as f64 + b as f64) + if a == b { a as f64 } else { 0.0 }
            })
            .collect();
        let (lam, e) = jacobi_eigen(s.clone(), l);
        for c in 0..l {
            for r in 0..l {
                let se: f64 = (0..l).map(|t| s[r * l + t] * e[t * l + c]).sum();
                assert!((se - lam[c] * e[r * l + c]).abs() < 1e-12);
            }
        }
        let mut v: Vec<f64> = (0..30 * 4).map(|i| uniform(9, i)).collect();
        for r in 0..30 {
            v[r * 4 + 2] = v[r * 4]; // a dependent column is replaced
        }
        orthonormalise(&mut v, 30, 4);
        for a in 0..4 {
            for b in 0..4 {
                let d: f64 = (0..30).map(|r| v[r * 4 + a] * v[r * 4 + b]).sum();
                assert!((d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-13);
            }
        }
    }
}
