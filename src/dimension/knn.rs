//! Exact k-nearest neighbours of every row of a point set (self excluded), by blocked
//! brute force.
//!
//! Squared distances are formed as `|x|^2 + |y|^2 - 2 x.y` on mean-centred data, with the
//! inner products of each tile of `B x B` point pairs computed by the `gemm` crate's DGEMM
//! kernel (single-threaded per tile; AVX-512 or AVX2+FMA chosen at run time). Only tiles `(I, J)` with `I <= J` are computed
//! (the distance matrix is symmetric), so the work is about half of `X @ X.T`; each pair's
//! approximate distance is computed once and offered to both points. Tiles are processed in
//! parallel with rayon; every block of points owns its candidate heaps behind a mutex, and a
//! tile locks its two blocks in index order (no deadlock). Memory is `O(n k + threads B^2)`,
//! never `n x n`.
//!
//! Every point keeps `K = k + margin` candidates under the total order (approximate squared
//! distance, index). The final k neighbours are chosen after recomputing the exact distances
//! `sqrt(sum (x_i - x_j)^2)` of those K candidates from the original (uncentred) data and
//! sorting by (exact distance, index), so cancellation in the GEMM form cannot reorder near
//! ties among the true k nearest unless it moves a point by more than `margin` ranks.
//!
//! Determinism: each pair's approximate value comes from one fixed tile (the GEMM blocking
//! depends only on the tile shapes, never on the thread count) and the candidate set is the
//! K smallest of a fixed multiset under a strict total order, which does not depend on the
//! order in which tiles are merged. Results are bit-identical for any number of threads.

use crate::error::{check_finite, Error, Result};
use rayon::prelude::*;
use std::sync::Mutex;

/// Points per tile side.
const BLOCK: usize = 512;

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

/// Fixed-size max-heaps (by (d, idx)) for the rows of one block.
struct Heaps {
    kc: usize,
    d: Vec<f64>,
    idx: Vec<usize>,
}

#[inline]
fn less(d1: f64, i1: usize, d2: f64, i2: usize) -> bool {
    d1 < d2 || (d1 == d2 && i1 < i2)
}

impl Heaps {
    fn new(rows: usize, kc: usize) -> Heaps {
        Heaps {
            kc,
            d: vec![f64::INFINITY; rows * kc],
            idx: vec![usize::MAX; rows * kc],
        }
    }
    /// Current worst (root) distance of row r.
    #[inline]
    fn worst(&self, r: usize) -> f64 {
        self.d[r * self.kc]
    }
    /// Offer (dist, j) to row r; returns the new worst distance.
    #[inline]
    fn push(&mut self, r: usize, dist: f64, j: usize) -> f64 {
        let kc = self.kc;
        let d = &mut self.d[r * kc..(r + 1) * kc];
        let id = &mut self.idx[r * kc..(r + 1) * kc];
        if !less(dist, j, d[0], id[0]) {
            return d[0];
        }
        // replace the root and sift down
        let mut pos = 0;
        loop {
            let l = 2 * pos + 1;
            if l >= kc {
                break;
            }
            let r2 = l + 1;
            let mut c = l;
            if r2 < kc && less(d[l], id[l], d[r2], id[r2]) {
                c = r2;
            }
            if less(d[c], id[c], dist, j) {
                break;
            }
            d[pos] = d[c];
            id[pos] = id[c];
            pos = c;
        }
        d[pos] = dist;
        id[pos] = j;
        d[0]
    }
}

/// Validate a row-major `(n, dim)` point set.
pub fn check_points(x: &[f64], n: usize, dim: usize) -> Result<()> {
    if dim == 0 {
        return Err(Error::arg("X", "has 0 columns; pass an (n_points, dim) array with dim >= 1"));
    }
    if x.len() != n * dim {
        return Err(Error::arg("X", format!("buffer has {} values, expected n*dim = {}", x.len(), n * dim)));
    }
    check_finite("X", x)
}

/// Exact k nearest neighbours (excluding the point itself) of every row of `x` (`n x dim`,
/// row-major). Requires `1 <= k <= n - 1`.
pub fn knn(x: &[f64], n: usize, dim: usize, k: usize) -> Result<Knn> {
    check_points(x, n, dim)?;
    if k < 1 {
        return Err(Error::arg("k", "must be at least 1"));
    }
    if n < k + 1 {
        return Err(Error::arg(
            "k",
            format!("k = {k} neighbours need at least k + 1 = {} points, but X has {n}; lower k or pass more points", k + 1),
        ));
    }
    Ok(knn_unchecked(x, n, dim, k))
}

/// [`knn`] without input validation (inputs must be finite, `1 <= k < n`).
pub fn knn_unchecked(x: &[f64], n: usize, dim: usize, k: usize) -> Knn {
    knn_blocked(x, n, dim, k, BLOCK)
}

pub(crate) fn knn_blocked(x: &[f64], n: usize, dim: usize, k: usize, block: usize) -> Knn {
    let bs = block;
    let kc = (k + margin_for(k)).min(n - 1);
    // centre the data: distances are translation invariant and |x|^2 shrinks, which reduces
    // the cancellation error of the GEMM form
    let mut mean = vec![0.0; dim];
    for row in x.chunks_exact(dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in mean.iter_mut() {
        *m /= n as f64;
    }
    let xc: Vec<f64> = x
        .par_chunks_exact(dim)
        .flat_map_iter(|row| row.iter().zip(&mean).map(|(v, m)| v - m).collect::<Vec<_>>())
        .collect();
    let sq: Vec<f64> = xc.par_chunks_exact(dim).map(|r| r.iter().map(|v| v * v).sum()).collect();
    // Approximate squared distances are snapped to a grid of 1e-12 of the largest squared norm
    // (far above their rounding noise): exact ties, duplicates above all, then compare equal
    // and are ordered by index, as in the exact order, instead of by rounding noise.
    let q = 1e-12 * sq.iter().fold(0.0f64, |a, &b| a.max(b)) * 2.0;
    let (q, inv_q) = if q > 0.0 { (q, 1.0 / q) } else { (1.0, 1.0) };
    let snap = |d: f64| ((d * inv_q).round_ties_even() * q).max(0.0);

    let nb = n.div_ceil(bs);
    let rows_of = |b: usize| (b * bs, ((b + 1) * bs).min(n));
    let heaps: Vec<Mutex<Heaps>> = (0..nb)
        .map(|b| {
            let (s, e) = rows_of(b);
            Mutex::new(Heaps::new(e - s, kc))
        })
        .collect();
    // tiles in an order that keeps the two halves of the list on mostly disjoint blocks
    let tiles: Vec<(usize, usize)> = (0..nb).flat_map(|i| (i..nb).map(move |j| (i, j))).collect();
    tiles.par_iter().for_each_init(
        || vec![0.0f64; bs * bs],
        |g, &(bi, bj)| {
            let (si, ei) = rows_of(bi);
            let (sj, ej) = rows_of(bj);
            let (mi, mj) = (ei - si, ej - sj);
            // G = X_I X_J^T (mi x mj, row-major)
            // SAFETY: the pointers cover mi x dim, mj x dim and mi x mj elements with the
            // given strides, all inside their slices.
            unsafe {
                gemm::gemm(
                    mi,
                    mj,
                    dim,
                    g.as_mut_ptr(),
                    1,
                    mj as isize,
                    false,
                    xc[si * dim..].as_ptr(),
                    1,
                    dim as isize,
                    xc[sj * dim..].as_ptr(),
                    dim as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            let sqj = &sq[sj..ej];
            if bi == bj {
                let mut h = heaps[bi].lock().unwrap_or_else(|e| e.into_inner());
                let mut thr: Vec<f64> = (0..mj).map(|b| h.worst(b)).collect();
                for a in 0..mi {
                    let sqa = sq[si + a];
                    let row = &g[a * mj..(a + 1) * mj];
                    let mut ta = thr[a];
                    for b in a + 1..mj {
                        let d = snap(sqa + sqj[b] - 2.0 * row[b]);
                        if d <= ta {
                            ta = h.push(a, d, sj + b);
                        }
                        if d <= thr[b] {
                            thr[b] = h.push(b, d, si + a);
                        }
                    }
                    thr[a] = ta;
                }
            } else {
                let mut hi = heaps[bi].lock().unwrap_or_else(|e| e.into_inner());
                let mut hj = heaps[bj].lock().unwrap_or_else(|e| e.into_inner());
                let mut thr: Vec<f64> = (0..mj).map(|b| hj.worst(b)).collect();
                for a in 0..mi {
                    let sqa = sq[si + a];
                    let row = &g[a * mj..(a + 1) * mj];
                    let mut ta = hi.worst(a);
                    for b in 0..mj {
                        let d = snap(sqa + sqj[b] - 2.0 * row[b]);
                        if d <= ta {
                            ta = hi.push(a, d, sj + b);
                        }
                        if d <= thr[b] {
                            thr[b] = hj.push(b, d, si + a);
                        }
                    }
                }
            }
        },
    );
    drop(xc);

    // exact recomputation of the candidates, then the final k
    let mut distances = vec![0.0; n * k];
    let mut indices = vec![0usize; n * k];
    let heaps: Vec<Heaps> = heaps.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
    distances
        .par_chunks_mut(k)
        .zip(indices.par_chunks_mut(k))
        .enumerate()
        .for_each_init(Vec::new, |cand: &mut Vec<(f64, usize)>, (i, (dout, iout))| {
            let h = &heaps[i / bs];
            let r = i % bs;
            let xi = &x[i * dim..(i + 1) * dim];
            cand.clear();
            for c in 0..kc {
                let j = h.idx[r * kc + c];
                let xj = &x[j * dim..(j + 1) * dim];
                let d2: f64 = xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum();
                cand.push((d2.sqrt(), j));
            }
            cand.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for c in 0..k {
                dout[c] = cand[c].0;
                iout[c] = cand[c].1;
            }
        });
    Knn { n, k, distances, indices }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn brute(x: &[f64], n: usize, dim: usize, k: usize) -> (Vec<f64>, Vec<usize>) {
        let mut ds = Vec::new();
        let mut is = Vec::new();
        for i in 0..n {
            let mut c: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let d2: f64 = (0..dim).map(|t| (x[i * dim + t] - x[j * dim + t]).powi(2)).sum();
                    (d2.sqrt(), j)
                })
                .collect();
            c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(d, j) in &c[..k] {
                ds.push(d);
                is.push(j);
            }
        }
        (ds, is)
    }

    fn random(n: usize, dim: usize, seed: u64) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n * dim).map(|_| rng.random::<f64>() * 2.0 - 1.0 + 100.0).collect()
    }

    #[test]
    fn matches_brute_force() {
        for &(n, dim, k) in &[(1000usize, 3usize, 5usize), (900, 40, 1), (50, 7, 49), (2, 1, 1), (800, 17, 12)] {
            let x = random(n, dim, n as u64 + dim as u64);
            let r = knn(&x, n, dim, k).unwrap();
            let (d, i) = brute(&x, n, dim, k);
            assert_eq!(r.indices, i, "n={n} dim={dim} k={k}");
            for (a, b) in r.distances.iter().zip(&d) {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn ties_and_duplicates() {
        // integer lattice: many exact ties, resolved by index
        let mut x = Vec::new();
        for a in 0..20 {
            for b in 0..20 {
                x.push(a as f64);
                x.push(b as f64);
            }
        }
        x.extend_from_slice(&[3.0, 4.0]); // a duplicate of point 3*20+4
        let n = x.len() / 2;
        let r = knn(&x, n, 2, 6).unwrap();
        let (d, i) = brute(&x, n, 2, 6);
        assert_eq!(r.indices, i);
        assert_eq!(r.distances, d);
        assert_eq!(r.distances[64 * 6], 0.0);
    }

    #[test]
    fn thread_count_invariant() {
        let (n, dim, k) = (2000, 9, 4);
        let x = random(n, dim, 7);
        let a = crate::fit::with_threads(1, || knn(&x, n, dim, k).unwrap()).unwrap();
        let b = crate::fit::with_threads(3, || knn(&x, n, dim, k).unwrap()).unwrap();
        assert_eq!(a.indices, b.indices);
        assert_eq!(a.distances, b.distances);
    }

    #[test]
    fn errors() {
        assert!(knn(&[0.0, 1.0], 2, 1, 2).is_err());
        assert!(knn(&[0.0, 1.0], 2, 1, 0).is_err());
        assert!(knn(&[0.0, f64::NAN], 2, 1, 1).is_err());
        assert!(knn(&[], 0, 0, 1).is_err());
    }
}
