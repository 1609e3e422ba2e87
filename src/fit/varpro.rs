//! Variable projection (Golub and Pereyra, with Kaufman's Jacobian) as the continuation of an
//! LM run that reached its iteration limit.
//!
//! When the law is affine in some parameters (`E + A*x^-alpha`: E and A), those can be solved
//! by linear least squares for any value of the others, and LM runs on the rest alone. That
//! removes the long curved valleys in which the full LM crawls: in `E + A*x^-alpha` the valley
//! `ln A - alpha ln x ~ const` (A -> 1e33 at the optimum of a steep, short curve), in MGH10's
//! `b1 exp(b2 / (x + b3))` the valley where b1 -> 0 while the exponent grows. The reduced run
//! is used only after the full one has spent `max_iter` (the full LM is faster where it
//! converges, and its answers there stay as they are); its end point is then polished by the
//! full LM, so the status, covariance and Jacobian come from the full problem as always.
//!
//! Only for the squared loss on a linear target; a linear parameter that is positive (log
//! space) or bounded must come out of the linear solve strictly inside its range, otherwise the
//! point counts as infeasible (the step is refused).

use super::linalg::{chol_factor, chol_solve, chol_subst};
use super::problem::{Loss, Problem, Target};
use super::residuals::residuals;
use crate::expr::{Data, EvalWs};
use std::sync::atomic::{AtomicBool, Ordering};

/// Linear and nonlinear parameter indices when variable projection applies to `s`.
pub(crate) fn split(s: &Problem) -> Option<(Vec<usize>, Vec<usize>)> {
    if s.loss != Loss::L2 || s.target != Target::Linear {
        return None;
    }
    let p = s.n_params();
    let lin = s.formula.linear_params();
    let nonlin: Vec<usize> = (0..p).filter(|k| !lin.contains(k)).collect();
    (!lin.is_empty() && !nonlin.is_empty()).then_some((lin, nonlin))
}

/// One point of the reduced problem: the full internal parameters, the objective, the
/// weighted residuals `sqrt(c) r` and the projected weighted Jacobian of the nonlinear
/// parameters (column-major, n per column).
struct Point {
    th: Vec<f64>,
    obj: f64,
    r: Vec<f64>,
    jr: Vec<f64>,
}

struct Reduced<'a> {
    s: &'a Problem,
    data: &'a Data,
    y: &'a [f64],
    c: Option<&'a [f64]>,
    lin: &'a [usize],
    nonlin: &'a [usize],
    ev: EvalWs,
    nat: Vec<f64>,
    f: Vec<f64>,
    r: Vec<f64>,
    jac: Vec<f64>,
}

impl Reduced<'_> {
    fn w(&self, i: usize) -> f64 {
        self.c.map_or(1.0, |c| c[i])
    }

    /// The reduced problem at internal nonlinear coordinates `tn`; None when the model is not
    /// finite, the linear system singular or the linear solution outside its range.
    fn at(&mut self, tn: &[f64]) -> Option<Point> {
        let s = self.s;
        let (n, p) = (self.data.n, s.n_params());
        let (m, q) = (self.lin.len(), self.nonlin.len());
        // model and Jacobian with the linear parameters at 0: f = g + Phi c
        self.nat.clear();
        self.nat.resize(p, 0.0);
        for (t, &k) in self.nonlin.iter().enumerate() {
            self.nat[k] = if s.positive[k] { tn[t].exp() } else { tn[t] };
        }
        s.formula.eval(
            &self.nat,
            self.data,
            &mut self.ev,
            &mut self.f,
            Some(&mut self.jac),
        );
        // weighted normal equations, columns equilibrated
        let phi = |t: usize| &self.jac[self.lin[t] * n..(self.lin[t] + 1) * n];
        let mut a = vec![0.0; m * m];
        let mut b = vec![0.0; m];
        for u in 0..m {
            for i in 0..n {
                b[u] += self.w(i) * phi(u)[i] * (self.y[i] - self.f[i]);
            }
            for v in 0..=u {
                let mut acc = 0.0;
                for i in 0..n {
                    acc += self.w(i) * phi(u)[i] * phi(v)[i];
                }
                a[u * m + v] = acc;
                a[v * m + u] = acc;
            }
        }
        let d: Vec<f64> = (0..m).map(|u| a[u * m + u].sqrt()).collect();
        if d.iter().any(|v| !(*v > 0.0) || !v.is_finite()) || !b.iter().all(|v| v.is_finite()) {
            return None;
        }
        // one Cholesky factor of the equilibrated Gram matrix serves the solve and every
        // projection below
        let mut g = a;
        for u in 0..m {
            for v in 0..m {
                g[u * m + v] /= d[u] * d[v];
            }
            b[u] /= d[u];
        }
        if !chol_factor(&mut g, m) {
            return None;
        }
        chol_subst(&g, &mut b, m);
        let mut th = vec![0.0; p];
        for (t, &k) in self.nonlin.iter().enumerate() {
            th[k] = tn[t];
        }
        for (t, &k) in self.lin.iter().enumerate() {
            let v = b[t] / d[t];
            let inside = v > s.lower[k] && v < s.upper[k] && (!s.positive[k] || v > 0.0);
            if !v.is_finite() || !inside {
                return None;
            }
            th[k] = if s.positive[k] { v.ln() } else { v };
        }
        // the projection basis, weighted and equilibrated, kept before the full evaluation
        // overwrites the Jacobian
        let basis: Vec<f64> = (0..m)
            .flat_map(|u| (0..n).map(move |i| (u, i)))
            .map(|(u, i)| self.w(i).sqrt() * phi(u)[i] / d[u])
            .collect();
        let obj = residuals(
            s,
            self.data,
            self.y,
            self.c,
            &th,
            &mut self.ev,
            &mut self.nat,
            &mut self.f,
            &mut self.r,
            Some(&mut self.jac),
            None,
        );
        if !obj.is_finite() {
            return None;
        }
        let r: Vec<f64> = (0..n).map(|i| self.w(i).sqrt() * self.r[i]).collect();
        // Kaufman: the weighted Jacobian columns of the nonlinear parameters with their
        // components in the span of the basis removed
        let mut jr = vec![0.0; n * q];
        let mut coef = vec![0.0; m];
        for (t, &k) in self.nonlin.iter().enumerate() {
            let col = &mut jr[t * n..(t + 1) * n];
            for i in 0..n {
                col[i] = self.w(i).sqrt() * self.jac[k * n + i];
            }
            for (u, cu) in coef.iter_mut().enumerate() {
                *cu = (0..n).map(|i| basis[u * n + i] * col[i]).sum();
            }
            chol_subst(&g, &mut coef, m);
            for (u, &cu) in coef.iter().enumerate() {
                for i in 0..n {
                    col[i] -= cu * basis[u * n + i];
                }
            }
        }
        if !jr.iter().all(|v| v.is_finite()) {
            return None;
        }
        Some(Point { th, obj, r, jr })
    }
}

/// Outcome of a reduced run: the full natural parameters reached, its objective and the
/// iterations spent.
pub(crate) struct Rescue {
    pub params: Vec<f64>,
    pub objective: f64,
    pub n_iter: usize,
    pub n_eval: usize,
}

/// LM on the nonlinear parameters of `s` (the linear ones solved at every point) from the
/// natural parameters `start`, for at most `s.opts.max_iter` iterations; None when the start is
/// infeasible for the reduced problem.
pub(crate) fn reduced_lm(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    start: &[f64],
    abort: Option<&AtomicBool>,
) -> Option<Rescue> {
    let (lin, nonlin) = split(s)?;
    let (n, p, q) = (data.n, s.n_params(), nonlin.len());
    let o = &s.opts;
    let (lo, hi) = s.internal_bounds();
    let mut red = Reduced {
        s,
        data,
        y,
        c,
        lin: &lin,
        nonlin: &nonlin,
        ev: EvalWs::default(),
        nat: vec![0.0; p],
        f: vec![0.0; n],
        r: vec![0.0; n],
        jac: vec![0.0; n * p],
    };
    let mut tn: Vec<f64> = nonlin
        .iter()
        .map(|&k| {
            let v = if s.positive[k] {
                start[k].ln()
            } else {
                start[k]
            };
            v.clamp(lo[k], hi[k])
        })
        .collect();
    let mut cur = red.at(&tn)?;
    let mut n_eval = 1;
    let mut lambda = 1e-3;
    let mut nu = 2.0;
    let mut dscale = vec![0.0f64; q];
    let mut iter = 0;
    let mut a = vec![0.0; q * q];
    let mut g = vec![0.0; q];
    'outer: while iter < o.max_iter {
        iter += 1;
        for u in 0..q {
            let cu = &cur.jr[u * n..(u + 1) * n];
            g[u] = cu.iter().zip(&cur.r).map(|(x, y)| x * y).sum();
            for v in 0..=u {
                let cv = &cur.jr[v * n..(v + 1) * n];
                let acc: f64 = cu.iter().zip(cv).map(|(x, y)| x * y).sum();
                a[u * q + v] = acc;
                a[v * q + u] = acc;
            }
            dscale[u] = dscale[u].max(a[u * q + u]);
        }
        let gmax = (0..q)
            .map(|u| g[u].abs() * tn[u].abs().max(1.0))
            .fold(0.0, f64::max);
        if cur.obj <= f64::MIN_POSITIVE || gmax <= o.gtol * cur.obj {
            break;
        }
        loop {
            if abort.is_some_and(|f| f.load(Ordering::Relaxed)) {
                break 'outer;
            }
            let mut m = a.clone();
            let mut h: Vec<f64> = g.iter().map(|v| -v).collect();
            for u in 0..q {
                let d = a[u * q + u].max(1e-8 * dscale[u]).max(1e-300);
                m[u * q + u] += lambda * d;
            }
            let solved = chol_solve(&mut m, &mut h, q);
            let mut trial = tn.clone();
            let mut pred = 0.0;
            if solved {
                for u in 0..q {
                    let k = nonlin[u];
                    trial[u] = (tn[u] + h[u]).clamp(lo[k], hi[k]);
                    h[u] = trial[u] - tn[u];
                }
                let mut hah = 0.0;
                for u in 0..q {
                    let row: f64 = (0..q).map(|v| a[u * q + v] * h[v]).sum();
                    hah += h[u] * row;
                }
                pred = -(g.iter().zip(&h).map(|(x, y)| x * y).sum::<f64>() + 0.5 * hah);
            }
            let rel = (0..q)
                .map(|u| h[u].abs() / (tn[u].abs() + o.xtol))
                .fold(0.0, f64::max);
            if solved && (!(pred > 0.0) || rel <= o.xtol) {
                break 'outer;
            }
            let next = if solved { red.at(&trial) } else { None };
            n_eval += 1;
            match next {
                Some(pt) if pt.obj < cur.obj => {
                    let ratio = (cur.obj - pt.obj) / pred;
                    let small = cur.obj - pt.obj <= o.ftol * cur.obj && pred <= o.ftol * cur.obj;
                    lambda *= (1.0f64 / 3.0).max(1.0 - (2.0 * ratio - 1.0).powi(3));
                    lambda = lambda.max(1e-15);
                    nu = 2.0;
                    tn = trial;
                    cur = pt;
                    if small || rel <= o.xtol {
                        break 'outer;
                    }
                    break;
                }
                _ => {
                    lambda *= nu;
                    nu *= 2.0;
                    if !lambda.is_finite() || lambda > 1e300 {
                        break 'outer;
                    }
                }
            }
        }
    }
    let mut params = vec![0.0; p];
    s.to_natural(&cur.th, &mut params);
    Some(Rescue {
        params,
        objective: cur.obj,
        n_iter: iter,
        n_eval,
    })
}
