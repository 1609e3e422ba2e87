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

use crate::error::{Error, Result};
use crate::expr::{Data, EvalWs, Formula};
use crate::simd::{dispatched, Isa};
#[cfg(test)]
use crate::simd::{Avx2Fma, Portable};
use rayon::prelude::*;

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
pub enum Status {
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
    /// the model is not finite (or not positive for a log target) at the start
    Failed = 5,
}

impl Status {
    pub fn converged(self) -> bool {
        matches!(
            self,
            Status::Ftol | Status::Xtol | Status::Gtol | Status::Stalled
        )
    }
    pub fn message(self) -> &'static str {
        match self {
            Status::Ftol => "converged: relative reduction of the objective below ftol",
            Status::Xtol => "converged: relative step size below xtol",
            Status::Gtol => "converged: gradient below gtol",
            Status::Stalled => "converged: no step decreases the objective at machine precision",
            Status::MaxIter => "not converged: iteration limit (max_iter) reached",
            Status::Failed => {
                "failed: the model is not finite (or not positive, with target='log') at the start"
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
pub struct Setup {
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
    pub fast: Option<crate::sumexp::SumExp>,
}

impl Setup {
    pub fn new(formula: Formula, loss: Loss, target: Target, positive: Vec<bool>) -> Result<Setup> {
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
        let fast = crate::sumexp::SumExp::detect(&formula, &positive);
        Ok(Setup {
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
    fn kernel(&self) -> Option<&crate::sumexp::SumExp> {
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
    fn internal_bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let p = self.n_params();
        let mut lo = vec![f64::NEG_INFINITY; p];
        let mut hi = vec![f64::INFINITY; p];
        for k in 0..p {
            if self.positive[k] {
                lo[k] = if self.lower[k] > 0.0 {
                    self.lower[k].ln()
                } else {
                    f64::NEG_INFINITY
                };
                hi[k] = self.upper[k].ln();
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
            Target::Linear => Ok(y.to_vec()),
            Target::Log => {
                if let Some(i) = y.iter().position(|&v| v <= 0.0) {
                    return Err(Error::arg(
                        "y",
                        format!("must be positive with target='log' but has {} at index {i}; use target='linear' for signed responses", y[i]),
                    ));
                }
                let mut out = vec![0.0; n];
                crate::fastmath::ln_slice(y, &mut out);
                Ok(out)
            }
        }
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

/// Reusable buffers for one LM run (one per thread).
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    ev: EvalWs,
    f: Vec<f64>,
    jac: Vec<f64>,
    r: Vec<f64>,
    jr: Vec<f64>,
    f2: Vec<f64>,
    jac2: Vec<f64>,
    r2: Vec<f64>,
    /// Huber base weights `delta / max(|r_i|, delta)` at the current point, and at the trial
    wb: Vec<f64>,
    wb2: Vec<f64>,
    nat: Vec<f64>,
    a: Vec<f64>,
    m: Vec<f64>,
    g: Vec<f64>,
    h: Vec<f64>,
    th_try: Vec<f64>,
}

/// Outcome of one LM run, in natural coordinates.
#[derive(Debug, Clone)]
pub struct LmResult {
    pub params: Vec<f64>,
    pub objective: f64,
    pub status: Status,
    pub n_iter: usize,
    pub n_eval: usize,
}

impl LmResult {
    fn failed(p: usize) -> LmResult {
        LmResult {
            params: vec![f64::NAN; p],
            objective: f64::INFINITY,
            status: Status::Failed,
            n_iter: 0,
            n_eval: 1,
        }
    }
}

/// psi = rho'(r) and the IRLS weight psi/r.
#[inline]
fn psi_w(loss: Loss, r: f64) -> (f64, f64) {
    match loss {
        Loss::L2 => (r, 1.0),
        Loss::Huber(d) => {
            let a = r.abs();
            if a <= d {
                (r, 1.0)
            } else {
                (d * r.signum(), d / a)
            }
        }
    }
}

/// Residuals (and their Jacobian w.r.t. internal coordinates) at internal `th`. Returns the
/// objective, or +inf when the model is not finite / not positive for a log target.
#[allow(clippy::too_many_arguments)]
fn residuals(
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    th: &[f64],
    ev: &mut EvalWs,
    nat: &mut [f64],
    f: &mut [f64],
    r: &mut [f64],
    jac: Option<&mut [f64]>,
    wb: Option<&mut [f64]>,
) -> f64 {
    let obj = residual_values(s, data, y, c, th, ev, nat, f, r);
    if let Some(jac) = jac {
        if obj.is_finite() && !residual_jacobian(s, data, ev, nat, f, r, jac, wb) {
            return f64::INFINITY;
        }
    }
    obj
}

dispatched! {
    /// Forward pass: model values `f`, residuals `r` and the objective (+inf if not finite).
    fn residual_values<'a>(
        s: &'a Setup,
        data: &'a Data,
        y: &'a [f64],
        c: Option<&'a [f64]>,
        th: &'a [f64],
        ev: &'a mut EvalWs,
        nat: &'a mut [f64],
        f: &'a mut [f64],
        r: &'a mut [f64],
    ) -> f64 => residual_values_in
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn residual_values_in<I: Isa>(
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    th: &[f64],
    ev: &mut EvalWs,
    nat: &mut [f64],
    f: &mut [f64],
    r: &mut [f64],
) -> f64 {
    let n = data.n;
    s.to_natural(th, nat);
    match s.kernel() {
        Some(k) => k.eval(th, nat, data, &mut ev.sx, f),
        None => s.formula.eval(nat, data, ev, f, None),
    }
    match s.target {
        Target::Linear => {
            for i in 0..n {
                r[i] = f[i] - y[i];
            }
        }
        Target::Log => {
            if !all_positive(&f[..n]) {
                return f64::INFINITY;
            }
            crate::fastmath::ln_slice(f, r);
            for i in 0..n {
                r[i] -= y[i];
            }
        }
    }
    let obj = sum_rho::<I>(s.loss, &r[..n], c);
    if !obj.is_finite() {
        return f64::INFINITY;
    }
    obj
}

dispatched! {
    /// Reverse pass at the point of the last [`residual_values`] with `ev`: the Jacobian of the
    /// residuals `r` with respect to internal coordinates. Overwrites `f` (with 1/f for a log
    /// target). With `wb` and a Huber loss, also the base weights `delta / max(|r_i|, delta)` that
    /// [`build_model`] scales (computed here to share one division per point with 1/f). False when
    /// the Jacobian is not finite.
    fn residual_jacobian<'a>(
        s: &'a Setup,
        data: &'a Data,
        ev: &'a mut EvalWs,
        nat: &'a [f64],
        f: &'a mut [f64],
        r: &'a [f64],
        jac: &'a mut [f64],
        wb: Option<&'a mut [f64]>,
    ) -> bool => residual_jacobian_in
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
// `I` only selects the instantiation: the body is compiled with its instruction set
#[allow(clippy::extra_unused_type_parameters)]
fn residual_jacobian_in<I: Isa>(
    s: &Setup,
    data: &Data,
    ev: &mut EvalWs,
    nat: &[f64],
    f: &mut [f64],
    r: &[f64],
    jac: &mut [f64],
    wb: Option<&mut [f64]>,
) -> bool {
    let n = f.len();
    let p = nat.len();
    let log = s.target == Target::Log;
    // 1/f (log target) and the Huber base weights, sharing the division where possible
    let inverted = match (s.loss, wb) {
        (Loss::Huber(d), Some(wb)) => {
            let shared = log && invert_with_weights(&mut f[..n], &r[..n], d, &mut wb[..n]);
            if !shared {
                huber_base_weights(&r[..n], d, &mut wb[..n]);
            }
            shared
        }
        _ => false,
    };
    if log && !inverted {
        f.iter_mut().for_each(|v| *v = 1.0 / *v);
    }
    if let Some(k) = s.kernel() {
        // derivatives with respect to the internal coordinates directly
        k.jacobian(nat, data, &ev.sx, log.then_some(&*f), jac);
        return all_finite(&jac[..n * p]);
    }
    s.formula.jacobian(ev, jac);
    let mut ok = true;
    for k in 0..p {
        let col = &mut jac[k * n..(k + 1) * n];
        let scale = if s.positive[k] { nat[k] } else { 1.0 };
        match s.target {
            Target::Linear => {
                if scale != 1.0 {
                    col.iter_mut().for_each(|v| *v *= scale);
                }
            }
            Target::Log => {
                for (v, &fi) in col.iter_mut().zip(f.iter()) {
                    *v *= scale * fi;
                }
            }
        }
        ok &= all_finite(col);
    }
    ok
}

/// `wb_i = delta / max(|r_i|, delta)`.
#[inline(always)]
fn huber_base_weights(r: &[f64], d: f64, wb: &mut [f64]) {
    for (w, &ri) in wb.iter_mut().zip(r) {
        *w = d / ri.abs().max(d);
    }
}

/// `f_i <- 1/f_i` and `wb_i = delta / max(|r_i|, delta)` with one division per point:
/// `q = 1/(f a)`, `1/f = q a`, `delta/a = delta f q` (a = max(|r|, delta)). False, with `f`
/// and `wb` untouched, when some product `f a` is not a normal finite number (the caller then
/// divides separately).
#[inline(always)]
fn invert_with_weights(f: &mut [f64], r: &[f64], d: f64, wb: &mut [f64]) -> bool {
    let ok = f.iter().zip(r).fold(true, |ok, (&fi, &ri)| {
        ok & (fi * ri.abs().max(d)).is_normal()
    });
    if !ok {
        return false;
    }
    for ((fi, &ri), w) in f.iter_mut().zip(r).zip(wb.iter_mut()) {
        let a = ri.abs().max(d);
        let q = 1.0 / (*fi * a);
        *w = d * *fi * q;
        *fi = q * a;
    }
    true
}

/// Objective at natural parameters (no derivatives).
pub fn objective(
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    params: &[f64],
    ws: &mut Workspace,
) -> f64 {
    let n = data.n;
    let p = params.len();
    let mut th = vec![0.0; p];
    s.to_internal(params, &mut th);
    ws.f.resize(n, 0.0);
    ws.r.resize(n, 0.0);
    ws.nat.resize(p, 0.0);
    residuals(
        s,
        data,
        y,
        c,
        &th,
        &mut ws.ev,
        &mut ws.nat,
        &mut ws.f,
        &mut ws.r,
        None,
        None,
    )
}

/// Cholesky solve of the p x p SPD system `m x = b` in place (m overwritten). False if not PD.
fn chol_solve(m: &mut [f64], b: &mut [f64], p: usize) -> bool {
    if !chol_factor(m, p) {
        return false;
    }
    chol_subst(m, b, p);
    true
}

/// Cholesky factor `m = L L'` in place (L in the lower triangle). False if not PD.
fn chol_factor(m: &mut [f64], p: usize) -> bool {
    for j in 0..p {
        let mut d = m[j * p + j];
        for k in 0..j {
            d -= m[j * p + k] * m[j * p + k];
        }
        if !(d > 0.0) || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        m[j * p + j] = d;
        for i in j + 1..p {
            let mut v = m[i * p + j];
            for k in 0..j {
                v -= m[i * p + k] * m[j * p + k];
            }
            m[i * p + j] = v / d;
        }
    }
    true
}

/// Solve `L L' x = b` in place with the factor from [`chol_factor`].
fn chol_subst(m: &[f64], b: &mut [f64], p: usize) {
    for i in 0..p {
        let mut v = b[i];
        for k in 0..i {
            v -= m[i * p + k] * b[k];
        }
        b[i] = v / m[i * p + i];
    }
    for i in (0..p).rev() {
        let mut v = b[i];
        for k in i + 1..p {
            v -= m[k * p + i] * b[k];
        }
        b[i] = v / m[i * p + i];
    }
}

/// Invert a symmetric positive definite p x p matrix (row-major). None if singular.
pub fn spd_inverse(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let scale: Vec<f64> = (0..p).map(|k| a[k * p + k].abs().sqrt()).collect();
    if scale.iter().any(|&s| !(s > 0.0) || !s.is_finite()) {
        return None;
    }
    // equilibrate: inv(A) = S^-1 inv(S^-1 A S^-1) S^-1; factor once, solve per column
    let mut m = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            m[i * p + j] = a[i * p + j] / (scale[i] * scale[j]);
        }
    }
    if !chol_factor(&mut m, p) {
        return None;
    }
    let mut out = vec![0.0; p * p];
    let mut b = vec![0.0; p];
    for col in 0..p {
        b.iter_mut().for_each(|v| *v = 0.0);
        b[col] = 1.0;
        chol_subst(&m, &mut b, p);
        for i in 0..p {
            out[i * p + col] = b[i] / (scale[i] * scale[col]);
        }
    }
    if out.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(out)
}

dispatched! {
    /// Gradient `g = J' C psi` and model matrix `A = J' C W J`. For Huber, points inside delta
    /// get weight 1 (rho'') and points outside `kappa * delta/|r|`: `kappa = 1` gives the IRLS
    /// weights whose model majorises the objective, `kappa -> 0` the exact Gauss-Newton curvature.
    /// `wb` holds the base weights `delta/max(|r|, delta)` (see [`residual_jacobian`]); `w` and
    /// `cp` are n-length scratch buffers.
    fn build_model<'a>(
        loss: Loss,
        kappa: f64,
        c: Option<&'a [f64]>,
        r: &'a [f64],
        wb: &'a [f64],
        jac: &'a [f64],
        n: usize,
        p: usize,
        w: &'a mut [f64],
        cp: &'a mut [f64],
        a: &'a mut [f64],
        g: &'a mut [f64],
    ) -> () => build_model_in
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn build_model_in<I: Isa>(
    loss: Loss,
    kappa: f64,
    c: Option<&[f64]>,
    r: &[f64],
    wb: &[f64],
    jac: &[f64],
    n: usize,
    p: usize,
    w: &mut [f64],
    cp: &mut [f64],
    a: &mut [f64],
    g: &mut [f64],
) {
    match loss {
        Loss::L2 => {
            w[..n].iter_mut().for_each(|v| *v = 1.0);
            cp[..n].copy_from_slice(&r[..n]);
        }
        Loss::Huber(d) => {
            for (((wi, pi), &ri), &bi) in w[..n]
                .iter_mut()
                .zip(cp[..n].iter_mut())
                .zip(&r[..n])
                .zip(&wb[..n])
            {
                *pi = ri.clamp(-d, d);
                *wi = if ri.abs() <= d { 1.0 } else { kappa * bi };
            }
        }
    }
    if let Some(c) = c {
        for ((wi, pi), &ci) in w[..n].iter_mut().zip(cp[..n].iter_mut()).zip(&c[..n]) {
            *wi *= ci;
            *pi *= ci;
        }
    }
    normal_equations::<I>(jac, w, cp, n, p, a, g);
}

/// `g = J' psi` and `A = J' W J` (column-major `jac`, p x p row-major `a`). `psi` is
/// overwritten (scratch) on the portable path.
#[inline(always)]
fn normal_equations<I: Isa>(
    jac: &[f64],
    w: &[f64],
    psi: &mut [f64],
    n: usize,
    p: usize,
    a: &mut [f64],
    g: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if I::AVX2_FMA {
        // SAFETY (each arm): I::AVX2_FMA holds only inside a function compiled with AVX2+FMA,
        // which `simd::dispatch` enters only when the CPU has them.
        match p {
            1 => return unsafe { normal_eq_avx::<1>(jac, w, psi, n, a, g) },
            2 => return unsafe { normal_eq_avx::<2>(jac, w, psi, n, a, g) },
            3 => return unsafe { normal_eq_avx::<3>(jac, w, psi, n, a, g) },
            4 => return unsafe { normal_eq_avx::<4>(jac, w, psi, n, a, g) },
            5 => return unsafe { normal_eq_avx::<5>(jac, w, psi, n, a, g) },
            6 => return unsafe { normal_eq_avx::<6>(jac, w, psi, n, a, g) },
            _ => {}
        }
    }
    for k in 0..p {
        let ck = &jac[k * n..(k + 1) * n];
        g[k] = dot::<I>(ck, psi);
    }
    // psi is free now: hold w * J[:, k] for the current k
    for k in 0..p {
        let ck = &jac[k * n..(k + 1) * n];
        for ((o, &x), &wi) in psi[..n].iter_mut().zip(ck).zip(&w[..n]) {
            *o = x * wi;
        }
        for l in 0..=k {
            let acc = dot::<I>(&psi[..n], &jac[l * n..(l + 1) * n]);
            a[k * p + l] = acc;
            a[l * p + k] = acc;
        }
    }
}

dispatched! {
    /// [`normal_equations`] at the best instruction set, for callers outside a kernel.
    fn gram<'a>(
        jac: &'a [f64],
        w: &'a [f64],
        psi: &'a mut [f64],
        n: usize,
        p: usize,
        a: &'a mut [f64],
        g: &'a mut [f64],
    ) -> () => normal_equations
}

/// `g = J' psi` and `A = J' W J` for a small fixed p, with one 4-lane FMA accumulator per
/// entry (fixed order: the result does not depend on threads). Rows 0..3 are done in one sweep
/// over the points and each further row in its own, so the accumulators stay in registers.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn normal_eq_avx<const P: usize>(
    jac: &[f64],
    w: &[f64],
    psi: &[f64],
    n: usize,
    a: &mut [f64],
    g: &mut [f64],
) {
    normal_eq_rows::<P>(0, P.min(3), jac, w, psi, n, a, g);
    for k in 3..P {
        normal_eq_rows::<P>(k, k + 1, jac, w, psi, n, a, g);
    }
}

/// Rows `k0..k1` of [`normal_eq_avx`] (entries `a[k][q]`, q <= k, and `g[k]`). Always
/// inlined into [`normal_eq_avx`], which enables AVX2+FMA, so that with constant row bounds the
/// accumulators stay in registers.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn normal_eq_rows<const P: usize>(
    k0: usize,
    k1: usize,
    jac: &[f64],
    w: &[f64],
    psi: &[f64],
    n: usize,
    a: &mut [f64],
    g: &mut [f64],
) {
    use std::arch::x86_64::*;
    assert!(
        k1 <= P
            && jac.len() >= P * n
            && w.len() >= n
            && psi.len() >= n
            && a.len() >= P * P
            && g.len() >= P
    );
    let m = n / 4 * 4;
    // SAFETY: AVX2 and FMA are enabled (the caller's contract); every load reads index
    // q*n + i + 3 < P*n of jac (q < k1 <= P, i + 3 < m <= n) or i + 3 < n of w and psi
    // (lengths asserted).
    unsafe {
        let mut ga = [_mm256_setzero_pd(); P];
        let mut aa = [[_mm256_setzero_pd(); P]; P];
        let pj = jac.as_ptr();
        let mut i = 0;
        while i < m {
            let wv = _mm256_loadu_pd(w.as_ptr().add(i));
            let pv = _mm256_loadu_pd(psi.as_ptr().add(i));
            for k in k0..k1 {
                let jk = _mm256_loadu_pd(pj.add(k * n + i));
                ga[k] = _mm256_fmadd_pd(jk, pv, ga[k]);
                let wj = _mm256_mul_pd(wv, jk);
                for q in 0..=k {
                    aa[k][q] = _mm256_fmadd_pd(wj, _mm256_loadu_pd(pj.add(q * n + i)), aa[k][q]);
                }
            }
            i += 4;
        }
        let red = |v: __m256d| {
            let mut t = [0.0f64; 4];
            _mm256_storeu_pd(t.as_mut_ptr(), v);
            (t[0] + t[2]) + (t[1] + t[3])
        };
        for k in k0..k1 {
            let mut gk = red(ga[k]);
            for t in m..n {
                gk += jac[k * n + t] * psi[t];
            }
            g[k] = gk;
            for q in 0..=k {
                let mut v = red(aa[k][q]);
                for t in m..n {
                    v += w[t] * jac[k * n + t] * jac[q * n + t];
                }
                a[k * P + q] = v;
                a[q * P + k] = v;
            }
        }
    }
}

/// Dot product with eight fixed-order partial sums: lanes j and j+4 of two 4-wide
/// accumulators, combined in a fixed order (the AVX and portable versions agree bit for bit).
#[inline(always)]
pub(crate) fn dot<I: Isa>(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let m = n / 8 * 8;
    let mut s = [0.0f64; 8];
    #[cfg(target_arch = "x86_64")]
    if I::AVX2_FMA {
        // SAFETY: AVX2 is available (see `normal_equations`); loads stay within a[..m], b[..m].
        unsafe { dot_lanes_avx(&a[..m], &b[..m], &mut s) };
    }
    if !(cfg!(target_arch = "x86_64") && I::AVX2_FMA) {
        for (x, y) in a[..m].chunks_exact(8).zip(b[..m].chunks_exact(8)) {
            for j in 0..8 {
                s[j] += x[j] * y[j];
            }
        }
    }
    let mut t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for i in m..n {
        t += a[i] * b[i];
    }
    t
}

/// The eight partial sums of [`dot`] over `a` and `b` (equal lengths, a multiple of 8).
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_lanes_avx(a: &[f64], b: &[f64], s: &mut [f64; 8]) {
    use std::arch::x86_64::*;
    let m = a.len().min(b.len()) / 8 * 8;
    let (mut s0, mut s1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: i + 8 <= m <= len of both slices
    unsafe {
        while i < m {
            s0 = _mm256_add_pd(
                s0,
                _mm256_mul_pd(_mm256_loadu_pd(pa.add(i)), _mm256_loadu_pd(pb.add(i))),
            );
            s1 = _mm256_add_pd(
                s1,
                _mm256_mul_pd(
                    _mm256_loadu_pd(pa.add(i + 4)),
                    _mm256_loadu_pd(pb.add(i + 4)),
                ),
            );
            i += 8;
        }
        _mm256_storeu_pd(s.as_mut_ptr(), s0);
        _mm256_storeu_pd(s.as_mut_ptr().add(4), s1);
    }
}

/// True when every value is finite. `x * 0` is +-0 for finite x and NaN otherwise, so OR-ing
/// the products and testing the exponent bits once at the end needs two cheap operations per
/// four values and no compare-and-pack per element.
#[inline(always)]
pub(crate) fn all_finite(a: &[f64]) -> bool {
    // integer OR is associative, so this reduction vectorises as it stands
    a.iter().fold(0u64, |acc, x| acc | (x * 0.0).to_bits()) & 0x7ff0_0000_0000_0000 == 0
}

/// True when every value is > 0 (false for NaN), branch-free.
#[inline(always)]
pub(crate) fn all_positive(a: &[f64]) -> bool {
    a.iter().fold(true, |ok, &v| ok & (v > 0.0))
}

/// `rho(x)` for a Huber threshold `d` (`d = inf`: `x^2/2`).
#[inline(always)]
fn rho_d(x: f64, d: f64) -> f64 {
    let a = x.abs();
    let quad = 0.5 * x * x;
    let lin = d * (a - 0.5 * d);
    if a > d {
        lin
    } else {
        quad
    }
}

/// `sum_i c_i rho(r_i)` with eight fixed-order partial sums: lane j sums the points i = j mod
/// 8 of the first n - n mod 8, the lanes are combined in a fixed order and the rest added in
/// turn (the AVX2 and portable versions agree bit for bit).
#[inline(always)]
fn sum_rho<I: Isa>(loss: Loss, r: &[f64], c: Option<&[f64]>) -> f64 {
    // L2 is Huber with an infinite threshold: the quadratic branch is always taken
    let d = match loss {
        Loss::L2 => f64::INFINITY,
        Loss::Huber(d) => d,
    };
    let n = r.len();
    let m = n / 8 * 8;
    let mut s = [0.0f64; 8];
    if let Some(c) = c {
        assert!(c.len() >= n, "weights shorter than the residuals");
    }
    #[cfg(target_arch = "x86_64")]
    if I::AVX2_FMA {
        // SAFETY: AVX2 is available (see `normal_equations`); lengths are checked above.
        unsafe { rho_lanes_avx(d, &r[..m], c.map(|c| &c[..m]), &mut s) };
    }
    if !(cfg!(target_arch = "x86_64") && I::AVX2_FMA) {
        for i in 0..m {
            s[i % 8] += c.map_or(1.0, |c| c[i]) * rho_d(r[i], d);
        }
    }
    let mut t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for i in m..n {
        t += c.map_or(1.0, |c| c[i]) * rho_d(r[i], d);
    }
    t
}

/// The eight partial sums of [`sum_rho`] over `r` (length a multiple of 8) and `c` (the same
/// length).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn rho_lanes_avx(d: f64, r: &[f64], c: Option<&[f64]>, s: &mut [f64; 8]) {
    use std::arch::x86_64::*;
    let m = r.len() / 8 * 8;
    assert!(c.is_none_or(|c| c.len() >= m));
    let (dv, hv, half, sign) = (
        _mm256_set1_pd(d),
        _mm256_set1_pd(0.5 * d),
        _mm256_set1_pd(0.5),
        _mm256_set1_pd(-0.0),
    );
    let rho4 = |x: __m256d| {
        let a = _mm256_andnot_pd(sign, x);
        let quad = _mm256_mul_pd(_mm256_mul_pd(half, x), x);
        let lin = _mm256_mul_pd(dv, _mm256_sub_pd(a, hv));
        _mm256_blendv_pd(quad, lin, _mm256_cmp_pd::<_CMP_GT_OQ>(a, dv))
    };
    let (mut s0, mut s1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let pr = r.as_ptr();
    let mut i = 0;
    // SAFETY: i + 8 <= m <= r.len() and c.len() (asserted)
    unsafe {
        match c {
            None => {
                while i < m {
                    s0 = _mm256_add_pd(s0, rho4(_mm256_loadu_pd(pr.add(i))));
                    s1 = _mm256_add_pd(s1, rho4(_mm256_loadu_pd(pr.add(i + 4))));
                    i += 8;
                }
            }
            Some(c) => {
                let pc = c.as_ptr();
                while i < m {
                    s0 = _mm256_add_pd(
                        s0,
                        _mm256_mul_pd(_mm256_loadu_pd(pc.add(i)), rho4(_mm256_loadu_pd(pr.add(i)))),
                    );
                    s1 = _mm256_add_pd(
                        s1,
                        _mm256_mul_pd(
                            _mm256_loadu_pd(pc.add(i + 4)),
                            rho4(_mm256_loadu_pd(pr.add(i + 4))),
                        ),
                    );
                    i += 8;
                }
            }
        }
        _mm256_storeu_pd(s.as_mut_ptr(), s0);
        _mm256_storeu_pd(s.as_mut_ptr().add(4), s1);
    }
}

/// Levenberg-Marquardt from natural start `start`. `y` is the prepared target (ln y for log).
pub fn lm(
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    start: &[f64],
    ws: &mut Workspace,
) -> LmResult {
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
    let mut status = Status::MaxIter;
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
        build_model(
            loss, kappa, c, &ws.r, &ws.wb, &ws.jac, n, p, &mut ws.jr, &mut ws.r2, &mut ws.a,
            &mut ws.g,
        );
        if fval <= f64::MIN_POSITIVE {
            status = Status::Gtol;
            break;
        }
        let gmax = (0..p)
            .map(|k| ws.g[k].abs() * th[k].abs().max(1.0))
            .fold(0.0, f64::max);
        if gmax <= o.gtol * fval {
            status = Status::Gtol;
            break;
        }
        // inner loop: find an acceptable step
        loop {
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
                    build_model(
                        loss, kappa, c, &ws.r, &ws.wb, &ws.jac, n, p, &mut ws.jr, &mut ws.r2,
                        &mut ws.a, &mut ws.g,
                    );
                    continue;
                }
                if !solved {
                    lambda *= nu;
                    nu *= 2.0;
                    if lambda > 1e300 || !lambda.is_finite() {
                        status = Status::Stalled;
                        break 'outer;
                    }
                    continue;
                }
                // no model decrease possible: at a (possibly constrained) stationary point
                status = if hnorm <= o.xtol * (thnorm + o.xtol) {
                    Status::Xtol
                } else {
                    Status::Stalled
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
                    status = Status::Ftol;
                    break 'outer;
                }
                if hnorm <= o.xtol * (thnorm + o.xtol) {
                    status = Status::Xtol;
                    break 'outer;
                }
                break;
            }
            // reject; but when both the predicted decrease and the actual change (of either sign:
            // at the optimum the objective moves by rounding only) are below ftol, the point is
            // converged (MINPACK's test on |actred|)
            if fnew.is_finite() && actual.abs() <= o.ftol * fval && pred <= o.ftol * fval {
                status = Status::Ftol;
                break 'outer;
            }
            if kappa < 1.0 {
                // the less conservative curvature failed: go back towards the majoriser first
                kappa = (kappa * 100.0).min(1.0);
                build_model(
                    loss, kappa, c, &ws.r, &ws.wb, &ws.jac, n, p, &mut ws.jr, &mut ws.r2,
                    &mut ws.a, &mut ws.g,
                );
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
                status = Status::Stalled;
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

/// Results of a multi-start fit.
#[derive(Debug, Clone)]
pub struct MultiFit {
    pub best: LmResult,
    pub best_index: usize,
    /// objective and status of every start, in input order
    pub objectives: Vec<f64>,
    pub statuses: Vec<Status>,
}

/// Run `f` on a pool of `n_threads` threads (0 = rayon's global pool). A panic inside `f`
/// (a bug) is caught and returned as an error, so it never unwinds into a caller such as
/// the Python bindings.
pub fn with_threads<T: Send>(n_threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let guarded = move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::Numerical(format!("internal error (please report this bug): {msg}"))
        })
    };
    if n_threads == 0 {
        return guarded();
    }
    pool(n_threads)?.install(guarded)
}

/// A thread pool of `n` threads, created once per size and kept (starting threads costs
/// ~0.2 ms, as much as a whole fit).
fn pool(n: usize) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Error::Numerical(format!("could not start a thread pool: {e}")))?,
    );
    pools.insert(n, p.clone());
    Ok(p)
}

#[cfg(test)]
#[test]
fn with_threads_turns_panics_into_errors() {
    let r: Result<()> = with_threads(2, || {
        (0..4).into_par_iter().for_each(|i| {
            if i == 3 {
                panic!("boom")
            }
        })
    });
    assert!(matches!(r, Err(Error::Numerical(m)) if m.contains("boom")));
}

/// Above this many starts, [`multistart`] screens with a looser tolerance and polishes the best.
pub const SCREEN_MIN_STARTS: usize = 64;
/// Screening tolerance (ftol, xtol and gtol): a screened run stops once a step improves the
/// objective by less than this fraction. On the Chinchilla grid this halves the work of the
/// 4500 starts and the polished best is the same to 1e-15 (1e-3 gives the same best too).
const SCREEN_TOL: f64 = 1e-4;
/// Screened starts polished to the full tolerance, best screened objective first.
const POLISH: usize = 16;

/// LM from every start (in parallel); best by objective, ties broken by start order.
pub fn multistart(
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    starts: &[Vec<f64>],
) -> Result<MultiFit> {
    multistart_in(s, data, y, c, starts, &mut Workspace::default())
}

/// [`multistart`]; a single start runs in `ws`, which afterwards holds the residuals and the
/// Jacobian at the returned point.
fn multistart_in(
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    starts: &[Vec<f64>],
    ws: &mut Workspace,
) -> Result<MultiFit> {
    if starts.is_empty() {
        return Err(Error::arg("starts", "no starting points given"));
    }
    let p = s.n_params();
    for (i, st) in starts.iter().enumerate() {
        if st.len() != p {
            return Err(Error::arg(
                "starts",
                format!("start {i} has {} values, expected {p}", st.len()),
            ));
        }
    }
    // Many starts: screen them all with a looser tolerance, then polish the best few to the
    // full tolerance (the answer is the same; the tails of the runs that end elsewhere are
    // not worth converging to 1e-14).
    let screen = starts.len() > SCREEN_MIN_STARTS;
    let loose_setup;
    let loose = if screen {
        let mut l = s.clone();
        l.opts.ftol = s.opts.ftol.max(SCREEN_TOL);
        l.opts.xtol = s.opts.xtol.max(SCREEN_TOL);
        l.opts.gtol = s.opts.gtol.max(SCREEN_TOL);
        loose_setup = l;
        &loose_setup
    } else {
        s
    };
    let mut results: Vec<LmResult> = if starts.len() == 1 {
        // one start: no thread hand-off
        vec![lm(loose, data, y, c, &starts[0], ws)]
    } else {
        starts
            .par_iter()
            .map_init(Workspace::default, |ws, st| lm(loose, data, y, c, st, ws))
            .collect()
    };
    if screen {
        let mut order: Vec<usize> = (0..results.len())
            .filter(|&i| results[i].objective.is_finite())
            .collect();
        order.sort_by(|&a, &b| {
            results[a]
                .objective
                .partial_cmp(&results[b].objective)
                .unwrap()
                .then(a.cmp(&b))
        });
        order.truncate(POLISH);
        let polished: Vec<(usize, LmResult)> = order
            .par_iter()
            .map_init(Workspace::default, |ws, &i| {
                let mut r = lm(s, data, y, c, &results[i].params, ws);
                r.n_iter += results[i].n_iter;
                r.n_eval += results[i].n_eval;
                (i, r)
            })
            .collect();
        for (i, r) in polished {
            if r.objective <= results[i].objective {
                results[i] = r;
            }
        }
    }
    let mut best = usize::MAX;
    for (i, r) in results.iter().enumerate() {
        if r.objective.is_finite() && (best == usize::MAX || r.objective < results[best].objective)
        {
            best = i;
        }
    }
    let objectives = results.iter().map(|r| r.objective).collect();
    let statuses = results.iter().map(|r| r.status).collect();
    if best == usize::MAX {
        return Ok(MultiFit {
            best: results.into_iter().next().unwrap(),
            best_index: 0,
            objectives,
            statuses,
        });
    }
    Ok(MultiFit {
        best: results[best].clone(),
        best_index: best,
        objectives,
        statuses,
    })
}

/// Cartesian product of per-parameter value lists (first parameter varies slowest).
pub fn grid(values: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = vec![Vec::new()];
    for vals in values {
        let mut next = Vec::with_capacity(out.len() * vals.len());
        for prefix in &out {
            for &v in vals {
                let mut q = prefix.clone();
                q.push(v);
                next.push(q);
            }
        }
        out = next;
    }
    out
}

fn geomspace(a: f64, b: f64, k: usize) -> Vec<f64> {
    if k == 1 {
        return vec![(a * b).sqrt()];
    }
    let (la, lb) = (a.ln(), b.ln());
    (0..k)
        .map(|i| (la + (lb - la) * i as f64 / (k - 1) as f64).exp())
        .collect()
}

/// Candidate values for each nonlinear parameter, chosen from its role in the formula.
fn nonlinear_grid(s: &Setup, data: &Data, nonlin: &[usize], max_points: usize) -> Vec<Vec<f64>> {
    let f = &s.formula;
    let exps = f.exponent_params();
    let scales = f.scale_params();
    let full: Vec<Vec<f64>> = nonlin
        .iter()
        .map(|&k| -> Vec<f64> {
            if let Some(&(_, j, ratio)) = scales.iter().find(|t| t.0 == k) {
                let col = &data.cols[j];
                let mn = col
                    .iter()
                    .fold(f64::INFINITY, |a, &b| a.min(b.abs()))
                    .max(1e-300);
                let mx = col.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(mn);
                let (a, b) = (mn / 100.0, mx * 1e4);
                let v = geomspace(a, b, 9);
                if ratio {
                    v
                } else {
                    v.iter().rev().map(|x| 1.0 / x).collect()
                }
            } else if exps.contains(&k) {
                vec![0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2, 2.0]
            } else if s.positive[k] {
                vec![0.05, 0.2, 0.5, 1.0, 2.0, 5.0]
            } else {
                vec![-1.0, -0.3, 0.0, 0.1, 0.3, 0.6, 1.0, 2.0]
            }
        })
        .collect();
    // respect bounds
    let mut full: Vec<Vec<f64>> = full
        .into_iter()
        .zip(nonlin)
        .map(|(v, &k)| {
            let kept: Vec<f64> = v
                .iter()
                .copied()
                .filter(|&x| x >= s.lower[k] && x <= s.upper[k])
                .collect();
            if kept.is_empty() {
                let mid = if s.lower[k].is_finite() && s.upper[k].is_finite() {
                    0.5 * (s.lower[k] + s.upper[k])
                } else if s.lower[k].is_finite() {
                    s.lower[k] + 1.0
                } else {
                    s.upper[k] - 1.0
                };
                vec![mid]
            } else {
                kept
            }
        })
        .collect();
    // thin until the product fits
    loop {
        let total: usize = full.iter().map(|v| v.len()).product();
        if total <= max_points {
            break;
        }
        let (imax, _) = full
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| v.len())
            .unwrap();
        let v = &full[imax];
        if v.len() <= 2 {
            break;
        }
        full[imax] = v.iter().step_by(2).copied().collect();
    }
    full
}

/// Automatic starts by variable projection: for every point of a grid over the nonlinear
/// parameters, solve the linear parameters by (weighted) least squares, score the start by the
/// true objective, and return the `keep` best distinct starts (natural coordinates).
pub fn auto_starts(s: &Setup, data: &Data, y_raw: &[f64], y: &[f64], keep: usize) -> Vec<Vec<f64>> {
    let f = &s.formula;
    let p = f.n_params();
    let lin = f.linear_params();
    let nonlin: Vec<usize> = (0..p).filter(|k| !lin.contains(k)).collect();
    let vals = nonlinear_grid(s, data, &nonlin, 20_000);
    let combos = grid(&vals);
    let n = data.n;
    let scored: Vec<(f64, Vec<f64>)> = combos
        .par_iter()
        .map_init(
            || {
                (
                    Workspace::default(),
                    EvalWs::default(),
                    vec![0.0; n],
                    vec![0.0; n * p],
                )
            },
            |(ws, ev, fv, jac), combo| {
                let mut theta = vec![0.0; p];
                for (t, &k) in nonlin.iter().enumerate() {
                    theta[k] = combo[t];
                }
                for &k in &lin {
                    theta[k] = 0.0;
                }
                if !lin.is_empty() {
                    f.eval(&theta, data, ev, fv, Some(jac));
                    if let Some(sol) = solve_linear(s, &lin, fv, jac, y_raw, n) {
                        for (t, &k) in lin.iter().enumerate() {
                            theta[k] = sol[t];
                        }
                    } else {
                        return (f64::INFINITY, theta);
                    }
                }
                let obj = objective(s, data, y, None, &theta, ws);
                (if obj.is_finite() { obj } else { f64::INFINITY }, theta)
            },
        )
        .collect();
    let mut order: Vec<usize> = (0..scored.len())
        .filter(|&i| scored[i].0.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        scored[a]
            .0
            .partial_cmp(&scored[b].0)
            .unwrap()
            .then(a.cmp(&b))
    });
    // Keep the best starts, half of them by objective alone and half spread out: a start
    // whose grid cell is within one step (in every nonlinear coordinate) of one already kept
    // usually runs into the same basin, so the spread half skips those.
    let radix: Vec<usize> = vals.iter().map(|v| v.len()).collect();
    let cell = |mut i: usize| -> Vec<usize> {
        let mut c = vec![0; radix.len()];
        for t in (0..radix.len()).rev() {
            c[t] = i % radix[t];
            i /= radix[t];
        }
        c
    };
    let distinct = |out: &[Vec<f64>], cand: &[f64]| {
        out.iter().all(|o| {
            o.iter()
                .zip(cand)
                .any(|(a, b)| (a - b).abs() > 1e-6 * (a.abs() + b.abs()).max(1e-12))
        })
    };
    let mut out: Vec<Vec<f64>> = Vec::new();
    let mut cells: Vec<Vec<usize>> = Vec::new();
    let by_rank = keep.div_ceil(2);
    for pass in 0..2 {
        for &i in &order {
            if out.len() >= if pass == 0 { by_rank } else { keep } {
                break;
            }
            let cand = &scored[i].1;
            let c = cell(i);
            let spread = pass == 0
                || cells
                    .iter()
                    .all(|k| k.iter().zip(&c).any(|(a, b)| a.abs_diff(*b) > 1));
            if spread && distinct(&out, cand) {
                out.push(cand.clone());
                cells.push(c);
            }
        }
    }
    if out.len() < keep {
        // not enough spread-out cells: fill up by objective
        for &i in &order {
            if out.len() >= keep {
                break;
            }
            let cand = &scored[i].1;
            if distinct(&out, cand) {
                out.push(cand.clone());
            }
        }
    }
    if out.is_empty() {
        // nothing finite on the grid: fall back to the grid centre
        let mut theta = vec![1.0; p];
        for (t, &k) in nonlin.iter().enumerate() {
            theta[k] = vals[t][vals[t].len() / 2];
        }
        out.push(theta);
    }
    out
}

/// Least squares for the linear parameters given f at lin=0 (`fv`) and their Jacobian
/// columns. Relative (1/y^2) weights for a log target. Positive parameters that come out
/// non-positive are pinned at a small positive value and the rest re-solved.
fn solve_linear(
    s: &Setup,
    lin: &[usize],
    fv: &[f64],
    jac: &[f64],
    y: &[f64],
    n: usize,
) -> Option<Vec<f64>> {
    let m = lin.len();
    let w: Vec<f64> = match s.target {
        Target::Log => y.iter().map(|v| 1.0 / (v * v)).collect(),
        Target::Linear => vec![1.0; n],
    };
    let ymax = y.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(1e-300);
    let mut pinned = vec![None::<f64>; m];
    for _round in 0..=m {
        let free: Vec<usize> = (0..m).filter(|&t| pinned[t].is_none()).collect();
        let q = free.len();
        // residual target after removing pinned contributions
        let mut rhs = vec![0.0; n];
        for i in 0..n {
            let mut v = y[i] - fv[i];
            for t in 0..m {
                if let Some(val) = pinned[t] {
                    v -= val * jac[lin[t] * n + i];
                }
            }
            rhs[i] = v;
        }
        let mut sol = vec![0.0; m];
        if q > 0 {
            let mut a = vec![0.0; q * q];
            let mut b = vec![0.0; q];
            for (u, &tu) in free.iter().enumerate() {
                let cu = &jac[lin[tu] * n..(lin[tu] + 1) * n];
                for i in 0..n {
                    b[u] += w[i] * cu[i] * rhs[i];
                }
                for (v, &tv) in free.iter().enumerate().take(u + 1) {
                    let cv = &jac[lin[tv] * n..(lin[tv] + 1) * n];
                    let mut acc = 0.0;
                    for i in 0..n {
                        acc += w[i] * cu[i] * cv[i];
                    }
                    a[u * q + v] = acc;
                    a[v * q + u] = acc;
                }
            }
            let tr: f64 = (0..q).map(|u| a[u * q + u]).sum::<f64>().max(1e-300);
            for u in 0..q {
                a[u * q + u] += 1e-12 * tr / q as f64;
            }
            if !chol_solve(&mut a, &mut b, q) {
                return None;
            }
            for (u, &t) in free.iter().enumerate() {
                sol[t] = b[u];
            }
        }
        for t in 0..m {
            if let Some(v) = pinned[t] {
                sol[t] = v;
            }
        }
        let mut changed = false;
        for t in 0..m {
            let k = lin[t];
            if pinned[t].is_none() && s.positive[k] && !(sol[t] > 0.0) {
                let colmax = jac[k * n..(k + 1) * n]
                    .iter()
                    .fold(0.0f64, |a, &b| a.max(b.abs()))
                    .max(1e-300);
                pinned[t] = Some(1e-3 * ymax / colmax);
                changed = true;
            }
        }
        if !changed {
            for t in 0..m {
                let k = lin[t];
                sol[t] = sol[t].clamp(s.lower[k], s.upper[k]);
                if s.positive[k] && !(sol[t] > 0.0) {
                    sol[t] = 1e-300;
                }
            }
            return sol.iter().all(|v| v.is_finite()).then_some(sol);
        }
    }
    None
}

/// Covariance of the natural parameters at `params` (row-major p x p), or None when the
/// information matrix is singular. l2: `s^2 (J'CJ)^-1` with `s^2 = 2F/(n-p)`. Huber: the
/// sandwich `A^-1 B A^-1 * n/(n-p)` with `A = J'C W J` (IRLS weights `psi(r)/r`) and
/// `B = J'C psi(r)^2 J` (Huber 1967 form with the IRLS bread, as in robust regression).
pub fn covariance(
    s: &Setup,
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
    s: &Setup,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    params: &[f64],
) -> (Option<Vec<f64>>, Vec<f64>) {
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
        return (None, vec![f64::NAN; n]);
    }
    (covariance_from(s.loss, obj, &r, &jac, c, n, p), r)
}

/// [`covariance_and_residuals`] from the residuals and Jacobian an LM run left in `ws` at its
/// returned point (saves an evaluation); None when a log-space parameter is 0 or not finite
/// there (then the chain rule through the log does not apply).
fn covariance_at_lm_point(
    s: &Setup,
    ws: &mut Workspace,
    c: Option<&[f64]>,
    best: &LmResult,
) -> Option<(Option<Vec<f64>>, Vec<f64>)> {
    let params = &best.params;
    let p = params.len();
    let n = ws.r.len();
    if ws.jac.len() != n * p || !chain_rule_applies(s, params) {
        return None;
    }
    let mut jac = std::mem::take(&mut ws.jac);
    jacobian_to_natural(s, params, &mut jac, n);
    let r = std::mem::take(&mut ws.r);
    Some((
        covariance_from(s.loss, best.objective, &r, &jac, c, n, p),
        r,
    ))
}

/// Whether a Jacobian in the solver's coordinates converts to natural parameters by the
/// chain rule at `params`: every log-space parameter positive and finite there (then its
/// internal value ln P is finite too).
fn chain_rule_applies(s: &Setup, params: &[f64]) -> bool {
    params
        .iter()
        .zip(&s.positive)
        .all(|(&v, &pos)| !pos || (v > 0.0 && v.is_finite()))
}

/// Chain rule from internal to natural coordinates: the columns (column-major, length `n`)
/// of log-space parameters are divided by P, as d/dP = (d/d ln P) / P.
fn jacobian_to_natural(s: &Setup, params: &[f64], jac: &mut [f64], n: usize) {
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
    // per-point weights of the bread (c w) and the meat (c psi^2), then one weighted Gram
    // matrix each
    let mut wa = vec![0.0; n];
    let mut wb = vec![0.0; n];
    for i in 0..n {
        let (ps, w) = psi_w(loss, r[i]);
        let ci = c.map_or(1.0, |c| c[i]);
        wa[i] = ci * w;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(src: &str, vars: &[&str], loss: Loss, target: Target, pos: &[&str]) -> Setup {
        let vars: Vec<String> = vars.iter().map(|s| s.to_string()).collect();
        let f = Formula::new(src, &vars).unwrap();
        let positive = f
            .param_names()
            .iter()
            .map(|n| pos.contains(&n.as_str()))
            .collect();
        Setup::new(f, loss, target, positive).unwrap()
    }

    #[test]
    fn recovers_power_law_plus_constant_noiseless() {
        let s = setup("E + A*x^-alpha", &["x"], Loss::L2, Target::Log, &["E", "A"]);
        let xs: Vec<f64> = (0..30).map(|i| 1e6 * 1.5f64.powi(i)).collect();
        let truth = [1.7, 400.0, 0.33];
        let y: Vec<f64> = xs
            .iter()
            .map(|x| truth[0] + truth[1] * x.powf(-truth[2]))
            .collect();
        let data = Data::new(&s.formula, vec![xs]).unwrap();
        let yt = s.prepare_y(&y, data.n).unwrap();
        let starts = auto_starts(&s, &data, &y, &yt, 8);
        let fit = multistart(&s, &data, &yt, None, &starts).unwrap();
        for k in 0..3 {
            assert!(
                (fit.best.params[k] - truth[k]).abs() <= 1e-8 * truth[k],
                "{:?}",
                fit.best.params
            );
        }
        assert!(fit.best.status.converged());
    }

    /// The vectorised sum of rho has the documented lanes and order, bit for bit.
    #[test]
    fn sum_rho_matches_its_lane_definition() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for n in 0..41 {
            let r: Vec<f64> = (0..n).map(|_| rnd() * 0.01).collect();
            let c: Vec<f64> = (0..n).map(|_| rnd() + 0.5).collect();
            for loss in [Loss::L2, Loss::Huber(1e-3)] {
                let d = match loss {
                    Loss::L2 => f64::INFINITY,
                    Loss::Huber(d) => d,
                };
                let rho = |x: f64| {
                    if x.abs() > d {
                        d * (x.abs() - 0.5 * d)
                    } else {
                        0.5 * x * x
                    }
                };
                for cw in [None, Some(&c[..])] {
                    let m = n / 8 * 8;
                    let mut s = [0.0f64; 8];
                    for i in 0..m {
                        s[i % 8] += cw.map_or(1.0, |c| c[i]) * rho(r[i]);
                    }
                    let mut t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
                    for i in m..n {
                        t += cw.map_or(1.0, |c| c[i]) * rho(r[i]);
                    }
                    // both instantiations (the AVX2 one where this CPU can run it)
                    let mut got = vec![sum_rho::<Portable>(loss, &r, cw)];
                    if crate::simd::cpu_level() >= crate::simd::Level::Avx2 {
                        got.push(sum_rho::<Avx2Fma>(loss, &r, cw));
                    }
                    for g in got {
                        assert_eq!(
                            g.to_bits(),
                            t.to_bits(),
                            "n={n} {loss:?} weighted={}",
                            cw.is_some()
                        );
                    }
                    let portable = dot::<Portable>(&r, &c);
                    if crate::simd::cpu_level() >= crate::simd::Level::Avx2 {
                        assert_eq!(dot::<Avx2Fma>(&r, &c).to_bits(), portable.to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn huber_objective_decreases_monotonically_and_matches_definition() {
        let s = setup("A*x^-alpha", &["x"], Loss::Huber(1e-3), Target::Log, &["A"]);
        let xs: Vec<f64> = (1..50).map(|i| i as f64).collect();
        let y: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 3.0 * x.powf(-0.5) * (1.0 + 0.01 * ((i * 7919) % 13) as f64 / 13.0))
            .collect();
        let data = Data::new(&s.formula, vec![xs]).unwrap();
        let yt = s.prepare_y(&y, data.n).unwrap();
        let mut ws = Workspace::default();
        let r = lm(&s, &data, &yt, None, &[1.0, 0.1], &mut ws);
        let o = objective(&s, &data, &yt, None, &r.params, &mut ws);
        assert_eq!(o, r.objective);
        assert!(o < objective(&s, &data, &yt, None, &[1.0, 0.1], &mut ws));
        assert!(r.status.converged(), "{:?}", r.status);
    }

    #[test]
    fn failed_start_is_reported() {
        let s = setup("a - x", &["x"], Loss::L2, Target::Log, &[]);
        let data = Data::new(&s.formula, vec![vec![5.0, 6.0]]).unwrap();
        let yt = s.prepare_y(&[1.0, 2.0], 2).unwrap();
        let mut ws = Workspace::default();
        let r = lm(&s, &data, &yt, None, &[0.0], &mut ws);
        assert_eq!(r.status, Status::Failed);
        assert!(!r.status.converged());
    }

    #[test]
    fn covariance_matches_linear_regression() {
        // y = a + b x with l2: cov = s^2 (X'X)^-1
        let s = setup("a + b*x", &["x"], Loss::L2, Target::Linear, &[]);
        let xs: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let y: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 1.0 + 2.0 * x + if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let data = Data::new(&s.formula, vec![xs.clone()]).unwrap();
        let yt = s.prepare_y(&y, 10).unwrap();
        let mut ws = Workspace::default();
        let r = lm(&s, &data, &yt, None, &[0.0, 0.0], &mut ws);
        let cov = covariance(&s, &data, &yt, None, &r.params).unwrap();
        let n = 10.0;
        let sx: f64 = xs.iter().sum();
        let sxx: f64 = xs.iter().map(|x| x * x).sum();
        let rss = 2.0 * r.objective;
        let s2 = rss / (n - 2.0);
        let det = n * sxx - sx * sx;
        assert!((cov[0] - s2 * sxx / det).abs() < 1e-10);
        assert!((cov[3] - s2 * n / det).abs() < 1e-10);
    }

    #[test]
    fn one_start_covariance_matches_a_fresh_evaluation() {
        // the single-start path takes the covariance from the solver's last Jacobian
        let s = setup(
            "E + A*x^-alpha",
            &["x"],
            Loss::Huber(1e-2),
            Target::Log,
            &["E", "A"],
        );
        let xs: Vec<f64> = (0..30).map(|i| 10f64.powf(i as f64 / 7.0)).collect();
        let y: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                (1.0 + 3.0 * x.powf(-0.4)) * (1.0 + 0.02 * ((i * 7 % 11) as f64 - 5.0) / 5.0)
            })
            .collect();
        let data = Data::new(&s.formula, vec![xs]).unwrap();
        let rep = fit_full(&s, &data, &y, None, Some(vec![vec![0.5, 2.0, 0.3]]), 1).unwrap();
        assert!(rep.multi.best.status.converged());
        let yt = s.prepare_y(&y, data.n).unwrap();
        let (cov, r) = covariance_and_residuals(&s, &data, &yt, None, &rep.multi.best.params);
        let (cov, cov1) = (cov.unwrap(), rep.cov.unwrap());
        for (a, b) in cov.iter().zip(&cov1) {
            assert!((a - b).abs() <= 1e-9 * a.abs().max(1e-300), "{a} vs {b}");
        }
        for (a, b) in r.iter().zip(&rep.residuals) {
            assert!((a - b).abs() <= 1e-13, "{a} vs {b}");
        }
    }

    #[test]
    fn bounds_are_respected() {
        let mut s = setup("a + b*x", &["x"], Loss::L2, Target::Linear, &[]);
        s.set_bounds(vec![f64::NEG_INFINITY, 0.0], vec![f64::INFINITY, 1.0])
            .unwrap();
        let xs: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let y: Vec<f64> = xs.iter().map(|x| 1.0 + 2.0 * x).collect();
        let data = Data::new(&s.formula, vec![xs]).unwrap();
        let yt = s.prepare_y(&y, 10).unwrap();
        let r = lm(&s, &data, &yt, None, &[0.0, 0.5], &mut Workspace::default());
        assert!((r.params[1] - 1.0).abs() < 1e-12);
    }
}

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
}

/// Validate inputs and run a complete fit: starts (given, or automatic by variable
/// projection keeping `n_auto`), parallel multi-start LM, covariance, residuals.
pub fn fit_full(
    s: &Setup,
    data: &Data,
    y_raw: &[f64],
    weights: Option<&[f64]>,
    starts: Option<Vec<Vec<f64>>>,
    n_auto: usize,
) -> Result<FitReport> {
    let p = s.n_params();
    let y = s.prepare_y(y_raw, data.n)?;
    if let Some(w) = weights {
        Setup::check_weights(w, data.n)?;
    }
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
        None => auto_starts(s, data, y_raw, &y, n_auto.max(1)),
    };
    let mut ws = Workspace::default();
    let multi = multistart_in(s, data, &y, weights, &starts, &mut ws)?;
    let (cov, residuals) = if !multi.best.objective.is_finite() {
        (None, vec![f64::NAN; data.n])
    } else if let Some(cr) = (starts.len() == 1)
        .then(|| covariance_at_lm_point(s, &mut ws, weights, &multi.best))
        .flatten()
    {
        cr
    } else {
        covariance_and_residuals(s, data, &y, weights, &multi.best.params)
    };
    Ok(FitReport {
        multi,
        cov,
        residuals,
        starts,
        auto_starts: auto,
    })
}
