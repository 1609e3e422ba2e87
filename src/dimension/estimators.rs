//! Intrinsic-dimension estimators built on the exact kNN of [`super::knn`].
//!
//! All estimators first remove exact duplicate rows (keeping the first occurrence; the count is
//! returned in `n_duplicates`), because a zero nearest-neighbour distance makes `log r`
//! undefined. This differs from scikit-dimension's TwoNN, which drops the points whose first
//! neighbour is at distance 0 (all copies) but keeps them as neighbours of other points.
//!
//! **TwoNN** (Facco, d'Errico, Rodriguez & Laio 2017, Sci. Rep. 7:12140): with `r1 <= r2` the
//! first two neighbour distances, `mu = r2 / r1` is Pareto(1, d). Sort the N ratios, keep the
//! `n_keep = floor(N (1 - discard_fraction))` smallest, set `F_i = i / N`, and fit
//! `-ln(1 - F_i) = d ln mu_(i)` by least squares through the origin (method `Linear`).
//! Method `Ml`: `ln mu ~ Exp(d)`, and keeping the n_keep smallest is type-II censoring, so the
//! unbiased estimate is `(n_keep - 1) / (sum_{i <= n_keep} ln mu_(i) + (N - n_keep) ln mu_(n_keep))`;
//! with `discard_fraction = 0` it is `(N - 1) / sum ln mu` (the unbiased Pareto-shape MLE; the
//! plain MLE would be `N / sum`). Both match scikit-dimension 0.5 `TwoNN(method=...)`.
//!
//! **MLE** (Levina & Bickel 2004): per point, with `T_1 <= ... <= T_k` its neighbour distances,
//! `m_i = (k - 1) / sum_{j=1}^{k} ln(T_k / T_j)` (`k - 2` with `unbiased`), combined as
//! `d = 1 / mean_i(1 / m_i)` (MacKay & Ghahramani 2005, "Comments on Levina & Bickel").
//! Matches scikit-dimension `MLE(unbiased=...).fit(X, n_neighbors=k, comb="mle")`.
//!
//! **Tile** (Pettis, Bailey, Jain & Dubes 1979; Costa & Hero 2004): for nested random
//! subsamples of sizes `D_1 < ... < D_m`, the mean over the subsample of `ln r_k` (k-th
//! neighbour distance within the subsample) is regressed on `ln(D - 1)`; the slope is `-1/d`.
//! Bias: for a density that is locally uniform with `P(ball(r)) = c r^d`, the mass of the
//! k-NN ball is Beta(k, D - k), so `E ln r_k = (psi(k) - psi(D) - ln c) / d` exactly. The slope
//! on `psi(D)` is therefore exactly `-1/d`, while on `ln(D - 1)` it carries an `O(1/D)` bias
//! (`psi(D) = ln(D - 1) + 1/(2(D - 1)) + O(D^-2)`), which `Abscissa::Digamma` removes. The
//! dominant biases are geometric and not corrected: curvature and boundaries bend the curve at
//! large spacings (small D) and make every estimator low in high d (e.g. the 10-cube); noise
//! bends it at small spacings (large D). The local slope per size is returned to show this.

use super::knn::{check_points, knn_unchecked, Knn, KnnControl};
use super::stream_seed;
use crate::error::{Error, Result};
use crate::expr::{Data, Formula};
use crate::fit::{fit_full, Loss, Problem, Target};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::borrow::Cow;

const TAG_DRAW: u64 = 1;
const TAG_BOOT: u64 = 2;

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

/// Validated, de-duplicated points.
struct Points<'a> {
    x: Cow<'a, [f64]>,
    n: usize,
    dim: usize,
    n_duplicates: usize,
}

fn prepare(x: &[f64], n: usize, dim: usize) -> Result<Points<'_>> {
    check_points(x, n, dim)?;
    let keep = unique_rows(x, n, dim);
    if keep.len() == n {
        return Ok(Points {
            x: Cow::Borrowed(x),
            n,
            dim,
            n_duplicates: 0,
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
    })
}

/// De-duplicated points and their exact k nearest neighbours. The common case (no duplicate
/// rows) costs no duplicate scan: two identical rows are at exact distance 0, so some point's
/// first neighbour distance is 0 exactly when duplicates may exist; only then are the rows
/// de-duplicated ([`unique_rows`]) and the neighbours recomputed.
fn prepare_knn<'a>(
    x: &'a [f64],
    n: usize,
    dim: usize,
    k: usize,
    min: usize,
    what: &str,
    ctl: KnnControl,
) -> Result<(Points<'a>, Knn)> {
    check_points(x, n, dim)?;
    if n >= min.max(k + 1) {
        let nn = knn_unchecked(x, n, dim, k, ctl)?;
        if nn.distances.iter().step_by(k).all(|&d| d > 0.0) {
            return Ok((
                Points {
                    x: Cow::Borrowed(x),
                    n,
                    dim,
                    n_duplicates: 0,
                },
                nn,
            ));
        }
    }
    let p = prepare(x, n, dim)?;
    need_points(&p, min, what)?;
    let nn = knn_unchecked(&p.x, p.n, p.dim, k, ctl)?;
    Ok((p, nn))
}

fn need_points(p: &Points, min: usize, what: &str) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// TwoNN

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
        return Err(Error::Numerical(
            "TwoNN: every kept ratio r2/r1 equals 1 (points on a regular lattice?), so the dimension is undefined".into(),
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

// ---------------------------------------------------------------------------------------------
// MLE

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
        return Err(Error::Numerical(
            "MLE: every point's k neighbours are equidistant (a regular lattice?), so the dimension is undefined".into(),
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

// ---------------------------------------------------------------------------------------------
// Tile

/// Regressor for the tile fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abscissa {
    /// ln(D - 1) (Pettis et al. 1979)
    LogDm1,
    /// psi(D): exact for a locally uniform density (see the module docs)
    Digamma,
}

#[derive(Debug, Clone)]
pub struct TileOptions {
    /// subsample sizes (ascending, distinct, each in [k + 1, n]); empty for the default
    pub sizes: Vec<usize>,
    /// number of default sizes (geometric, ratio 2, largest n / 2)
    pub n_sizes: usize,
    pub n_draws: usize,
    pub k: usize,
    pub seed: u64,
    pub n_boot: usize,
    pub abscissa: Abscissa,
}

impl Default for TileOptions {
    fn default() -> Self {
        TileOptions {
            sizes: Vec::new(),
            n_sizes: 6,
            n_draws: 10,
            k: 1,
            seed: 0,
            n_boot: 1000,
            abscissa: Abscissa::LogDm1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tile {
    pub d: f64,
    pub slope: f64,
    pub intercept: f64,
    pub sizes: Vec<usize>,
    /// regressor per size (ln(D - 1) or psi(D))
    pub x: Vec<f64>,
    /// mean over draws of the mean ln r_k, per size
    pub mean_log: Vec<f64>,
    /// (n_draws, n_sizes) row-major mean ln r_k per draw and size
    pub per_draw: Vec<f64>,
    /// local dimension -1 / (local slope) per size (central differences, one-sided at the ends)
    pub local_d: Vec<f64>,
    /// bootstrap replicates of d (resampling draws); empty when n_draws < 2
    pub boot_d: Vec<f64>,
    pub n_draws: usize,
    pub k: usize,
    pub n_points: usize,
    pub n_duplicates: usize,
}

/// Digamma function for x > 0 (recurrence to x >= 12, then the asymptotic series).
pub fn digamma(mut x: f64) -> f64 {
    let mut r = 0.0;
    while x < 12.0 {
        r -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    r + x.ln()
        - 0.5 / x
        - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
}

/// Default sizes: n/2, n/4, ... (at most `m`), each >= max(4 (k + 1), 8).
pub fn default_sizes(n: usize, k: usize, m: usize) -> Vec<usize> {
    let lo = (4 * (k + 1)).max(8);
    let mut s = Vec::new();
    let mut d = n / 2;
    while s.len() < m && d >= lo {
        s.push(d);
        d /= 2;
    }
    s.reverse();
    s
}

/// Least-squares line y = c + slope x with the package fitter (Levenberg-Marquardt on the
/// linear model `c + slope * x`, which it solves exactly; this is ordinary least squares).
struct LineFitter {
    setup: Problem,
}

impl LineFitter {
    fn new() -> Result<LineFitter> {
        let f = Formula::new("c + slope * x", &["x".to_string()])?;
        Ok(LineFitter {
            setup: Problem::new(f, Loss::L2, Target::Linear, vec![false, false])?,
        })
    }
    fn fit(&self, x: &[f64], y: &[f64]) -> Result<(f64, f64)> {
        let data = Data::new(&self.setup.formula, vec![x.to_vec()])?;
        let rep = fit_full(&self.setup, &data, y, None, None, 1)?;
        let p = &rep.multi.best.params;
        if !(p[0].is_finite() && p[1].is_finite()) {
            return Err(Error::Numerical(
                "tile: the line fit did not converge".into(),
            ));
        }
        Ok((p[0], p[1]))
    }
}

pub fn tile(x: &[f64], n: usize, dim: usize, opts: &TileOptions) -> Result<Tile> {
    tile_with(x, n, dim, opts, KnnControl::default())
}

/// [`tile`] with a choice of kNN method and an abort flag.
pub fn tile_with(
    x: &[f64],
    n: usize,
    dim: usize,
    opts: &TileOptions,
    ctl: KnnControl,
) -> Result<Tile> {
    let k = opts.k;
    if k < 1 {
        return Err(Error::arg("k", "must be at least 1"));
    }
    if opts.n_draws < 1 {
        return Err(Error::arg("n_draws", "must be at least 1"));
    }
    let p = prepare(x, n, dim)?;
    let sizes = if opts.sizes.is_empty() {
        if opts.n_sizes < 3 {
            return Err(Error::arg(
                "n_sizes",
                format!("must be at least 3, got {}", opts.n_sizes),
            ));
        }
        let s = default_sizes(p.n, k, opts.n_sizes);
        if s.len() < 3 {
            return Err(Error::arg(
                "X",
                format!(
                    "has {} distinct points, too few for 3 subsample sizes n/2, n/4, n/8 of at least {} points; pass more points or explicit sizes",
                    p.n,
                    (4 * (k + 1)).max(8)
                ),
            ));
        }
        s
    } else {
        let s = opts.sizes.clone();
        if s.len() < 2 {
            return Err(Error::arg("sizes", "give at least 2 subsample sizes"));
        }
        if s.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::arg("sizes", "must be strictly increasing"));
        }
        if s[0] < k + 2 {
            return Err(Error::arg(
                "sizes",
                format!(
                    "the smallest size must be at least k + 2 = {}, got {}",
                    k + 2,
                    s[0]
                ),
            ));
        }
        if *s.last().unwrap() > p.n {
            return Err(Error::arg(
                "sizes",
                format!(
                    "the largest size {} exceeds the number of distinct points {}",
                    s.last().unwrap(),
                    p.n
                ),
            ));
        }
        s
    };
    let m = sizes.len();
    let dmax = sizes[m - 1];
    let nd = opts.n_draws;
    // nested subsamples: draw b is a uniformly random prefix of length dmax (partial
    // Fisher-Yates with its own stream), and size D uses its first D points
    let perms: Vec<Vec<usize>> = (0..nd)
        .map(|b| {
            let mut rng =
                Xoshiro256PlusPlus::seed_from_u64(stream_seed(opts.seed, TAG_DRAW, b as u64));
            let mut perm: Vec<usize> = (0..p.n).collect();
            for i in 0..dmax {
                let j = rng.random_range(i..p.n);
                perm.swap(i, j);
            }
            perm.truncate(dmax);
            perm
        })
        .collect();
    let tasks: Vec<(usize, usize)> = (0..nd).flat_map(|b| (0..m).map(move |j| (b, j))).collect();
    let per_draw: Vec<f64> = tasks
        .par_iter()
        .map(|&(b, j)| -> Result<f64> {
            let dsz = sizes[j];
            let mut sub = Vec::with_capacity(dsz * p.dim);
            for &i in &perm_prefix(&perms[b], dsz) {
                sub.extend_from_slice(&p.x[i * p.dim..(i + 1) * p.dim]);
            }
            let nn = knn_unchecked(&sub, dsz, p.dim, k, ctl)?;
            Ok((0..dsz)
                .map(|i| nn.distances[i * k + k - 1].ln())
                .sum::<f64>()
                / dsz as f64)
        })
        .collect::<Result<Vec<f64>>>()?;
    let xs: Vec<f64> = sizes
        .iter()
        .map(|&s| match opts.abscissa {
            Abscissa::LogDm1 => ((s - 1) as f64).ln(),
            Abscissa::Digamma => digamma(s as f64),
        })
        .collect();
    let mean_over = |draws: &mut dyn Iterator<Item = usize>| -> Vec<f64> {
        let mut acc = vec![0.0; m];
        let mut c = 0usize;
        for b in draws {
            for j in 0..m {
                acc[j] += per_draw[b * m + j];
            }
            c += 1;
        }
        acc.iter().map(|a| a / c as f64).collect()
    };
    let mean_log = mean_over(&mut (0..nd));
    let lf = LineFitter::new()?;
    let (intercept, slope) = lf.fit(&xs, &mean_log)?;
    if slope >= 0.0 {
        return Err(Error::Numerical(format!(
            "tile: the mean log neighbour distance does not decrease with the subsample size (slope {slope:.3}); the data look like noise or a single cluster at these sizes"
        )));
    }
    let d = -1.0 / slope;
    let local_d: Vec<f64> = (0..m)
        .map(|j| {
            let (a, b) = if j == 0 {
                (0, 1)
            } else if j == m - 1 {
                (m - 2, m - 1)
            } else {
                (j - 1, j + 1)
            };
            -(xs[b] - xs[a]) / (mean_log[b] - mean_log[a])
        })
        .collect();
    let boot_d: Vec<f64> = if nd >= 2 {
        let reps: Vec<Result<f64>> = (0..opts.n_boot)
            .into_par_iter()
            .map(|r| {
                let mut rng =
                    Xoshiro256PlusPlus::seed_from_u64(stream_seed(opts.seed, TAG_BOOT, r as u64));
                let pick: Vec<usize> = (0..nd).map(|_| rng.random_range(0..nd)).collect();
                let ml = mean_over(&mut pick.into_iter());
                let (_, s) = lf.fit(&xs, &ml)?;
                Ok(-1.0 / s)
            })
            .collect();
        reps.into_iter().collect::<Result<Vec<f64>>>()?
    } else {
        Vec::new()
    };
    Ok(Tile {
        d,
        slope,
        intercept,
        sizes,
        x: xs,
        mean_log,
        per_draw,
        local_d,
        boot_d,
        n_draws: nd,
        k,
        n_points: p.n,
        n_duplicates: p.n_duplicates,
    })
}

fn perm_prefix(perm: &[usize], len: usize) -> Vec<usize> {
    perm[..len].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn gauss(rng: &mut Xoshiro256PlusPlus) -> f64 {
        // Box-Muller
        let u: f64 = rng.random::<f64>().max(1e-300);
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// uniform points on the unit sphere S^d in R^(d+1)
    fn sphere(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * (d + 1));
        for _ in 0..n {
            let v: Vec<f64> = (0..=d).map(|_| gauss(&mut rng)).collect();
            let r = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            x.extend(v.iter().map(|a| a / r));
        }
        x
    }

    #[test]
    fn digamma_values() {
        assert!((digamma(1.0) + 0.5772156649015329).abs() < 1e-13);
        assert!((digamma(10.0) - 2.251752589066721).abs() < 1e-13);
        assert!((digamma(0.5) + 1.9635100260214235).abs() < 1e-12);
    }

    #[test]
    fn unique_rows_drops_later_copies() {
        let x = [1.0, 2.0, 0.0, 0.0, 1.0, 2.0, -0.0, 0.0, 3.0, 1.0];
        assert_eq!(unique_rows(&x, 5, 2), vec![0, 1, 4]);
    }

    #[test]
    fn sphere_estimates() {
        let (n, d) = (4000, 3);
        let x = sphere(n, d, 1);
        let t = twonn(&x, n, d + 1, 0.1, TwoNNMethod::Linear).unwrap();
        assert!((t.d - 3.0).abs() < 0.3, "twonn {}", t.d);
        let t = twonn(&x, n, d + 1, 0.0, TwoNNMethod::Ml).unwrap();
        assert!((t.d - 3.0).abs() < 0.3, "twonn ml {}", t.d);
        let m = mle(&x, n, d + 1, 20, false).unwrap();
        assert!((m.d - 3.0).abs() < 0.3, "mle {}", m.d);
        let opts = TileOptions {
            n_draws: 4,
            n_boot: 50,
            ..Default::default()
        };
        let tl = tile(&x, n, d + 1, &opts).unwrap();
        assert!((tl.d - 3.0).abs() < 0.3, "tile {}", tl.d);
        assert_eq!(tl.boot_d.len(), 50);
        // reproducible and thread-count invariant
        let tl2 = crate::fit::with_threads(1, || tile(&x, n, d + 1, &opts).unwrap()).unwrap();
        assert_eq!(tl.per_draw, tl2.per_draw);
        assert_eq!(tl.boot_d, tl2.boot_d);
    }

    #[test]
    fn duplicates_removed() {
        let (n, d) = (500, 2);
        let mut x = sphere(n, d, 2);
        let extra: Vec<f64> = x[..30].to_vec();
        x.extend(extra);
        let t = twonn(&x, n + 10, d + 1, 0.1, TwoNNMethod::Linear).unwrap();
        assert_eq!(t.n_duplicates, 10);
        assert_eq!(t.n_points, n);
    }

    #[test]
    fn errors() {
        let x = sphere(10, 2, 3);
        assert!(mle(&x, 10, 3, 10, false).is_err());
        assert!(mle(&x, 10, 3, 1, false).is_err());
        assert!(mle(&x, 10, 3, 2, true).is_err());
        assert!(twonn(&x, 10, 3, 1.0, TwoNNMethod::Linear).is_err());
        assert!(twonn(&x, 10, 3, 0.0, TwoNNMethod::Linear).is_err());
        assert!(tile(&x, 10, 3, &TileOptions::default()).is_err());
        let lattice: Vec<f64> = (0..100)
            .flat_map(|i| [(i % 10) as f64, (i / 10) as f64])
            .collect();
        assert!(
            mle(&lattice, 100, 2, 4, false).is_ok() || mle(&lattice, 100, 2, 4, false).is_err()
        );
    }
}
