//! Levenberg-Marquardt on squared or Huber loss from one start.

use super::linalg::{build_model, chol_solve};
use super::problem::{LmResult, Loss, Problem, Termination, Workspace};
use super::residuals::{residual_jacobian, residual_values, residuals};
use super::varpro;
use crate::expr::Data;
use std::sync::atomic::{AtomicBool, Ordering};

/// Initial trust radius relative to the scaled start (MINPACK's `factor`, whose default is
/// 100; 1 keeps the first steps from leaving a poor start's neighbourhood, which on the NIST
/// problems from their far start 1 helps BoxBOD and costs none).
const TR_FACTOR: f64 = 1.0;

/// Outer iterations between the divergence checks.
const DRIFT_WINDOW: usize = 20;
/// A drifting log-space parameter stops the run early beyond e^+-EXTREME (~1e+-20); a natural
/// one beyond 1e20.
const EXTREME: f64 = 46.0;
/// A window "crawls" when the objective falls by less than this fraction over it.
const CRAWL: f64 = 1e-3;

/// Divergence watch: parameters that grow in magnitude (natural coordinates: by half or more;
/// log space: by a factor e or more, either way) in two successive windows of
/// [`DRIFT_WINDOW`] iterations, in the same direction, while the objective crawls in both.
#[derive(Default)]
struct Watch {
    th: Vec<f64>,
    f: f64,
    /// per parameter: the previous window drifted, and in which direction
    prev: Vec<i8>,
    prev_crawl: bool,
}

impl Watch {
    fn check(&mut self, s: &Problem, th: &[f64], f: f64) -> Vec<usize> {
        let mut out = Vec::new();
        if self.th.is_empty() {
            self.prev = vec![0; th.len()];
        } else {
            let crawl = self.f - f <= CRAWL * self.f.abs();
            for k in 0..th.len() {
                let (a, b) = (self.th[k], th[k]);
                let dir: i8 = if s.positive[k] {
                    if b - a >= 1.0 {
                        1
                    } else if a - b >= 1.0 {
                        -1
                    } else {
                        0
                    }
                } else if b.abs() >= 1.5 * a.abs().max(1e-300) && (b - a).abs() >= 1.0 {
                    if b > 0.0 {
                        1
                    } else {
                        -1
                    }
                } else {
                    0
                };
                if crawl && self.prev_crawl && dir != 0 && dir == self.prev[k] {
                    out.push(k);
                }
                self.prev[k] = dir;
            }
            self.prev_crawl = crawl;
        }
        self.th.clear();
        self.th.extend_from_slice(th);
        self.f = f;
        out
    }
}

/// A trust-region step is accepted with scaled length in [TR_LOW, TR_HIGH] x the radius
/// (MINPACK's lmpar: within 10%), so that doubling the radius after a very good step doubles
/// the next step.
const TR_LOW: f64 = 0.9;
const TR_HIGH: f64 = 1.1;

/// Floor of a parameter's damping relative to the largest curvature it has had in the run.
const OWN_FLOOR: f64 = 1e-8;

/// Solve `(A + lambda diag(A)) h = -g` into `ws.h` (Marquardt scaling). MINPACK damps with its
/// historical column norms instead; on the hard-problem suite (tests/hard_problems.py) that
/// loses Bennett5 and a power law from automatic starts, so the current diagonal stays, with
/// a floor of OWN_FLOOR times the historical one.
fn damped_step(ws: &mut Workspace, lambda: f64, dmax: f64, p: usize, dscale: &[f64]) -> bool {
    ws.m.copy_from_slice(&ws.a);
    for k in 0..p {
        // a parameter's own curvature, however small next to the others' (a floor relative to
        // the largest made A in `E + A*x^-alpha` with A ~ 1e12 crawl for thousands of steps),
        // floored at OWN_FLOOR of its own largest so far (a rate whose term is dying must not
        // lose its damping and run off); one without any curvature yet gets a floor
        let akk = ws.a[k * p + k].max(OWN_FLOOR * dscale[k] * dscale[k]);
        let d = if akk > 1e-300 {
            akk
        } else {
            (1e-12 * dmax).max(1e-300)
        };
        ws.m[k * p + k] += lambda * d;
        ws.h[k] = -ws.g[k];
    }
    chol_solve(&mut ws.m, &mut ws.h, p)
}

/// `|| diag(d) v ||`
fn scaled_norm(d: &[f64], v: &[f64]) -> f64 {
    d.iter()
        .zip(v)
        .map(|(a, b)| (a * b) * (a * b))
        .sum::<f64>()
        .sqrt()
}

/// Levenberg-Marquardt from natural start `start`. `y` is the prepared target (ln y for log).
pub fn lm(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    start: &[f64],
    ws: &mut Workspace,
) -> LmResult {
    lm_with(s, data, y, c, start, ws, None)
}

/// A run shorter than this many iterations (`max_iter`) is not continued by variable
/// projection: so short a limit is deliberate.
const RESCUE_MIN_ITER: usize = 20;

/// [`lm`] that also stops (status `Failed`) as soon as `abort` is set: the flag is read before
/// every trial step, so even a run with a huge `max_iter` stops within one step.
///
/// A run that reaches `max_iter` (or stops as diverging) on a law with linear parameters, under
/// the squared loss on a linear target, is continued by variable projection
/// ([`super::varpro`]: up to `max_iter` iterations on the nonlinear parameters alone, from the
/// point reached and, failing that, from the start) and polished by a full run from there
/// (up to `max_iter` again); the continuation is kept when it ends lower, with the iterations
/// of all three counted.
pub fn lm_with(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    start: &[f64],
    ws: &mut Workspace,
    abort: Option<&AtomicBool>,
) -> LmResult {
    let first = lm_run(s, data, y, c, start, ws, abort);
    rescue(s, data, y, c, start, first, ws, abort)
}

/// Whether [`rescue`] would continue the run `r`.
pub(crate) fn rescuable(s: &Problem, r: &LmResult) -> bool {
    matches!(r.status, Termination::MaxIter | Termination::Diverged)
        && s.opts.max_iter >= RESCUE_MIN_ITER
        && varpro::split(s).is_some()
}

/// The continuation of [`lm_with`]: `first` is the run from `start` (its Jacobian in `ws`);
/// returns it unchanged unless it is [`rescuable`] and the continuation ends lower, in which
/// case `ws` holds the continuation's state.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rescue(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    start: &[f64],
    first: LmResult,
    ws: &mut Workspace,
    abort: Option<&AtomicBool>,
) -> LmResult {
    if !rescuable(s, &first) || abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
        return first;
    }
    // the continuation's buffers (the reduced problem's and a second workspace): when they do
    // not fit in the memory budget, the run stays as it ended (its message says so)
    let per_point = 2 * s.formula.n_nodes() + 4 * s.n_params() + 16;
    if crate::mem::check("max_iter", "", data.n, per_point * 8, "").is_err() {
        return first;
    }
    let mut best = first;
    let mut spent = (best.n_iter, best.n_eval);
    let from_end = best.params.clone();
    for from in [&from_end[..], start] {
        let Some(red) = varpro::reduced_lm(s, data, y, c, from, abort) else {
            continue;
        };
        spent.0 += red.n_iter;
        spent.1 += red.n_eval;
        if !(red.objective < best.objective) {
            continue;
        }
        let mut ws2 = Workspace::default();
        let polished = lm_run(s, data, y, c, &red.params, &mut ws2, abort);
        spent.0 += polished.n_iter;
        spent.1 += polished.n_eval;
        if polished.objective < best.objective {
            std::mem::swap(ws, &mut ws2);
            best = polished;
            if best.status.converged() {
                break;
            }
        }
    }
    best.n_iter = spent.0;
    best.n_eval = spent.1;
    best
}

/// One Levenberg-Marquardt run, without the continuation of [`lm_with`].
pub(crate) fn lm_run(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    start: &[f64],
    ws: &mut Workspace,
    abort: Option<&AtomicBool>,
) -> LmResult {
    let aborted = || abort.is_some_and(|a| a.load(Ordering::Relaxed));
    let n = data.n;
    let p = s.n_params();
    let o = &s.opts;
    let (lo, hi) = s.internal_bounds();
    let mut th = vec![0.0; p];
    s.to_internal(start, &mut th);
    for k in 0..p {
        th[k] = th[k].clamp(lo[k], hi[k]);
        if !th[k].is_finite() {
            return LmResult::failed(p);
        }
    }
    ws.f.resize(n, 0.0);
    ws.r.resize(n, 0.0);
    ws.f2.resize(n, 0.0);
    ws.r2.resize(n, 0.0);
    ws.jac.resize(n * p, 0.0);
    ws.jac2.resize(n * p, 0.0);
    ws.nat.resize(p, 0.0);
    ws.a.resize(p * p, 0.0);
    ws.m.resize(p * p, 0.0);
    ws.g.resize(p, 0.0);
    ws.h.resize(p, 0.0);
    ws.th_try.resize(p, 0.0);
    ws.jr.resize(n, 0.0);
    ws.wb.resize(n, 0.0);
    ws.wb2.resize(n, 0.0);
    let mut fval = residuals(
        s,
        data,
        y,
        c,
        &th,
        &mut ws.ev,
        &mut ws.nat,
        &mut ws.f,
        &mut ws.r,
        Some(&mut ws.jac),
        Some(&mut ws.wb),
    );
    let mut n_eval = 1;
    if !fval.is_finite() {
        return LmResult::failed(p);
    }
    let mut lambda = -1.0;
    let mut nu = 2.0;
    let mut status = Termination::MaxIter;
    let mut iter = 0;
    let loss = s.loss;
    // Huber curvature of points outside delta, relative to the majorising IRLS weight (see
    // build_model). It shrinks while the majoriser proves too stiff (gain ratio well above 1)
    // and is restored before the damping grows when a step fails.
    let huber = matches!(loss, Loss::Huber(_));
    let mut kappa: f64 = 1.0;
    const KAPPA_MIN: f64 = 1e-6;
    let mut streak = 0i32;
    // Trust region (MINPACK's lmder): steps are bounded by `radius` in coordinates scaled by
    // the largest Jacobian column norms seen so far; the radius starts at TR_FACTOR times the
    // scaled start, grows to twice the length of a very good step (gain ratio >= 0.75) and
    // shrinks after a poor step or a failed one it bounded, so steps grow at most 2x per
    // iteration and one
    // accepted step cannot throw the parameters 30x away onto a plateau where the run crawls.
    let mut dscale = vec![0.0f64; p];
    let mut watch = Watch::default();
    let mut diverging = Vec::new();
    // the point halfway through the iteration limit (see the end)
    let mut th_half = Vec::new();
    let mut radius = f64::NAN;
    'outer: while iter < o.max_iter {
        if iter == o.max_iter / 2 {
            th_half.clone_from(&th);
        }
        iter += 1;
        build_model(loss, kappa, c, ws, n, p);
        for k in 0..p {
            let d = ws.a[k * p + k].sqrt();
            if d > dscale[k] {
                dscale[k] = d;
            }
        }
        if radius.is_nan() {
            let x = scaled_norm(&dscale, &th);
            radius = if x > 0.0 && x.is_finite() {
                TR_FACTOR * x
            } else {
                TR_FACTOR
            };
        }
        if fval <= f64::MIN_POSITIVE {
            status = Termination::Gtol;
            break;
        }
        let gmax = (0..p)
            .map(|k| ws.g[k].abs() * th[k].abs().max(1.0))
            .fold(0.0, f64::max);
        if gmax <= o.gtol * fval {
            status = Termination::Gtol;
            break;
        }
        // inner loop: find an acceptable step
        loop {
            if aborted() {
                status = Termination::Failed;
                break 'outer;
            }
            let dmax = (0..p).map(|k| ws.a[k * p + k]).fold(0.0, f64::max);
            if lambda < 0.0 {
                // Marquardt scaling: the damping is relative to each diagonal entry
                lambda = 1e-3;
            }
            // the damped step; a step longer than the trust radius raises the damping until
            // its scaled length is within [TR_LOW, TR_HIGH] of the radius (bisection in log
            // lambda), and the raised damping stays, as MINPACK's LM parameter does
            let mut solved = damped_step(ws, lambda, dmax, p, &dscale);
            let mut len = scaled_norm(&dscale, &ws.h);
            // the radius bounds this step (the damping was raised to meet it)
            let bounded = solved && len > TR_HIGH * radius;
            if bounded {
                let (mut lo, mut hi) = (lambda.max(1e-15), f64::INFINITY);
                for _ in 0..60 {
                    let lam = if hi.is_finite() {
                        (lo * hi).sqrt()
                    } else {
                        lo * (len / radius).clamp(2.0, 1e3)
                    };
                    solved = damped_step(ws, lam, dmax, p, &dscale);
                    len = scaled_norm(&dscale, &ws.h);
                    lambda = lam;
                    if !solved || len > TR_HIGH * radius {
                        lo = lam;
                    } else if len < TR_LOW * radius {
                        hi = lam;
                    } else {
                        break;
                    }
                    if hi.is_finite() && hi <= lo * 1.0001 {
                        break;
                    }
                }
                if !solved || len > TR_HIGH * radius {
                    // keep the safe side of the bracket
                    lambda = if hi.is_finite() { hi } else { lo };
                    solved = damped_step(ws, lambda, dmax, p, &dscale);
                }
            }
            let mut pred = 0.0;
            // the step relative to the parameters, each on its own (the largest |h_k| /
            // (|theta_k| + xtol)): a parameter of size 1e12 must not make the others' steps
            // look negligible, nor a large column scale one parameter's
            let mut rel_step = f64::INFINITY;
            if solved {
                for k in 0..p {
                    ws.th_try[k] = (th[k] + ws.h[k]).clamp(lo[k], hi[k]);
                    ws.h[k] = ws.th_try[k] - th[k];
                }
                // predicted decrease of the quadratic model
                let mut gh = 0.0;
                let mut hah = 0.0;
                for k in 0..p {
                    gh += ws.g[k] * ws.h[k];
                    let mut row = 0.0;
                    for l in 0..p {
                        row += ws.a[k * p + l] * ws.h[l];
                    }
                    hah += ws.h[k] * row;
                }
                pred = -(gh + 0.5 * hah);
                rel_step = (0..p)
                    .map(|k| ws.h[k].abs() / (th[k].abs() + o.xtol))
                    .fold(0.0, f64::max);
            }
            if !solved || !(pred > 0.0) || rel_step <= o.xtol * o.xtol {
                if kappa < 1.0 {
                    kappa = 1.0;
                    build_model(loss, kappa, c, ws, n, p);
                    continue;
                }
                if !solved {
                    lambda *= nu;
                    nu *= 2.0;
                    if lambda > 1e300 || !lambda.is_finite() {
                        status = Termination::Stalled;
                        break 'outer;
                    }
                    continue;
                }
                // no model decrease possible: at a (possibly constrained) stationary point
                status = if rel_step <= o.xtol {
                    Termination::Xtol
                } else {
                    Termination::Stalled
                };
                break 'outer;
            }
            let fnew = residual_values(
                s,
                data,
                y,
                c,
                &ws.th_try,
                &mut ws.ev,
                &mut ws.nat,
                &mut ws.f2,
                &mut ws.r2,
            );
            n_eval += 1;
            let actual = fval - fnew;
            let ratio = actual / pred;
            // the Jacobian (reverse pass) only for accepted points
            if fnew.is_finite()
                && ratio > 1e-4
                && residual_jacobian(
                    s,
                    data,
                    &mut ws.ev,
                    &ws.nat,
                    &mut ws.f2,
                    &ws.r2,
                    &mut ws.jac2,
                    Some(&mut ws.wb2),
                )
            {
                // accept
                th.copy_from_slice(&ws.th_try);
                std::mem::swap(&mut ws.f, &mut ws.f2);
                std::mem::swap(&mut ws.r, &mut ws.r2);
                std::mem::swap(&mut ws.jac, &mut ws.jac2);
                std::mem::swap(&mut ws.wb, &mut ws.wb2);
                let fold = fval;
                fval = fnew;
                let len = scaled_norm(&dscale, &ws.h);
                if ratio >= 0.75 {
                    // a very good step never shrinks the radius: a short one was held back by
                    // the damping, not by the radius (shrinking it to 2x such a step, as MINPACK
                    // does where the radius alone sets the damping, costs ~10 iterations of
                    // doubling on the Chinchilla fit)
                    radius = radius.max(2.0 * len);
                } else if ratio < 0.25 {
                    radius = 0.5 * radius.min(10.0 * len);
                }
                // Nielsen's update, which lowers the damping at most 3x per step; a run of very
                // good steps (the model is trusted but the damping still holds the steps back)
                // lowers it by a further 3x per step of the run, up to 27x
                let mut fac = (1.0f64 / 3.0).max(1.0 - (2.0 * ratio - 1.0).powi(3));
                if ratio > 0.75 {
                    streak = (streak + 1).min(4);
                    fac *= (1.0f64 / 3.0).powi(streak - 1);
                } else {
                    streak = 0;
                }
                lambda = (lambda * fac).max(1e-15);
                nu = 2.0;
                if huber {
                    if ratio > 1.1 {
                        kappa = (kappa * 0.1).max(KAPPA_MIN);
                    } else if ratio < 0.25 {
                        kappa = (kappa * 10.0).min(1.0);
                    }
                }
                if actual <= o.ftol * fold && pred <= o.ftol * fold {
                    status = Termination::Ftol;
                    break 'outer;
                }
                if rel_step <= o.xtol {
                    status = Termination::Xtol;
                    break 'outer;
                }
                if iter % DRIFT_WINDOW == 0 {
                    // drifting parameters end the run early only once they are extreme (a
                    // valley can still end at a large finite optimum); at the iteration limit
                    // any drift names the run as diverging
                    diverging = watch.check(s, &th, fval);
                    let extreme =
                        |k: usize| th[k].abs() > if s.positive[k] { EXTREME } else { 1e20 };
                    if diverging.iter().any(|&k| extreme(k)) {
                        status = Termination::Diverged;
                        break 'outer;
                    }
                }
                break;
            }
            // reject; but when both the predicted decrease and the actual change (of either sign:
            // at the optimum the objective moves by rounding only) are below ftol, the point is
            // converged (MINPACK's test on |actred|)
            if fnew.is_finite() && actual.abs() <= o.ftol * fval && pred <= o.ftol * fval {
                status = Termination::Ftol;
                break 'outer;
            }
            if kappa < 1.0 {
                // the less conservative curvature failed: go back towards the majoriser first
                kappa = (kappa * 100.0).min(1.0);
                build_model(loss, kappa, c, ws, n, p);
                continue;
            }
            streak = 0;
            if bounded {
                // only a failed step that the radius set shrinks it; one the damping set is
                // answered by more damping alone (shrinking both made a start's first rejections
                // cut the radius 30x)
                radius = 0.5 * radius.min(10.0 * scaled_norm(&dscale, &ws.h));
            }
            if !fnew.is_finite() {
                // the trial left the domain (overflow, log of a negative): a far shorter step
                // is needed, not a doubling
                lambda = lambda.max(1e-3) * 10.0;
            }
            lambda *= nu;
            nu *= 2.0;
            if lambda > 1e300 || !lambda.is_finite() {
                status = Termination::Stalled;
                break 'outer;
            }
        }
    }
    if status == Termination::MaxIter && !diverging.is_empty() {
        status = Termination::Diverged;
    }
    match status {
        Termination::Diverged => {}
        // at the iteration limit, the parameters still running off along a valley while the
        // objective still falls (grown or shrunk 2x, or by ln 2 in log space, over the second
        // half of the run) are reported; the status stays MaxIter
        Termination::MaxIter if th_half.len() == p => {
            diverging = (0..p)
                .filter(|&k| {
                    let (a, b) = (th_half[k], th[k]);
                    if s.positive[k] {
                        (b - a).abs() >= std::f64::consts::LN_2
                    } else {
                        b.abs() >= 2.0 * a.abs() || b.abs() <= 0.5 * a.abs()
                    }
                })
                .collect();
        }
        _ => diverging.clear(),
    }
    let mut params = vec![0.0; p];
    s.to_natural(&th, &mut params);
    LmResult {
        params,
        objective: fval,
        status,
        n_iter: iter,
        n_eval,
        diverging,
    }
}
