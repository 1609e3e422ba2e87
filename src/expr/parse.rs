//! Lexer and recursive-descent parser of the formula language (grammar in [`super`]).

use super::funcs::Func;
use crate::error::{Error, Result};

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
    Comma,
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
            b',' => {
                i += 1;
                Tok::Comma
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

/// What a function name calls.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Callee {
    Unary(Func),
    /// `pow(a, b)`, the same as `a ^ b`
    Pow,
    /// `smoothmax(a, b, k)` (`max: true`) or `smoothmin(a, b, k)`
    Smooth {
        max: bool,
    },
}

/// The functions of the language by name (`sigmoid` is an alias of `logistic`, `log` of `ln`).
/// These names are reserved: they are never parameters or variables.
const FUNCTIONS: &[(&str, Callee)] = &[
    ("exp", Callee::Unary(Func::Exp)),
    ("log", Callee::Unary(Func::Ln)),
    ("ln", Callee::Unary(Func::Ln)),
    ("sqrt", Callee::Unary(Func::Sqrt)),
    ("log10", Callee::Unary(Func::Log10)),
    ("log1p", Callee::Unary(Func::Log1p)),
    ("expm1", Callee::Unary(Func::Expm1)),
    ("sin", Callee::Unary(Func::Sin)),
    ("cos", Callee::Unary(Func::Cos)),
    ("tan", Callee::Unary(Func::Tan)),
    ("atan", Callee::Unary(Func::Atan)),
    ("tanh", Callee::Unary(Func::Tanh)),
    ("abs", Callee::Unary(Func::Abs)),
    ("logistic", Callee::Unary(Func::Logistic)),
    ("sigmoid", Callee::Unary(Func::Logistic)),
    ("softplus", Callee::Unary(Func::Softplus)),
    ("pow", Callee::Pow),
    ("smoothmax", Callee::Smooth { max: true }),
    ("smoothmin", Callee::Smooth { max: false }),
];

impl Callee {
    fn of(name: &str) -> Option<Callee> {
        FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
    fn arity(self) -> usize {
        match self {
            Callee::Unary(_) => 1,
            Callee::Pow => 2,
            Callee::Smooth { .. } => 3,
        }
    }
    /// How to call it, for error messages.
    fn usage(self, name: &str) -> String {
        match self {
            Callee::Unary(_) => format!("{name}(x)"),
            Callee::Pow => "pow(base, exponent)".into(),
            Callee::Smooth { .. } => format!("{name}(a, b, k)"),
        }
    }
}

/// The names of the language's functions (reserved: never parameters or variables).
pub fn function_names() -> Vec<&'static str> {
    FUNCTIONS.iter().map(|(n, _)| *n).collect()
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
    /// `smoothmax(a, b, k)` (true) or `smoothmin(a, b, k)` (false), arguments `[a, b, k]` in
    /// one box (keeps `Ast`, on the stack in every frame of the descent, small); see [`super`]
    Smooth(bool, Box<[Ast; 3]>),
}

/// Deepest nesting of parentheses, function calls, unary signs and powers the parser descends
/// into (each level costs a few stack frames).
pub const MAX_NESTING: usize = 200;
/// Deepest syntax tree (operations applied on top of each other, e.g. the terms of one long
/// sum): every later pass over the tree recurses this deep.
pub const MAX_DEPTH: usize = 1000;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// current recursion depth of the descent
    nesting: usize,
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
    /// Enter one level of the descent (parenthesis, call, sign or power); errors past
    /// [`MAX_NESTING`] instead of exhausting the stack.
    fn enter(&mut self) -> Result<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.err(format!(
                "the formula is nested more than {MAX_NESTING} levels deep (parentheses, functions, signs or powers); simplify it"
            ));
        }
        Ok(())
    }
    /// A node over children of depths `d`: its depth, or an error past [`MAX_DEPTH`].
    fn deeper(&self, d: usize) -> Result<usize> {
        if d + 1 > MAX_DEPTH {
            return self.err(format!(
                "the formula has more than {MAX_DEPTH} operations applied in a chain (e.g. terms of one sum); split it or simplify it"
            ));
        }
        Ok(d + 1)
    }
    // Each rule returns the tree and its depth (see `deeper`).
    fn expr(&mut self) -> Result<(Ast, usize)> {
        let (mut lhs, mut d) = self.term()?;
        loop {
            let add = match self.peek() {
                Tok::Plus => true,
                Tok::Minus => false,
                _ => return Ok((lhs, d)),
            };
            self.next();
            let (rhs, dr) = self.term()?;
            d = self.deeper(d.max(dr))?;
            lhs = if add {
                Ast::Add(Box::new(lhs), Box::new(rhs))
            } else {
                Ast::Sub(Box::new(lhs), Box::new(rhs))
            };
        }
    }
    fn term(&mut self) -> Result<(Ast, usize)> {
        let (mut lhs, mut d) = self.unary()?;
        loop {
            let mul = match self.peek() {
                Tok::Star => true,
                Tok::Slash => false,
                _ => return Ok((lhs, d)),
            };
            self.next();
            let (rhs, dr) = self.unary()?;
            d = self.deeper(d.max(dr))?;
            lhs = if mul {
                Ast::Mul(Box::new(lhs), Box::new(rhs))
            } else {
                Ast::Div(Box::new(lhs), Box::new(rhs))
            };
        }
    }
    fn unary(&mut self) -> Result<(Ast, usize)> {
        match self.peek() {
            Tok::Minus => {
                self.next();
                self.enter()?;
                let (a, d) = self.unary()?;
                self.nesting -= 1;
                Ok((Ast::Neg(Box::new(a)), self.deeper(d)?))
            }
            Tok::Plus => {
                self.next();
                self.enter()?;
                let r = self.unary();
                self.nesting -= 1;
                r
            }
            _ => self.power(),
        }
    }
    fn power(&mut self) -> Result<(Ast, usize)> {
        let (base, db) = self.atom()?;
        if *self.peek() == Tok::Caret {
            self.next();
            self.enter()?;
            let (exp, de) = self.unary()?;
            self.nesting -= 1;
            let d = self.deeper(db.max(de))?;
            return Ok((Ast::Pow(Box::new(base), Box::new(exp)), d));
        }
        Ok((base, db))
    }
    /// A call of `name` (at `at`; the next token is its '('). Kept lean: this frame is on the
    /// stack once per nesting level (the checks and the tree are built in [`Parser::finish_call`]).
    fn call(&mut self, name: &str, callee: Callee, at: usize) -> Result<(Ast, usize)> {
        self.next();
        self.enter()?;
        let mut args = Vec::with_capacity(callee.arity());
        let mut d = 0;
        loop {
            let (arg, da) = self.expr()?;
            args.push(arg);
            d = d.max(da);
            if *self.peek() != Tok::Comma {
                break;
            }
            self.next();
        }
        self.nesting -= 1;
        self.finish_call(name, callee, at, args, d)
    }
    /// The closing ')' and the arity check of a call whose arguments (of depth up to `d`) are
    /// parsed, and its tree.
    fn finish_call(
        &mut self,
        name: &str,
        callee: Callee,
        at: usize,
        args: Vec<Ast>,
        d: usize,
    ) -> Result<(Ast, usize)> {
        if *self.peek() != Tok::RParen {
            return self.err(if callee.arity() == 1 {
                "expected ')'"
            } else {
                "expected ')' or ','"
            });
        }
        self.next();
        let want = callee.arity();
        if args.len() != want {
            return Err(Error::parse(
                self.src,
                at,
                format!(
                    "'{name}' takes {want} argument{}: {} (got {})",
                    if want == 1 { "" } else { "s" },
                    callee.usage(name),
                    args.len()
                ),
            ));
        }
        let d = self.deeper(d)?;
        let ast = match (callee, <[Ast; 3]>::try_from(args)) {
            (Callee::Smooth { max }, Ok(abk)) => Ast::Smooth(max, Box::new(abk)),
            (callee, Err(args)) => {
                let mut args = args.into_iter().map(Box::new);
                let mut arg = || args.next().expect("arity checked");
                match callee {
                    Callee::Unary(f) => Ast::Call(f, arg()),
                    _ => Ast::Pow(arg(), arg()),
                }
            }
            _ => unreachable!("arity checked"),
        };
        Ok((ast, d))
    }
    fn atom(&mut self) -> Result<(Ast, usize)> {
        let at = self.at();
        match self.next() {
            Tok::Num(v) => Ok((Ast::Num(v), 1)),
            Tok::Ident(name) => {
                if let Some(callee) = Callee::of(&name) {
                    if *self.peek() != Tok::LParen {
                        return self.err(format!("'{name}' is a function: write {name}(...)"));
                    }
                    return self.call(&name, callee, at);
                }
                if *self.peek() == Tok::LParen {
                    return Err(Error::parse(
                        self.src,
                        at,
                        format!(
                            "unknown function '{name}' (known: {})",
                            function_names().join(", ")
                        ),
                    ));
                }
                Ok((Ast::Ident(name), 1))
            }
            Tok::LParen => {
                self.enter()?;
                let e = self.expr()?;
                self.nesting -= 1;
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
        Tok::Comma => "','".into(),
        Tok::End => "end of formula".into(),
    }
}

pub(crate) fn parse_ast(src: &str) -> Result<Ast> {
    if src.trim().is_empty() {
        return Err(Error::arg("form", "the formula is empty"));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        nesting: 0,
    };
    let (e, _) = p.expr()?;
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
            Ast::Smooth(_, abk) => abk.iter().for_each(|x| walk(x, out)),
        }
    }
    walk(&ast, &mut out);
    Ok(out)
}
