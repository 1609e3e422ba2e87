//! TwoNN (Facco, d'Errico, Rodriguez & Laio 2017): see [`super`] for the method.

use super::knn::KnnControl;
use super::prepared::prepare_knn;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoNNMethod {
    Linear,
    Ml,
}

#[derive(Debug, Clone)]
pub struct TwoNN {
    pub d: f64,
    pub method: TwoNNMethod,
    pub discard_fraction: f64,
    /// distinct points used (N)
    pub n_points: usize,
    /// ratios kept (the smallest)
    pub n_keep: usize,
    /// sorted ln mu of the kept ratios (the fit's abscissa)
    pub log_mu: Vec<f64>,
    /// asymptotic standard error `d / sqrt(n_keep - 2)` (ML theory for independent ratios;
    /// neighbouring ratios are correlated, so this is optimistic)
    pub stderr: f64,
    pub n_duplicates: usize,
}

pub fn twonn(
    x: &[f64],
    n: usize,
    dim: usize,
    discard_fraction: f64,
    method: TwoNNMethod,
) -> Result<TwoNN> {
    twonn_with(x, n, dim, discard_fraction, method, KnnControl::default())
}

/// [`twonn`] with a choice of kNN method and an abort flag.
pub fn twonn_with(
    x: &[f64],
    n: usize,
    dim: usize,
    discard_fraction: f64,
    method: TwoNNMethod,
    ctl: KnnControl,
) -> Result<TwoNN> {
    if !(0.0..1.0).contains(&discard_fraction) {
        return Err(Error::arg(
            "discard_fraction",
            format!("must be in [0, 1), got {discard_fraction}"),
        ));
    }
    let (p, nn) = prepare_knn(x, n, dim, 2, 3, "TwoNN", ctl)?;
    let nall = p.n;
    let mut log_mu: Vec<f64> = (0..nall)
        .map(|i| (nn.distances[2 * i + 1] / nn.distances[2 * i]).ln())
        .collect();
    log_mu.sort_unstable_by(|a, b| a.total_cmp(b));
    let n_keep = ((nall as f64) * (1.0 - discard_fraction)).floor() as usize;
    if n_keep < 3 {
        return Err(Error::arg(
            "discard_fraction",
            format!("keeps only {n_keep} of {nall} ratios; TwoNN needs at least 3 (lower discard_fraction or pass more points)"),
        ));
    }
    log_mu.truncate(n_keep);
    let nf = nall as f64;
    let d = match method {
        TwoNNMethod::Linear => {
            if n_keep == nall {
                return Err(Error::arg(
                    "discard_fraction",
                    format!(
                        "= {discard_fraction} keeps all {nall} ratios, and the largest has F = 1, where -ln(1 - F) is infinite; use discard_fraction >= 1/N or method='ml'"
                    ),
                ));
            }
            let (mut sxy, mut sxx) = (0.0, 0.0);
            for (i, &lx) in log_mu.iter().enumerate() {
                let y = -(1.0 - (i + 1) as f64 / nf).ln();
                sxy += lx * y;
                sxx += lx * lx;
            }
            sxy / sxx
        }
        TwoNNMethod::Ml => {
            let s: f64 = log_mu.iter().sum::<f64>() + (nall - n_keep) as f64 * log_mu[n_keep - 1];
            (n_keep as f64 - 1.0) / s
        }
    };
    if !d.is_finite() {
        return Err(Error::arg(
            "X",
            "TwoNN: every kept ratio r2/r1 equals 1 (points on a regular lattice?), so the dimension is undefined",
        ));
    }
    Ok(TwoNN {
        d,
        method,
        discard_fraction,
        n_points: nall,
        n_keep,
        log_mu,
        stderr: d / ((n_keep as f64 - 2.0).max(1.0)).sqrt(),
        n_duplicates: p.n_duplicates,
    })
}
