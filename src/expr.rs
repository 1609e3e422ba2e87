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

use crate::error::{Error, Result};
use std::collections::HashMap;

// ---------------------------------------------------------------------------------------------
// Lexer and parser

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    End,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'+' => {
                i += 1;
                Tok::Plus
            }
            b'-' => {
                i += 1;
                Tok::Minus
            }
            b'*' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                Tok::Caret
            }
            b'*' => {
                i += 1;
                Tok::Star
            }
            b'/' => {
                i += 1;
                Tok::Slash
            }
            b'^' => {
                i += 1;
                Tok::Caret
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'0'..=b'9' | b'.' => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    let mut j = i + 1;
                    if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                        j += 1;
                    }
                    if j < b.len() && b[j].is_ascii_digit() {
                        i = j;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                let text = &src[start..i];
                let v: f64 = text
                    .parse()
                    .map_err(|_| Error::parse(src, start, format!("bad number '{text}'")))?;
                Tok::Num(v)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(Error::parse(
                    src,
                    start,
                    format!("unexpected character '{ch}'"),
                ));
            }
        };
        out.push((tok, start));
    }
    out.push((Tok::End, src.len()));
    Ok(out)
}

/// Unary functions of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    Exp,
    Ln,
    Sqrt,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Num(f64),
    Ident(String),
    Neg(Box<Ast>),
    Add(Box<Ast>, Box<Ast>),
    Sub(Box<Ast>, Box<Ast>),
    Mul(Box<Ast>, Box<Ast>),
    Div(Box<Ast>, Box<Ast>),
    Pow(Box<Ast>, Box<Ast>),
    Call(Func, Box<Ast>),
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn at(&self) -> usize {
        self.toks[self.pos].1
    }
    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T> {
        Err(Error::parse(self.src, self.at(), msg))
    }
    fn expr(&mut self) -> Result<Ast> {
        let mut lhs = self.term()?;
        loop {
            match self.peek() {
                Tok::Plus => {
                    self.next();
                    lhs = Ast::Add(Box::new(lhs), Box::new(self.term()?));
                }
                Tok::Minus => {
                    self.next();
                    lhs = Ast::Sub(Box::new(lhs), Box::new(self.term()?));
                }
                _ => return Ok(lhs),
            }
        }
    }
    fn term(&mut self) -> Result<Ast> {
        let mut lhs = self.unary()?;
        loop {
            match self.peek() {
                Tok::Star => {
                    self.next();
                    lhs = Ast::Mul(Box::new(lhs), Box::new(self.unary()?));
                }
                Tok::Slash => {
                    self.next();
                    lhs = Ast::Div(Box::new(lhs), Box::new(self.unary()?));
                }
                _ => return Ok(lhs),
            }
        }
    }
    fn unary(&mut self) -> Result<Ast> {
        match self.peek() {
            Tok::Minus => {
                self.next();
                Ok(Ast::Neg(Box::new(self.unary()?)))
            }
            Tok::Plus => {
                self.next();
                self.unary()
            }
            _ => self.power(),
        }
    }
    fn power(&mut self) -> Result<Ast> {
        let base = self.atom()?;
        if *self.peek() == Tok::Caret {
            self.next();
            let exp = self.unary()?;
            return Ok(Ast::Pow(Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }
    fn atom(&mut self) -> Result<Ast> {
        let at = self.at();
        match self.next() {
            Tok::Num(v) => Ok(Ast::Num(v)),
            Tok::Ident(name) => {
                let func = match name.as_str() {
                    "exp" => Some(Func::Exp),
                    "log" | "ln" => Some(Func::Ln),
                    "sqrt" => Some(Func::Sqrt),
                    _ => None,
                };
                if let Some(f) = func {
                    if *self.peek() != Tok::LParen {
                        return self.err(format!("'{name}' is a function: write {name}(...)"));
                    }
                    self.next();
                    let arg = self.expr()?;
                    if *self.peek() != Tok::RParen {
                        return self.err("expected ')'");
                    }
                    self.next();
                    return Ok(Ast::Call(f, Box::new(arg)));
                }
                if *self.peek() == Tok::LParen {
                    return Err(Error::parse(
                        self.src,
                        at,
                        format!("unknown function '{name}' (known: exp, log, ln, sqrt)"),
                    ));
                }
                Ok(Ast::Ident(name))
            }
            Tok::LParen => {
                let e = self.expr()?;
                if *self.peek() != Tok::RParen {
                    return self.err("expected ')'");
                }
                self.next();
                Ok(e)
            }
            Tok::End => Err(Error::parse(self.src, at, "unexpected end of formula")),
            t => Err(Error::parse(
                self.src,
                at,
                format!("expected a number, name or '(' but found {}", tok_text(&t)),
            )),
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Num(v) => format!("{v}"),
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Plus => "'+'".into(),
        Tok::Minus => "'-'".into(),
        Tok::Star => "'*'".into(),
        Tok::Slash => "'/'".into(),
        Tok::Caret => "'^'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::End => "end of formula".into(),
    }
}

fn parse_ast(src: &str) -> Result<Ast> {
    if src.trim().is_empty() {
        return Err(Error::arg("form", "the formula is empty"));
    }
    let toks = lex(src)?;
    let mut p = Parser { src, toks, pos: 0 };
    let e = p.expr()?;
    if *p.peek() != Tok::End {
        let t = p.peek().clone();
        return p.err(format!(
            "unexpected {} after a complete expression",
            tok_text(&t)
        ));
    }
    Ok(e)
}

/// Identifiers of a formula in order of first appearance (functions excluded).
pub fn identifiers(src: &str) -> Result<Vec<String>> {
    let ast = parse_ast(src)?;
    let mut out = Vec::new();
    fn walk(a: &Ast, out: &mut Vec<String>) {
        match a {
            Ast::Num(_) => {}
            Ast::Ident(s) => {
                if !out.contains(s) {
                    out.push(s.clone())
                }
            }
            Ast::Neg(x) | Ast::Call(_, x) => walk(x, out),
            Ast::Add(a, b) | Ast::Sub(a, b) | Ast::Mul(a, b) | Ast::Div(a, b) | Ast::Pow(a, b) => {
                walk(a, out);
                walk(b, out)
            }
        }
    }
    walk(&ast, &mut out);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Tape

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Param(usize),
    Var(usize),
    LnVar(usize),
    Bin(u8, usize, usize),
    Un(u8, usize),
    PowConst(usize, u64),
}

#[derive(Debug, Clone)]
struct Node {
    op: Op,
    /// Depends on data (one value per point) rather than being a single scalar.
    vector: bool,
    /// Depends on at least one parameter (carries a derivative).
    active: bool,
}

/// A compiled formula.
#[derive(Debug, Clone)]
pub struct Formula {
    source: String,
    nodes: Vec<Node>,
    out: usize,
    params: Vec<String>,
    vars: Vec<String>,
    /// Data columns whose logarithm the tape uses (they must be positive).
    log_vars: Vec<usize>,
    /// Node index of each parameter.
    param_node: Vec<usize>,
    /// The parse tree (for the sum-of-exponentials recogniser).
    ast: std::sync::Arc<Ast>,
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
            (0, Some(z), _) if z == 0.0 => return b,
            (0 | 1, _, Some(z)) if z == 0.0 => return a,
            (2, Some(o), _) if o == 1.0 => return b,
            (2 | 3, _, Some(o)) if o == 1.0 => return a,
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
            Op::Neg(a) | Op::Exp(a) | Op::Ln(a) | Op::Sqrt(a) | Op::PowConst(a, _) => {
                keep[a] = true
            }
            _ => {}
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
            other => other,
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
                    let code = match f {
                        Func::Exp => 1,
                        Func::Ln => 2,
                        Func::Sqrt => 3,
                    };
                    b.un(code, x)
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
                    Op::Exp(a) | Op::Ln(a) | Op::Sqrt(a) | Op::PowConst(a, _) => {
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
            match (self.nodes[a].op, self.nodes[b].op) {
                (Op::Var(j), Op::Param(k)) | (Op::Param(k), Op::Var(j)) => out.push((k, j, div)),
                _ => {}
            }
        }
        out
    }

    /// Parameters used as exponents of a data column (`x ^ p`, i.e. `exp(p * ln x)`).
    pub fn exponent_params(&self) -> Vec<usize> {
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
        for n in &self.nodes {
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

// ---------------------------------------------------------------------------------------------
// Data and evaluation

/// Data prepared for a formula: columns (variables) and their logarithms where needed.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub n: usize,
    /// `cols[j]` is variable j, length n.
    pub cols: Vec<Vec<f64>>,
    /// `ln_cols[j]` is `ln(cols[j])` when the formula needs it, else empty.
    pub ln_cols: Vec<Vec<f64>>,
}

impl Data {
    /// Validate and prepare columns for `f`. `cols[j]` must have the same length for every j.
    pub fn new(f: &Formula, cols: Vec<Vec<f64>>) -> Result<Data> {
        if cols.len() != f.n_vars() {
            return Err(Error::arg(
                "data",
                format!(
                    "expected {} columns ({}), got {}",
                    f.n_vars(),
                    f.vars.join(", "),
                    cols.len()
                ),
            ));
        }
        let n = cols.first().map(|c| c.len()).unwrap_or(0);
        for (j, c) in cols.iter().enumerate() {
            if c.len() != n {
                return Err(Error::arg(
                    "data",
                    format!(
                        "column '{}' has length {} but '{}' has length {n}; all columns must have the same length",
                        f.vars[j],
                        c.len(),
                        f.vars[0]
                    ),
                ));
            }
            check_finite_col(&f.vars[j], c)?;
        }
        let mut ln_cols = vec![Vec::new(); cols.len()];
        for &j in &f.log_vars {
            if let Some(i) = cols[j].iter().position(|&v| v <= 0.0) {
                return Err(Error::arg(
                    "data",
                    format!(
                        "column '{}' must be positive (the formula raises it to a fitted power or takes its log) but has {} at index {i}",
                        f.vars[j], cols[j][i]
                    ),
                ));
            }
            let mut l = vec![0.0; n];
            crate::fastmath::ln_slice(&cols[j], &mut l);
            ln_cols[j] = l;
        }
        Ok(Data { n, cols, ln_cols })
    }

    /// Copy rows `idx` of `src` into `self`, reusing allocations.
    pub fn gather_from(&mut self, src: &Data, idx: &[usize]) {
        self.n = idx.len();
        self.cols.resize(src.cols.len(), Vec::new());
        self.ln_cols.resize(src.ln_cols.len(), Vec::new());
        for (dst, s) in self.cols.iter_mut().zip(&src.cols) {
            dst.clear();
            dst.extend(idx.iter().map(|&i| s[i]));
        }
        for (dst, s) in self.ln_cols.iter_mut().zip(&src.ln_cols) {
            dst.clear();
            if !s.is_empty() {
                dst.extend(idx.iter().map(|&i| s[i]));
            }
        }
    }
}

fn check_finite_col(name: &str, c: &[f64]) -> Result<()> {
    if let Some(i) = c.iter().position(|v| !v.is_finite()) {
        return Err(Error::arg(
            "data",
            format!(
                "column '{name}' has a non-finite value ({}) at index {i}; drop or impute NaN/inf rows first",
                c[i]
            ),
        ));
    }
    Ok(())
}

/// Reusable buffers for [`Formula::eval`].
#[derive(Debug, Default, Clone)]
pub struct EvalWs {
    /// scalar value of each node (valid for scalar nodes)
    sval: Vec<f64>,
    /// vector values, node i at `vals[i*n..(i+1)*n]` (only vector nodes are written)
    vals: Vec<f64>,
    adj: Vec<f64>,
    n: usize,
    /// buffers of the sum-of-exponentials evaluator (see [`crate::sumexp`])
    pub sx: crate::sumexp::SumExpWs,
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
                Op::Exp(a) => crate::fastmath::exp_slice(vec_of(a), out),
                Op::Ln(a) => crate::fastmath::ln_slice(vec_of(a), out),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn eval_at(f: &Formula, theta: &[f64], cols: Vec<Vec<f64>>) -> (Vec<f64>, Vec<f64>) {
        let d = Data::new(f, cols).unwrap();
        let mut ws = EvalWs::default();
        let mut v = vec![0.0; d.n];
        let mut j = vec![0.0; d.n * f.n_params()];
        f.eval(theta, &d, &mut ws, &mut v, Some(&mut j));
        (v, j)
    }

    #[test]
    fn parses_precedence() {
        let f = Formula::new("-x^2 + 2*a", &vars(&["x"])).unwrap();
        let (v, _) = eval_at(&f, &[1.0], vec![vec![3.0]]);
        assert_eq!(v[0], -9.0 + 2.0);
        let f = Formula::new("a * x ^ -b", &vars(&["x"])).unwrap();
        let (v, _) = eval_at(&f, &[2.0, 1.0], vec![vec![4.0]]);
        assert!((v[0] - 0.5).abs() < 1e-15);
        // right associativity of ^
        let f = Formula::new("a * 2^3^2", &vars(&[])).unwrap();
        let d = Data {
            n: 1,
            cols: vec![],
            ln_cols: vec![],
        };
        let mut ws = EvalWs::default();
        let mut v = vec![0.0];
        f.eval(&[1.0], &d, &mut ws, &mut v, None);
        assert_eq!(v[0], 512.0);
    }

    #[test]
    fn param_order_and_vars() {
        let f = Formula::new("E + A*N^-alpha + B*D^-beta", &vars(&["N", "D"])).unwrap();
        assert_eq!(f.param_names(), &["E", "A", "alpha", "B", "beta"]);
        assert_eq!(f.log_vars(), &[0, 1]);
        assert_eq!(f.linear_params(), vec![0, 1, 3]);
        assert_eq!(f.exponent_params(), vec![2, 4]);
    }

    #[test]
    fn syntax_errors_have_positions() {
        for (src, pos) in [
            ("a + * x", 4),
            ("a * (x + 1", 10),
            ("foo(x) + a", 0),
            ("a x", 2),
            ("a + $", 4),
        ] {
            match Formula::new(src, &vars(&["x"])) {
                Err(Error::Parse { pos: p, .. }) => assert_eq!(p, pos, "{src}"),
                other => panic!("{src}: {other:?}"),
            }
        }
        assert!(matches!(
            Formula::new("", &[]),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            Formula::new("x * 2", &vars(&["x"])),
            Err(Error::InvalidArgument { .. })
        ));
    }

    /// Exact derivatives agree with central differences on every built-in operation.
    #[test]
    fn jacobian_matches_finite_differences() {
        let src = "a + b*exp(-c*x) / sqrt(x + d^2) + log(x*e) * x^f - (x/g)^1.5 + (1 + (x/d)^(1/f))^(-c*f)";
        let f = Formula::new(src, &vars(&["x"])).unwrap();
        let theta = [0.3, 1.7, 0.4, 1.1, 2.0, 0.7, 3.0];
        let xs: Vec<f64> = (1..20).map(|i| i as f64 * 0.37).collect();
        let (v, j) = eval_at(&f, &theta, vec![xs.clone()]);
        let n = xs.len();
        for k in 0..theta.len() {
            let h = 1e-6 * theta[k].abs().max(1.0);
            let mut tp = theta;
            tp[k] += h;
            let mut tm = theta;
            tm[k] -= h;
            let (vp, _) = eval_at(&f, &tp, vec![xs.clone()]);
            let (vm, _) = eval_at(&f, &tm, vec![xs.clone()]);
            for t in 0..n {
                let fd = (vp[t] - vm[t]) / (2.0 * h);
                let ex = j[k * n + t];
                assert!(
                    (fd - ex).abs() <= 1e-6 * (1.0 + ex.abs()),
                    "param {k} point {t}: fd {fd} exact {ex}"
                );
            }
        }
        assert!(v.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn data_validation() {
        let f = Formula::new("A*x^-a", &vars(&["x"])).unwrap();
        assert!(Data::new(&f, vec![vec![1.0, -2.0]]).is_err());
        assert!(Data::new(&f, vec![vec![1.0, f64::NAN]]).is_err());
        let g = Formula::new("a*x + b*y", &vars(&["x", "y"])).unwrap();
        assert!(Data::new(&g, vec![vec![1.0, 2.0], vec![1.0]]).is_err());
        assert!(Data::new(&g, vec![vec![-1.0, 2.0], vec![1.0, 0.0]]).is_ok());
    }
}
