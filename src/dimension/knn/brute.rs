//! Exact k-nearest neighbours of every row of a point set (self excluded), by blocked
//! brute force.
//!
//! Squared distances are formed as `|x|^2 + |y|^2 - 2 x.y` on mean-centred data, with the
//! inner products of each tile of `B x B` point pairs computed by the `gemm` crate's DGEMM
//! kernel (single-threaded per tile; AVX-512 or AVX2+FMA chosen at run time). Only tiles `(I, J)` with `I <= J` are computed
//! (the distance matrix is symmetric), so the work is about half of `X @ X.T`; each pair's
//! approximate distance is computed once and offered to both points. Tiles are processed in
//! parallel with rayon; every block of points owns its candidate lists behind a mutex, and a
//! tile locks its two blocks in index order (no deadlock). Memory is `O(n k + threads B^2)`,
//! never `n x n`.
//!
//! Every point keeps `K = k + margin` candidates under the total order (approximate squared
//! distance, index). The final k neighbours are chosen after recomputing the exact distances
//! (see [`exact_dist`]) of those K candidates from the original (uncentred) data and
//! sorting by (exact distance, index), so cancellation in the GEMM form cannot reorder near
//! ties among the true k nearest unless it moves a point by more than `margin` ranks.
//!
//! Speed: candidate selection is a vectorised scan of each tile row against the row's current
//! K-th-best threshold and the column points' thresholds; only the few survivors (about
//! `K ln(n / K)` per point in total) reach the sorted candidate lists. The points are first
//! put in a spatially coherent order ([`spatial_order`]) and the diagonal tiles run first, so
//! thresholds are tight early; this changes only how much work is done, never the result.
//!
//! Determinism: each pair's approximate value comes from one fixed tile (the GEMM blocking
//! depends only on the tile shapes and the spatial order, never on the thread count) and the
//! candidate set is the K smallest of a fixed multiset under a strict total order (with the
//! points' original indices), which does not depend on the order in which tiles are merged.
//! Results are bit-identical for any number of threads.

use crate::dimension::points::{column_mean, exact_d2, exact_d2_many, gemm_into, margin_for, Knn};
use crate::simd::{dispatched, Isa};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;

/// Points per tile side.
const BLOCK: usize = 512;

/// Leaf size of the spatial ordering of the points.
const ORDER_LEAF: usize = 64;

/// Candidate lists for the rows of one block: per row the `kc` best (d, idx) offered so far,
/// kept sorted ascending under the strict total order (d, idx). A sorted array beats a heap
/// at this size: the insertion point is a branch-free count (vectorised) and the shift is a
/// short memmove, with no unpredictable branches.
struct Heaps {
    kc: usize,
    d: Vec<f64>,
    idx: Vec<usize>,
}

#[inline(always)]
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
    /// Current worst (last) distance of row r.
    #[inline(always)]
    fn worst(&self, r: usize) -> f64 {
        self.d[(r + 1) * self.kc - 1]
    }
    /// Offer (dist, j) to row r; returns the new worst distance.
    #[inline(always)]
    fn push(&mut self, r: usize, dist: f64, j: usize) -> f64 {
        let kc = self.kc;
        let d = &mut self.d[r * kc..(r + 1) * kc];
        let id = &mut self.idx[r * kc..(r + 1) * kc];
        if !less(dist, j, d[kc - 1], id[kc - 1]) {
            return d[kc - 1];
        }
        // insertion point: number of entries before (dist, j)
        let mut pos = 0usize;
        for (&dc, &ic) in d.iter().zip(id.iter()) {
            pos += ((dc < dist) | ((dc == dist) & (ic < j))) as usize;
        }
        d.copy_within(pos..kc - 1, pos + 1);
        id.copy_within(pos..kc - 1, pos + 1);
        d[pos] = dist;
        id[pos] = j;
        d[kc - 1]
    }
}

/// The grid that approximate squared distances are snapped to (see [`knn_blocked`]).
#[derive(Clone, Copy)]
struct Grid {
    q: f64,
    inv_q: f64,
}

impl Grid {
    #[inline(always)]
    fn snap(self, d: f64) -> f64 {
        ((d * self.inv_q).round_ties_even() * self.q).max(0.0)
    }
}

/// Lanes of the vectorised threshold scan.
const LANES: usize = 8;

/// One row of a tile: the approximate squared distances `d_b = snap(sqa + sqj[b] - 2 g[b])`
/// for `b >= b0` are offered to the row (threshold `ta`, its current K-th best) and to the
/// column points (thresholds `thr[b]`). The distances are formed and tested in groups of
/// `LANES` in one vectorised pass; `offer(b, d, ta, thr[b])` runs only for groups where some
/// `d <= ta` or `d <= thr[b]` (expected survivors per row are ~K ln(n/K) of n). Thresholds only
/// decrease, so testing a group against the values at its start admits a superset of what
/// `offer` (which rechecks exactly) accepts: the candidate sets are those of offering every pair.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan_row<I: Isa>(
    m: usize,
    b0: usize,
    sqa: f64,
    sqj: &[f64],
    g: &[f64],
    grid: Grid,
    ta: &mut f64,
    thr: &mut [f64],
    mut offer: impl FnMut(usize, f64, &mut f64, &mut f64),
) {
    let (sqj, g, thr) = (&sqj[..m], &g[..m], &mut thr[..m]);
    let mut b = b0;
    // scalar head up to a lane boundary, full lane groups, scalar tail
    let head = (b0.div_ceil(LANES) * LANES).min(m);
    while b < head {
        offer(b, grid.snap(sqa + sqj[b] - 2.0 * g[b]), ta, &mut thr[b]);
        b += 1;
    }
    #[cfg(target_arch = "x86_64")]
    if I::AVX2_FMA {
        // SAFETY: I::AVX2_FMA holds only inside a function compiled with AVX2 (entered by
        // `simd::dispatch` when the CPU has it); loads are unaligned and within bounds
        // (b + LANES <= m and every slice has length m).
        unsafe { scan_groups_avx(m, sqa, sqj, g, grid, ta, thr, &mut offer, &mut b) };
    }
    while b + LANES <= m {
        let s: &[f64; LANES] = sqj[b..b + LANES].try_into().unwrap();
        let gv: &[f64; LANES] = g[b..b + LANES].try_into().unwrap();
        let t: &[f64; LANES] = thr[b..b + LANES].try_into().unwrap();
        let a = *ta;
        let mut d = [0.0f64; LANES];
        let mut e = [0.0f64; LANES];
        for l in 0..LANES {
            d[l] = grid.snap(sqa + s[l] - 2.0 * gv[l]);
            let th = if a > t[l] { a } else { t[l] };
            // d <= th  <=>  d - th <= 0 (finite d; th may be +inf)
            e[l] = d[l] - th;
        }
        // a min tree (not a serial fold) so the reduction vectorises
        let mn = |x: f64, y: f64| if x < y { x } else { y };
        let e4 = [
            mn(e[0], e[4]),
            mn(e[1], e[5]),
            mn(e[2], e[6]),
            mn(e[3], e[7]),
        ];
        let low = mn(mn(e4[0], e4[2]), mn(e4[1], e4[3]));
        if low <= 0.0 {
            for l in 0..LANES {
                offer(b + l, d[l], ta, &mut thr[b + l]);
            }
        }
        b += LANES;
    }
    while b < m {
        offer(b, grid.snap(sqa + sqj[b] - 2.0 * g[b]), ta, &mut thr[b]);
        b += 1;
    }
}

/// The lane groups of [`scan_row`] with AVX2 intrinsics, from `*b` while a whole group fits
/// (advances `*b`). Always inlined into an AVX2 kernel.
///
/// # Safety
/// The CPU must support AVX2; every slice has length at least `m`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn scan_groups_avx(
    m: usize,
    sqa: f64,
    sqj: &[f64],
    g: &[f64],
    grid: Grid,
    ta: &mut f64,
    thr: &mut [f64],
    offer: &mut impl FnMut(usize, f64, &mut f64, &mut f64),
    b: &mut usize,
) {
    assert!(sqj.len() >= m && g.len() >= m && thr.len() >= m);
    let mut bb = *b;
    // SAFETY: the caller's contract; loads read bb + LANES <= m elements.
    unsafe {
        use std::arch::x86_64::*;
        let (vsqa, two, vq, vinv, zero) = (
            _mm256_set1_pd(sqa),
            _mm256_set1_pd(2.0),
            _mm256_set1_pd(grid.q),
            _mm256_set1_pd(grid.inv_q),
            _mm256_setzero_pd(),
        );
        while bb + LANES <= m {
            let va = _mm256_set1_pd(*ta);
            let mut d = [_mm256_setzero_pd(); 2];
            let mut mask = 0;
            for (h, dh) in d.iter_mut().enumerate() {
                let o = bb + 4 * h;
                // same operations in the same order as Grid::snap(sqa + s - 2 g)
                let raw = _mm256_sub_pd(
                    _mm256_add_pd(vsqa, _mm256_loadu_pd(sqj.as_ptr().add(o))),
                    _mm256_mul_pd(two, _mm256_loadu_pd(g.as_ptr().add(o))),
                );
                let r = _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                    _mm256_mul_pd(raw, vinv),
                );
                *dh = _mm256_max_pd(_mm256_mul_pd(r, vq), zero);
                let th = _mm256_max_pd(va, _mm256_loadu_pd(thr.as_ptr().add(o)));
                mask |= _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(*dh, th));
            }
            if mask != 0 {
                let mut dv = [0.0f64; LANES];
                _mm256_storeu_pd(dv.as_mut_ptr(), d[0]);
                _mm256_storeu_pd(dv.as_mut_ptr().add(4), d[1]);
                for (l, &dl) in dv.iter().enumerate() {
                    offer(bb + l, dl, ta, &mut thr[bb + l]);
                }
            }
            bb += LANES;
        }
    }
    *b = bb;
}

/// A permutation of the points that keeps nearby points at nearby positions: recursive
/// median splits (down to `leaf` points) along the direction between two far-apart points of
/// the node (`a` farthest from the node's first point, `b` farthest from `a`), which follows
/// the data's own spread even when it lies on a low-dimensional subspace of a high ambient
/// dimension. Deterministic (ties by index). Used only to schedule work: results never
/// depend on it.
pub fn spatial_order(x: &[f64], n: usize, dim: usize, leaf: usize) -> Vec<usize> {
    fn split(x: &[f64], dim: usize, idx: &mut [usize], leaf: usize) {
        let m = idx.len();
        if m <= leaf.max(2) {
            return;
        }
        let row = |i: usize| &x[i * dim..(i + 1) * dim];
        let far = |from: usize| {
            let p = row(from);
            let mut best = (f64::NEG_INFINITY, from);
            for &i in idx.iter() {
                let d = exact_d2(p, row(i));
                if d > best.0 {
                    best = (d, i);
                }
            }
            best.1
        };
        let a = far(idx[0]);
        let b = far(a);
        let (pa, pb) = (row(a), row(b));
        let dir: Vec<f64> = pb.iter().zip(pa).map(|(u, v)| u - v).collect();
        let mut proj: Vec<(f64, usize)> = idx
            .iter()
            .map(|&i| (row(i).iter().zip(&dir).map(|(u, v)| u * v).sum::<f64>(), i))
            .collect();
        let mid = m / 2;
        proj.select_nth_unstable_by(mid, |p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
        for (slot, &(_, i)) in idx.iter_mut().zip(&proj) {
            *slot = i;
        }
        drop(proj);
        let (lo, hi) = idx.split_at_mut(mid);
        if m > 8192 {
            rayon::join(|| split(x, dim, lo, leaf), || split(x, dim, hi, leaf));
        } else {
            split(x, dim, lo, leaf);
            split(x, dim, hi, leaf);
        }
    }
    let mut idx: Vec<usize> = (0..n).collect();
    split(x, dim, &mut idx, leaf);
    idx
}

/// Tile schedule for `nb` blocks: the diagonal tiles first (each block's own points give its
/// rows tight thresholds early, since blocks are spatially coherent), then the others by
/// increasing block distance `j - i`; within one distance, tiles with even `i / (j - i)` come
/// before odd ones, so consecutive tiles (run concurrently) rarely share a block lock.
fn tile_order(nb: usize) -> Vec<(usize, usize)> {
    let mut t: Vec<(usize, usize)> = (0..nb).map(|b| (b, b)).collect();
    for o in 1..nb {
        for par in 0..2 {
            t.extend(
                (0..nb - o)
                    .filter(|i| (i / o) % 2 == par)
                    .map(|i| (i, i + o)),
            );
        }
    }
    t
}

/// Brute-force kNN (inputs valid); `None` if `abort` was set.
pub fn knn_brute(
    x: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    abort: Option<&AtomicBool>,
) -> Option<Knn> {
    knn_blocked(x, n, dim, k, BLOCK, abort)
}

pub(crate) fn knn_blocked(
    x: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    block: usize,
    abort: Option<&AtomicBool>,
) -> Option<Knn> {
    let aborted = || abort.is_some_and(|a| a.load(AtomicOrdering::Relaxed));
    let bs = block;
    let kc = (k + margin_for(k)).min(n - 1);
    // centre the data: distances are translation invariant and |x|^2 shrinks, which reduces
    // the cancellation error of the GEMM form
    let mean = column_mean(x, n, dim);
    // points in a spatially coherent order (see `spatial_order`): position p holds point
    // order[p]; tiles and heaps work on positions, heaps store original indices
    if aborted() {
        return None;
    }
    let order = spatial_order(x, n, dim, ORDER_LEAF);
    if aborted() {
        return None;
    }
    let xc: Vec<f64> = order
        .par_iter()
        .flat_map_iter(|&i| {
            x[i * dim..(i + 1) * dim]
                .iter()
                .zip(&mean)
                .map(|(v, m)| v - m)
                .collect::<Vec<_>>()
        })
        .collect();
    let sq: Vec<f64> = xc
        .par_chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    // Approximate squared distances are snapped to a grid of 1e-12 of the largest squared norm
    // (far above their rounding noise): exact ties, duplicates above all, then compare equal
    // and are ordered by index, as in the exact order, instead of by rounding noise.
    if aborted() {
        return None;
    }
    let q = 1e-12 * sq.iter().fold(0.0f64, |a, &b| a.max(b)) * 2.0;
    let (q, inv_q) = if q > 0.0 { (q, 1.0 / q) } else { (1.0, 1.0) };
    let grid = Grid { q, inv_q };

    let nb = n.div_ceil(bs);
    let rows_of = |b: usize| (b * bs, ((b + 1) * bs).min(n));
    let heaps: Vec<Mutex<Heaps>> = (0..nb)
        .map(|b| {
            let (s, e) = rows_of(b);
            Mutex::new(Heaps::new(e - s, kc))
        })
        .collect();
    let tiles = tile_order(nb);
    let next = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().min(tiles.len());
    (0..workers).into_par_iter().for_each(|_| {
        let mut g = vec![0.0f64; bs * bs];
        loop {
            let t = next.fetch_add(1, AtomicOrdering::Relaxed);
            if t >= tiles.len() || aborted() {
                break;
            }
            let (bi, bj) = tiles[t];
            let (si, ei) = rows_of(bi);
            let (sj, ej) = rows_of(bj);
            let (mi, mj) = (ei - si, ej - sj);
            // G = X_I X_J^T (mi x mj, row-major)
            gemm_into(
                &mut g[..mi * mj],
                mi,
                mj,
                dim,
                &xc[si * dim..],
                dim,
                1,
                &xc[sj * dim..],
                1,
                dim,
            );
            scan_tile(
                &g[..mi * mj],
                &sq,
                &order,
                &heaps,
                (bi, si, ei),
                (bj, sj, ej),
                grid,
            );
        }
    });
    drop(xc);
    if aborted() {
        return None;
    }
    let mut pos = vec![0usize; n];
    for (p, &i) in order.iter().enumerate() {
        pos[i] = p;
    }

    // exact recomputation of the candidates, then the final k
    let mut distances = vec![0.0; n * k];
    let mut indices = vec![0usize; n * k];
    let heaps: Vec<Heaps> = heaps
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    distances
        .par_chunks_mut(k)
        .zip(indices.par_chunks_mut(k))
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(cand, d2): &mut (Vec<(f64, usize)>, Vec<f64>), (i, (dout, iout))| {
                let h = &heaps[pos[i] / bs];
                let r = pos[i] % bs;
                let xi = &x[i * dim..(i + 1) * dim];
                let js = &h.idx[r * kc..(r + 1) * kc];
                d2.resize(kc, 0.0);
                exact_d2_many(x, dim, xi, js, d2);
                cand.clear();
                cand.extend(d2.iter().zip(js).map(|(&v, &j)| (v.sqrt(), j)));
                cand.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for c in 0..k {
                    dout[c] = cand[c].0;
                    iout[c] = cand[c].1;
                }
            },
        );
    Some(Knn {
        n,
        k,
        distances,
        indices,
    })
}

dispatched! {
    /// Offer the pairs of one tile to the candidate lists of both its blocks: `g` is the Gram
    /// block of rows `si..ei` (block `bi`) and columns `sj..ej` (block `bj`).
    fn scan_tile<'a>(
        g: &'a [f64],
        sq: &'a [f64],
        order: &'a [usize],
        heaps: &'a [Mutex<Heaps>],
        rows: (usize, usize, usize),
        cols: (usize, usize, usize),
        grid: Grid,
    ) -> () => scan_tile_in
}

#[inline(always)]
fn scan_tile_in<I: Isa>(
    g: &[f64],
    sq: &[f64],
    order: &[usize],
    heaps: &[Mutex<Heaps>],
    (bi, si, ei): (usize, usize, usize),
    (bj, sj, ej): (usize, usize, usize),
    grid: Grid,
) {
    let (mi, mj) = (ei - si, ej - sj);
    let sqj = &sq[sj..ej];
    if bi == bj {
        let mut h = heaps[bi].lock().unwrap_or_else(|e| e.into_inner());
        let mut thr: Vec<f64> = (0..mj).map(|b| h.worst(b)).collect();
        for a in 0..mi {
            let mut ta = thr[a];
            scan_row::<I>(
                mj,
                a + 1,
                sq[si + a],
                sqj,
                &g[a * mj..(a + 1) * mj],
                grid,
                &mut ta,
                &mut thr,
                // inlined, so that it is compiled with the kernel's instruction set
                #[inline(always)]
                |b, d, ta: &mut f64, tb: &mut f64| {
                    if d <= *ta {
                        *ta = h.push(a, d, order[sj + b]);
                    }
                    if d <= *tb {
                        *tb = h.push(b, d, order[si + a]);
                    }
                },
            );
            thr[a] = ta;
        }
    } else {
        let mut hi = heaps[bi].lock().unwrap_or_else(|e| e.into_inner());
        let mut hj = heaps[bj].lock().unwrap_or_else(|e| e.into_inner());
        let mut thr: Vec<f64> = (0..mj).map(|b| hj.worst(b)).collect();
        for a in 0..mi {
            let mut ta = hi.worst(a);
            scan_row::<I>(
                mj,
                0,
                sq[si + a],
                sqj,
                &g[a * mj..(a + 1) * mj],
                grid,
                &mut ta,
                &mut thr,
                // inlined, so that it is compiled with the kernel's instruction set
                #[inline(always)]
                |b, d, ta: &mut f64, tb: &mut f64| {
                    if d <= *ta {
                        *ta = hi.push(a, d, order[sj + b]);
                    }
                    if d <= *tb {
                        *tb = hj.push(b, d, order[si + a]);
                    }
                },
            );
        }
    }
}
