//! Small dense linear algebra of the solver: Cholesky, SPD inverse, and the normal equations
//! `J' W J`, `J' psi` with fixed-order (thread- and level-independent) sums.

use super::problem::{Loss, Workspace};
use crate::simd::{dispatched, Isa};

/// Cholesky solve of the p x p SPD system `m x = b` in place (m overwritten). False if not PD.
pub(crate) fn chol_solve(m: &mut [f64], b: &mut [f64], p: usize) -> bool {
    if !chol_factor(m, p) {
        return false;
    }
    chol_subst(m, b, p);
    true
}

/// Cholesky factor `m = L L'` in place (L in the lower triangle). False if not PD.
pub(crate) fn chol_factor(m: &mut [f64], p: usize) -> bool {
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
pub(crate) fn chol_subst(m: &[f64], b: &mut [f64], p: usize) {
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
    /// From the workspace: residuals `r`, base weights `wb` (`delta/max(|r|, delta)`, see
    /// `residual_jacobian`) and the Jacobian `jac` in; `a`, `g` out; `jr`, `r2` scratch.
    pub(crate) fn build_model<'a>(
        loss: Loss,
        kappa: f64,
        c: Option<&'a [f64]>,
        ws: &'a mut Workspace,
        n: usize,
        p: usize,
    ) -> () => build_model_in
}

#[inline(always)]
fn build_model_in<I: Isa>(
    loss: Loss,
    kappa: f64,
    c: Option<&[f64]>,
    ws: &mut Workspace,
    n: usize,
    p: usize,
) {
    let Workspace {
        r,
        wb,
        jac,
        jr: w,
        r2: cp,
        a,
        g,
        ..
    } = ws;
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
    pub(crate) fn gram<'a>(
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
