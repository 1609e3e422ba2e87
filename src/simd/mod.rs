//! Runtime CPU dispatch. The binary targets plain x86-64 (SSE2); the hot kernels are written
//! once, generic over an instruction-set marker [`Isa`], and instantiated twice: for the
//! portable baseline and inside a function compiled with AVX2+FMA (x86-64-v3). [`dispatch`]
//! runs the best instantiation the CPU supports; the level is detected once per process.
//!
//! A kernel body is an `#[inline(always)]` function generic over `I: Isa`; everything it calls
//! on its hot path is `#[inline(always)]` too (or itself dispatched), so the whole body is
//! compiled with the instruction set of the function it is inlined into. Explicit intrinsics
//! live in `#[target_feature]` helpers called under `if I::AVX2_FMA`. exp and ln (see
//! [`crate::simd::fastmath`]) additionally pick AVX-512 kernels when the CPU has AVX-512F.
//!
//! Results: the AVX2 and AVX-512 levels give identical bits (same operations lane by lane).
//! The portable level (CPUs without AVX2+FMA) uses unfused multiply-adds, so its results can
//! differ from theirs in the last bits.
//!
//! `SCALINGFIT_SIMD=portable|avx2|avx512` caps the level (never above what the CPU has), for
//! tests and benchmarks; `SCALINGFIT_NO_AVX512=1` is the same as `SCALINGFIT_SIMD=avx2`.

pub mod fastmath;

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set marker: which kernels a generic body may use.
pub trait Isa: Copy + Send + Sync + 'static {
    /// True when the body runs inside a function compiled with AVX2 and FMA.
    const AVX2_FMA: bool;
}

/// The x86-64 baseline (or any other architecture).
#[derive(Clone, Copy, Debug)]
pub struct Portable;

/// AVX2 + FMA (x86-64-v3).
#[derive(Clone, Copy, Debug)]
pub struct Avx2Fma;

impl Isa for Portable {
    const AVX2_FMA: bool = false;
}

impl Isa for Avx2Fma {
    const AVX2_FMA: bool = true;
}

/// The instruction-set level in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Portable = 1,
    Avx2 = 2,
    Avx512 = 3,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "portable" | "baseline" | "sse2" => Some(Level::Portable),
            "avx2" | "v3" => Some(Level::Avx2),
            "avx512" | "v4" => Some(Level::Avx512),
            _ => None,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level the CPU supports, before any cap.
pub fn cpu_level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            if is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// The level in use: the CPU's, capped by `SCALINGFIT_SIMD` / `SCALINGFIT_NO_AVX512`.
#[inline]
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Portable,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => init_level(),
    }
}

#[cold]
fn init_level() -> Level {
    let mut lvl = cpu_level();
    if let Some(cap) = std::env::var("SCALINGFIT_SIMD")
        .ok()
        .and_then(|s| Level::parse(&s))
    {
        lvl = lvl.min(cap);
    }
    if std::env::var_os("SCALINGFIT_NO_AVX512").is_some() {
        lvl = lvl.min(Level::Avx2);
    }
    LEVEL.store(lvl as u8, Ordering::Relaxed);
    lvl
}

/// Work to run at the best instruction set: `run::<I>` must be `#[inline(always)]` so that its
/// body is compiled inside the dispatching function.
pub trait Kernel {
    type Output;
    fn run<I: Isa>(self) -> Self::Output;
}

/// Run `k` with the best instantiation this CPU supports.
#[inline]
pub fn dispatch<K: Kernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if level() >= Level::Avx2 {
        // SAFETY: `level` reports AVX2 and FMA only when the CPU has both.
        return unsafe { run_avx2_fma(k) };
    }
    k.run::<Portable>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2_fma<K: Kernel>(k: K) -> K::Output {
    k.run::<Avx2Fma>()
}

/// Define a function that dispatches to a generic kernel body:
///
/// ```ignore
/// dispatched! {
///     /// docs
///     pub fn name<'a>(x: &'a [f64], y: &'a mut [f64]) -> f64 => name_in
/// }
/// ```
///
/// defines `name`, which runs `name_in::<I>(x, y)` for the best `I` (every reference in the
/// argument types must name one of the listed lifetimes).
macro_rules! dispatched {
    ($(#[$attr:meta])* $vis:vis fn $name:ident<$($lt:lifetime),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty => $body:ident) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<$($lt),*>($($arg: $ty),*) -> $ret {
            struct Args<$($lt),*> {
                $($arg: $ty),*
            }
            impl<$($lt),*> $crate::simd::Kernel for Args<$($lt),*> {
                type Output = $ret;
                #[inline(always)]
                fn run<I: $crate::simd::Isa>(self) -> $ret {
                    $body::<I>($(self.$arg),*)
                }
            }
            $crate::simd::dispatch(Args { $($arg),* })
        }
    };
}
pub(crate) use dispatched;

/// `a * b + c`: fused (one rounding) at the AVX2+FMA level, two roundings on the portable one
/// (a software fma there would cost ~20x).
#[inline(always)]
pub fn mad<I: Isa>(a: f64, b: f64, c: f64) -> f64 {
    if I::AVX2_FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_stable_and_within_the_cpu() {
        let l = level();
        assert_eq!(l, level());
        assert!(l <= cpu_level());
        assert_eq!(Level::parse(l.name()), Some(l));
        assert_eq!(Level::parse("nonsense"), None);
    }

    struct Probe;
    impl Kernel for Probe {
        type Output = bool;
        #[inline(always)]
        fn run<I: Isa>(self) -> bool {
            I::AVX2_FMA
        }
    }

    #[test]
    fn dispatch_follows_the_level() {
        assert_eq!(dispatch(Probe), level() >= Level::Avx2);
    }
}
