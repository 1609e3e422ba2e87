//! Exact k-nearest neighbours and intrinsic-dimension estimators (tile, TwoNN, MLE).
//!
//! - [`knn`]: exact kNN by blocked brute force with a GEMM kernel (see that module), and
//!   [`knn::kdtree`]: exact kNN by a k-d tree for low ambient dimension; [`knn::projected`]: exact kNN
//!   pruned by a principal-subspace bound, for points near a low-dimensional subspace of a
//!   high ambient dimension; `Algorithm::Auto` picks.
//! - [`twonn`], [`mle`], [`tile`]: TwoNN (Facco et al. 2017), MLE (Levina & Bickel 2004 with the
//!   MacKay & Ghahramani 2005 averaging of inverses), and the tile estimator (scaling of the
//!   mean log k-th neighbour distance with subsample size; Pettis et al. 1979, Costa & Hero 2004).
//!
//! Duplicate points (identical rows) make nearest-neighbour distances zero, which breaks every
//! estimator here (log 0). The estimators remove exact duplicate rows first, keeping the first
//! occurrence, and report how many were removed (the Python layer warns).
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

pub mod knn;
pub mod mle;
pub mod points;
mod prepared;
#[cfg(test)]
mod tests;
pub mod tile;
pub mod twonn;

pub use knn::{knn, knn_with, Algorithm, KnnControl};
pub use mle::{mle, mle_with, Mle};
pub use points::{unique_rows, Knn};
pub use tile::{default_sizes, digamma, tile, tile_with, Abscissa, Tile, TileOptions};
pub use twonn::{twonn, twonn_with, TwoNN, TwoNNMethod};
