//! Exact k-nearest neighbours of every row of a point set (self excluded): the method choice
//! and the entry points. Methods: [`brute`] (blocked brute force with a GEMM kernel),
//! [`kdtree`] (low ambient dimension) and [`projected`] (points near a low-dimensional linear
//! subspace of a high ambient dimension); all give identical results.

pub mod brute;
pub mod kdtree;
pub mod projected;
#[cfg(test)]
mod tests;

pub use crate::dimension::points::{check_points, exact_dist, margin_for, Knn};
use crate::error::{Error, Result};
use brute::knn_brute;
pub use kdtree::KDTREE_MAX_DIM;
use std::sync::atomic::AtomicBool;

/// Which exact kNN method to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// [`Algorithm::KdTree`] where it is faster (low ambient dimension, see
    /// [`Algorithm::resolve`]), else [`Algorithm::Brute`]
    #[default]
    Auto,
    /// blocked brute force with a GEMM kernel (this module)
    Brute,
    /// k-d tree ([`super::kdtree`])
    KdTree,
    /// pruning by a projection on the principal subspace ([`super::project`]), falling back
    /// to brute force when the points show no low-dimensional linear structure
    Projected,
}

impl Algorithm {
    /// Parse `"auto"`, `"brute"` or `"kdtree"`.
    pub fn parse(s: &str) -> Result<Algorithm> {
        match s {
            "auto" => Ok(Algorithm::Auto),
            "brute" => Ok(Algorithm::Brute),
            "kdtree" | "kd_tree" => Ok(Algorithm::KdTree),
            "projected" => Ok(Algorithm::Projected),
            o => Err(Error::arg(
                "algorithm",
                format!("unknown algorithm '{o}'; use 'auto', 'brute', 'kdtree' or 'projected'"),
            )),
        }
    }

    /// The concrete method `Auto` picks for `n` points of dimension `dim`: the k-d tree for
    /// ambient dimension up to [`KDTREE_MAX_DIM`] (measured crossover, see the module docs of
    /// `kdtree`); from [`projected::MIN_DIM`] dimensions and
    /// [`projected::MIN_POINTS`] points the projection (which itself falls back to brute
    /// force when it cannot help); brute force otherwise. All give identical results.
    pub fn resolve(self, n: usize, dim: usize) -> Algorithm {
        match self {
            Algorithm::Auto if dim <= KDTREE_MAX_DIM => Algorithm::KdTree,
            Algorithm::Auto if dim >= projected::MIN_DIM && n >= projected::MIN_POINTS => {
                Algorithm::Projected
            }
            Algorithm::Auto => Algorithm::Brute,
            a => a,
        }
    }
}

/// How to run a kNN search: the method and an optional abort flag (checked between units of
/// work; a set flag makes the search return [`Error::Interrupted`] promptly).
#[derive(Debug, Clone, Copy, Default)]
pub struct KnnControl<'a> {
    pub algorithm: Algorithm,
    pub abort: Option<&'a AtomicBool>,
}

/// Exact k nearest neighbours (excluding the point itself) of every row of `x` (`n x dim`,
/// row-major). Requires `1 <= k <= n - 1`.
pub fn knn(x: &[f64], n: usize, dim: usize, k: usize) -> Result<Knn> {
    knn_with(x, n, dim, k, KnnControl::default())
}

/// [`knn`] with a choice of method and an abort flag.
pub fn knn_with(x: &[f64], n: usize, dim: usize, k: usize, ctl: KnnControl) -> Result<Knn> {
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
    knn_unchecked(x, n, dim, k, ctl)
}

/// [`knn_with`] without input validation (inputs must be finite, `1 <= k < n`).
pub fn knn_unchecked(x: &[f64], n: usize, dim: usize, k: usize, ctl: KnnControl) -> Result<Knn> {
    let r = match ctl.algorithm.resolve(n, dim) {
        Algorithm::KdTree => kdtree::knn_kdtree(x, n, dim, k, ctl.abort),
        Algorithm::Projected => match projected::knn_projected(x, n, dim, k, ctl.abort) {
            Some(Some(r)) => Some(r),
            Some(None) => knn_brute(x, n, dim, k, ctl.abort),
            None => None,
        },
        _ => knn_brute(x, n, dim, k, ctl.abort),
    };
    r.ok_or(Error::Interrupted)
}
