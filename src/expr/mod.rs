//! The formula language.
//!
//! Grammar (usual precedence, `^` right-associative and binding tighter than unary minus, so
//! `-x^2 == -(x^2)` and `x^-a == x^(-a)`):
//!
//! ```text
//! expr  := term (('+' | '-') term)*
//! term  := unary (('*' | '/') unary)*
//! unary := ('-' | '+') unary | power
//! power := atom (('^' | '**') unary)?
//! atom  := number | ident | call | '(' expr ')'
//! call  := func '(' expr ')'
//!        | 'pow' '(' expr ',' expr ')'
//!        | ('smoothmax' | 'smoothmin') '(' expr ',' expr ',' expr ')'
//! func  := exp | log | ln | sqrt | log10 | log1p | expm1 | sin | cos | tan | atan | tanh
//!        | abs | logistic | sigmoid | softplus
//! ```
//!
//! Functions (all with exact derivatives):
//!
//! - `log` = `ln` (natural log); `log10`, `log1p(x) = ln(1 + x)` and `expm1(x) = exp(x) - 1`
//!   (accurate near 0); `sin`, `cos`, `tan`, `atan`, `tanh` (radians);
//! - `abs(x)`, with derivative `sign(x)` and 0 at `x = 0`;
//! - `logistic(x) = 1 / (1 + exp(-x))` (alias `sigmoid`) and `softplus(x) = ln(1 + exp(x))`,
//!   evaluated in forms that neither overflow nor lose precision for any finite x
//!   (`logistic(-1000) = 0`, `softplus(1000) = 1000`);
//! - `pow(a, b)` is `a ^ b`;
//! - `smoothmax(a, b, k) = ln(exp(k a) + exp(k b)) / k`, the log-sum-exp maximum with sharpness
//!   `k > 0`: it lies between `max(a, b)` and `max(a, b) + ln(2)/k` and tends to `max(a, b)` as
//!   `k` grows. It is evaluated as `max(a, b) + softplus(-k |a - b|) / k` (no overflow), from
//!   the nodes above, so its derivatives (the softmax weights `1/(1 + exp(-k (a - b)))` and
//!   its complement, and the one in `k`) are exact up to rounding relative to 1 (the weight
//!   of the far smaller argument to ~1e-16 absolute, not relative).
//!   `smoothmin(a, b, k) = -smoothmax(-a, -b, k)`. (A negative `k` turns one into the other;
//!   `k = 0` is not finite, and the fitter rejects such a step.)
//!
//! Function names are reserved: they are never parameters or variables, and a name without
//! `(` is a syntax error. `log(x)`, `log10(x)` or `x ^ p` (p fitted) of a data column `x`
//! require the column to be positive. Outside their domain functions give NaN or
//! inf (`log` of a negative number, `tan` at a pole), which makes the fitter reject the step.
//!
//! Identifiers that name data columns are variables; every other identifier is a parameter,
//! numbered in order of first appearance. A formula compiles to a [`Tape`]: a flat,
//! hash-consed list of operations evaluated column-wise over all points (one tight loop per
//! operation, constants and parameter-only sub-expressions computed once), with exact
//! reverse-mode derivatives with respect to every parameter. `x ^ p` with a data column `x`
//! and a fitted exponent becomes `exp(p * ln x)` with `ln x` precomputed once per data set.

mod data;
mod eval;
mod funcs;
mod parse;
pub mod sumexp;
mod tape;
#[cfg(test)]
mod tests;

pub use data::Data;
pub use eval::EvalWs;
pub use funcs::Func;
pub use parse::identifiers;
pub use tape::{Formula, Op};
