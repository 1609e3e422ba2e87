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
use crate::dimension::points::{rescale_exponent, rescaled};
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
///
/// Data so large or so small that squared distances would overflow or underflow float64
/// (largest |value| outside `[2^-300, 2^300]`) are searched after an exact power-of-two
/// rescaling, and the distances scaled back; distances beyond float64's range are refused.
pub fn knn_with(x: &[f64], n: usize, dim: usize, k: usize, ctl: KnnControl) -> Result<Knn> {
    check_points(x, n, dim)?;
    if k < 1 {
        return Err(Error::arg("k", "must be at least 1"));
    }
    if n < k + 1 {
        return Err(Error::arg(
            "k",
            format!("k = {k} neighbours need at least k + 1 = {} points, but X has {n}; lower k or pass more points", k.saturating_add(1)),
        ));
    }
    let e = rescale_exponent(x);
    let mut r = knn_unchecked(&rescaled(x, e), n, dim, k, ctl)?;
    if e != 0 {
        for d in r.distances.iter_mut() {
            *d = libm::scalbn(*d, e);
        }
        if let Some(i) = r.distances.iter().position(|d| !d.is_finite()) {
            return Err(Error::arg(
                "X",
                format!(
                    "the distance from row {} to its neighbour {} exceeds the largest float64 (1.8e308); divide X by a constant first",
                    i / k,
                    r.indices[i]
                ),
            ));
        }
    }
    Ok(r)
}

/// [`knn_with`] without input validation (inputs must be finite, `1 <= k < n`). Refuses, with
/// [`Error::Memory`], neighbour lists larger than the machine can hold, and with an argument
/// error distinct rows whose squared distance underflows to 0 (closer than float64 resolves).
pub fn knn_unchecked(x: &[f64], n: usize, dim: usize, k: usize, ctl: KnnControl) -> Result<Knn> {
    // the candidate lists (k + margin per row, distance and index) and the (n, k) results,
    // plus the caller's copy of the indices
    crate::mem::check(
        "k",
        format_args!("{k} neighbours of {n} points"),
        n.saturating_mul(k.saturating_add(margin_for(k))),
        40,
        "lower k or use fewer points",
    )?;
    let r = match ctl.algorithm.resolve(n, dim) {
        Algorithm::KdTree => kdtree::knn_kdtree(x, n, dim, k, ctl.abort),
        Algorithm::Projected => match projected::knn_projected(x, n, dim, k, ctl.abort) {
            Some(Some(r)) => Some(r),
            Some(None) => knn_brute(x, n, dim, k, ctl.abort),
            None => None,
        },
        _ => knn_brute(x, n, dim, k, ctl.abort),
    };
    let r = r.ok_or(Error::Interrupted)?;
    check_resolved(x, dim, &r)?;
    Ok(r)
}

/// A zero distance must mean identical rows: distinct rows whose squared distance underflows
/// (differences below ~1e-154 of the data's largest values) are refused instead of being
/// reported as duplicates at distance 0.
fn check_resolved(x: &[f64], dim: usize, r: &Knn) -> Result<()> {
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    for (c, &d) in r.distances.iter().enumerate() {
        if d == 0.0 {
            let (i, j) = (c / r.k, r.indices[c]);
            if row(i) != row(j) {
                return Err(Error::arg(
                    "X",
                    format!(
                        "rows {i} and {j} differ, but by less than float64 resolves next to the data's largest values (their squared distance underflows to 0); merge such near-duplicates or rescale the columns"
                    ),
                ));
            }
        }
    }
    Ok(())
}
