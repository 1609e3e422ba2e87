//! Vectorisable `exp` and `ln` over slices (within ~1 ulp of libm on normal inputs).
//!
//! libm's scalar `exp`/`ln` cost ~5-10 ns each and dominate formula evaluation. These kernels
//! are branch-free polynomial versions that LLVM vectorises; on x86-64 with AVX2+FMA (checked
//! at run time) a second copy compiled for those features is used. Special inputs (NaN, inf,
//! non-positive or subnormal arguments of `ln`, out-of-range arguments of `exp`) are patched
//! with the scalar libm result, so results never differ in kind from `f64::exp`/`f64::ln`.

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
const TWO52: f64 = 4_503_599_627_370_496.0; // 2^52

#[inline(always)]
fn exp1(x: f64) -> f64 {
    // clamp so the bit tricks stay valid; out-of-range inputs are patched afterwards
    let xc = x.clamp(-708.0, 709.0);
    // round-to-nearest of x*log2(e) by the 1.5*2^52 shift trick (vectorises without
    // float->int conversions); the integer k is read back from the bits
    let t = xc * LOG2E + SHIFT;
    let k = t - SHIFT;
    let ki = t.to_bits().wrapping_sub(SHIFT.to_bits());
    let r = xc - k * LN2_HI - k * LN2_LO;
    // Taylor polynomial of degree 13 on |r| <= ln2/2 (truncation < 2e-17 relative)
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    p * f64::from_bits(ki.wrapping_add(1023) << 52)
}

#[inline(always)]
fn ln1(x: f64) -> f64 {
    let bits = x.to_bits();
    // exponent and mantissa in [1, 2)
    // biased exponent as f64 without an int->float conversion: 2^52 + e_raw, minus 2^52
    let e_raw = f64::from_bits(0x4330_0000_0000_0000 | ((bits >> 52) & 0x7ff)) - TWO52;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // move m into [sqrt(1/2), sqrt(2))
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = e_raw - 1023.0 + if big { 1.0 } else { 0.0 };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    // ln m = 2 atanh(s) = 2 (s + s^3/3 + ...), |s| <= 0.1716
    let mut q = 1.0 / 23.0;
    q = q * z + 1.0 / 21.0;
    q = q * z + 1.0 / 19.0;
    q = q * z + 1.0 / 17.0;
    q = q * z + 1.0 / 15.0;
    q = q * z + 1.0 / 13.0;
    q = q * z + 1.0 / 11.0;
    q = q * z + 1.0 / 9.0;
    q = q * z + 1.0 / 7.0;
    q = q * z + 1.0 / 5.0;
    q = q * z + 1.0 / 3.0;
    let lnm = 2.0 * s + 2.0 * s * z * q;
    e * LN2_HI + (lnm + e * LN2_LO)
}

#[inline(always)]
fn exp_kernel(x: &[f64], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp1(v);
    }
}

#[inline(always)]
fn ln_kernel(x: &[f64], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = ln1(v);
    }
}

// The same kernels compiled for AVX2+FMA (plain copies elsewhere; `has_avx2` is then false).
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn exp_avx2(x: &[f64], out: &mut [f64]) {
    exp_kernel(x, out)
}

#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn ln_avx2(x: &[f64], out: &mut [f64]) {
    ln_kernel(x, out)
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static F: OnceLock<bool> = OnceLock::new();
    *F.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

/// `out[i] = exp(x[i])`.
pub fn exp_slice(x: &[f64], out: &mut [f64]) {
    map_slice(x, out, exp_kernel, exp_avx2, |v| v > -708.0 && v < 709.0, f64::exp);
}

/// `out[i] = ln(x[i])`.
pub fn ln_slice(x: &[f64], out: &mut [f64]) {
    map_slice(x, out, ln_kernel, ln_avx2, |v| v >= f64::MIN_POSITIVE && v < f64::INFINITY, f64::ln);
}

/// Apply a polynomial kernel (the AVX2+FMA copy when the CPU has it), then patch the inputs
/// outside the kernel's domain (`in_domain` false) with the scalar libm function `exact`.
#[inline(always)]
fn map_slice(
    x: &[f64],
    out: &mut [f64],
    kernel: fn(&[f64], &mut [f64]),
    kernel_avx2: unsafe fn(&[f64], &mut [f64]),
    in_domain: impl Fn(f64) -> bool,
    exact: fn(f64) -> f64,
) {
    let n = x.len().min(out.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    if has_avx2() {
        // SAFETY: the CPU supports avx2 and fma (checked by has_avx2).
        unsafe { kernel_avx2(x, out) };
    } else {
        kernel(x, out);
    }
    // vectorised check first: special inputs are rare
    if !x.iter().fold(true, |acc, &v| acc & in_domain(v)) {
        for (o, &v) in out.iter_mut().zip(x) {
            if !in_domain(v) {
                *o = exact(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        ((a - b) / (b.abs() * f64::EPSILON)).abs()
    }

    #[test]
    fn exp_matches_libm() {
        let xs: Vec<f64> = (0..200_001).map(|i| -745.0 + 1455.0 * i as f64 / 200_000.0).chain([
            0.0, -0.0, 1e-300, -1e-300, 709.7, 709.8, -745.2, -800.0, 800.0, f64::INFINITY, f64::NEG_INFINITY,
        ]).collect();
        let mut out = vec![0.0; xs.len()];
        exp_slice(&xs, &mut out);
        let mut worst: f64 = 0.0;
        for (x, o) in xs.iter().zip(&out) {
            let e = x.exp();
            if e.is_finite() && e >= f64::MIN_POSITIVE {
                worst = worst.max(ulps(*o, e));
            } else {
                assert!(*o == e || (o.is_nan() && e.is_nan()), "x={x}: {o} vs {e}");
            }
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        let mut o = [0.0];
        exp_slice(&[f64::NAN], &mut o);
        assert!(o[0].is_nan());
    }

    #[test]
    fn ln_matches_libm() {
        let mut xs: Vec<f64> = (0..200_001).map(|i| (-700.0 + 1400.0 * i as f64 / 200_000.0).exp()).collect();
        xs.extend((0..10_000).map(|i| 0.5 + i as f64 / 10_000.0));
        xs.extend([1.0, 2.0, 0.0, -0.0, -1.0, 1e-310, f64::MAX, f64::INFINITY, f64::NAN, f64::MIN_POSITIVE]);
        let mut out = vec![0.0; xs.len()];
        ln_slice(&xs, &mut out);
        let mut worst: f64 = 0.0;
        for (x, o) in xs.iter().zip(&out) {
            let e = x.ln();
            if e.is_finite() && e != 0.0 {
                worst = worst.max(ulps(*o, e));
            } else {
                assert!(*o == e || (o.is_nan() && e.is_nan()), "x={x}: {o} vs {e}");
            }
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
    }
}
