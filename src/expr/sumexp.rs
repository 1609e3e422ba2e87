//! A specialised evaluator for formulas that are sums of exponential-affine terms.
//!
//! Many scaling laws are posynomial-like sums
//!
//! ```text
//! f(x) = sum_k  m_k * L_k * exp(u_k(x)),   u_k(x) = sum_m c_km * q_km * s_km(x)
//! ```
//!
//! where `m_k` is a constant, `L_k` is 1 or one parameter that enters linearly, each `q_km` is a
//! parameter (natural value, or `ln P` for a parameter fitted in log space) or 1, and
//! `s_km(x)` is 1, a data column or the log of one. `E + A*N^-alpha + B*D^-beta` with E, A, B
//! fitted in log space is `exp(lnE) + exp(lnA - alpha ln N) + exp(lnB - beta ln D)`; so are
//! `power_law`, `power_law_plus_constant` and user formulas such as `a + b*exp(-k*t)`.
//!
//! For those the general tape (one column per operation and a reverse pass) does more work
//! than needed. This evaluator computes each term's exponent with a few fused multiply-adds,
//! one vectorised `exp` per data-dependent term, and the Jacobian with respect to the solver's
//! internal coordinates directly from the stored terms. Formulas of any other shape return
//! `None` from [`SumExp::detect`] and use the tape. Both give the same values and exact
//! derivatives to rounding (tested against each other).

use super::data::Data;
use super::funcs::Func;
use super::parse::Ast;
use super::tape::Formula;

/// Data factor of one piece of an exponent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Src {
    One,
    Ln(usize),
    Raw(usize),
}

/// One piece `coef * q * src` of a term's exponent.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    /// None: a constant piece (q = 1)
    param: Option<usize>,
    /// q = ln P (P fitted in log space, so q is the internal coordinate); else q = P
    log_param: bool,
    coef: f64,
    src: Src,
}

#[derive(Debug, Clone, Default)]
struct Term {
    mult: f64,
    lin: Option<usize>,
    pieces: Vec<Piece>,
}

impl Term {
    fn is_vector(&self) -> bool {
        self.pieces.iter().any(|p| p.src != Src::One)
    }
}

impl Src {
    /// The data column this source reads (None for the constant 1).
    #[inline(always)]
    fn column(self, data: &Data) -> Option<&[f64]> {
        match self {
            Src::One => None,
            Src::Ln(c) => Some(&data.ln_cols[c]),
            Src::Raw(c) => Some(&data.cols[c]),
        }
    }
}

/// `col (=|+=) a * x * e` (x = 1 when None): assigns on the first contribution (`*first`),
/// accumulates afterwards, so a column needs no separate zeroing pass.
#[inline(always)]
fn accumulate(col: &mut [f64], first: &mut bool, a: f64, x: Option<&[f64]>, e: &[f64]) {
    match (x, std::mem::replace(first, false)) {
        (Some(x), true) => col
            .iter_mut()
            .zip(x)
            .zip(e)
            .for_each(|((o, &xi), &ei)| *o = a * xi * ei),
        (Some(x), false) => col
            .iter_mut()
            .zip(x)
            .zip(e)
            .for_each(|((o, &xi), &ei)| *o += a * xi * ei),
        (None, true) => col.iter_mut().zip(e).for_each(|(o, &ei)| *o = a * ei),
        (None, false) => col.iter_mut().zip(e).for_each(|(o, &ei)| *o += a * ei),
    }
}

/// A formula recognised as a sum of exponential-affine terms (see the module docs).
#[derive(Debug, Clone)]
pub struct SumExp {
    terms: Vec<Term>,
    /// the positivity flags the terms were derived for
    positive: Vec<bool>,
}

/// Buffers of one evaluation: the exponentials of the data-dependent terms (term-major) and
/// the scalar terms' values at the last point evaluated.
#[derive(Debug, Default, Clone)]
pub struct SumExpWs {
    e: Vec<f64>,
    scal: Vec<f64>,
    u: Vec<f64>,
    n: usize,
}

type Lin = Vec<(Option<usize>, Option<usize>, f64)>;

/// `a` as a linear combination of products (param or 1) * (var or 1) * constant.
fn lincomb(a: &Ast, params: &[String], vars: &[String]) -> Option<Lin> {
    Some(match a {
        Ast::Num(v) => vec![(None, None, *v)],
        Ast::Ident(s) => match vars.iter().position(|v| v == s) {
            Some(j) => vec![(None, Some(j), 1.0)],
            None => vec![(Some(params.iter().position(|p| p == s)?), None, 1.0)],
        },
        Ast::Neg(x) => lincomb(x, params, vars)?
            .into_iter()
            .map(|(p, v, c)| (p, v, -c))
            .collect(),
        Ast::Add(x, y) => [lincomb(x, params, vars)?, lincomb(y, params, vars)?].concat(),
        Ast::Sub(x, y) => {
            let mut l = lincomb(x, params, vars)?;
            l.extend(
                lincomb(y, params, vars)?
                    .into_iter()
                    .map(|(p, v, c)| (p, v, -c)),
            );
            l
        }
        Ast::Mul(x, y) => {
            let (l, r) = (lincomb(x, params, vars)?, lincomb(y, params, vars)?);
            let mut out = Vec::new();
            for &(p1, v1, c1) in &l {
                for &(p2, v2, c2) in &r {
                    if (p1.is_some() && p2.is_some()) || (v1.is_some() && v2.is_some()) {
                        return None;
                    }
                    out.push((p1.or(p2), v1.or(v2), c1 * c2));
                }
            }
            out
        }
        Ast::Div(x, y) => match **y {
            Ast::Num(d) if d != 0.0 => lincomb(x, params, vars)?
                .into_iter()
                .map(|(p, v, c)| (p, v, c / d))
                .collect(),
            _ => return None,
        },
        _ => return None,
    })
}

struct Ctx<'a> {
    params: &'a [String],
    vars: &'a [String],
    positive: &'a [bool],
    log_vars: &'a [usize],
}

impl Ctx<'_> {
    fn param(&self, s: &str) -> Option<usize> {
        self.params.iter().position(|p| p == s)
    }
    fn var(&self, s: &str) -> Option<usize> {
        self.vars.iter().position(|v| v == s)
    }

    /// Add the factor `a^pow` (pow = +-1) to `t`.
    fn factor(&self, a: &Ast, pow: f64, t: &mut Term) -> Option<()> {
        match a {
            Ast::Mul(x, y) => {
                self.factor(x, pow, t)?;
                self.factor(y, pow, t)
            }
            Ast::Div(x, y) => {
                self.factor(x, pow, t)?;
                self.factor(y, -pow, t)
            }
            Ast::Neg(x) => {
                t.mult = -t.mult;
                self.factor(x, pow, t)
            }
            Ast::Num(v) => {
                if *v == 0.0 || !v.is_finite() {
                    return None;
                }
                t.mult *= v.powf(pow);
                Some(())
            }
            Ast::Ident(s) => {
                let j = self.param(s)?;
                if self.positive[j] {
                    t.pieces.push(Piece {
                        param: Some(j),
                        log_param: true,
                        coef: pow,
                        src: Src::One,
                    });
                } else if pow == 1.0 && t.lin.is_none() {
                    t.lin = Some(j);
                } else {
                    return None;
                }
                Some(())
            }
            Ast::Pow(base, expo) => match &**base {
                Ast::Ident(s) if self.var(s).is_some() => {
                    let x = self.var(s)?;
                    if !self.log_vars.contains(&x) {
                        return None;
                    }
                    for (p, v, c) in lincomb(expo, self.params, self.vars)? {
                        match (p, v) {
                            (j, None) => t.pieces.push(Piece {
                                param: j,
                                log_param: false,
                                coef: c * pow,
                                src: Src::Ln(x),
                            }),
                            _ => return None,
                        }
                    }
                    Some(())
                }
                Ast::Ident(s) => {
                    let j = self.param(s)?;
                    match **expo {
                        Ast::Num(c) if self.positive[j] && c.is_finite() => {
                            t.pieces.push(Piece {
                                param: Some(j),
                                log_param: true,
                                coef: c * pow,
                                src: Src::One,
                            });
                            Some(())
                        }
                        Ast::Neg(ref e) if self.positive[j] => match **e {
                            Ast::Num(c) if c.is_finite() => {
                                t.pieces.push(Piece {
                                    param: Some(j),
                                    log_param: true,
                                    coef: -c * pow,
                                    src: Src::One,
                                });
                                Some(())
                            }
                            _ => None,
                        },
                        _ => None,
                    }
                }
                _ => None,
            },
            Ast::Call(Func::Exp, arg) => {
                for (p, v, c) in lincomb(arg, self.params, self.vars)? {
                    match (p, v) {
                        (None, None) => t.mult *= (c * pow).exp(),
                        (j, v) => t.pieces.push(Piece {
                            param: j,
                            log_param: false,
                            coef: c * pow,
                            src: v.map_or(Src::One, Src::Raw),
                        }),
                    }
                }
                Some(())
            }
            _ => None,
        }
    }
}

fn split_terms<'a>(a: &'a Ast, sign: f64, out: &mut Vec<(f64, &'a Ast)>) {
    match a {
        Ast::Add(x, y) => {
            split_terms(x, sign, out);
            split_terms(y, sign, out);
        }
        Ast::Sub(x, y) => {
            split_terms(x, sign, out);
            split_terms(y, -sign, out);
        }
        Ast::Neg(x) => split_terms(x, -sign, out),
        _ => out.push((sign, a)),
    }
}

impl SumExp {
    /// Recognise `f` (with parameters flagged `positive` fitted as ln P), or None.
    pub fn detect(f: &Formula, positive: &[bool]) -> Option<SumExp> {
        let ast = f.ast();
        let ctx = Ctx {
            params: f.param_names(),
            vars: f.var_names(),
            positive,
            log_vars: f.log_vars(),
        };
        let mut raw = Vec::new();
        split_terms(ast, 1.0, &mut raw);
        let mut terms = Vec::new();
        for (sign, a) in raw {
            let mut t = Term {
                mult: sign,
                lin: None,
                pieces: Vec::new(),
            };
            ctx.factor(a, 1.0, &mut t)?;
            if !t.mult.is_finite() || t.mult == 0.0 || t.pieces.iter().any(|p| !p.coef.is_finite())
            {
                return None;
            }
            terms.push(t);
        }
        // every parameter must be reachable (otherwise its Jacobian column is zero anyway,
        // but keep the tape's behaviour for such odd formulas)
        let mut seen = vec![false; f.n_params()];
        for t in &terms {
            if let Some(j) = t.lin {
                seen[j] = true;
            }
            for p in &t.pieces {
                if let Some(j) = p.param {
                    seen[j] = true;
                }
            }
        }
        if seen.iter().any(|s| !s) {
            return None;
        }
        Some(SumExp {
            terms,
            positive: positive.to_vec(),
        })
    }

    /// True when this evaluator was derived for these positivity flags.
    pub fn matches(&self, positive: &[bool]) -> bool {
        self.positive == positive
    }

    #[inline(always)]
    fn q(&self, p: &Piece, th: &[f64], nat: &[f64]) -> f64 {
        match p.param {
            None => 1.0,
            Some(j) if p.log_param => th[j],
            Some(j) => nat[j],
        }
    }

    /// The data-independent part of a term's exponent.
    #[inline(always)]
    fn scalar_part(&self, t: &Term, th: &[f64], nat: &[f64]) -> f64 {
        t.pieces
            .iter()
            .filter(|p| p.src == Src::One)
            .map(|p| p.coef * self.q(p, th, nat))
            .sum()
    }

    /// `value[i] = f(x_i)` at internal coordinates `th` (natural values `nat`). Keeps the terms
    /// in `ws` for [`SumExp::jacobian`].
    #[inline(always)]
    pub fn eval(&self, th: &[f64], nat: &[f64], data: &Data, ws: &mut SumExpWs, value: &mut [f64]) {
        let n = data.n;
        let kv = self.terms.iter().filter(|t| t.is_vector()).count();
        ws.n = n;
        if ws.e.len() < kv * n {
            ws.e.resize(kv * n, 0.0);
        }
        ws.u.resize(n, 0.0);
        ws.scal.resize(self.terms.len(), 0.0);
        let mut constant = 0.0;
        let mut first = true;
        let mut slot = 0;
        for (k, t) in self.terms.iter().enumerate() {
            let scalar = self.scalar_part(t, th, nat);
            let mult = t.mult * t.lin.map_or(1.0, |j| nat[j]);
            if !t.is_vector() {
                let e = scalar.exp();
                ws.scal[k] = e;
                constant += mult * e;
                continue;
            }
            // u = scalar + sum a x over the data pieces (the first one assigns: one pass for
            // the usual single data piece)
            let u = &mut ws.u[..n];
            let mut assigned = false;
            for p in t.pieces.iter() {
                let Some(x) = p.src.column(data) else {
                    continue;
                };
                let a = p.coef * self.q(p, th, nat);
                if std::mem::replace(&mut assigned, true) {
                    u.iter_mut()
                        .zip(&x[..n])
                        .for_each(|(ui, &xi)| *ui += a * xi);
                } else {
                    u.iter_mut()
                        .zip(&x[..n])
                        .for_each(|(ui, &xi)| *ui = scalar + a * xi);
                }
            }
            let e = &mut ws.e[slot * n..(slot + 1) * n];
            crate::simd::fastmath::exp_slice(u, e);
            slot += 1;
            if first {
                for (v, &ei) in value[..n].iter_mut().zip(e.iter()) {
                    *v = mult * ei;
                }
                first = false;
            } else {
                for (v, &ei) in value[..n].iter_mut().zip(e.iter()) {
                    *v += mult * ei;
                }
            }
        }
        if first {
            value[..n].iter_mut().for_each(|v| *v = constant);
        } else if constant != 0.0 {
            value[..n].iter_mut().for_each(|v| *v += constant);
        }
    }

    /// Jacobian of f with respect to the internal coordinates at the point of the last
    /// [`SumExp::eval`], column-major (`jac[j*n + i]`), each column multiplied by `scale`
    /// when given (1/f for a log target).
    #[inline(always)]
    pub fn jacobian(
        &self,
        nat: &[f64],
        data: &Data,
        ws: &SumExpWs,
        scale: Option<&[f64]>,
        jac: &mut [f64],
    ) {
        let n = ws.n;
        let p = self.positive.len();
        for j in 0..p {
            let col = &mut jac[j * n..(j + 1) * n];
            let mut cst = 0.0;
            let mut first = true;
            let mut slot = 0;
            for (k, t) in self.terms.iter().enumerate() {
                let vector = t.is_vector();
                let e = if vector {
                    Some(&ws.e[slot * n..(slot + 1) * n])
                } else {
                    None
                };
                if vector {
                    slot += 1;
                }
                let mult = t.mult * t.lin.map_or(1.0, |l| nat[l]);
                // d/d(linear coefficient): the term without it
                let mut c_one = if t.lin == Some(j) { t.mult } else { 0.0 };
                for pc in t.pieces.iter().filter(|pc| pc.param == Some(j)) {
                    // d u / d theta_j = coef * src * (P if fitted in log space and q = P)
                    let dq = if pc.log_param || !self.positive[j] {
                        1.0
                    } else {
                        nat[j]
                    };
                    let a = mult * pc.coef * dq;
                    match pc.src.column(data) {
                        None => c_one += a,
                        Some(x) => {
                            accumulate(col, &mut first, a, Some(&x[..n]), e.expect("vector term"))
                        }
                    }
                }
                if c_one != 0.0 {
                    match e {
                        Some(e) => accumulate(col, &mut first, c_one, None, e),
                        None => cst += c_one * ws.scal[k],
                    }
                }
            }
            match (first, scale) {
                (true, None) => col.iter_mut().for_each(|v| *v = cst),
                (true, Some(s)) => {
                    for (o, &si) in col.iter_mut().zip(s) {
                        *o = cst * si;
                    }
                }
                (false, None) => {
                    if cst != 0.0 {
                        col.iter_mut().for_each(|v| *v += cst);
                    }
                }
                (false, Some(s)) => {
                    for (o, &si) in col.iter_mut().zip(s) {
                        *o = (*o + cst) * si;
                    }
                }
            }
        }
    }
}
