//! What every estimator starts from: validated, de-duplicated points and, for the kNN-based
//! ones, their exact nearest neighbours.

use super::knn::{knn_unchecked, KnnControl};
use super::points::{check_points, rescale_exponent, rescaled, unique_rows, Knn};
use crate::error::{Error, Result};
use std::borrow::Cow;

/// Validated, de-duplicated points, rescaled by a power of two when their magnitude would
/// put squared distances outside float64's range (see [`rescale_exponent`]).
pub(crate) struct Points<'a> {
    pub(crate) x: Cow<'a, [f64]>,
    pub(crate) n: usize,
    pub(crate) dim: usize,
    pub(crate) n_duplicates: usize,
    /// `ln` of the factor the points were divided by (0 when used as given): a log distance
    /// of the data is the log distance of `x` plus this.
    pub(crate) log_scale: f64,
}

pub(crate) fn prepare(x: &[f64], n: usize, dim: usize) -> Result<Points<'_>> {
    check_points(x, n, dim)?;
    let e = rescale_exponent(x);
    dedup(rescaled(x, e), n, dim, e)
}

fn dedup(x: Cow<'_, [f64]>, n: usize, dim: usize, e: i32) -> Result<Points<'_>> {
    let log_scale = e as f64 * std::f64::consts::LN_2;
    let keep = unique_rows(&x, n, dim);
    if keep.len() == n {
        return Ok(Points {
            x,
            n,
            dim,
            n_duplicates: 0,
            log_scale,
        });
    }
    let mut v = Vec::with_capacity(keep.len() * dim);
    for &i in &keep {
        v.extend_from_slice(&x[i * dim..(i + 1) * dim]);
    }
    Ok(Points {
        x: Cow::Owned(v),
        n: keep.len(),
        dim,
        n_duplicates: n - keep.len(),
        log_scale,
    })
}

/// De-duplicated points and their exact k nearest neighbours. The common case (no duplicate
/// rows) costs no duplicate scan: two identical rows are at exact distance 0, so some point's
/// first neighbour distance is 0 exactly when duplicates may exist; only then are the rows
/// de-duplicated ([`unique_rows`]) and the neighbours recomputed.
pub(crate) fn prepare_knn<'a>(
    x: &'a [f64],
    n: usize,
    dim: usize,
    k: usize,
    min: usize,
    what: &str,
    ctl: KnnControl,
) -> Result<(Points<'a>, Knn)> {
    check_points(x, n, dim)?;
    let e = rescale_exponent(x);
    let x = rescaled(x, e);
    if n >= min.max(k.saturating_add(1)) {
        let nn = knn_unchecked(&x, n, dim, k, ctl)?;
        if nn.distances.iter().step_by(k).all(|&d| d > 0.0) {
            return Ok((
                Points {
                    x,
                    n,
                    dim,
                    n_duplicates: 0,
                    log_scale: e as f64 * std::f64::consts::LN_2,
                },
                nn,
            ));
        }
    }
    let p = dedup(x, n, dim, e)?;
    need_points(&p, min, what)?;
    let nn = knn_unchecked(&p.x, p.n, p.dim, k, ctl)?;
    Ok((p, nn))
}

pub(crate) fn need_points(p: &Points, min: usize, what: &str) -> Result<()> {
    if p.n < min {
        let dup = if p.n_duplicates > 0 {
            format!(" after removing {} duplicate rows", p.n_duplicates)
        } else {
            String::new()
        };
        return Err(Error::arg(
            "X",
            format!(
                "{what} needs at least {min} distinct points, but X has {}{dup}",
                p.n
            ),
        ));
    }
    Ok(())
}
