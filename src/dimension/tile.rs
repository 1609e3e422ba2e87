//! The tile estimator (Pettis et al. 1979, Costa & Hero 2004): see [`super`].

use super::knn::{knn_unchecked, KnnControl};
use super::prepared::prepare;
use crate::error::{Error, Result};
use crate::rng::{in_range, tagged_stream};
use rayon::prelude::*;

const TAG_DRAW: u64 = 1;
const TAG_BOOT: u64 = 2;

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

/// Least-squares line `y = c + slope x` (closed form on centred sums; `x` not all equal).
fn fit_line(x: &[f64], y: &[f64]) -> Result<(f64, f64)> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (&xi, &yi) in x.iter().zip(y) {
        sxx += (xi - mx) * (xi - mx);
        sxy += (xi - mx) * (yi - my);
    }
    let slope = sxy / sxx;
    let c = my - slope * mx;
    if !(slope.is_finite() && c.is_finite()) {
        return Err(Error::arg(
            "X",
            "tile: the line fit is not finite (degenerate sizes or distances)",
        ));
    }
    Ok((c, slope))
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
            let mut rng = tagged_stream(opts.seed, TAG_DRAW, b as u64);
            let mut perm: Vec<usize> = (0..p.n).collect();
            for i in 0..dmax {
                let j = in_range(&mut rng, i, p.n);
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
                / dsz as f64
                + p.log_scale)
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
    let (intercept, slope) = fit_line(&xs, &mean_log)?;
    if slope >= 0.0 {
        return Err(Error::arg("X", format!(
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
                let mut rng = tagged_stream(opts.seed, TAG_BOOT, r as u64);
                let pick: Vec<usize> = (0..nd).map(|_| in_range(&mut rng, 0, nd)).collect();
                let ml = mean_over(&mut pick.into_iter());
                let (_, s) = fit_line(&xs, &ml)?;
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
