//! Evaluation of the tape over all points (one tight loop per operation) and its exact
//! reverse-mode Jacobian.

use super::data::Data;
use super::tape::{Formula, Op};

/// Reusable buffers for [`Formula::eval`].
#[derive(Debug, Default, Clone)]
pub struct EvalWs {
    /// scalar value of each node (valid for scalar nodes)
    sval: Vec<f64>,
    /// vector values, node i at `vals[i*n..(i+1)*n]` (only vector nodes are written)
    vals: Vec<f64>,
    adj: Vec<f64>,
    n: usize,
    /// buffers of the sum-of-exponentials evaluator (see [`super::sumexp`])
    pub sx: super::sumexp::SumExpWs,
}

impl Formula {
    /// Evaluate the formula at natural parameter values `theta` on `data`, writing the
    /// model values into `value` (length n). With `jac = Some(buf)` also writes the exact
    /// Jacobian column-major: `buf[k*n + i] = d f_i / d theta_k` (length n * p).
    #[inline(always)]
    pub fn eval(
        &self,
        theta: &[f64],
        data: &Data,
        ws: &mut EvalWs,
        value: &mut [f64],
        jac: Option<&mut [f64]>,
    ) {
        let n = data.n;
        let nn = self.nodes.len();
        debug_assert_eq!(theta.len(), self.params.len());
        debug_assert_eq!(value.len(), n);
        ws.n = n;
        ws.sval.resize(nn, 0.0);
        if ws.vals.len() < nn * n {
            ws.vals.resize(nn * n, 0.0);
        }
        // forward pass
        for i in 0..nn {
            let node = &self.nodes[i];
            if !node.vector {
                let s = &ws.sval;
                let v = match node.op {
                    Op::Const(c) => c,
                    Op::Param(k) => theta[k],
                    Op::Add(a, b) => s[a] + s[b],
                    Op::Sub(a, b) => s[a] - s[b],
                    Op::Mul(a, b) => s[a] * s[b],
                    Op::Div(a, b) => s[a] / s[b],
                    Op::Neg(a) => -s[a],
                    Op::Exp(a) => s[a].exp(),
                    Op::Ln(a) => s[a].ln(),
                    Op::Sqrt(a) => s[a].sqrt(),
                    Op::PowConst(a, c) => powc(s[a], c),
                    Op::Fun(f, a) => f.value(s[a]),
                    Op::Var(_) | Op::LnVar(_) => unreachable!(),
                };
                ws.sval[i] = v;
                continue;
            }
            let (before, rest) = ws.vals.split_at_mut(i * n);
            let out = &mut rest[..n];
            let sv = &ws.sval;
            let vec_of = |j: usize| &before[j * n..(j + 1) * n];
            let nodes = &self.nodes;
            match node.op {
                Op::Var(j) => out.copy_from_slice(&data.cols[j]),
                Op::LnVar(j) => out.copy_from_slice(&data.ln_cols[j]),
                Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) => {
                    macro_rules! binop {
                        ($op:tt) => {
                            match (nodes[a].vector, nodes[b].vector) {
                                (true, true) => {
                                    let (x, y) = (vec_of(a), vec_of(b));
                                    for ((o, &u), &v) in out.iter_mut().zip(x).zip(y) {
                                        *o = u $op v;
                                    }
                                }
                                (true, false) => {
                                    let (x, v) = (vec_of(a), sv[b]);
                                    for (o, &u) in out.iter_mut().zip(x) {
                                        *o = u $op v;
                                    }
                                }
                                (false, true) => {
                                    let (u, y) = (sv[a], vec_of(b));
                                    for (o, &v) in out.iter_mut().zip(y) {
                                        *o = u $op v;
                                    }
                                }
                                _ => unreachable!(),
                            }
                        };
                    }
                    match node.op {
                        Op::Add(..) => binop!(+),
                        Op::Sub(..) => binop!(-),
                        Op::Mul(..) => binop!(*),
                        _ => binop!(/),
                    }
                }
                Op::Neg(a) => {
                    let x = vec_of(a);
                    for t in 0..n {
                        out[t] = -x[t];
                    }
                }
                Op::Exp(a) => crate::simd::fastmath::exp_slice(vec_of(a), out),
                Op::Ln(a) => crate::simd::fastmath::ln_slice(vec_of(a), out),
                Op::Sqrt(a) => {
                    let x = vec_of(a);
                    for t in 0..n {
                        out[t] = x[t].sqrt();
                    }
                }
                Op::PowConst(a, c) => {
                    let x = vec_of(a);
                    for t in 0..n {
                        out[t] = powc(x[t], c);
                    }
                }
                Op::Fun(f, a) => f.apply(vec_of(a), out),
                Op::Const(_) | Op::Param(_) => unreachable!(),
            }
        }
        let o = self.out;
        if self.nodes[o].vector {
            value.copy_from_slice(&ws.vals[o * n..(o + 1) * n]);
        } else {
            value.iter_mut().for_each(|v| *v = ws.sval[o]);
        }
        if let Some(jac) = jac {
            self.jacobian(ws, jac);
        }
    }

    /// The exact Jacobian at the point of the last [`Formula::eval`] with this workspace
    /// (reverse pass over the stored forward values): `jac[k*n + i] = d f_i / d theta_k`.
    #[inline(always)]
    pub fn jacobian(&self, ws: &mut EvalWs, jac: &mut [f64]) {
        let n = ws.n;
        let nn = self.nodes.len();
        let p = self.params.len();
        let o = self.out;
        debug_assert_eq!(jac.len(), n * p);
        // reverse pass: one adjoint vector per active node
        if ws.adj.len() < nn * n {
            ws.adj.resize(nn * n, 0.0);
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.active {
                ws.adj[i * n..(i + 1) * n].iter_mut().for_each(|v| *v = 0.0);
            }
        }
        if self.nodes[o].active {
            ws.adj[o * n..(o + 1) * n].iter_mut().for_each(|v| *v = 1.0);
        }
        for i in (0..nn).rev() {
            let node = &self.nodes[i];
            if !node.active {
                continue;
            }
            let (adj_lo, adj_hi) = ws.adj.split_at_mut(i * n);
            let g = &adj_hi[..n];
            let vals = &ws.vals;
            let sv = &ws.sval;
            let nodes = &self.nodes;
            let val = |j: usize| -> Val<'_> {
                if nodes[j].vector {
                    Val::V(&vals[j * n..(j + 1) * n])
                } else {
                    Val::S(sv[j])
                }
            };
            // destination adjoint of operand j, if it carries a derivative
            macro_rules! dst {
                ($j:expr) => {
                    if nodes[$j].active {
                        Some(&mut adj_lo[$j * n..($j + 1) * n])
                    } else {
                        None
                    }
                };
            }
            match node.op {
                Op::Param(_) | Op::Const(_) | Op::Var(_) | Op::LnVar(_) => {}
                Op::Add(a, b) | Op::Sub(a, b) => {
                    let sign = if matches!(node.op, Op::Sub(..)) {
                        -1.0
                    } else {
                        1.0
                    };
                    if let Some(d) = dst!(a) {
                        add_scaled(d, g, 1.0);
                    }
                    if let Some(d) = dst!(b) {
                        add_scaled(d, g, sign);
                    }
                }
                Op::Mul(a, b) => {
                    if let Some(d) = dst!(a) {
                        add_mul(d, g, val(b));
                    }
                    if let Some(d) = dst!(b) {
                        add_mul(d, g, val(a));
                    }
                }
                Op::Div(a, b) => {
                    if let Some(d) = dst!(a) {
                        add_div(d, g, val(b));
                    }
                    if let Some(d) = dst!(b) {
                        // d(a/b)/db = -(a/b)/b
                        let (q, den) = (val(i), val(b));
                        for t in 0..n {
                            d[t] -= g[t] * q.at(t) / den.at(t);
                        }
                    }
                }
                Op::Neg(a) => {
                    if let Some(d) = dst!(a) {
                        add_scaled(d, g, -1.0);
                    }
                }
                Op::Exp(a) => {
                    if let Some(d) = dst!(a) {
                        add_mul(d, g, val(i));
                    }
                }
                Op::Ln(a) => {
                    if let Some(d) = dst!(a) {
                        add_div(d, g, val(a));
                    }
                }
                Op::Sqrt(a) => {
                    if let Some(d) = dst!(a) {
                        let v = val(i);
                        for t in 0..n {
                            d[t] += g[t] * 0.5 / v.at(t);
                        }
                    }
                }
                Op::PowConst(a, c) => {
                    if let Some(d) = dst!(a) {
                        let v = val(a);
                        for t in 0..n {
                            d[t] += g[t] * c * powc(v.at(t), c - 1.0);
                        }
                    }
                }
                Op::Fun(f, a) => {
                    if let Some(d) = dst!(a) {
                        match (val(a), val(i)) {
                            (Val::V(x), Val::V(y)) => f.add_deriv(x, y, g, d),
                            (Val::S(x), Val::S(y)) => add_scaled(d, g, f.deriv(x, y)),
                            (x, y) => {
                                for t in 0..n {
                                    d[t] += g[t] * f.deriv(x.at(t), y.at(t));
                                }
                            }
                        }
                    }
                }
            }
        }
        for k in 0..p {
            let src = self.param_node[k];
            jac[k * n..(k + 1) * n].copy_from_slice(&ws.adj[src * n..(src + 1) * n]);
        }
    }
}

/// A node's value: one scalar, or one value per point.
#[derive(Clone, Copy)]
enum Val<'a> {
    S(f64),
    V(&'a [f64]),
}

impl Val<'_> {
    #[inline(always)]
    fn at(&self, t: usize) -> f64 {
        match self {
            Val::S(v) => *v,
            Val::V(x) => x[t],
        }
    }
}

#[inline(always)]
fn add_scaled(d: &mut [f64], g: &[f64], s: f64) {
    if s == 1.0 {
        for (d, &g) in d.iter_mut().zip(g) {
            *d += g;
        }
    } else {
        for (d, &g) in d.iter_mut().zip(g) {
            *d += g * s;
        }
    }
}

#[inline(always)]
fn add_mul(d: &mut [f64], g: &[f64], v: Val<'_>) {
    match v {
        Val::S(s) => add_scaled(d, g, s),
        Val::V(x) => {
            for ((d, &g), &x) in d.iter_mut().zip(g).zip(x) {
                *d += g * x;
            }
        }
    }
}

#[inline(always)]
fn add_div(d: &mut [f64], g: &[f64], v: Val<'_>) {
    match v {
        Val::S(s) => add_scaled(d, g, 1.0 / s),
        Val::V(x) => {
            for ((d, &g), &x) in d.iter_mut().zip(g).zip(x) {
                *d += g / x;
            }
        }
    }
}

#[inline(always)]
fn powc(x: f64, c: f64) -> f64 {
    if c == 2.0 {
        x * x
    } else if c == -1.0 {
        1.0 / x
    } else if c.fract() == 0.0 && c.abs() < 64.0 {
        x.powi(c as i32)
    } else {
        x.powf(c)
    }
}
