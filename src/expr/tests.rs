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
