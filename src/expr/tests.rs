use super::*;
use crate::error::Error;

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
    let src =
        "a + b*exp(-c*x) / sqrt(x + d^2) + log(x*e) * x^f - (x/g)^1.5 + (1 + (x/d)^(1/f))^(-c*f)";
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

/// The sum-of-exponentials fast path against the tape (a test of both, so it lives here, above
/// both modules).
mod sumexp {
    use crate::expr::sumexp::{SumExp, SumExpWs};
    use crate::expr::{Data, EvalWs, Formula};

    fn check(src: &str, vars: &[&str], pos: &[&str], theta: &[f64], expect: bool) {
        let vars: Vec<String> = vars.iter().map(|s| s.to_string()).collect();
        let f = Formula::new(src, &vars).unwrap();
        let positive: Vec<bool> = f
            .param_names()
            .iter()
            .map(|n| pos.contains(&n.as_str()))
            .collect();
        let k = SumExp::detect(&f, &positive);
        assert_eq!(k.is_some(), expect, "{src}");
        let Some(k) = k else { return };
        let n = 37;
        let cols: Vec<Vec<f64>> = (0..vars.len())
            .map(|j| {
                (0..n)
                    .map(|i| 0.3 + (i as f64 * 0.37 + j as f64).sin().abs() * 5.0 + i as f64 * 0.1)
                    .collect()
            })
            .collect();
        let data = Data::new(&f, cols).unwrap();
        let p = f.n_params();
        let th: Vec<f64> = (0..p)
            .map(|j| if positive[j] { theta[j].ln() } else { theta[j] })
            .collect();
        let (mut v1, mut v2) = (vec![0.0; n], vec![0.0; n]);
        let (mut j1, mut j2) = (vec![0.0; n * p], vec![0.0; n * p]);
        let mut ev = EvalWs::default();
        f.eval(theta, &data, &mut ev, &mut v1, Some(&mut j1));
        let mut ws = SumExpWs::default();
        k.eval(&th, theta, &data, &mut ws, &mut v2);
        let inv: Vec<f64> = v2.iter().map(|v| 1.0 / v).collect();
        k.jacobian(theta, &data, &ws, Some(&inv), &mut j2);
        for i in 0..n {
            assert!(
                (v1[i] - v2[i]).abs() <= 1e-13 * v1[i].abs().max(1e-300),
                "{src}: value {i}: {} vs {}",
                v1[i],
                v2[i]
            );
            for j in 0..p {
                let d = j1[j * n + i] * if positive[j] { theta[j] } else { 1.0 } / v1[i];
                let e = j2[j * n + i];
                assert!(
                    (d - e).abs() <= 1e-12 * d.abs().max(1e-10),
                    "{src}: d/d{} at {i}: {d} vs {e}",
                    f.param_names()[j]
                );
            }
        }
    }

    #[test]
    fn agrees_with_the_tape() {
        check(
            "E + A * N^-alpha + B * D^-beta",
            &["N", "D"],
            &["E", "A", "B"],
            &[1.8, 400.0, 0.3, 2000.0, 0.35],
            true,
        );
        check(
            "E + A * N^-alpha + B * D^-beta",
            &["N", "D"],
            &[],
            &[1.8, 400.0, 0.3, 2000.0, 0.35],
            true,
        );
        check("A * x^-alpha", &["x"], &["A", "alpha"], &[3.0, 0.4], true);
        check("E + A * C^-alpha", &["C"], &[], &[0.5, 3.0, 0.7], true);
        check(
            "a + b * exp(-k * t) - 2 * c / t^(d/2)",
            &["t"],
            &["b", "c"],
            &[1.0, 2.0, 0.3, 0.5, 1.5],
            true,
        );
        check(
            "A^2 * x^(-alpha - 1) / B",
            &["x"],
            &["A", "B"],
            &[1.5, 0.2, 3.0],
            true,
        );
        check(
            "-(E) + 3 * exp(2 - k * x + m)",
            &["x"],
            &[],
            &[0.1, 0.2, 0.3],
            true,
        );
        // not sums of exponential-affine terms: the tape handles them
        check(
            "((Nc / N)^(aN / aD) + Dc / D)^aD",
            &["N", "D"],
            &["Nc", "aN", "aD", "Dc"],
            &[1e8, 0.07, 0.1, 1e9],
            false,
        );
        check(
            "a + b * x^-c0 * (1 + (x / d1)^(1 / f1))^(-c1 * f1)",
            &["x"],
            &["b", "d1", "f1"],
            &[1.0, 2.0, 0.3, 2.0, 0.5, 0.4],
            false,
        );
        check("A * x^2", &["x"], &[], &[1.0], false);
        check("A * B * x^-a", &["x"], &[], &[1.0, 2.0, 0.5], false);
        check("sqrt(A) * x^-a", &["x"], &[], &[1.0, 0.5], false);
        // pow(a, b) is a ^ b; the other functions are left to the tape
        check(
            "E + pow(A, 1) * pow(N, -alpha)",
            &["N"],
            &["E", "A"],
            &[1.8, 400.0, 0.3],
            true,
        );
        for src in [
            "E + A * logistic(-k * x)",
            "E + A * sigmoid(k * x)",
            "A * exp(-k * x) + abs(E)",
            "A * exp(-k * x) * cos(w * x)",
            "A * exp(sin(k * x))",
            "A * expm1(-k * x)",
            "E + A * exp(softplus(k * x))",
            "E + A * x^-tanh(k)",
            "smoothmax(A * x^-k, E, 5)",
            "smoothmin(A * exp(-k * x), E, 5)",
            "E + A * exp(-k * log10(x))",
            "E + A * exp(-k * log1p(x)) + atan(0) + tan(0)",
        ] {
            let vars: &[&str] = &["x"];
            let f =
                Formula::new(src, &vars.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            let p = f.n_params();
            for positive in [vec![false; p], vec![true; p]] {
                assert!(SumExp::detect(&f, &positive).is_none(), "{src}");
            }
        }
    }
}

#[test]
fn deep_or_long_formulas_are_refused_not_a_stack_overflow() {
    let vars = vars(&["x"]);
    let refused = |src: String, what: &str| match Formula::new(&src, &vars) {
        Err(Error::Parse { msg, .. }) => assert!(msg.contains(what), "{msg}"),
        other => panic!(
            "expected a parse error, got {:?}",
            other.map(|f| f.n_nodes())
        ),
    };
    refused(
        format!("{}x{}", "(".repeat(8000), ")".repeat(8000)),
        "nested",
    );
    refused(format!("{}x", "-".repeat(20_000)), "nested");
    refused(format!("x{}", "^x".repeat(5000)), "nested");
    refused(
        format!("exp({}x{})", "exp(".repeat(3000), ")".repeat(3001)),
        "nested",
    );
    refused(vec!["a*x"; 100_000].join(" + "), "chain");
    // within the limits everything still works
    let ok = format!("{}a*x{}", "(".repeat(150), ")".repeat(150));
    assert_eq!(Formula::new(&ok, &vars).unwrap().n_params(), 1);
    let long = (0..900)
        .map(|i| format!("p{i}*x"))
        .collect::<Vec<_>>()
        .join(" + ");
    assert_eq!(Formula::new(&long, &vars).unwrap().n_params(), 900);
}

// --- functions beyond exp/ln/sqrt ------------------------------------------------------------

/// (name, std reference, closed-form derivative, points in the domain for derivative checks)
type FnCase = (&'static str, fn(f64) -> f64, fn(f64) -> f64, &'static [f64]);

fn logistic_ref(x: f64) -> f64 {
    // never NaN: exp(-x) = inf gives 0
    1.0 / (1.0 + (-x).exp())
}

const FN_CASES: &[FnCase] = &[
    (
        "sin",
        f64::sin,
        f64::cos,
        &[-3.0, -0.7, 0.0, 0.4, 2.5, 40.0],
    ),
    (
        "cos",
        f64::cos,
        |x| -x.sin(),
        &[-3.0, -0.7, 0.0, 0.4, 2.5, 40.0],
    ),
    (
        "tan",
        f64::tan,
        |x| 1.0 / (x.cos() * x.cos()),
        &[-1.2, -0.5, 0.0, 0.3, 1.0, 3.0],
    ),
    (
        "atan",
        f64::atan,
        |x| 1.0 / (1.0 + x * x),
        &[-50.0, -1.0, 0.0, 0.3, 2.0, 1e3],
    ),
    (
        "tanh",
        f64::tanh,
        |x| 1.0 - x.tanh().powi(2),
        &[-8.0, -1.0, 0.0, 0.3, 2.0, 15.0],
    ),
    ("abs", f64::abs, f64::signum, &[-3.0, -1e-3, 0.2, 5.0]),
    (
        "log10",
        f64::log10,
        |x| 1.0 / (x * std::f64::consts::LN_10),
        &[0.05, 0.3, 1.0, 7.0, 1e12],
    ),
    (
        "log1p",
        f64::ln_1p,
        |x| 1.0 / (1.0 + x),
        &[-0.9, -1e-8, 0.0, 1e-8, 0.5, 30.0],
    ),
    (
        "expm1",
        f64::exp_m1,
        f64::exp,
        &[-30.0, -1.0, -1e-9, 0.0, 1e-9, 0.7, 20.0],
    ),
    (
        "logistic",
        logistic_ref,
        |x| logistic_ref(x) * logistic_ref(-x),
        &[-30.0, -2.0, 0.0, 0.5, 3.0, 30.0],
    ),
    (
        "sigmoid",
        logistic_ref,
        |x| logistic_ref(x) * logistic_ref(-x),
        &[-4.0, 0.0, 4.0],
    ),
    (
        "softplus",
        |x| {
            if x > 30.0 {
                x + (-x).exp()
            } else {
                x.exp().ln_1p()
            }
        },
        logistic_ref,
        &[-40.0, -3.0, 0.0, 0.5, 3.0, 40.0],
    ),
];

/// Points, extremes included, at which values are compared with std.
const VALUE_POINTS: &[f64] = &[
    -1e308,
    -1e200,
    -1e20,
    -745.0,
    -710.0,
    -50.0,
    -20.0,
    -3.7,
    -1.0,
    -0.999,
    -0.5,
    -1e-8,
    -1e-300,
    -5e-324,
    0.0,
    5e-324,
    1e-300,
    1e-12,
    0.3,
    1.0,
    std::f64::consts::FRAC_PI_2,
    2.0,
    9.9,
    35.0,
    88.0,
    700.0,
    710.0,
    745.0,
    1e10,
    1e100,
    1e308,
];

fn close(a: f64, b: f64, rel: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()) || (a - b).abs() < 1e-300
}

#[test]
fn function_values_match_std_column_scalar_and_folded() {
    let v = vars(&["x"]);
    for &(name, reference, _, _) in FN_CASES {
        // column-wise (x a data column), scalar (a parameter-only subexpression) and folded
        let f = Formula::new(&format!("a * {name}(x)"), &v).unwrap();
        let g = Formula::new(&format!("{name}(a)"), &v).unwrap();
        let xs: Vec<f64> = VALUE_POINTS
            .iter()
            .copied()
            .filter(|&x| name != "log10" || x > 0.0)
            .collect();
        let (col, _) = eval_at(&f, &[1.0], vec![xs.clone()]);
        for (i, &x) in xs.iter().enumerate() {
            let want = reference(x);
            // log10 of a data column is ln(x) * log10(e) (a few ulp)
            assert!(
                close(col[i], want, 2e-15),
                "{name}({x:e}) column: {} vs {want}",
                col[i]
            );
            let (s, _) = eval_at(&g, &[x], vec![vec![1.0, 2.0]]);
            assert!(
                close(s[0], want, 1e-15) && close(s[0], s[1], 0.0),
                "{name}({x:e}) scalar: {s:?} vs {want}"
            );
            if want.is_finite() && x.is_finite() {
                let h = Formula::new(&format!("a + {name}({x:e})"), &v).unwrap();
                assert!(
                    !h.nodes.iter().any(|n| matches!(n.op, Op::Fun(..))),
                    "{name}({x:e}) is folded"
                );
                let (s, _) = eval_at(&h, &[0.0], vec![vec![1.0]]);
                assert!(
                    close(s[0], want, 1e-15),
                    "{name}({x:e}) folded: {} vs {want}",
                    s[0]
                );
            }
        }
    }
}

#[test]
fn logistic_and_softplus_are_stable() {
    let v = vars(&["x"]);
    let xs = vec![-1e308, -1000.0, -745.5, -40.0, 0.0, 40.0, 1000.0, 1e308];
    let f = Formula::new("logistic(a * x)", &v).unwrap();
    let (val, jac) = eval_at(&f, &[1.0], vec![xs.clone()]);
    assert_eq!(
        val,
        vec![0.0, 0.0, 0.0, 4.248354255291589e-18, 0.5, 1.0, 1.0, 1.0]
    );
    // d/da = x logistic'(x); 0 * x for the extremes, never NaN
    assert!(jac.iter().all(|d| d.is_finite()), "{jac:?}");
    assert!((jac[3] - (-40.0) * 4.248354255291589e-18).abs() < 1e-30);
    let g = Formula::new("softplus(a * x)", &v).unwrap();
    let (val, jac) = eval_at(&g, &[1.0], vec![xs.clone()]);
    assert_eq!(val[0..3], [0.0, 0.0, 0.0]);
    assert!(close(val[3], 4.248354255291589e-18, 1e-15));
    assert!(close(val[4], std::f64::consts::LN_2, 1e-16));
    assert_eq!(val[5..], [40.0, 1000.0, 1e308]);
    // d/da = x logistic(x)
    assert_eq!(jac[6], 1000.0);
    assert_eq!(jac[7], 1e308);
    assert!(jac.iter().all(|d| d.is_finite()), "{jac:?}");
    // the scalar forms fold without overflow
    let h = Formula::new("a + logistic(-1000) + softplus(1000) + sigmoid(1000)", &v).unwrap();
    let (s, _) = eval_at(&h, &[0.0], vec![vec![1.0]]);
    assert_eq!(s[0], 1001.0);
}

/// Exact derivatives of `A * f(b*x + c)` against closed forms and central differences.
#[test]
fn function_derivatives_match_closed_forms_and_finite_differences() {
    let v = vars(&["x"]);
    for &(name, reference, deriv, points) in FN_CASES {
        let f = Formula::new(&format!("A * {name}(b*x + c)"), &v).unwrap();
        assert_eq!(f.param_names(), &["A", "b", "c"]);
        // b*x + c hits the points with b = 0.8, c = 0.1
        let (b, c) = (0.8, 0.1);
        let xs: Vec<f64> = points.iter().map(|&u| (u - c) / b).collect();
        let theta = [1.3, b, c];
        let (val, jac) = eval_at(&f, &theta, vec![xs.clone()]);
        let n = xs.len();
        for (t, &x) in xs.iter().enumerate() {
            let u = b * x + c;
            assert!(close(val[t], 1.3 * reference(u), 1e-14), "{name}({u})");
            let d = deriv(u);
            let closed = [reference(u), 1.3 * d * x, 1.3 * d];
            for k in 0..3 {
                let ex = jac[k * n + t];
                assert!(
                    close(ex, closed[k], 1e-12) || (ex - closed[k]).abs() < 1e-14,
                    "{name} d/d{} at u={u}: {ex} vs closed form {}",
                    f.param_names()[k],
                    closed[k]
                );
                let h = 1e-6 * theta[k].abs().max(1.0);
                let (mut tp, mut tm) = (theta, theta);
                tp[k] += h;
                tm[k] -= h;
                let (vp, _) = eval_at(&f, &tp, vec![vec![x]]);
                let (vm, _) = eval_at(&f, &tm, vec![vec![x]]);
                let fd = (vp[0] - vm[0]) / (2.0 * h);
                assert!(
                    (fd - ex).abs() <= 1e-6 * (1.0 + ex.abs()),
                    "{name} d/d{} at u={u}: fd {fd} exact {ex}",
                    f.param_names()[k]
                );
            }
        }
        // the scalar path (argument without data) gives the same derivative
        let g = Formula::new(&format!("A * {name}(b + c)"), &v).unwrap();
        let u = points[points.len() / 2];
        let (_, jac) = eval_at(&g, &[1.3, u - 0.1, 0.1], vec![vec![1.0, 2.0]]);
        assert!(
            close(jac[2], 1.3 * deriv(u), 1e-12),
            "{name} scalar at {u}: {jac:?}"
        );
        assert_eq!(jac[4], jac[5]);
    }
}

#[test]
fn abs_has_zero_derivative_at_zero() {
    let f = Formula::new("abs(a * x) + b", &vars(&["x"])).unwrap();
    let (v, j) = eval_at(&f, &[0.0, 1.0], vec![vec![-2.0, 3.0]]);
    assert_eq!(v, vec![1.0, 1.0]);
    assert_eq!(j[..2], [0.0, 0.0]);
    let (_, j) = eval_at(&f, &[1.0, 1.0], vec![vec![-2.0, 3.0]]);
    assert_eq!(j[..2], [2.0, 3.0]);
}

#[test]
fn pow_is_the_power_operator() {
    let v = vars(&["x"]);
    for (a, b) in [
        ("A * pow(x, -alpha)", "A * x^-alpha"),
        ("pow(A, 2) + pow(x, 0.5) * B", "A^2 + x^0.5 * B"),
        ("pow(pow(x, a), 2)", "(x^a)^2"),
        ("E + pow(A + x, alpha - 1)", "E + (A + x)^(alpha - 1)"),
    ] {
        let (f, g) = (Formula::new(a, &v).unwrap(), Formula::new(b, &v).unwrap());
        assert_eq!(f.param_names(), g.param_names());
        assert_eq!(
            f.nodes.iter().map(|n| n.op).collect::<Vec<_>>(),
            g.nodes.iter().map(|n| n.op).collect::<Vec<_>>()
        );
        assert_eq!(f.log_vars(), g.log_vars());
        assert_eq!(f.exponent_params(), g.exponent_params());
    }
}

#[test]
fn smoothmax_and_smoothmin() {
    let v = vars(&["x"]);
    let f = Formula::new("smoothmax(a * x, b, k)", &v).unwrap();
    let g = Formula::new("smoothmin(a * x, b, k)", &v).unwrap();
    let xs: Vec<f64> = vec![-3.0, -0.5, 0.0, 0.25, 0.5, 1.0, 4.0];
    let theta = [2.0, 0.5, 3.0];
    let (vf, jf) = eval_at(&f, &theta, vec![xs.clone()]);
    let (vg, jg) = eval_at(&g, &theta, vec![xs.clone()]);
    let n = xs.len();
    for (t, &x) in xs.iter().enumerate() {
        let (a, b, k) = (2.0 * x, 0.5, 3.0);
        let lse = ((k * a).exp() + (k * b).exp()).ln() / k;
        let lse_min = -((-k * a).exp() + (-k * b).exp()).ln() / k;
        assert!(close(vf[t], lse, 1e-14), "{x}: {} vs {lse}", vf[t]);
        assert!(close(vg[t], lse_min, 1e-14), "{x}: {} vs {lse_min}", vg[t]);
        // d/db is the softmax weight of b (to rounding relative to 1: the weight of the smaller
        // argument is 1 - the other's); at the tie (x = 0.25) exactly 1/2
        let wb = 1.0 / (1.0 + (k * (a - b)).exp());
        assert!((jf[n + t] - wb).abs() < 1e-15, "{x}: {} vs {wb}", jf[n + t]);
        assert!((jg[n + t] - (1.0 - wb)).abs() < 1e-15, "{x}: {}", jg[n + t]);
        for (form, theta_jac) in [(&f, &jf), (&g, &jg)] {
            for kk in 0..3 {
                let h = 1e-6;
                let (mut tp, mut tm) = (theta, theta);
                tp[kk] += h;
                tm[kk] -= h;
                let (vp, _) = eval_at(form, &tp, vec![vec![x]]);
                let (vm, _) = eval_at(form, &tm, vec![vec![x]]);
                let fd = (vp[0] - vm[0]) / (2.0 * h);
                let ex = theta_jac[kk * n + t];
                assert!(
                    (fd - ex).abs() <= 1e-7 * (1.0 + ex.abs()),
                    "{} d{kk} at {x}: {fd} vs {ex}",
                    form.source()
                );
            }
        }
    }
    assert_eq!(jf[n + 3], 0.5);
    // no overflow where the plain log-sum-exp overflows; bounds max <= smoothmax <= max + ln2/k
    let (v1, j1) = eval_at(&f, &[1.0, 1000.0, 1.0], vec![vec![999.0, 1e300, -1e300]]);
    assert!(
        close(v1[0], 1000.0 + (-1.0f64).exp().ln_1p(), 1e-15),
        "{v1:?}"
    );
    assert_eq!(v1[1..], [1e300, 1000.0]);
    assert!(j1.iter().all(|d| d.is_finite()), "{j1:?}");
    for (t, &x) in xs.iter().enumerate() {
        let (m, mn) = ((2.0 * x).max(0.5), (2.0 * x).min(0.5));
        assert!(vf[t] >= m && vf[t] <= m + std::f64::consts::LN_2 / 3.0 + 1e-15);
        assert!(vg[t] <= mn && vg[t] >= mn - std::f64::consts::LN_2 / 3.0 - 1e-15);
    }
    assert_eq!(f.param_names(), &["a", "b", "k"]);
    assert!(f.linear_params().is_empty() && g.linear_params().is_empty());
}

#[test]
fn structure_of_formulas_with_functions() {
    let v = vars(&["x"]);
    let f = Formula::new("E + A*sin(w*x + phi)", &v).unwrap();
    assert_eq!(f.param_names(), &["E", "A", "w", "phi"]);
    assert_eq!(f.linear_params(), vec![0, 1]);
    assert!(f.exponent_params().is_empty());
    assert_eq!(f.scale_params(), vec![(2, 0, false)]);
    assert!(f.log_vars().is_empty());
    let acc = Formula::new("lo + (hi - lo)*logistic(k*(log10(C) - c0))", &vars(&["C"])).unwrap();
    assert_eq!(acc.param_names(), &["lo", "hi", "k", "c0"]);
    assert_eq!(acc.linear_params(), vec![0, 1]);
    assert_eq!(acc.log_vars(), &[0], "log10 of a column needs it positive");
    assert!(Data::new(&acc, vec![vec![1.0, -1.0]]).is_err());
    // a parameter inside any function is not linear, nor an exponent; outside it still is
    for name in [
        "sin", "cos", "tan", "atan", "tanh", "abs", "log10", "log1p", "expm1", "logistic",
        "softplus",
    ] {
        let f = Formula::new(&format!("a + {name}(b) * x + c * {name}(x + 2)"), &v).unwrap();
        assert_eq!(f.linear_params(), vec![0, 2], "{name}");
        let g = Formula::new(&format!("{name}(p * log(x)) + q*x^-r"), &v).unwrap();
        assert_eq!(g.exponent_params(), vec![2], "{name}");
        assert_eq!(g.linear_params(), vec![1], "{name}");
    }
    // hash-consing: the same call is one node, different functions of one argument are two
    let count = |src: &str| {
        let f = Formula::new(src, &v).unwrap();
        f.nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Fun(..)))
            .count()
    };
    assert_eq!(count("sin(a*x) + sin(x*a)"), 1);
    assert_eq!(count("sin(a*x) + cos(a*x)"), 2);
    assert_eq!(count("logistic(a*x) + sigmoid(a*x)"), 1);
    // a non-finite constant result is not folded (and evaluates to NaN, as the std function)
    assert_eq!(count("a * log1p(-2)"), 1);
    assert_eq!(count("a * log1p(-0.5) + softplus(3) + abs(-2)"), 0);
    // pruning keeps what the output needs and drops the rest
    let f = Formula::new("a * x - a * x + tanh(b)", &v).unwrap();
    let (val, jac) = eval_at(&f, &[1.0, 0.5], vec![vec![2.0]]);
    assert!(close(val[0], 0.5f64.tanh(), 1e-15));
    assert!(close(jac[1], 1.0 - 0.5f64.tanh().powi(2), 1e-15));
}

#[test]
fn function_call_errors() {
    let v = vars(&["x"]);
    let err = |src: &str| match Formula::new(src, &v) {
        Err(Error::Parse { msg, pos, .. }) => (msg, pos),
        other => panic!(
            "{src}: expected a parse error, got {:?}",
            other.map(|f| f.n_nodes())
        ),
    };
    for name in [
        "sin",
        "tanh",
        "abs",
        "log10",
        "sigmoid",
        "softplus",
        "pow",
        "smoothmax",
    ] {
        let (msg, pos) = err(&format!("a + {name} * x"));
        assert_eq!(msg, format!("'{name}' is a function: write {name}(...)"));
        assert_eq!(pos, 5 + name.len());
    }
    let (msg, pos) = err("a * pow(x)");
    assert_eq!(
        (msg.as_str(), pos),
        ("'pow' takes 2 arguments: pow(base, exponent) (got 1)", 4)
    );
    assert!(err("sin(x, a)")
        .0
        .starts_with("'sin' takes 1 argument: sin(x) (got 2)"));
    assert!(err("smoothmax(a, x)").0.contains("takes 3 arguments"));
    assert!(err("pow(x, a, b)").0.contains("(got 3)"));
    assert_eq!(err("pow(x, a"), ("expected ')' or ','".to_string(), 8));
    assert_eq!(err("sin(x a)"), ("expected ')'".to_string(), 6));
    assert!(err("a, x").0.contains("unexpected ','"));
    assert!(err("pow(, a)").0.contains("found ','"));
    assert!(err("sinh(a*x)")
        .0
        .contains("unknown function 'sinh' (known: exp, log, ln, sqrt, log10"));
    // the limits hold for nested calls of any arity
    assert!(
        err(&format!("{}a*x{}", "sin(".repeat(3000), ")".repeat(3000)))
            .0
            .contains("nested")
    );
    assert!(
        err(&format!("{}x{}", "pow(".repeat(500), ", a)".repeat(500)))
            .0
            .contains("nested")
    );
    assert!(err(&format!(
        "{}x{}",
        "smoothmax(a, ".repeat(500),
        ", k)".repeat(500)
    ))
    .0
    .contains("nested"));
    let ok = format!("{}x{}", "pow(".repeat(100), ", a)".repeat(100));
    assert_eq!(Formula::new(&ok, &v).unwrap().n_params(), 1);
    // function names are never identifiers
    assert_eq!(
        identifiers("A * softplus(k * x) + pow(x, b)").unwrap(),
        vec!["A", "k", "x", "b"]
    );
}

#[test]
fn roles_of_parameters_for_automatic_starts() {
    let idx = |f: &Formula, n: &str| f.param_names().iter().position(|p| p == n).unwrap();
    // rates with a sign or a constant factor are scales of x (`-k*x`, `2*k*x`)
    let f = Formula::new("a*exp(-k*x) + b*exp(-2*m*x) + c*(x/s)", &vars(&["x"])).unwrap();
    let sc = f.scale_params();
    for (n, ratio) in [("k", false), ("m", false), ("s", true)] {
        assert!(sc.contains(&(idx(&f, n), 0, ratio)), "{n}: {sc:?}");
    }
    assert!(!sc.iter().any(|t| t.0 == idx(&f, "a")));
    // Gaussian peaks: locations and widths of x
    let g = Formula::new("b*exp(-(x-c)^2/w^2) + d*exp(-((x - e)/v)^2)", &vars(&["x"])).unwrap();
    let (loc, wid) = (g.location_params(), g.width_params());
    for n in ["c", "e"] {
        assert!(loc.contains(&(idx(&g, n), 0)), "{n}: {loc:?}");
    }
    for n in ["w", "v"] {
        assert!(wid.contains(&(idx(&g, n), 0)), "{n}: {wid:?}");
    }
    assert!(!loc
        .iter()
        .chain(&wid)
        .any(|t| t.0 == idx(&g, "b") || t.0 == idx(&g, "d")));
    // an offset (x + p), and x/p alone is a scale, not a width
    let h = Formula::new("a*(b + x)^(-1/c) + x/q", &vars(&["x"])).unwrap();
    assert!(h.location_params().contains(&(idx(&h, "b"), 0)));
    assert!(!h.width_params().iter().any(|t| t.0 == idx(&h, "q")));
    // periods inside sin/cos, with the argument's constant factor; not outside them
    let t = Formula::new(
        "a*cos(2*3.5*x/p) + b*sin(x/q + 1) + c*exp(-x/r)",
        &vars(&["x"]),
    )
    .unwrap();
    let per = t.period_params();
    assert!(per.contains(&(idx(&t, "p"), 0, 7.0)), "{per:?}");
    assert!(per.contains(&(idx(&t, "q"), 0, 1.0)), "{per:?}");
    assert!(!per.iter().any(|e| e.0 == idx(&t, "r")));
}
