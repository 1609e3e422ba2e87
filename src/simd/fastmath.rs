//! Vectorised `exp` and `ln` over slices (within ~1 ulp of libm on normal inputs).
//!
//! libm's scalar `exp`/`ln` cost ~5-10 ns each and dominate formula evaluation. These kernels
//! are branch-free polynomial versions (range reduction, then a Chebyshev-fitted polynomial of
//! degree 11 for exp and 6 in s^2 for ln). On x86-64 with AVX2+FMA (checked at run time) they
//! run as AVX2 intrinsics with fused multiply-adds, two vectors per step, about 1 ns per value,
//! or as AVX-512 intrinsics where the CPU has AVX-512F (about 0.7 ns; the same operations lane
//! by lane, so the same bits; `SCALINGFIT_NO_AVX512=1` turns them off); elsewhere a portable
//! unfused copy runs, whose results may differ in the last bit. Special
//! inputs (NaN, inf, non-positive or subnormal arguments of `ln`, out-of-range arguments of
//! `exp`) are patched with the scalar libm result, so results never differ in kind from
//! `f64::exp`/`f64::ln`.

#![allow(clippy::excessive_precision)] // constants are given to more digits than f64 holds, as computed

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
const TWO52: f64 = 4_503_599_627_370_496.0; // 2^52
/// exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2: P of degree 9 (highest first) fitted to
/// (exp(r) - 1 - r)/r^2 (Chebyshev fit with mpmath; truncation < 2e-17 relative).
const EXP_P: [f64; 10] = [
    2.510_037_583_256_123_366_4e-8,
    2.762_007_587_998_336_658_6e-7,
    2.755_726_848_031_002_552_6e-6,
    2.480_152_132_236_869_326_6e-5,
    1.984_126_986_304_054_527_1e-4,
    1.388_888_891_719_671_907_7e-3,
    8.333_333_333_330_064_449_5e-3,
    4.166_666_666_662_416_190_3e-2,
    1.666_666_666_666_666_745_2e-1,
    5.000_000_000_000_001_021_1e-1,
];
/// ln m = 2s + 2s z Q(z), s = (m-1)/(m+1), z = s^2 <= 0.0295: Q of degree 6 (highest first)
/// fitted to (atanh(s)/s - 1)/z (Chebyshev fit with mpmath; truncation < 1e-17 relative).
const LN_Q: [f64; 7] = [
    7.308_224_842_521_702_930_2e-2,
    7.665_860_800_278_020_634_3e-2,
    9.091_444_562_630_861_040_1e-2,
    1.111_110_556_739_753_992_8e-1,
    1.428_571_431_298_774_246_1e-1,
    1.999_999_999_994_975_224_5e-1,
    3.333_333_333_333_334_843_1e-1,
];

/// `a * b + c`, fused (one rounding) in the FMA copies of the kernels.
#[inline(always)]
fn mad<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// exp on [-708, 709] (other inputs are patched by the caller).
#[inline(always)]
pub(crate) fn exp1<const FMA: bool>(x: f64) -> f64 {
    // clamp so the bit tricks stay valid; out-of-range inputs are patched afterwards
    let xc = x.clamp(-708.0, 709.0);
    // round-to-nearest of x*log2(e) by the 1.5*2^52 shift trick (vectorises without
    // float->int conversions); the integer k is read back from the bits
    let t = mad::<FMA>(xc, LOG2E, SHIFT);
    let k = t - SHIFT;
    let ki = t.to_bits().wrapping_sub(SHIFT.to_bits());
    let r = mad::<FMA>(-k, LN2_LO, mad::<FMA>(-k, LN2_HI, xc));
    // exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2
    let mut p = EXP_P[0];
    for &c in &EXP_P[1..] {
        p = mad::<FMA>(p, r, c);
    }
    let e = 1.0 + mad::<FMA>(r * r, p, r);
    e * f64::from_bits(ki.wrapping_add(1023) << 52)
}

/// ln on positive normal finite inputs (others are patched by the caller).
#[inline(always)]
pub(crate) fn ln1<const FMA: bool>(x: f64) -> f64 {
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
    // ln m = 2 atanh(s) = 2s + 2s z Q(z), |s| <= 0.1716
    let mut q = LN_Q[0];
    for &c in &LN_Q[1..] {
        q = mad::<FMA>(q, z, c);
    }
    let s2 = 2.0 * s;
    let lnm = mad::<FMA>(s2 * z, q, s2);
    mad::<FMA>(e, LN2_HI, mad::<FMA>(e, LN2_LO, lnm))
}

/// The kernels written with AVX2+FMA intrinsics, two vectors per step. Each computes exactly
/// the operations of `exp1::<true>` / `ln1::<true>` (which handle the tail), so every element
/// gets the same bits whichever path computed it. They return false when some input lies
/// outside the polynomial's domain (the caller then patches those elements).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn c(v: f64) -> __m256d {
        _mm256_set1_pd(v)
    }

    /// exp of 4 lanes; `ok` keeps the lanes whose input is in [-708, 709] (false for NaN).
    #[inline(always)]
    unsafe fn exp4(x: __m256d, ok: &mut __m256d) -> __m256d {
        let xc = _mm256_min_pd(_mm256_max_pd(x, c(-708.0)), c(709.0));
        *ok = _mm256_and_pd(*ok, _mm256_cmp_pd::<_CMP_EQ_OQ>(x, xc));
        let t = _mm256_fmadd_pd(xc, c(LOG2E), c(SHIFT));
        let k = _mm256_sub_pd(t, c(SHIFT));
        let ki = _mm256_sub_epi64(
            _mm256_castpd_si256(t),
            _mm256_set1_epi64x(SHIFT.to_bits() as i64),
        );
        let r = _mm256_fmadd_pd(
            _mm256_sub_pd(_mm256_setzero_pd(), k),
            c(LN2_LO),
            _mm256_fmadd_pd(_mm256_sub_pd(_mm256_setzero_pd(), k), c(LN2_HI), xc),
        );
        let mut p = c(EXP_P[0]);
        for &q in &EXP_P[1..] {
            p = _mm256_fmadd_pd(p, r, c(q));
        }
        let e = _mm256_add_pd(c(1.0), _mm256_fmadd_pd(_mm256_mul_pd(r, r), p, r));
        let scale = _mm256_slli_epi64::<52>(_mm256_add_epi64(ki, _mm256_set1_epi64x(1023)));
        _mm256_mul_pd(e, _mm256_castsi256_pd(scale))
    }

    /// ln of 4 lanes; `ok` keeps the lanes whose input is positive, normal and finite.
    #[inline(always)]
    unsafe fn ln4(x: __m256d, ok: &mut __m256d) -> __m256d {
        let inside = _mm256_and_pd(
            _mm256_cmp_pd::<_CMP_GE_OQ>(x, c(f64::MIN_POSITIVE)),
            _mm256_cmp_pd::<_CMP_LT_OQ>(x, c(f64::INFINITY)),
        );
        *ok = _mm256_and_pd(*ok, inside);
        let bits = _mm256_castpd_si256(x);
        let ebits = _mm256_and_si256(_mm256_srli_epi64::<52>(bits), _mm256_set1_epi64x(0x7ff));
        let e_raw = _mm256_sub_pd(
            _mm256_castsi256_pd(_mm256_or_si256(
                ebits,
                _mm256_set1_epi64x(0x4330_0000_0000_0000),
            )),
            c(TWO52),
        );
        let mbits = _mm256_and_si256(bits, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff));
        let m = _mm256_castsi256_pd(_mm256_or_si256(
            mbits,
            _mm256_set1_epi64x(0x3ff0_0000_0000_0000),
        ));
        let big = _mm256_cmp_pd::<_CMP_GT_OQ>(m, c(std::f64::consts::SQRT_2));
        let m = _mm256_blendv_pd(m, _mm256_mul_pd(m, c(0.5)), big);
        let e = _mm256_add_pd(_mm256_sub_pd(e_raw, c(1023.0)), _mm256_and_pd(big, c(1.0)));
        let s = _mm256_div_pd(_mm256_sub_pd(m, c(1.0)), _mm256_add_pd(m, c(1.0)));
        let z = _mm256_mul_pd(s, s);
        let mut q = c(LN_Q[0]);
        for &k in &LN_Q[1..] {
            q = _mm256_fmadd_pd(q, z, c(k));
        }
        let s2 = _mm256_mul_pd(c(2.0), s);
        let lnm = _mm256_fmadd_pd(_mm256_mul_pd(s2, z), q, s2);
        _mm256_fmadd_pd(e, c(LN2_HI), _mm256_fmadd_pd(e, c(LN2_LO), lnm))
    }

    #[inline(always)]
    unsafe fn map(
        x: &[f64],
        out: &mut [f64],
        f4: unsafe fn(__m256d, &mut __m256d) -> __m256d,
        f1: fn(f64) -> f64,
        in_domain: impl Fn(f64) -> bool,
    ) -> bool {
        let n = x.len().min(out.len());
        let (px, po) = (x.as_ptr(), out.as_mut_ptr());
        let mut ok0 = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
        let mut ok1 = ok0;
        let mut i = 0;
        // SAFETY (all loads/stores): i + 8 <= n, resp. i + 4 <= n, for slices of length >= n
        while i + 8 <= n {
            let a = f4(_mm256_loadu_pd(px.add(i)), &mut ok0);
            let b = f4(_mm256_loadu_pd(px.add(i + 4)), &mut ok1);
            _mm256_storeu_pd(po.add(i), a);
            _mm256_storeu_pd(po.add(i + 4), b);
            i += 8;
        }
        if i + 4 <= n {
            _mm256_storeu_pd(po.add(i), f4(_mm256_loadu_pd(px.add(i)), &mut ok0));
            i += 4;
        }
        let mut ok = _mm256_movemask_pd(_mm256_and_pd(ok0, ok1)) == 0xf;
        for j in i..n {
            out[j] = f1(x[j]);
            ok &= in_domain(x[j]);
        }
        ok
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp(x: &[f64], out: &mut [f64]) -> bool {
        map(
            x,
            out,
            |v, ok| unsafe { exp4(v, ok) },
            exp1::<true>,
            exp_in_domain,
        )
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn ln(x: &[f64], out: &mut [f64]) -> bool {
        map(
            x,
            out,
            |v, ok| unsafe { ln4(v, ok) },
            ln1::<true>,
            ln_in_domain,
        )
    }
}

/// The same kernels with AVX-512 (8 lanes, two vectors per step), used when the CPU has
/// AVX-512F. Lane by lane they perform exactly the operations of the AVX2 kernels and of
/// `exp1::<true>` / `ln1::<true>`, so results do not depend on which of them ran.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn c(v: f64) -> __m512d {
        _mm512_set1_pd(v)
    }

    /// exp of 8 lanes; `ok` keeps the lanes whose input is in [-708, 709] (false for NaN).
    #[inline(always)]
    unsafe fn exp8(x: __m512d, ok: &mut __mmask8) -> __m512d {
        let xc = _mm512_min_pd(_mm512_max_pd(x, c(-708.0)), c(709.0));
        *ok &= _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, xc);
        let t = _mm512_fmadd_pd(xc, c(LOG2E), c(SHIFT));
        let k = _mm512_sub_pd(t, c(SHIFT));
        let ki = _mm512_sub_epi64(
            _mm512_castpd_si512(t),
            _mm512_set1_epi64(SHIFT.to_bits() as i64),
        );
        let nk = _mm512_sub_pd(_mm512_setzero_pd(), k);
        let r = _mm512_fmadd_pd(nk, c(LN2_LO), _mm512_fmadd_pd(nk, c(LN2_HI), xc));
        let mut p = c(EXP_P[0]);
        for &q in &EXP_P[1..] {
            p = _mm512_fmadd_pd(p, r, c(q));
        }
        let e = _mm512_add_pd(c(1.0), _mm512_fmadd_pd(_mm512_mul_pd(r, r), p, r));
        let scale = _mm512_slli_epi64::<52>(_mm512_add_epi64(ki, _mm512_set1_epi64(1023)));
        _mm512_mul_pd(e, _mm512_castsi512_pd(scale))
    }

    /// ln of 8 lanes; `ok` keeps the lanes whose input is positive, normal and finite.
    #[inline(always)]
    unsafe fn ln8(x: __m512d, ok: &mut __mmask8) -> __m512d {
        *ok &= _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, c(f64::MIN_POSITIVE))
            & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, c(f64::INFINITY));
        let bits = _mm512_castpd_si512(x);
        let ebits = _mm512_and_si512(_mm512_srli_epi64::<52>(bits), _mm512_set1_epi64(0x7ff));
        let e_raw = _mm512_sub_pd(
            _mm512_castsi512_pd(_mm512_or_si512(
                ebits,
                _mm512_set1_epi64(0x4330_0000_0000_0000),
            )),
            c(TWO52),
        );
        let mbits = _mm512_and_si512(bits, _mm512_set1_epi64(0x000f_ffff_ffff_ffff));
        let m = _mm512_castsi512_pd(_mm512_or_si512(
            mbits,
            _mm512_set1_epi64(0x3ff0_0000_0000_0000),
        ));
        let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(m, c(std::f64::consts::SQRT_2));
        let m = _mm512_mask_blend_pd(big, m, _mm512_mul_pd(m, c(0.5)));
        let e = _mm512_add_pd(
            _mm512_sub_pd(e_raw, c(1023.0)),
            _mm512_maskz_mov_pd(big, c(1.0)),
        );
        let s = _mm512_div_pd(_mm512_sub_pd(m, c(1.0)), _mm512_add_pd(m, c(1.0)));
        let z = _mm512_mul_pd(s, s);
        let mut q = c(LN_Q[0]);
        for &k in &LN_Q[1..] {
            q = _mm512_fmadd_pd(q, z, c(k));
        }
        let s2 = _mm512_mul_pd(c(2.0), s);
        let lnm = _mm512_fmadd_pd(_mm512_mul_pd(s2, z), q, s2);
        _mm512_fmadd_pd(e, c(LN2_HI), _mm512_fmadd_pd(e, c(LN2_LO), lnm))
    }

    #[inline(always)]
    unsafe fn map(
        x: &[f64],
        out: &mut [f64],
        f8: unsafe fn(__m512d, &mut __mmask8) -> __m512d,
        f1: fn(f64) -> f64,
        in_domain: impl Fn(f64) -> bool,
    ) -> bool {
        let n = x.len().min(out.len());
        let (px, po) = (x.as_ptr(), out.as_mut_ptr());
        let (mut ok0, mut ok1): (__mmask8, __mmask8) = (0xff, 0xff);
        let mut i = 0;
        // SAFETY (all loads/stores): i + 16 <= n, resp. i + 8 <= n, for slices of length >= n
        while i + 16 <= n {
            let a = f8(_mm512_loadu_pd(px.add(i)), &mut ok0);
            let b = f8(_mm512_loadu_pd(px.add(i + 8)), &mut ok1);
            _mm512_storeu_pd(po.add(i), a);
            _mm512_storeu_pd(po.add(i + 8), b);
            i += 16;
        }
        if i + 8 <= n {
            _mm512_storeu_pd(po.add(i), f8(_mm512_loadu_pd(px.add(i)), &mut ok0));
            i += 8;
        }
        let mut ok = ok0 & ok1 == 0xff;
        for j in i..n {
            out[j] = f1(x[j]);
            ok &= in_domain(x[j]);
        }
        ok
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn exp(x: &[f64], out: &mut [f64]) -> bool {
        map(
            x,
            out,
            |v, ok| unsafe { exp8(v, ok) },
            exp1::<true>,
            exp_in_domain,
        )
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn ln(x: &[f64], out: &mut [f64]) -> bool {
        map(
            x,
            out,
            |v, ok| unsafe { ln8(v, ok) },
            ln1::<true>,
            ln_in_domain,
        )
    }
}

/// AVX-512 exp/ln kernels: the level (see [`crate::simd`]) is AVX-512.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    crate::simd::level() >= crate::simd::Level::Avx512
}

/// AVX2+FMA kernels: the level is AVX2 or above.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    crate::simd::level() >= crate::simd::Level::Avx2
}

fn exp_in_domain(v: f64) -> bool {
    (-708.0..=709.0).contains(&v)
}

fn ln_in_domain(v: f64) -> bool {
    (f64::MIN_POSITIVE..f64::INFINITY).contains(&v)
}

/// A vector kernel: fills `out` and returns whether every input was in its domain.
type FastKernel = unsafe fn(&[f64], &mut [f64]) -> bool;

/// `out[i] = exp(x[i])`.
pub fn exp_slice(x: &[f64], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    let fast: Option<FastKernel> = Some(if has_avx512() { avx512::exp } else { avx2::exp });
    #[cfg(not(target_arch = "x86_64"))]
    let fast = None;
    map_slice(x, out, exp1::<false>, fast, exp_in_domain, f64::exp);
}

/// `out[i] = ln(x[i])`.
pub fn ln_slice(x: &[f64], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    let fast: Option<FastKernel> = Some(if has_avx512() { avx512::ln } else { avx2::ln });
    #[cfg(not(target_arch = "x86_64"))]
    let fast = None;
    map_slice(x, out, ln1::<false>, fast, ln_in_domain, f64::ln);
}

/// Apply a polynomial kernel (the AVX2+FMA one when the CPU has it; it reports whether all
/// inputs were in its domain), then patch the inputs outside the kernel's domain with the
/// scalar libm function `exact`.
#[inline(always)]
fn map_slice(
    x: &[f64],
    out: &mut [f64],
    kernel: fn(f64) -> f64,
    fast: Option<FastKernel>,
    in_domain: fn(f64) -> bool,
    exact: fn(f64) -> f64,
) {
    let n = x.len().min(out.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    let all_inside = match fast {
        #[cfg(target_arch = "x86_64")]
        Some(f) if has_avx2() => {
            // SAFETY: the CPU supports avx2 and fma (checked by has_avx2).
            unsafe { f(x, out) }
        }
        _ => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = kernel(v);
            }
            x.iter().fold(true, |acc, &v| acc & in_domain(v))
        }
    };
    if !all_inside {
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
        let xs: Vec<f64> = (0..200_001)
            .map(|i| -745.0 + 1455.0 * i as f64 / 200_000.0)
            .chain([
                0.0,
                -0.0,
                1e-300,
                -1e-300,
                709.7,
                709.8,
                -745.2,
                -800.0,
                800.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ])
            .collect();
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
        // the portable (unfused) kernel too, inside its domain
        let mut worst: f64 = 0.0;
        for &x in xs.iter().filter(|&&x| x > -708.0 && x < 709.0) {
            worst = worst.max(ulps(exp1::<false>(x), x.exp()));
        }
        assert!(worst <= 2.0, "portable: worst {worst} ulp");
        let mut o = [0.0];
        exp_slice(&[f64::NAN], &mut o);
        assert!(o[0].is_nan());
    }

    /// The AVX2 kernels give every element the bits of the scalar FMA formula (whatever its
    /// position: vector body, 4-wide step or scalar tail), and special inputs are patched.
    #[test]
    fn vector_paths_match_the_scalar_formula() {
        #[cfg(target_arch = "x86_64")]
        {
            // every vector kernel this CPU can run (AVX2, and AVX-512 where present)
            let mut kernels: Vec<(&str, FastKernel, FastKernel)> = Vec::new();
            use crate::simd::{cpu_level, Level};
            if cpu_level() >= Level::Avx2 {
                kernels.push(("avx2", avx2::exp, avx2::ln));
            }
            if cpu_level() >= Level::Avx512 {
                kernels.push(("avx512", avx512::exp, avx512::ln));
            }
            let mut seed = 12345u64;
            let mut rnd = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 11) as f64 / (1u64 << 53) as f64
            };
            for n in 0..60 {
                let xs: Vec<f64> = (0..n).map(|_| (rnd() - 0.5) * 1400.0).collect();
                let ys: Vec<f64> = xs.iter().map(|x| (x / 2.0).exp()).collect();
                for &(name, exp_k, ln_k) in &kernels {
                    let mut out = vec![0.0; n];
                    // SAFETY: the kernel list holds only kernels the CPU supports
                    assert!(
                        unsafe { exp_k(&xs, &mut out) },
                        "{name}: all inputs are inside the domain"
                    );
                    for (x, o) in xs.iter().zip(&out) {
                        assert_eq!(
                            o.to_bits(),
                            exp1::<true>(*x).to_bits(),
                            "{name}: exp({x}), n={n}"
                        );
                    }
                    assert!(
                        unsafe { ln_k(&ys, &mut out) },
                        "{name}: all inputs are inside the domain"
                    );
                    for (y, o) in ys.iter().zip(&out) {
                        assert_eq!(
                            o.to_bits(),
                            ln1::<true>(*y).to_bits(),
                            "{name}: ln({y}), n={n}"
                        );
                    }
                }
            }
            // out-of-domain inputs are reported at every position (vector body, 8-wide step, tail)
            for &(name, exp_k, ln_k) in &kernels {
                for pos in 0..37 {
                    let mut xs = vec![0.5; 37];
                    xs[pos] = f64::NAN;
                    let mut out = vec![0.0; 37];
                    assert!(!unsafe { exp_k(&xs, &mut out) }, "{name}: NaN at {pos}");
                    assert!(!unsafe { ln_k(&xs, &mut out) }, "{name}: NaN at {pos}");
                }
            }
        }
        // a special value at every position of a 13-long slice is patched with libm's answer
        for pos in 0..13 {
            for special in [f64::NAN, f64::INFINITY, -1000.0, 800.0] {
                let mut xs = vec![0.5; 13];
                xs[pos] = special;
                let mut out = vec![0.0; 13];
                exp_slice(&xs, &mut out);
                let e = special.exp();
                assert!(
                    out[pos] == e || (out[pos].is_nan() && e.is_nan()),
                    "exp({special}) at {pos}"
                );
                assert_eq!(out[(pos + 1) % 13], 0.5f64.exp());
            }
            for special in [f64::NAN, f64::INFINITY, 0.0, -1.0, 1e-310] {
                let mut xs = vec![2.0; 13];
                xs[pos] = special;
                let mut out = vec![0.0; 13];
                ln_slice(&xs, &mut out);
                let e = special.ln();
                assert!(
                    out[pos] == e || (out[pos].is_nan() && e.is_nan()),
                    "ln({special}) at {pos}: {}",
                    out[pos]
                );
                assert!((out[(pos + 1) % 13] - 2f64.ln()).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn ln_matches_libm() {
        let mut xs: Vec<f64> = (0..200_001)
            .map(|i| (-700.0 + 1400.0 * i as f64 / 200_000.0).exp())
            .collect();
        xs.extend((0..10_000).map(|i| 0.5 + i as f64 / 10_000.0));
        xs.extend([
            1.0,
            2.0,
            0.0,
            -0.0,
            -1.0,
            1e-310,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
        ]);
        let mut worst: f64 = 0.0;
        for &x in xs.iter().filter(|&&x| ln_in_domain(x) && x != 1.0) {
            worst = worst.max(ulps(ln1::<false>(x), x.ln()));
        }
        assert!(worst <= 2.0, "portable: worst {worst} ulp");
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
