//! The fitting problem: formula, loss, target scale, positivity (log-space parameters) and
//! bounds, with the coordinate maps and input checks; the solver's options, workspace and
//! per-start result.

use crate::error::{Error, Result};
use crate::expr::{EvalWs, Formula};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    L2,
    Huber(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Linear,
    Log,
}

/// Termination of one LM run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// relative decrease of the objective below ftol
    Ftol = 0,
    /// relative step below xtol
    Xtol = 1,
    /// gradient below gtol (includes an exactly zero objective)
    Gtol = 2,
    /// no step decreases the objective any further at machine precision
    Stalled = 3,
    /// iteration limit reached
    MaxIter = 4,
    /// the model is not finite (or not positive for a log target) at the start, or a
    /// parameter, the objective or a residual is not finite at the point reached
    Failed = 5,
    /// parameters ([`LmResult::diverging`]) run off towards infinity (or 0 in log space) while
    /// the objective hardly decreases: a valley to infinity, the law is not identified
    Diverged = 6,
}

impl Termination {
    pub fn converged(self) -> bool {
        matches!(
            self,
            Termination::Ftol | Termination::Xtol | Termination::Gtol | Termination::Stalled
        )
    }
    pub fn message(self) -> &'static str {
        match self {
            Termination::Ftol => "converged: relative reduction of the objective below ftol",
            Termination::Xtol => "converged: relative step size below xtol",
            Termination::Gtol => "converged: gradient below gtol",
            Termination::Stalled => {
                "converged: no step decreases the objective at machine precision"
            }
            Termination::MaxIter => "not converged: iteration limit (max_iter) reached",
            Termination::Failed => {
                "failed: the model, a parameter or a residual is not finite (or the model not positive, with target='log') at the start or at the point reached"
            }
            Termination::Diverged => {
                "not converged: parameters diverge (run off towards infinity, or 0 in log space, while the objective hardly changes): the law is not identified by these data"
            }
        }
    }
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LmOptions {
    pub max_iter: usize,
    pub ftol: f64,
    pub xtol: f64,
    pub gtol: f64,
}

impl Default for LmOptions {
    fn default() -> Self {
        LmOptions {
            max_iter: 500,
            ftol: 1e-14,
            xtol: 1e-12,
            gtol: 1e-12,
        }
    }
}

/// The fixed part of a fitting problem: formula, loss, target, parameterisation and bounds.
#[derive(Debug, Clone)]
pub struct Problem {
    pub formula: Formula,
    pub loss: Loss,
    pub target: Target,
    /// fitted as ln P
    pub positive: Vec<bool>,
    /// natural-space bounds (lower, upper); infinite for none
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub opts: LmOptions,
    /// the specialised evaluator when the formula is a sum of exponential-affine terms
    pub fast: Option<crate::expr::sumexp::SumExp>,
}

impl Problem {
    pub fn new(
        formula: Formula,
        loss: Loss,
        target: Target,
        positive: Vec<bool>,
    ) -> Result<Problem> {
        let p = formula.n_params();
        if positive.len() != p {
            return Err(Error::arg(
                "positive",
                format!("expected {p} flags, got {}", positive.len()),
            ));
        }
        if let Loss::Huber(d) = loss {
            if !(d > 0.0 && d.is_finite()) {
                return Err(Error::arg(
                    "delta",
                    format!("must be a positive finite number, got {d}"),
                ));
            }
        }
        let fast = crate::expr::sumexp::SumExp::detect(&formula, &positive);
        Ok(Problem {
            fast,
            formula,
            loss,
            target,
            positive,
            lower: vec![f64::NEG_INFINITY; p],
            upper: vec![f64::INFINITY; p],
            opts: LmOptions::default(),
        })
    }

    pub fn n_params(&self) -> usize {
        self.formula.n_params()
    }

    /// The specialised evaluator, if the formula has one for the current positivity flags.
    #[inline(always)]
    pub(crate) fn kernel(&self) -> Option<&crate::expr::sumexp::SumExp> {
        self.fast.as_ref().filter(|k| k.matches(&self.positive))
    }

    pub fn set_bounds(&mut self, lower: Vec<f64>, upper: Vec<f64>) -> Result<()> {
        let p = self.n_params();
        if lower.len() != p || upper.len() != p {
            return Err(Error::arg(
                "bounds",
                format!("expected {p} lower and upper bounds"),
            ));
        }
        for k in 0..p {
            let name = &self.formula.param_names()[k];
            if lower[k].is_nan() || upper[k].is_nan() || lower[k] >= upper[k] {
                return Err(Error::arg(
                    "bounds",
                    format!(
                        "for '{name}' the lower bound must be below the upper bound (got {} >= {})",
                        lower[k], upper[k]
                    ),
                ));
            }
            if self.positive[k] && upper[k] <= 0.0 {
                return Err(Error::arg(
                    "bounds",
                    format!(
                        "'{name}' is declared positive but its upper bound is {}",
                        upper[k]
                    ),
                ));
            }
        }
        self.lower = lower;
        self.upper = upper;
        Ok(())
    }

    /// Natural -> internal coordinates.
    pub fn to_internal(&self, nat: &[f64], out: &mut [f64]) {
        for k in 0..nat.len() {
            out[k] = if self.positive[k] {
                nat[k].ln()
            } else {
                nat[k]
            };
        }
    }
    /// Internal -> natural coordinates.
    #[inline(always)]
    pub fn to_natural(&self, th: &[f64], out: &mut [f64]) {
        for k in 0..th.len() {
            out[k] = if self.positive[k] { th[k].exp() } else { th[k] };
        }
    }
    pub(crate) fn internal_bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let p = self.n_params();
        let mut lo = vec![f64::NEG_INFINITY; p];
        let mut hi = vec![f64::INFINITY; p];
        for k in 0..p {
            if self.positive[k] {
                // kept within the normal float64 range: a log-space parameter that runs off
                // towards 0 (a term the data do not need) stays a positive number, never an
                // exact 0 that a warm start (ln 0) could not resume from
                lo[k] = if self.lower[k] > 0.0 {
                    self.lower[k].ln().max(LOG_MIN)
                } else {
                    LOG_MIN
                };
                hi[k] = self.upper[k].ln().min(LOG_MAX);
            } else {
                lo[k] = self.lower[k];
                hi[k] = self.upper[k];
            }
        }
        (lo, hi)
    }

    /// Validate and transform the response: ln y for a log target.
    pub fn prepare_y(&self, y: &[f64], n: usize) -> Result<Vec<f64>> {
        if y.len() != n {
            return Err(Error::arg(
                "y",
                format!("has length {} but the data has {n} rows", y.len()),
            ));
        }
        crate::error::check_finite("y", y)?;
        match self.target {
            Target::Linear => {
                // squared residuals of y beyond ~1e154 overflow float64, and of y below ~1e-154
                // underflow (the fit would stop at its start "converged"): refuse, with the fix
                let m = y.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
                if m > 0.0 && !(1e-140..=1e140).contains(&m) {
                    return Err(Error::arg(
                        "y",
                        format!("its largest |value| is {m:.3e}; with target='linear' the squared residuals of values this far from 1 leave float64's range (use y between 1e-140 and 1e140 in magnitude: rescale y and the law's linear coefficients, or fit target='log')"),
                    ));
                }
                Ok(y.to_vec())
            }
            Target::Log => {
                if let Some(i) = y.iter().position(|&v| v <= 0.0) {
                    return Err(Error::arg(
                        "y",
                        format!("must be positive with target='log' but has {} at index {i}; use target='linear' for signed responses", y[i]),
                    ));
                }
                let mut out = vec![0.0; n];
                crate::simd::fastmath::ln_slice(y, &mut out);
                Ok(out)
            }
        }
    }

    /// Weights divided by an exact power of two `2^e` when their largest value lies outside
    /// `[2^-64, 2^64]` (a fit depends only on relative weights, but tolerances and the
    /// objective's range do not: weights of 1e-310 made the first gradient "below gtol"); `e`
    /// is returned so that objectives can be reported on the user's scale (`scalbn(obj, e)`).
    pub fn normalised_weights(w: &[f64]) -> (std::borrow::Cow<'_, [f64]>, i32) {
        let m = w.iter().fold(0.0f64, |a, &b| a.max(b));
        if m == 0.0 || (WEIGHT_MIN..=WEIGHT_MAX).contains(&m) {
            return (std::borrow::Cow::Borrowed(w), 0);
        }
        let e = libm::frexp(m).1;
        let v = w.iter().map(|&x| libm::scalbn(x, -e)).collect();
        (std::borrow::Cow::Owned(v), e)
    }

    /// Refuse ([`Error::Memory`], naming `form`) a fit whose working memory would pass the
    /// memory budget: each of the current pool's threads evaluates the formula with a value
    /// and an adjoint per node and data point, two Jacobians (n x p) and ~12 vectors of n.
    pub fn check_workspace(&self, n: usize) -> Result<()> {
        let threads = rayon::current_num_threads().max(1);
        let per_point = 2 * self.formula.n_nodes() + 2 * self.n_params() + 12;
        crate::mem::check(
            "form",
            format_args!(
                "evaluating this formula ({} nodes) on {n} points with {threads} threads",
                self.formula.n_nodes()
            ),
            n.saturating_mul(threads),
            per_point.saturating_mul(8),
            "use a shorter formula, fewer data points or fewer threads (n_threads=)",
        )
    }

    pub fn check_weights(w: &[f64], n: usize) -> Result<()> {
        if w.len() != n {
            return Err(Error::arg(
                "weights",
                format!("has length {} but the data has {n} rows", w.len()),
            ));
        }
        crate::error::check_finite("weights", w)?;
        if let Some(i) = w.iter().position(|&v| v < 0.0) {
            return Err(Error::arg(
                "weights",
                format!("must be non-negative, got {} at index {i}", w[i]),
            ));
        }
        if !w.iter().any(|&v| v > 0.0) {
            return Err(Error::arg("weights", "all weights are zero"));
        }
        Ok(())
    }
}

/// Weights whose largest value lies in `[WEIGHT_MIN, WEIGHT_MAX]` are used as given.
const WEIGHT_MIN: f64 = 5.421010862427522e-20; // 2^-64
const WEIGHT_MAX: f64 = 1.8446744073709552e19; // 2^64

/// Reusable buffers for one LM run (one per thread).
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    pub(crate) ev: EvalWs,
    pub(crate) f: Vec<f64>,
    pub(crate) jac: Vec<f64>,
    pub(crate) r: Vec<f64>,
    pub(crate) jr: Vec<f64>,
    pub(crate) f2: Vec<f64>,
    pub(crate) jac2: Vec<f64>,
    pub(crate) r2: Vec<f64>,
    /// Huber base weights `delta / max(|r_i|, delta)` at the current point, and at the trial
    pub(crate) wb: Vec<f64>,
    pub(crate) wb2: Vec<f64>,
    pub(crate) nat: Vec<f64>,
    pub(crate) a: Vec<f64>,
    pub(crate) m: Vec<f64>,
    pub(crate) g: Vec<f64>,
    pub(crate) h: Vec<f64>,
    pub(crate) th_try: Vec<f64>,
}

/// Range of log-space parameters (internal coordinates): exp of it is a normal float64.
const LOG_MIN: f64 = -708.0;
const LOG_MAX: f64 = 709.0;

/// Outcome of one LM run, in natural coordinates.
#[derive(Debug, Clone)]
pub struct LmResult {
    pub params: Vec<f64>,
    pub objective: f64,
    pub status: Termination,
    pub n_iter: usize,
    pub n_eval: usize,
    /// with [`Termination::Diverged`], the parameters that run off (indices); with
    /// [`Termination::MaxIter`], those still running off along a valley at the limit
    pub diverging: Vec<usize>,
}

impl LmResult {
    pub(crate) fn failed(p: usize) -> LmResult {
        LmResult {
            params: vec![f64::NAN; p],
            objective: f64::INFINITY,
            status: Termination::Failed,
            n_iter: 0,
            n_eval: 1,
            diverging: Vec::new(),
        }
    }
}
