//! Covariance of the fitted parameters (l2: `s^2 (J'CJ)^-1`; Huber: an M-estimator sandwich
//! whose bread uses a kernel-smoothed psi').

use super::linalg::{gram, spd_inverse};
use super::problem::{LmResult, Loss, Problem, Target, Workspace};
use super::residuals::{psi_w, residuals};
use crate::expr::Data;

/// Covariance of the natural parameters at `params` (row-major p x p), or None when the
/// information matrix is singular. l2: `s^2 (J'CJ)^-1` with `s^2 = 2F/(n-p)`. Huber: the
/// asymptotic M-estimator sandwich `A^-1 B A^-1 * n/(n-p)` (Huber 1967) with the meat
/// `B = J'C psi(r)^2 J` and the bread `A = J'C diag(psi'(r)) J`, where psi' (the indicator of
/// |r| <= delta) is smoothed by a Gaussian kernel (see [`bread_weights`]).
pub fn covariance(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    params: &[f64],
) -> Option<Vec<f64>> {
    covariance_and_residuals(s, data, y, c, params).0
}

/// [`covariance`] and the residuals at `params` (NaN when the model is not finite there), from
/// one evaluation.
pub fn covariance_and_residuals(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    params: &[f64],
) -> (Option<Vec<f64>>, Vec<f64>) {
    let (cov, r, _) = covariance_residuals_sensitivity(s, data, y, c, params);
    (cov, r)
}

/// Covariance (None when singular), residuals, and (sensitivity, largest |model|) of
/// [`super::sensitivity`].
pub(crate) type CovResSens = (Option<Vec<f64>>, Vec<f64>, (Vec<f64>, f64));

/// [`covariance_and_residuals`] and the sensitivity of [`super::sensitivity`] from the same
/// Jacobian (no further evaluation).
pub(crate) fn covariance_residuals_sensitivity(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    params: &[f64],
) -> CovResSens {
    let n = data.n;
    let p = params.len();
    let mut ws = Workspace::default();
    let (mut f, mut r, mut jac) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * p]);
    let mut nat = vec![0.0; p];
    let mut th = vec![0.0; p];
    s.to_internal(params, &mut th);
    // the Jacobian with respect to natural parameters: the solver's internal Jacobian with the
    // columns of log-space parameters divided by P (chain rule), unless some P is 0 or not
    // finite, in which case the formula is differentiated without the log transform
    let via_internal = chain_rule_applies(s, params);
    let obj = if via_internal {
        let obj = residuals(
            s,
            data,
            y,
            c,
            &th,
            &mut ws.ev,
            &mut nat,
            &mut f,
            &mut r,
            Some(&mut jac),
            None,
        );
        jacobian_to_natural(s, params, &mut jac, n);
        obj
    } else {
        let mut nat_setup = s.clone();
        nat_setup.positive = vec![false; p];
        residuals(
            &nat_setup,
            data,
            y,
            c,
            params,
            &mut ws.ev,
            &mut nat,
            &mut f,
            &mut r,
            Some(&mut jac),
            None,
        )
    };
    if !obj.is_finite() {
        return (None, vec![f64::NAN; n], (Vec::new(), f64::NAN));
    }
    let sens = sensitivity_from(s, params, &jac, &r, y, c);
    (covariance_from(s.loss, obj, &r, &jac, c, n, p), r, sens)
}

/// [`covariance_and_residuals`] from the residuals and Jacobian an LM run left in `ws` at its
/// returned point (saves an evaluation); None when a log-space parameter is 0 or not finite
/// there (then the chain rule through the log does not apply).
pub(crate) fn covariance_at_lm_point(
    s: &Problem,
    ws: &mut Workspace,
    y: &[f64],
    c: Option<&[f64]>,
    best: &LmResult,
) -> Option<CovResSens> {
    let params = &best.params;
    let p = params.len();
    let n = ws.r.len();
    if ws.jac.len() != n * p || !chain_rule_applies(s, params) {
        return None;
    }
    let mut jac = std::mem::take(&mut ws.jac);
    jacobian_to_natural(s, params, &mut jac, n);
    let r = std::mem::take(&mut ws.r);
    let sens = sensitivity_from(s, params, &jac, &r, y, c);
    Some((
        covariance_from(s.loss, best.objective, &r, &jac, c, n, p),
        r,
        sens,
    ))
}

/// [`super::sensitivity`] from the residual Jacobian in natural coordinates (column-major n x
/// p), the residuals and the prepared target: the model is `exp(r + ln y)` (log target, where
/// the Jacobian is already relative: d ln f) or `r + y` (linear).
fn sensitivity_from(
    s: &Problem,
    params: &[f64],
    jac: &[f64],
    r: &[f64],
    y: &[f64],
    c: Option<&[f64]>,
) -> (Vec<f64>, f64) {
    let n = r.len();
    let log = s.target == Target::Log;
    let model = |i: usize| {
        if log {
            (r[i] + y[i]).exp()
        } else {
            r[i] + y[i]
        }
    };
    relative_effects(s, params, n, c, model, |k, i| {
        if log {
            jac[k * n + i].abs()
        } else {
            jac[k * n + i].abs() / model(i).abs()
        }
    })
}

/// The sensitivity of [`super::sensitivity`] and the largest |model| over the points of
/// positive weight `c`, from each point's model value and `rel(k, i)`, the relative change of
/// the model at point i per unit of parameter k (scaled here by |P| for log-space parameters,
/// max(|P|, 1) for the others). The sensitivity is empty when the model is 0 or not finite at a
/// used point, or a parameter is not finite; the largest |model| is NaN when one is NaN.
pub(crate) fn relative_effects(
    s: &Problem,
    params: &[f64],
    n: usize,
    c: Option<&[f64]>,
    model: impl Fn(usize) -> f64,
    rel: impl Fn(usize, usize) -> f64,
) -> (Vec<f64>, f64) {
    let used = |i: usize| c.is_none_or(|w| w[i] > 0.0);
    let (mut fmax, mut nan, mut ok) = (0.0f64, false, true);
    for i in (0..n).filter(|&i| used(i)) {
        let a = model(i).abs();
        nan |= a.is_nan();
        fmax = fmax.max(a);
        ok &= a > 0.0 && a.is_finite();
    }
    if nan {
        fmax = f64::NAN;
    }
    if !ok || params.iter().any(|v| !v.is_finite()) {
        return (Vec::new(), fmax);
    }
    let eff = params
        .iter()
        .enumerate()
        .map(|(k, &pk)| {
            let m = (0..n)
                .filter(|&i| used(i))
                .map(|i| rel(k, i))
                .fold(0.0f64, |a, b| {
                    if b.is_nan() || a.is_nan() {
                        f64::NAN
                    } else {
                        a.max(b)
                    }
                });
            let scale = if s.positive[k] {
                pk.abs()
            } else {
                pk.abs().max(1.0)
            };
            m * scale
        })
        .collect();
    (eff, fmax)
}

/// Whether a Jacobian in the solver's coordinates converts to natural parameters by the
/// chain rule at `params`: every log-space parameter positive and finite there (then its
/// internal value ln P is finite too).
fn chain_rule_applies(s: &Problem, params: &[f64]) -> bool {
    params
        .iter()
        .zip(&s.positive)
        .all(|(&v, &pos)| !pos || (v > 0.0 && v.is_finite()))
}

/// Chain rule from internal to natural coordinates: the columns (column-major, length `n`)
/// of log-space parameters are divided by P, as d/dP = (d/d ln P) / P.
fn jacobian_to_natural(s: &Problem, params: &[f64], jac: &mut [f64], n: usize) {
    for (k, &v) in params.iter().enumerate() {
        if s.positive[k] {
            let inv = 1.0 / v;
            jac[k * n..(k + 1) * n].iter_mut().for_each(|x| *x *= inv);
        }
    }
}

fn covariance_from(
    loss: Loss,
    obj: f64,
    r: &[f64],
    jac: &[f64],
    c: Option<&[f64]>,
    n: usize,
    p: usize,
) -> Option<Vec<f64>> {
    let n_eff: f64 = c.map_or(n as f64, |c| c.iter().sum());
    if n_eff <= p as f64 {
        return None;
    }
    // per-point weights of the bread (c psi', smoothed for Huber) and the meat (c psi^2),
    // then one weighted Gram matrix each
    let dpsi = bread_weights(loss, r, c, p);
    let mut wa = vec![0.0; n];
    let mut wb = vec![0.0; n];
    for i in 0..n {
        let (ps, _) = psi_w(loss, r[i]);
        let ci = c.map_or(1.0, |c| c[i]);
        wa[i] = ci * dpsi[i];
        wb[i] = ci * ps * ps;
    }
    let mut a = vec![0.0; p * p];
    let mut b = vec![0.0; p * p];
    let mut g = vec![0.0; p];
    let mut scratch = r.to_vec();
    gram(jac, &wa, &mut scratch, n, p, &mut a, &mut g);
    gram(jac, &wb, &mut scratch, n, p, &mut b, &mut g);
    let ainv = spd_inverse(&a, p)?;
    let dof = n_eff / (n_eff - p as f64);
    let mut cov = vec![0.0; p * p];
    match loss {
        Loss::L2 => {
            let s2 = 2.0 * obj / (n_eff - p as f64);
            for v in 0..p * p {
                cov[v] = s2 * ainv[v];
            }
        }
        Loss::Huber(_) => {
            // A^-1 B A^-1
            let mut tmp = vec![0.0; p * p];
            for i in 0..p {
                for j in 0..p {
                    tmp[i * p + j] = (0..p).map(|k| ainv[i * p + k] * b[k * p + j]).sum();
                }
            }
            for i in 0..p {
                for j in 0..p {
                    cov[i * p + j] = dof
                        * (0..p)
                            .map(|k| tmp[i * p + k] * ainv[k * p + j])
                            .sum::<f64>();
                }
            }
        }
    }
    cov.iter().all(|v| v.is_finite()).then_some(cov)
}

/// Per-point derivative of psi for the sandwich's bread. L2: 1. Huber: psi'(r) = 1{|r| <= delta}
/// smoothed by a Gaussian kernel, `Phi((delta - r)/h) - Phi((-delta - r)/h)`, with Silverman's
/// bandwidth `h = 0.9 min(sd, IQR/1.349) n^(-1/5)` of the residuals (points of positive weight;
/// sd with n - p degrees of freedom). With the default small delta most residuals lie outside
/// it and the fit behaves like least absolute deviations, where the bread is 2 delta times the
/// residual density at zero: the raw count of points inside delta estimates it too noisily
/// (Wald intervals covered the truth 18-40% of the time), the kernel estimate does not (as in
/// quantile-regression sandwiches). When delta is large against h this is the indicator itself.
/// Falls back to the indicator when the residuals have no spread (h = 0).
pub(crate) fn bread_weights(loss: Loss, r: &[f64], c: Option<&[f64]>, p: usize) -> Vec<f64> {
    let delta = match loss {
        Loss::L2 => return vec![1.0; r.len()],
        Loss::Huber(d) => d,
    };
    let mut used: Vec<f64> = r
        .iter()
        .enumerate()
        .filter(|&(i, v)| v.is_finite() && c.is_none_or(|c| c[i] > 0.0))
        .map(|(_, &v)| v)
        .collect();
    let m = used.len();
    let h = if m > p + 1 {
        let mean = used.iter().sum::<f64>() / m as f64;
        let sd =
            (used.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - p) as f64).sqrt();
        // quartiles by selection (O(n)), interpolated as numpy's default
        let mut q = |t: f64| {
            let x = t * (m - 1) as f64;
            let (i, f) = (x.floor() as usize, x - x.floor());
            let (_, &mut lo, rest) = used.select_nth_unstable_by(i, f64::total_cmp);
            let hi = rest.iter().copied().fold(f64::INFINITY, f64::min);
            if f > 0.0 && hi.is_finite() {
                lo + f * (hi - lo)
            } else {
                lo
            }
        };
        let iqr = (q(0.75) - q(0.25)) / 1.349;
        let s = if iqr > 0.0 { sd.min(iqr) } else { sd };
        0.9 * s * (m as f64).powf(-0.2)
    } else {
        0.0
    };
    if !(h > 0.0 && h.is_finite()) {
        return r
            .iter()
            .map(|&ri| if ri.abs() <= delta { 1.0 } else { 0.0 })
            .collect();
    }
    // the kernel mass over [-delta, delta] at m = |r|/h (symmetric in r), w = 2 delta / h wide
    let w = 2.0 * delta / h;
    if w < 8.0 {
        // composite Simpson over [m - w/2, m + w/2] of the standard normal density, on an even
        // number of panels at most 1/4 wide (relative error below 1e-4 where the weight matters;
        // far smaller for the default small delta), the exponentials vectorised: a handful of
        // fast exp per point instead of two erfc
        let panels = 4 * (w.ceil() as usize).max(1);
        let nodes = panels + 1;
        let step = w / panels as f64;
        // in blocks of points: the exponents of all points at once took up to 33 x 16 bytes per
        // point (270 MB at 10^6 points, more than the whole fit); the exponential is elementwise
        // and a block holds a multiple of 8 values, so the bits are those of one pass
        const BLOCK: usize = 4096;
        let cap = BLOCK.min(r.len()) * nodes;
        let (mut z, mut e) = (Vec::with_capacity(cap), vec![0.0; cap]);
        let mut out = Vec::with_capacity(r.len());
        let norm = step / 3.0 * (0.5 * std::f64::consts::FRAC_2_SQRT_PI / std::f64::consts::SQRT_2);
        let coef = |j: usize| {
            if j == 0 || j == panels {
                1.0
            } else if j % 2 == 1 {
                4.0
            } else {
                2.0
            }
        };
        for block in r.chunks(BLOCK) {
            z.clear();
            for &ri in block {
                let m = ri.abs() / h;
                for j in 0..nodes {
                    let u = -0.5 * w + j as f64 * step - m;
                    z.push(-0.5 * u * u);
                }
            }
            let e = &mut e[..z.len()];
            crate::simd::fastmath::exp_slice(&z, e);
            out.extend(
                e.chunks_exact(nodes)
                    .map(|c| norm * c.iter().enumerate().map(|(j, v)| v * coef(j)).sum::<f64>()),
            );
        }
        return out;
    }
    let phi = |x: f64| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
    r.iter()
        .map(|&ri| {
            // on |r| both terms are lower tails (no cancellation near 1)
            let a = ri.abs();
            phi((delta - a) / h) - phi((-delta - a) / h)
        })
        .collect()
}
