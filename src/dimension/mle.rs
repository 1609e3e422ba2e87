//! MLE (Levina & Bickel 2004, MacKay & Ghahramani's averaging): see [`super`].

use super::knn::KnnControl;
use super::prepared::prepare_knn;
use crate::error::{Error, Result};
use rayon::prelude::*;

#[derive(Debug, Clone)]
pub struct Mle {
    pub d: f64,
    pub k: usize,
    pub unbiased: bool,
    /// per-point estimates m_i (inf where all k neighbours are equidistant)
    pub pointwise: Vec<f64>,
    /// delta-method standard error of d from the spread of 1/m_i, treating points as
    /// independent (neighbourhoods overlap, so this is optimistic)
    pub stderr: f64,
    pub n_points: usize,
    pub n_duplicates: usize,
}

pub fn mle(x: &[f64], n: usize, dim: usize, k: usize, unbiased: bool) -> Result<Mle> {
    mle_with(x, n, dim, k, unbiased, KnnControl::default())
}

/// [`mle`] with a choice of kNN method and an abort flag.
pub fn mle_with(
    x: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    unbiased: bool,
    ctl: KnnControl,
) -> Result<Mle> {
    let kmin = if unbiased { 3 } else { 2 };
    if k < kmin {
        return Err(Error::arg(
            "k",
            format!(
                "must be at least {kmin} (the estimate uses k - {} in the numerator), got {k}",
                kmin - 1
            ),
        ));
    }
    let (p, nn) = prepare_knn(x, n, dim, k, k + 1, &format!("MLE with k = {k}"), ctl)?;
    let kfac = if unbiased {
        k as f64 - 2.0
    } else {
        k as f64 - 1.0
    };
    let inv: Vec<f64> = (0..p.n)
        .into_par_iter()
        .map(|i| {
            let r = nn.row_dist(i);
            let rk = r[k - 1];
            r.iter().map(|&t| (rk / t).ln()).sum::<f64>() / kfac
        })
        .collect();
    let nf = p.n as f64;
    let mean_inv = inv.iter().sum::<f64>() / nf;
    if !(mean_inv > 0.0 && mean_inv.is_finite()) {
        return Err(Error::arg(
            "X",
            "MLE: every point's k neighbours are equidistant (a regular lattice?), so the dimension is undefined",
        ));
    }
    let d = 1.0 / mean_inv;
    let var = inv.iter().map(|v| (v - mean_inv).powi(2)).sum::<f64>() / (nf - 1.0).max(1.0);
    Ok(Mle {
        d,
        k,
        unbiased,
        pointwise: inv.iter().map(|&v| 1.0 / v).collect(),
        stderr: d * d * (var / nf).sqrt(),
        n_points: p.n,
        n_duplicates: p.n_duplicates,
    })
}
