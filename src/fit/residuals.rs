//! Residuals, their Jacobian and the objective: the forward and reverse passes over the
//! formula (dispatched to the best instruction set, see [`crate::simd`]).

use super::problem::{Loss, Problem, Target, Workspace};
use crate::expr::{Data, EvalWs};
use crate::simd::{dispatched, Isa};

/// psi = rho'(r) and the IRLS weight psi/r.
#[inline]
pub(crate) fn psi_w(loss: Loss, r: f64) -> (f64, f64) {
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
pub(crate) fn residuals(
    s: &Problem,
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
    pub(crate) fn residual_values<'a>(
        s: &'a Problem,
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
    s: &Problem,
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
            crate::simd::fastmath::ln_slice(f, r);
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
    pub(crate) fn residual_jacobian<'a>(
        s: &'a Problem,
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
    s: &Problem,
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
    s: &Problem,
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
pub(crate) fn sum_rho<I: Isa>(loss: Loss, r: &[f64], c: Option<&[f64]>) -> f64 {
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
