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
//! atom  := number | ident | func '(' expr ')' | '(' expr ')'
//! func  := exp | log | ln | sqrt
//! ```
//!
//! Identifiers that name data columns are variables; every other identifier is a parameter,
//! numbered in order of first appearance. A formula compiles to a [`Tape`]: a flat,
//! hash-consed list of operations evaluated column-wise over all points (one tight loop per
//! operation, constants and parameter-only sub-expressions computed once), with exact
//! reverse-mode derivatives with respect to every parameter. `x ^ p` with a data column `x`
//! and a fitted exponent becomes `exp(p * ln x)` with `ln x` precomputed once per data set.

mod data;
mod eval;
mod parse;
pub mod sumexp;
mod tape;
#[cfg(test)]
mod tests;

pub use data::Data;
pub use eval::EvalWs;
pub use parse::{identifiers, Func};
pub use tape::{Formula, Op};
