//! Levenberg-Marquardt on squared or Huber loss from one start.

use super::linalg::{build_model, chol_solve};
use super::problem::{LmResult, Loss, Problem, Termination, Workspace};
use super::residuals::{residual_jacobian, residual_values, residuals};
use crate::expr::Data;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// [`lm`] that also stops (status `Failed`) as soon as `abort` is set: the flag is read before
/// every trial step, so even a run with a huge `max_iter` stops within one step.
pub fn lm_with(
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
    'outer: while iter < o.max_iter {
        iter += 1;
        build_model(loss, kappa, c, ws, n, p);
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
            ws.m.copy_from_slice(&ws.a);
            for k in 0..p {
                let d = ws.a[k * p + k].max(1e-12 * dmax).max(1e-300);
                ws.m[k * p + k] += lambda * d;
                ws.h[k] = -ws.g[k];
            }
            let solved = chol_solve(&mut ws.m, &mut ws.h, p);
            let mut pred = 0.0;
            let mut hnorm = 0.0;
            let thnorm = th.iter().map(|v| v * v).sum::<f64>().sqrt();
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
                hnorm = ws.h.iter().map(|v| v * v).sum::<f64>().sqrt();
            }
            if !solved || !(pred > 0.0) || hnorm <= o.xtol * o.xtol * (thnorm + o.xtol) {
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
                status = if hnorm <= o.xtol * (thnorm + o.xtol) {
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
                if hnorm <= o.xtol * (thnorm + o.xtol) {
                    status = Termination::Xtol;
                    break 'outer;
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
    let mut params = vec![0.0; p];
    s.to_natural(&th, &mut params);
    LmResult {
        params,
        objective: fval,
        status,
        n_iter: iter,
        n_eval,
    }
}
