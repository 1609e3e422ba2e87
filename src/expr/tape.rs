//! The compiled tape: a flat, hash-consed list of operations, built from the syntax tree
//! with constant folding and pruning, and the structural queries the fitter uses (linear,
//! scale and exponent parameters).

use super::funcs::Func;
use super::parse::{identifiers, parse_ast, Ast};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// One operation of the compiled tape. Operands are indices of earlier nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Const(f64),
    Param(usize),
    Var(usize),
    /// `ln` of data column j, precomputed when the data is prepared.
    LnVar(usize),
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    Div(usize, usize),
    Neg(usize),
    Exp(usize),
    Ln(usize),
    Sqrt(usize),
    PowConst(usize, f64),
    /// Any other unary function (`exp`, `ln` and `sqrt` use the ops above).
    Fun(Func, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Param(usize),
    Var(usize),
    LnVar(usize),
    Bin(u8, usize, usize),
    /// 0 neg, 1 exp, 2 ln, 3 sqrt
    Un(u8, usize),
    Fun(Func, usize),
    PowConst(usize, u64),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) op: Op,
    /// Depends on data (one value per point) rather than being a single scalar.
    pub(crate) vector: bool,
    /// Depends on at least one parameter (carries a derivative).
    pub(crate) active: bool,
}

/// A compiled formula.
#[derive(Debug, Clone)]
pub struct Formula {
    pub(crate) source: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) out: usize,
    pub(crate) params: Vec<String>,
    pub(crate) vars: Vec<String>,
    /// Data columns whose logarithm the tape uses (they must be positive).
    pub(crate) log_vars: Vec<usize>,
    /// Node index of each parameter.
    pub(crate) param_node: Vec<usize>,
    /// The parse tree (for the sum-of-exponentials recogniser).
    pub(crate) ast: std::sync::Arc<Ast>,
}

struct Builder {
    nodes: Vec<Node>,
    map: HashMap<Key, usize>,
}

impl Builder {
    fn push(&mut self, key: Key, op: Op, vector: bool, active: bool) -> usize {
        if let Some(&i) = self.map.get(&key) {
            return i;
        }
        self.nodes.push(Node { op, vector, active });
        let i = self.nodes.len() - 1;
        self.map.insert(key, i);
        i
    }
    fn konst(&mut self, v: f64) -> usize {
        self.push(Key::Const(v.to_bits()), Op::Const(v), false, false)
    }
    fn const_of(&self, i: usize) -> Option<f64> {
        match self.nodes[i].op {
            Op::Const(v) => Some(v),
            _ => None,
        }
    }
    fn bin(&mut self, code: u8, a: usize, b: usize) -> usize {
        // constant folding
        if let (Some(x), Some(y)) = (self.const_of(a), self.const_of(b)) {
            let v = match code {
                0 => x + y,
                1 => x - y,
                2 => x * y,
                _ => x / y,
            };
            if v.is_finite() {
                return self.konst(v);
            }
        }
        // algebraic identities that keep derivatives exact
        match (code, self.const_of(a), self.const_of(b)) {
            (0, Some(0.0), _) => return b,
            (0 | 1, _, Some(0.0)) => return a,
            (2, Some(1.0), _) => return b,
            (2 | 3, _, Some(1.0)) => return a,
            _ => {}
        }
        // canonical order for commutative ops improves sharing
        let (a, b) = if (code == 0 || code == 2) && a > b {
            (b, a)
        } else {
            (a, b)
        };
        let op = match code {
            0 => Op::Add(a, b),
            1 => Op::Sub(a, b),
            2 => Op::Mul(a, b),
            _ => Op::Div(a, b),
        };
        let vector = self.nodes[a].vector || self.nodes[b].vector;
        let active = self.nodes[a].active || self.nodes[b].active;
        self.push(Key::Bin(code, a, b), op, vector, active)
    }
    fn un(&mut self, code: u8, a: usize) -> usize {
        if let Some(x) = self.const_of(a) {
            let v = match code {
                0 => -x,
                1 => x.exp(),
                2 => x.ln(),
                _ => x.sqrt(),
            };
            if v.is_finite() {
                return self.konst(v);
            }
        }
        // ln(x) of a data column: precomputed column
        if code == 2 {
            if let Op::Var(j) = self.nodes[a].op {
                return self.push(Key::LnVar(j), Op::LnVar(j), true, false);
            }
            if let Op::Exp(inner) = self.nodes[a].op {
                return inner;
            }
        }
        if code == 0 {
            if let Op::Neg(inner) = self.nodes[a].op {
                return inner;
            }
        }
        let op = match code {
            0 => Op::Neg(a),
            1 => Op::Exp(a),
            2 => Op::Ln(a),
            _ => Op::Sqrt(a),
        };
        let (vector, active) = (self.nodes[a].vector, self.nodes[a].active);
        self.push(Key::Un(code, a), op, vector, active)
    }
    /// `f(a)` for any unary function.
    fn fun(&mut self, f: Func, a: usize) -> usize {
        match f {
            Func::Exp => return self.un(1, a),
            Func::Ln => return self.un(2, a),
            Func::Sqrt => return self.un(3, a),
            _ => {}
        }
        if let Some(x) = self.const_of(a) {
            let v = f.value(x);
            if v.is_finite() {
                return self.konst(v);
            }
        }
        // log10 of a data column: its precomputed ln (which makes the column a log column,
        // required positive, as for ln) times log10(e)
        if let (Func::Log10, Op::Var(_)) = (f, self.nodes[a].op) {
            let l = self.un(2, a);
            let c = self.konst(std::f64::consts::LOG10_E);
            return self.bin(2, l, c);
        }
        let (vector, active) = (self.nodes[a].vector, self.nodes[a].active);
        self.push(Key::Fun(f, a), Op::Fun(f, a), vector, active)
    }
    /// `smoothmax(a, b, k) = max(a, b) + softplus(-k |a - b|) / k` (`max`), or
    /// `smoothmin(a, b, k) = min(a, b) - softplus(-k |a - b|) / k`, with
    /// `max(a, b) = b + (d + |d|) / 2` and `min(a, b) = b + (d - |d|) / 2`, `d = a - b`.
    /// Built from existing nodes, so the derivatives are exact (1/2 each at a tie: the
    /// derivative of `abs` at 0 is 0).
    fn smooth(&mut self, max: bool, a: usize, b: usize, k: usize) -> usize {
        let d = self.bin(1, a, b);
        let ad = self.fun(Func::Abs, d);
        let half = self.konst(0.5);
        let e = self.bin(if max { 0 } else { 1 }, d, ad);
        let e = self.bin(2, e, half);
        let m = self.bin(0, b, e);
        let kd = self.bin(2, k, ad);
        let nkd = self.un(0, kd);
        let sp = self.fun(Func::Softplus, nkd);
        let t = self.bin(3, sp, k);
        self.bin(if max { 0 } else { 1 }, m, t)
    }
    fn pow(&mut self, a: usize, b: usize) -> usize {
        if let Some(c) = self.const_of(b) {
            if c == 1.0 {
                return a;
            }
            if c == 0.0 {
                return self.konst(1.0);
            }
            if c == 0.5 {
                return self.un(3, a);
            }
            if let Some(x) = self.const_of(a) {
                let v = x.powf(c);
                if v.is_finite() {
                    return self.konst(v);
                }
            }
            let (vector, active) = (self.nodes[a].vector, self.nodes[a].active);
            return self.push(
                Key::PowConst(a, c.to_bits()),
                Op::PowConst(a, c),
                vector,
                active,
            );
        }
        // general power: exp(b * ln a); ln of a data column is precomputed
        let la = self.un(2, a);
        let m = self.bin(2, b, la);
        self.un(1, m)
    }
}

/// Drop nodes the output does not depend on (parameters are always kept) and renumber.
fn prune(nodes: Vec<Node>, out: usize, param_node: &[usize]) -> (Vec<Node>, usize, Vec<usize>) {
    let mut keep = vec![false; nodes.len()];
    keep[out] = true;
    for &p in param_node {
        keep[p] = true;
    }
    for i in (0..nodes.len()).rev() {
        if !keep[i] {
            continue;
        }
        match nodes[i].op {
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) => {
                keep[a] = true;
                keep[b] = true;
            }
            Op::Neg(a)
            | Op::Exp(a)
            | Op::Ln(a)
            | Op::Sqrt(a)
            | Op::PowConst(a, _)
            | Op::Fun(_, a) => keep[a] = true,
            Op::Const(_) | Op::Param(_) | Op::Var(_) | Op::LnVar(_) => {}
        }
    }
    let mut new_idx = vec![usize::MAX; nodes.len()];
    let mut out_nodes = Vec::new();
    for (i, mut node) in nodes.into_iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let m = |j: usize| new_idx[j];
        node.op = match node.op {
            Op::Add(a, b) => Op::Add(m(a), m(b)),
            Op::Sub(a, b) => Op::Sub(m(a), m(b)),
            Op::Mul(a, b) => Op::Mul(m(a), m(b)),
            Op::Div(a, b) => Op::Div(m(a), m(b)),
            Op::Neg(a) => Op::Neg(m(a)),
            Op::Exp(a) => Op::Exp(m(a)),
            Op::Ln(a) => Op::Ln(m(a)),
            Op::Sqrt(a) => Op::Sqrt(m(a)),
            Op::PowConst(a, c) => Op::PowConst(m(a), c),
            Op::Fun(f, a) => Op::Fun(f, m(a)),
            other @ (Op::Const(_) | Op::Param(_) | Op::Var(_) | Op::LnVar(_)) => other,
        };
        new_idx[i] = out_nodes.len();
        out_nodes.push(node);
    }
    let pn = param_node.iter().map(|&p| new_idx[p]).collect();
    (out_nodes, new_idx[out], pn)
}

impl Formula {
    /// Compile `source`; identifiers listed in `variables` are data columns, all others are
    /// parameters (numbered by first appearance).
    pub fn new(source: &str, variables: &[String]) -> Result<Formula> {
        let ast = parse_ast(source)?;
        let ids = identifiers(source)?;
        let params: Vec<String> = ids
            .iter()
            .filter(|s| !variables.contains(s))
            .cloned()
            .collect();
        if params.is_empty() {
            return Err(Error::arg(
                "form",
                format!(
                    "formula '{source}' has no parameters: every identifier is a data column ({})",
                    variables.join(", ")
                ),
            ));
        }
        let mut b = Builder {
            nodes: Vec::new(),
            map: HashMap::new(),
        };
        let mut param_node = vec![usize::MAX; params.len()];
        // parameters first so their node index is stable
        for (k, _) in params.iter().enumerate() {
            param_node[k] = b.push(Key::Param(k), Op::Param(k), false, true);
        }
        fn build(a: &Ast, b: &mut Builder, params: &[String], vars: &[String]) -> usize {
            match a {
                Ast::Num(v) => b.konst(*v),
                Ast::Ident(s) => {
                    if let Some(j) = vars.iter().position(|v| v == s) {
                        b.push(Key::Var(j), Op::Var(j), true, false)
                    } else {
                        let k = params.iter().position(|p| p == s).unwrap();
                        b.push(Key::Param(k), Op::Param(k), false, true)
                    }
                }
                Ast::Neg(x) => {
                    let x = build(x, b, params, vars);
                    b.un(0, x)
                }
                Ast::Call(f, x) => {
                    let x = build(x, b, params, vars);
                    b.fun(*f, x)
                }
                Ast::Smooth(max, abk) => {
                    let [x, y, k] = &**abk;
                    let x = build(x, b, params, vars);
                    let y = build(y, b, params, vars);
                    let k = build(k, b, params, vars);
                    b.smooth(*max, x, y, k)
                }
                Ast::Add(x, y) | Ast::Sub(x, y) | Ast::Mul(x, y) | Ast::Div(x, y) => {
                    let code = match a {
                        Ast::Add(..) => 0,
                        Ast::Sub(..) => 1,
                        Ast::Mul(..) => 2,
                        _ => 3,
                    };
                    let x = build(x, b, params, vars);
                    let y = build(y, b, params, vars);
                    b.bin(code, x, y)
                }
                Ast::Pow(x, y) => {
                    let x = build(x, b, params, vars);
                    let y = build(y, b, params, vars);
                    b.pow(x, y)
                }
            }
        }
        let out = build(&ast, &mut b, &params, variables);
        let (nodes, out, param_node) = prune(b.nodes, out, &param_node);
        let b = Builder {
            nodes,
            map: HashMap::new(),
        };
        let mut log_vars: Vec<usize> = b
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::LnVar(j) => Some(j),
                _ => None,
            })
            .collect();
        log_vars.sort_unstable();
        log_vars.dedup();
        Ok(Formula {
            source: source.to_string(),
            nodes: b.nodes,
            out,
            params,
            vars: variables.to_vec(),
            log_vars,
            param_node,
            ast: std::sync::Arc::new(ast),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }
    pub(crate) fn ast(&self) -> &Ast {
        &self.ast
    }
    pub fn param_names(&self) -> &[String] {
        &self.params
    }
    pub fn var_names(&self) -> &[String] {
        &self.vars
    }
    pub fn n_params(&self) -> usize {
        self.params.len()
    }
    pub fn n_vars(&self) -> usize {
        self.vars.len()
    }
    /// Data columns that must be strictly positive (their logarithm is taken).
    pub fn log_vars(&self) -> &[usize] {
        &self.log_vars
    }
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Which of the data columns actually appear in the formula.
    pub fn used_vars(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::Var(j) | Op::LnVar(j) => Some(j),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Parameters in which the formula is jointly affine (the "linear" parameters of a
    /// variable-projection split), in parameter order.
    pub fn linear_params(&self) -> Vec<usize> {
        #[derive(Clone, Copy, PartialEq)]
        enum C {
            Free,
            Lin,
            Non,
        }
        let classify = |set: &[bool]| -> C {
            let mut c = vec![C::Free; self.nodes.len()];
            for (i, n) in self.nodes.iter().enumerate() {
                c[i] = match n.op {
                    Op::Const(_) | Op::Var(_) | Op::LnVar(_) => C::Free,
                    Op::Param(k) => {
                        if set[k] {
                            C::Lin
                        } else {
                            C::Free
                        }
                    }
                    Op::Add(a, b) | Op::Sub(a, b) => match (c[a], c[b]) {
                        (C::Non, _) | (_, C::Non) => C::Non,
                        (C::Lin, _) | (_, C::Lin) => C::Lin,
                        _ => C::Free,
                    },
                    Op::Mul(a, b) => match (c[a], c[b]) {
                        (C::Free, x) | (x, C::Free) => x,
                        _ => C::Non,
                    },
                    Op::Div(a, b) => {
                        if c[b] == C::Free {
                            c[a]
                        } else {
                            C::Non
                        }
                    }
                    Op::Neg(a) => c[a],
                    Op::Exp(a) | Op::Ln(a) | Op::Sqrt(a) | Op::PowConst(a, _) | Op::Fun(_, a) => {
                        if c[a] == C::Free {
                            C::Free
                        } else {
                            C::Non
                        }
                    }
                };
            }
            c[self.out]
        };
        let p = self.params.len();
        let mut set = vec![false; p];
        let mut cands = Vec::new();
        for k in 0..p {
            set.iter_mut().for_each(|s| *s = false);
            set[k] = true;
            if classify(&set) == C::Lin {
                cands.push(k);
            }
        }
        // greedily keep candidates while the formula stays jointly affine
        set.iter_mut().for_each(|s| *s = false);
        let mut chosen = Vec::new();
        for &k in &cands {
            set[k] = true;
            if classify(&set) == C::Lin {
                chosen.push(k);
            } else {
                set[k] = false;
            }
        }
        chosen
    }

    /// Parameters that multiply or divide a data column directly (`x / d`, `d / x`, `d * x`).
    /// Returns (param, var, ratio): with `ratio` the parameter has the column's scale,
    /// otherwise the inverse scale.
    pub fn scale_params(&self) -> Vec<(usize, usize, bool)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let (a, b, div) = match n.op {
                Op::Mul(a, b) => (a, b, false),
                Op::Div(a, b) => (a, b, true),
                _ => continue,
            };
            // the parameter side may carry a sign or a constant factor (`-k * x`, `2*k*x`)
            let param = |i: usize| self.param_behind(i, false);
            match (self.nodes[a].op, self.nodes[b].op) {
                (Op::Var(j), _) => {
                    if let Some(k) = param(b) {
                        out.push((k, j, div))
                    }
                }
                (_, Op::Var(j)) if !div => {
                    if let Some(k) = param(a) {
                        out.push((k, j, div))
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Location parameters: `(k, j)` for a parameter shifting data column j (`x - p`, `p - x`,
    /// `x + p`), such as a peak position or an offset.
    pub fn location_params(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let (a, b) = match n.op {
                Op::Add(a, b) | Op::Sub(a, b) => (a, b),
                _ => continue,
            };
            if let (Op::Var(j), Op::Param(k)) | (Op::Param(k), Op::Var(j)) =
                (self.nodes[a].op, self.nodes[b].op)
            {
                if !out.iter().any(|&(k2, _)| k2 == k) {
                    out.push((k, j))
                }
            }
        }
        out
    }

    /// Width parameters: `(k, j)` for a parameter dividing an expression of data column j that
    /// is more than the column itself (`(x - c)^2 / w^2`, `(x - c) / w`); `x / p` alone is a
    /// scale ([`Formula::scale_params`]). The divisor may be `w`, `w^c`, `sqrt(w)` or a constant
    /// multiple of them.
    pub fn width_params(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let Op::Div(a, b) = n.op else { continue };
            if matches!(self.nodes[a].op, Op::Var(_)) || !self.nodes[a].vector {
                continue;
            }
            if let (Some(k), Some(j)) = (self.param_behind(b, true), self.first_var(a)) {
                if !out.iter().any(|&(k2, _)| k2 == k) {
                    out.push((k, j))
                }
            }
        }
        out
    }

    /// Period parameters of a trigonometric function: `(k, j, c)` for `sin(c * x / p)` (also
    /// cos and tan; sums, signs and constant factors in the argument allowed), where one cycle
    /// spans `2 pi p / c` of column j.
    pub fn period_params(&self) -> Vec<(usize, usize, f64)> {
        let in_trig = self.arguments(
            |op| match op {
                Op::Fun(Func::Sin | Func::Cos | Func::Tan, a) => Some(a),
                _ => None,
            },
            |i| self.is_constant(i),
            false,
        );
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let Op::Div(a, b) = n.op else { continue };
            let Op::Param(k) = self.nodes[b].op else {
                continue;
            };
            if !in_trig[i] || out.iter().any(|t: &(usize, usize, f64)| t.0 == k) {
                continue;
            }
            let (j, c) = match self.nodes[a].op {
                Op::Var(j) => (j, 1.0),
                Op::Mul(x, y) => match (self.nodes[x].op, self.nodes[y].op) {
                    (Op::Var(j), Op::Const(c)) | (Op::Const(c), Op::Var(j)) => (j, c),
                    _ => continue,
                },
                _ => continue,
            };
            out.push((k, j, c));
        }
        out
    }

    /// A scalar constant: no parameter and no data in it.
    fn is_constant(&self, i: usize) -> bool {
        !self.nodes[i].active && !self.nodes[i].vector
    }

    /// The parameter behind node `i` through signs and constant factors (`-k`, `2*k`) and, with
    /// `powers`, constant powers and square roots (`w^2`, `sqrt(w)`).
    fn param_behind(&self, mut i: usize, powers: bool) -> Option<usize> {
        loop {
            match self.nodes[i].op {
                Op::Param(k) => return Some(k),
                Op::Neg(x) => i = x,
                Op::PowConst(x, _) | Op::Sqrt(x) if powers => i = x,
                Op::Mul(x, y) if self.is_constant(y) => i = x,
                Op::Mul(x, y) if self.is_constant(x) => i = y,
                _ => return None,
            }
        }
    }

    /// Marks the nodes that are the argument of a call `root` picks out (`Some(argument)`), or
    /// reach it through sums, differences, signs and multiplication by a node `factor` accepts
    /// (and, with `through_div`, division by one). Consumers come after their operands, so one
    /// backward sweep marks them.
    fn arguments(
        &self,
        root: impl Fn(Op) -> Option<usize>,
        factor: impl Fn(usize) -> bool,
        through_div: bool,
    ) -> Vec<bool> {
        let mut marked = vec![false; self.nodes.len()];
        for i in (0..self.nodes.len()).rev() {
            let op = self.nodes[i].op;
            if let Some(a) = root(op) {
                marked[a] = true;
            }
            if !marked[i] {
                continue;
            }
            match op {
                Op::Add(a, b) | Op::Sub(a, b) => {
                    marked[a] = true;
                    marked[b] = true;
                }
                Op::Neg(a) => marked[a] = true,
                Op::Mul(a, b) => {
                    if factor(b) {
                        marked[a] = true;
                    }
                    if factor(a) {
                        marked[b] = true;
                    }
                }
                Op::Div(a, b) if through_div && factor(b) => marked[a] = true,
                _ => {}
            }
        }
        marked
    }

    /// A data column the value of node `i` depends on (the first found, depth first).
    fn first_var(&self, i: usize) -> Option<usize> {
        let mut stack = vec![i];
        while let Some(t) = stack.pop() {
            match self.nodes[t].op {
                Op::Var(j) | Op::LnVar(j) => return Some(j),
                Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Op::Neg(a)
                | Op::Exp(a)
                | Op::Ln(a)
                | Op::Sqrt(a)
                | Op::PowConst(a, _)
                | Op::Fun(_, a) => stack.push(a),
                Op::Const(_) | Op::Param(_) => {}
            }
        }
        None
    }

    /// Parameters used as exponents of a data column (`x ^ p`, i.e. `exp(p * ln x)`): a
    /// product `p * ln x` counts only inside the argument of an `exp` (through sums, signs and
    /// constant factors), not e.g. in `sin(p * ln x)` or `a + p * ln x`.
    pub fn exponent_params(&self) -> Vec<usize> {
        // nodes that are (a summand or a multiple by a parameter-free factor of) the argument
        // of an exp
        let in_exp = self.arguments(
            |op| match op {
                Op::Exp(a) => Some(a),
                _ => None,
            },
            |i| !self.nodes[i].active,
            true,
        );
        let mut out = Vec::new();
        let mark = |i: usize, out: &mut Vec<usize>| {
            // walk down negations / constant multiples to a parameter
            let mut j = i;
            loop {
                match self.nodes[j].op {
                    Op::Param(k) => {
                        if !out.contains(&k) {
                            out.push(k)
                        }
                        return;
                    }
                    Op::Neg(x) => j = x,
                    Op::Mul(x, y) if !self.nodes[y].active => j = x,
                    Op::Mul(x, y) if !self.nodes[x].active => j = y,
                    Op::Div(x, y) if !self.nodes[y].active => j = x,
                    _ => return,
                }
            }
        };
        for (i, n) in self.nodes.iter().enumerate() {
            if !in_exp[i] {
                continue;
            }
            if let Op::Mul(a, b) = n.op {
                match (self.nodes[a].op, self.nodes[b].op) {
                    (Op::LnVar(_), _) => mark(b, &mut out),
                    (_, Op::LnVar(_)) => mark(a, &mut out),
                    _ => {}
                }
            }
        }
        out
    }
}
