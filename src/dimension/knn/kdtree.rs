//! Exact k-nearest neighbours by a k-d tree, for low ambient dimension.
//!
//! Build: recursive median splits along the coordinate of largest bounding-box extent (ties by
//! the lower coordinate; the median by (coordinate, index)), down to leaves of at most
//! [`LEAF`] points; every node keeps its bounding box, and the points are copied in tree order
//! so a leaf is contiguous in memory.
//!
//! Query (one per point, in parallel over chunks of points in tree order): depth-first, nearer
//! child first, pruning a node when the squared distance from the query to its box exceeds the
//! current k-th best squared distance by more than a relative `1e-9` (far above the rounding
//! error of either quantity, so no point that could enter the result is ever pruned). Every
//! candidate's distance is [`exact_dist`], the same function (same bits) the brute-force path
//! uses for its final recomputation, and the k best are kept under the strict total order
//! (distance, original index). So the result equals brute force's, ties included, and does not
//! depend on the thread count.

use crate::dimension::points::{exact_d2, Knn};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Maximum points per leaf.
pub const LEAF: usize = 16;

/// Queries per parallel task (also the granularity of the abort check).
/// Largest ambient dimension at which `Algorithm::Auto` uses the k-d tree.
pub const KDTREE_MAX_DIM: usize = 5;

const CHUNK: usize = 256;

/// Relative slack of the box-distance pruning test.
const PRUNE_SLACK: f64 = 1e-9;

struct Node {
    /// range of tree positions
    start: usize,
    end: usize,
    /// children (0 for a leaf: the root is never a child)
    left: usize,
    right: usize,
}

/// A k-d tree over `n` points of dimension `dim`.
pub struct KdTree {
    dim: usize,
    /// coordinates in tree order (row-major)
    pts: Vec<f64>,
    /// original index of each tree position
    ids: Vec<usize>,
    nodes: Vec<Node>,
    /// per node: lower corner then upper corner (2 dim values)
    bbox: Vec<f64>,
}

impl KdTree {
    /// Build the tree (inputs must be finite, `x.len() == n * dim`, `dim >= 1`).
    pub fn new(x: &[f64], n: usize, dim: usize) -> KdTree {
        let mut ids: Vec<usize> = (0..n).collect();
        let mut t = KdTree {
            dim,
            pts: Vec::new(),
            ids: Vec::new(),
            nodes: Vec::new(),
            bbox: Vec::new(),
        };
        t.build(x, &mut ids, 0, n);
        t.pts = ids
            .iter()
            .flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        t.ids = ids;
        t
    }

    fn build(&mut self, x: &[f64], ids: &mut [usize], start: usize, end: usize) -> usize {
        let dim = self.dim;
        let me = self.nodes.len();
        self.nodes.push(Node {
            start,
            end,
            left: 0,
            right: 0,
        });
        let mut lo = vec![f64::INFINITY; dim];
        let mut hi = vec![f64::NEG_INFINITY; dim];
        for &i in &ids[start..end] {
            for (t, &v) in x[i * dim..(i + 1) * dim].iter().enumerate() {
                lo[t] = lo[t].min(v);
                hi[t] = hi[t].max(v);
            }
        }
        let (mut s, mut w) = (0, -1.0);
        for t in 0..dim {
            if hi[t] - lo[t] > w {
                (s, w) = (t, hi[t] - lo[t]);
            }
        }
        self.bbox.extend_from_slice(&lo);
        self.bbox.extend_from_slice(&hi);
        // leaves: few points, or all points identical (no split separates them)
        if end - start <= LEAF || w <= 0.0 {
            return me;
        }
        let mid = (end - start) / 2;
        ids[start..end].select_nth_unstable_by(mid, |&a, &b| {
            x[a * dim + s].total_cmp(&x[b * dim + s]).then(a.cmp(&b))
        });
        let l = self.build(x, ids, start, start + mid);
        let r = self.build(x, ids, start + mid, end);
        self.nodes[me].left = l;
        self.nodes[me].right = r;
        me
    }

    /// Squared distance from `q` to the box of node `v` (0 inside).
    #[inline]
    fn box_d2(&self, v: usize, q: &[f64]) -> f64 {
        let dim = self.dim;
        let b = &self.bbox[2 * dim * v..2 * dim * (v + 1)];
        let (lo, hi) = b.split_at(dim);
        let mut s = 0.0;
        for t in 0..dim {
            let e = (lo[t] - q[t]).max(q[t] - hi[t]).max(0.0);
            s += e * e;
        }
        s
    }

    /// k nearest neighbours of the point at tree position `p` (itself excluded), into `best`
    /// (ascending by (distance, index); length k).
    fn query(&self, p: usize, best: &mut [(f64, usize)]) {
        best.fill((f64::INFINITY, usize::MAX));
        let q = &self.pts[p * self.dim..(p + 1) * self.dim];
        self.visit(0, q, self.ids[p], best);
    }

    fn visit(&self, v: usize, q: &[f64], me: usize, best: &mut [(f64, usize)]) {
        let node = &self.nodes[v];
        let k = best.len();
        if node.left == 0 {
            let dim = self.dim;
            for pos in node.start..node.end {
                let j = self.ids[pos];
                if j == me {
                    continue;
                }
                let d = exact_d2(q, &self.pts[pos * dim..(pos + 1) * dim]).sqrt();
                let (wd, wj) = best[k - 1];
                if d < wd || (d == wd && j < wj) {
                    let mut c = k - 1;
                    while c > 0 && (best[c - 1].0 > d || (best[c - 1].0 == d && best[c - 1].1 > j))
                    {
                        best[c] = best[c - 1];
                        c -= 1;
                    }
                    best[c] = (d, j);
                }
            }
            return;
        }
        let (dl, dr) = (self.box_d2(node.left, q), self.box_d2(node.right, q));
        let (first, df, second, ds) = if dl <= dr {
            (node.left, dl, node.right, dr)
        } else {
            (node.right, dr, node.left, dl)
        };
        let bound = |best: &[(f64, usize)]| {
            let w = best[k - 1].0;
            w * w * (1.0 + PRUNE_SLACK)
        };
        if df <= bound(best) {
            self.visit(first, q, me, best);
        }
        if ds <= bound(best) {
            self.visit(second, q, me, best);
        }
    }

    /// Exact k nearest neighbours of every point (self excluded), `1 <= k < n`. Returns `None`
    /// when `abort` was set before the work finished.
    pub fn knn_all(&self, k: usize, abort: Option<&AtomicBool>) -> Option<Knn> {
        let n = self.ids.len();
        let aborted = || abort.is_some_and(|a| a.load(Ordering::Relaxed));
        let mut dist_t = vec![0.0; n * k];
        let mut idx_t = vec![0usize; n * k];
        dist_t
            .par_chunks_mut(CHUNK * k)
            .zip(idx_t.par_chunks_mut(CHUNK * k))
            .enumerate()
            .for_each_init(
                || vec![(0.0, 0usize); k],
                |best, (c, (dc, ic))| {
                    for r in 0..dc.len() / k {
                        // per query: in high dimension one query can cost a scan of all points
                        if aborted() {
                            return;
                        }
                        self.query(c * CHUNK + r, best);
                        for (t, &(d, j)) in best.iter().enumerate() {
                            dc[r * k + t] = d;
                            ic[r * k + t] = j;
                        }
                    }
                },
            );
        if aborted() {
            return None;
        }
        // scatter from tree order to the original order
        let mut distances = vec![0.0; n * k];
        let mut indices = vec![0usize; n * k];
        for (p, &i) in self.ids.iter().enumerate() {
            distances[i * k..(i + 1) * k].copy_from_slice(&dist_t[p * k..(p + 1) * k]);
            indices[i * k..(i + 1) * k].copy_from_slice(&idx_t[p * k..(p + 1) * k]);
        }
        Some(Knn {
            n,
            k,
            distances,
            indices,
        })
    }
}

/// Exact kNN of every row of `x` by a k-d tree (inputs finite, `1 <= k < n`); `None` if
/// `abort` was set.
pub fn knn_kdtree(
    x: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    abort: Option<&AtomicBool>,
) -> Option<Knn> {
    if abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
        return None;
    }
    let tree = KdTree::new(x, n, dim);
    if abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
        return None;
    }
    tree.knn_all(k, abort)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dimension::knn::brute::knn_brute;
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn same(x: &[f64], n: usize, dim: usize, k: usize) {
        let t = knn_kdtree(x, n, dim, k, None).unwrap();
        let b = knn_brute(x, n, dim, k, None).unwrap();
        assert_eq!(t.indices, b.indices, "n={n} dim={dim} k={k}");
        assert_eq!(t.distances, b.distances, "n={n} dim={dim} k={k}");
    }

    #[test]
    fn matches_brute_force() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for &(n, dim, k) in &[
            (3000usize, 2usize, 5usize),
            (2000, 3, 20),
            (1500, 8, 7),
            (40, 5, 39),
            (2, 1, 1),
            (17, 1, 16),
        ] {
            let x: Vec<f64> = (0..n * dim)
                .map(|_| rng.random::<f64>() * 10.0 - 5.0)
                .collect();
            same(&x, n, dim, k);
        }
    }

    #[test]
    fn lattice_ties_and_duplicates() {
        // integer grid: many equal distances (resolved by index), plus duplicated points
        let mut x = Vec::new();
        for a in 0..30 {
            for b in 0..30 {
                x.extend_from_slice(&[a as f64, b as f64]);
            }
        }
        x.extend_from_slice(&[3.0, 4.0, 3.0, 4.0, 0.0, 0.0]);
        let n = x.len() / 2;
        for k in [1, 4, 8, 13] {
            same(&x, n, 2, k);
        }
        // 3-d lattice and all points identical
        let x3: Vec<f64> = (0..512)
            .flat_map(|i| [(i % 8) as f64, ((i / 8) % 8) as f64, (i / 64) as f64])
            .collect();
        same(&x3, 512, 3, 6);
        same(&[1.5; 40], 20, 2, 5);
    }

    #[test]
    fn abort_flag_stops() {
        let x: Vec<f64> = (0..2000).map(|i| (i as f64 * 0.37).sin()).collect();
        let stop = AtomicBool::new(true);
        assert!(knn_kdtree(&x, 1000, 2, 3, Some(&stop)).is_none());
    }
}
