//! Levenberg-Marquardt on squared or Huber loss, multi-start, automatic starts by variable
//! projection, and covariance estimates.
//!
//! Objective: `F(theta) = sum_i c_i rho(r_i)`, with `r_i = f_i - y_i` (linear target) or
//! `r_i = ln f_i - ln y_i` (log target), `c_i` optional point weights, and
//! `rho(r) = r^2/2` (l2) or Huber's `rho(r) = r^2/2 if |r| <= delta else delta (|r| - delta/2)`
//! (the same as `scipy.special.huber(delta, r)`).
//!
//! Huber is handled by iteratively reweighted Gauss-Newton inside LM: the step solves
//! `(J' C W J + lambda D) h = -J' C psi(r)` with `W = psi(r)/r`; the quadratic model with those
//! weights majorises the Huber objective, so accepted steps always decrease F (Nielsen's
//! damping update with the gain ratio measured on the true objective).
//!
//! Parameters flagged positive are fitted as `ln P` (the solver's internal coordinates).

mod covariance;
mod linalg;
mod lm;
mod multistart;
mod problem;
pub(crate) mod residuals;
mod starts;
mod subsample;
#[cfg(test)]
mod tests;
mod varpro;

pub use covariance::{covariance, covariance_and_residuals};
pub use linalg::spd_inverse;
pub use lm::{lm, lm_with};
pub use multistart::{grid, multistart, MultiFit, SCREEN_MIN_STARTS};
pub use problem::{LmOptions, LmResult, Loss, Problem, Target, Termination, Workspace};
pub use residuals::objective;
pub use starts::auto_starts;
pub use subsample::{POLISH_FULL, SUBSAMPLE, SUBSAMPLE_MIN};

use crate::error::{Error, Result};
use crate::expr::Data;
use covariance::{covariance_at_lm_point, covariance_residuals_sensitivity};
use multistart::multistart_in;
use std::sync::atomic::AtomicBool;

/// Everything a fit reports (natural coordinates).
#[derive(Debug, Clone)]
pub struct FitReport {
    pub multi: MultiFit,
    /// covariance of the natural parameters (row-major), None if singular
    pub cov: Option<Vec<f64>>,
    /// residuals on the target scale at the optimum
    pub residuals: Vec<f64>,
    /// the starts that were run (natural coordinates)
    pub starts: Vec<Vec<f64>>,
    /// true when the starts were derived automatically
    pub auto_starts: bool,
    /// per parameter, the largest relative change of the model at any used data point per
    /// unit of the parameter (per 100% for log-space parameters): `max_i |df_i/dP| / |f_i|`
    /// times |P| (log space) or max(|P|, 1); empty when the model is 0 or not finite at some
    /// point or the parameters are not finite (see [`sensitivity`])
    pub sensitivity: Vec<f64>,
    /// the largest |model value| over the used data points (NaN when not evaluated)
    pub model_max: f64,
}

/// [`FitReport::sensitivity`] and [`FitReport::model_max`] at `params` by one evaluation of the
/// model and its Jacobian in natural coordinates (O(n p)). `fit_full` takes the same numbers from
/// the Jacobian its covariance uses (no further evaluation); this is their reference.
pub fn sensitivity(
    s: &Problem,
    data: &Data,
    weights: Option<&[f64]>,
    params: &[f64],
) -> (Vec<f64>, f64) {
    let (n, p) = (data.n, params.len());
    if params.iter().any(|v| !v.is_finite()) {
        return (Vec::new(), f64::NAN);
    }
    let mut ev = crate::expr::EvalWs::default();
    let mut f = vec![0.0; n];
    let mut jac = vec![0.0; n * p];
    s.formula
        .eval(params, data, &mut ev, &mut f, Some(&mut jac));
    covariance::relative_effects(
        s,
        params,
        n,
        weights,
        |i| f[i],
        |k, i| jac[k * n + i].abs() / f[i].abs(),
    )
}

/// Validate inputs and run a complete fit: starts (given, or automatic by variable
/// projection keeping `n_auto`), parallel multi-start LM, covariance, residuals. A set
/// `abort` flag stops the work between starts ([`Error::Interrupted`]).
pub fn fit_full(
    s: &Problem,
    data: &Data,
    y_raw: &[f64],
    weights: Option<&[f64]>,
    starts: Option<Vec<Vec<f64>>>,
    n_auto: usize,
    abort: Option<&AtomicBool>,
) -> Result<FitReport> {
    let p = s.n_params();
    let y = s.prepare_y(y_raw, data.n)?;
    s.check_workspace(data.n)?;
    if let Some(w) = weights {
        Problem::check_weights(w, data.n)?;
    }
    let normalised = weights.map(Problem::normalised_weights);
    let weights = normalised.as_ref().map(|(w, _)| &w[..]);
    let w_exp = normalised.as_ref().map_or(0, |(_, e)| *e);
    let n_eff = weights.map_or(data.n, |w| w.iter().filter(|&&v| v > 0.0).count());
    if n_eff < p {
        return Err(Error::arg(
            "y",
            format!(
                "{n_eff} data points cannot determine {p} parameters ({}); give at least {p} points",
                s.formula.param_names().join(", ")
            ),
        ));
    }
    let auto = starts.is_none();
    // large data: starts are screened on a subsample (see `subsample`)
    let sub = subsample::subsample(data, &y, y_raw, weights);
    let starts = match starts {
        Some(st) => {
            for (i, v) in st.iter().enumerate() {
                if v.len() != p {
                    return Err(Error::arg(
                        "starts",
                        format!("start {i} has {} values, expected {p}", v.len()),
                    ));
                }
                if let Some(k) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::arg(
                        "starts",
                        format!(
                            "start {i} has a non-finite value for '{}'",
                            s.formula.param_names()[k]
                        ),
                    ));
                }
                for k in 0..p {
                    if s.positive[k] && v[k] <= 0.0 {
                        return Err(Error::arg(
                            "starts",
                            format!("start {i}: '{}' is fitted in log space and must start positive, got {}", s.formula.param_names()[k], v[k]),
                        ));
                    }
                }
            }
            st
        }
        None => match &sub {
            Some(sb) => auto_starts(s, &sb.data, &sb.y_raw, &sb.y, n_auto.max(1), abort),
            None => auto_starts(s, data, y_raw, &y, n_auto.max(1), abort),
        },
    };
    let mut ws = Workspace::default();
    if abort.is_some_and(|a| a.load(std::sync::atomic::Ordering::Relaxed)) {
        return Err(Error::Interrupted);
    }
    let mut multi = multistart_in(s, data, &y, weights, &starts, &mut ws, abort, sub.as_ref())?;
    drop(sub);
    let (cov, residuals, (sens, model_max)) = if !multi.best.objective.is_finite() {
        (None, vec![f64::NAN; data.n], (Vec::new(), f64::NAN))
    } else if let Some(crs) = (starts.len() == 1)
        .then(|| covariance_at_lm_point(s, &mut ws, &y, weights, &multi.best))
        .flatten()
    {
        crs
    } else {
        covariance_residuals_sensitivity(s, data, &y, weights, &multi.best.params)
    };
    // A point is only an answer when everything reported about it is finite: a parameter that
    // ran off to infinity, or residuals that overflow where the objective did not (a term
    // that is 0 * inf at some point), is a failed fit, never a converged one.
    if multi.best.params.iter().any(|v| !v.is_finite())
        || !multi.best.objective.is_finite()
        || residuals.iter().any(|v| !v.is_finite())
    {
        multi.best.status = Termination::Failed;
        if let Some(st) = multi.statuses.get_mut(multi.best_index) {
            *st = Termination::Failed;
        }
    }
    if w_exp != 0 {
        // objectives on the user's weight scale
        multi.best.objective = libm::scalbn(multi.best.objective, w_exp);
        for o in multi.objectives.iter_mut() {
            *o = libm::scalbn(*o, w_exp);
        }
    }
    Ok(FitReport {
        multi,
        cov,
        residuals,
        starts,
        auto_starts: auto,
        sensitivity: sens,
        model_max,
    })
}
