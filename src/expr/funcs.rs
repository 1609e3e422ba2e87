//! The unary functions of the formula language: values and exact derivatives, one element at a
//! time or over a column.
//!
//! `exp`, `ln` and `sqrt` compile to their own tape operations (with vectorised kernels and
//! structural rules); every other function is one [`super::Op::Fun`] node whose value and
//! derivative come from here. All use the std `f64` methods, written in the numerically stable
//! forms noted per function.

use std::f64::consts::LOG10_E;

/// Unary functions of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    Exp,
    Ln,
    Sqrt,
    Sin,
    Cos,
    Tan,
    Atan,
    Tanh,
    /// derivative 0 at 0
    Abs,
    Log10,
    Log1p,
    Expm1,
    /// `1 / (1 + exp(-x))`
    Logistic,
    /// `ln(1 + exp(x))`
    Softplus,
}

/// `1 / (1 + exp(-x))` without overflow for any x: the exponential is of `-|x|` only.
#[inline(always)]
pub(crate) fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + exp(x)) = max(x, 0) + ln(1 + exp(-|x|))`, exact to rounding for any x (no overflow
/// for large x, no loss to 0 for moderately negative x).
#[inline(always)]
pub(crate) fn softplus(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `logistic'(x) = e / (1 + e)^2` with `e = exp(-|x|)` (no cancellation in `s (1 - s)`).
#[inline(always)]
fn logistic_deriv(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    let d = 1.0 + e;
    e / (d * d)
}

/// One loop per function: `per_func!(f, m)` expands `m!(Variant)` in the arm of each variant,
/// so every function gets its own monomorphised loop (the list of variants stands here once).
macro_rules! per_func {
    ($f:expr, $m:ident) => {
        match $f {
            Func::Exp => $m!(Exp),
            Func::Ln => $m!(Ln),
            Func::Sqrt => $m!(Sqrt),
            Func::Sin => $m!(Sin),
            Func::Cos => $m!(Cos),
            Func::Tan => $m!(Tan),
            Func::Atan => $m!(Atan),
            Func::Tanh => $m!(Tanh),
            Func::Abs => $m!(Abs),
            Func::Log10 => $m!(Log10),
            Func::Log1p => $m!(Log1p),
            Func::Expm1 => $m!(Expm1),
            Func::Logistic => $m!(Logistic),
            Func::Softplus => $m!(Softplus),
        }
    };
}

impl Func {
    /// The function's value at `x`.
    #[inline(always)]
    pub fn value(self, x: f64) -> f64 {
        match self {
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Atan => x.atan(),
            Func::Tanh => x.tanh(),
            Func::Abs => x.abs(),
            Func::Log10 => x.log10(),
            Func::Log1p => x.ln_1p(),
            Func::Expm1 => x.exp_m1(),
            Func::Logistic => logistic(x),
            Func::Softplus => softplus(x),
        }
    }

    /// The derivative at `x`, given the value `y = f(x)` (some are cheaper or more accurate
    /// from it). `abs` has derivative 0 at 0 (and NaN at NaN).
    #[inline(always)]
    pub fn deriv(self, x: f64, y: f64) -> f64 {
        match self {
            Func::Exp => y,
            Func::Ln => 1.0 / x,
            Func::Sqrt => 0.5 / y,
            Func::Sin => x.cos(),
            Func::Cos => -x.sin(),
            // 1 + tan^2: inf at the poles' float neighbours overflows naturally
            Func::Tan => 1.0 + y * y,
            Func::Atan => 1.0 / (1.0 + x * x),
            // sech^2 from cosh (1 - tanh^2 would cancel for large |x|); 0 past overflow
            Func::Tanh => {
                let c = x.cosh();
                1.0 / (c * c)
            }
            Func::Abs => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else if x == 0.0 {
                    0.0
                } else {
                    f64::NAN
                }
            }
            Func::Log10 => LOG10_E / x,
            Func::Log1p => 1.0 / (1.0 + x),
            Func::Expm1 => x.exp(),
            Func::Logistic => logistic_deriv(x),
            Func::Softplus => logistic(x),
        }
    }

    /// `out[t] = f(x[t])`, one loop per function.
    #[inline(always)]
    pub(crate) fn apply(self, x: &[f64], out: &mut [f64]) {
        // each arm is a loop with the function fixed, so `value` is resolved at compile time
        macro_rules! each {
            ($f:ident) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = Func::$f.value(v);
                }
            };
        }
        per_func!(self, each)
    }

    /// `d[t] += g[t] * f'(x[t])` given the values `y[t] = f(x[t])` (one loop per function).
    #[inline(always)]
    pub(crate) fn add_deriv(self, x: &[f64], y: &[f64], g: &[f64], d: &mut [f64]) {
        macro_rules! each {
            ($f:ident) => {
                for (((d, &g), &x), &y) in d.iter_mut().zip(g).zip(x).zip(y) {
                    *d += g * Func::$f.deriv(x, y);
                }
            };
        }
        per_func!(self, each)
    }
}
