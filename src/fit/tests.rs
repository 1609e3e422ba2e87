use super::linalg::dot;
use super::residuals::sum_rho;
use super::*;
use crate::expr::Formula;
use crate::simd::{Avx2Fma, Portable};

fn setup(src: &str, vars: &[&str], loss: Loss, target: Target, pos: &[&str]) -> Problem {
    let vars: Vec<String> = vars.iter().map(|s| s.to_string()).collect();
    let f = Formula::new(src, &vars).unwrap();
    let positive = f
        .param_names()
        .iter()
        .map(|n| pos.contains(&n.as_str()))
        .collect();
    Problem::new(f, loss, target, positive).unwrap()
}

#[test]
fn recovers_power_law_plus_constant_noiseless() {
    let s = setup("E + A*x^-alpha", &["x"], Loss::L2, Target::Log, &["E", "A"]);
    let xs: Vec<f64> = (0..30).map(|i| 1e6 * 1.5f64.powi(i)).collect();
    let truth = [1.7, 400.0, 0.33];
    let y: Vec<f64> = xs
        .iter()
        .map(|x| truth[0] + truth[1] * x.powf(-truth[2]))
        .collect();
    let data = Data::new(&s.formula, vec![xs]).unwrap();
    let yt = s.prepare_y(&y, data.n).unwrap();
    let starts = auto_starts(&s, &data, &y, &yt, 8, None);
    let fit = multistart(&s, &data, &yt, None, &starts).unwrap();
    for k in 0..3 {
        assert!(
            (fit.best.params[k] - truth[k]).abs() <= 1e-8 * truth[k],
            "{:?}",
            fit.best.params
        );
    }
    assert!(fit.best.status.converged());
}

/// The vectorised sum of rho has the documented lanes and order, bit for bit.
#[test]
fn sum_rho_matches_its_lane_definition() {
    let mut seed = 7u64;
    let mut rnd = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    for n in 0..41 {
        let r: Vec<f64> = (0..n).map(|_| rnd() * 0.01).collect();
        let c: Vec<f64> = (0..n).map(|_| rnd() + 0.5).collect();
        for loss in [Loss::L2, Loss::Huber(1e-3)] {
            let d = match loss {
                Loss::L2 => f64::INFINITY,
                Loss::Huber(d) => d,
            };
            let rho = |x: f64| {
                if x.abs() > d {
                    d * (x.abs() - 0.5 * d)
                } else {
                    0.5 * x * x
                }
            };
            for cw in [None, Some(&c[..])] {
                let m = n / 8 * 8;
                let mut s = [0.0f64; 8];
                for i in 0..m {
                    s[i % 8] += cw.map_or(1.0, |c| c[i]) * rho(r[i]);
                }
                let mut t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
                for i in m..n {
                    t += cw.map_or(1.0, |c| c[i]) * rho(r[i]);
                }
                // both instantiations (the AVX2 one where this CPU can run it)
                let mut got = vec![sum_rho::<Portable>(loss, &r, cw)];
                if crate::simd::cpu_level() >= crate::simd::Level::Avx2 {
                    got.push(sum_rho::<Avx2Fma>(loss, &r, cw));
                }
                for g in got {
                    assert_eq!(
                        g.to_bits(),
                        t.to_bits(),
                        "n={n} {loss:?} weighted={}",
                        cw.is_some()
                    );
                }
                let portable = dot::<Portable>(&r, &c);
                if crate::simd::cpu_level() >= crate::simd::Level::Avx2 {
                    assert_eq!(dot::<Avx2Fma>(&r, &c).to_bits(), portable.to_bits());
                }
            }
        }
    }
}

#[test]
fn huber_objective_decreases_monotonically_and_matches_definition() {
    let s = setup("A*x^-alpha", &["x"], Loss::Huber(1e-3), Target::Log, &["A"]);
    let xs: Vec<f64> = (1..50).map(|i| i as f64).collect();
    let y: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * x.powf(-0.5) * (1.0 + 0.01 * ((i * 7919) % 13) as f64 / 13.0))
        .collect();
    let data = Data::new(&s.formula, vec![xs]).unwrap();
    let yt = s.prepare_y(&y, data.n).unwrap();
    let mut ws = Workspace::default();
    let r = lm(&s, &data, &yt, None, &[1.0, 0.1], &mut ws);
    let o = objective(&s, &data, &yt, None, &r.params, &mut ws);
    assert_eq!(o, r.objective);
    assert!(o < objective(&s, &data, &yt, None, &[1.0, 0.1], &mut ws));
    assert!(r.status.converged(), "{:?}", r.status);
}

#[test]
fn failed_start_is_reported() {
    let s = setup("a - x", &["x"], Loss::L2, Target::Log, &[]);
    let data = Data::new(&s.formula, vec![vec![5.0, 6.0]]).unwrap();
    let yt = s.prepare_y(&[1.0, 2.0], 2).unwrap();
    let mut ws = Workspace::default();
    let r = lm(&s, &data, &yt, None, &[0.0], &mut ws);
    assert_eq!(r.status, Termination::Failed);
    assert!(!r.status.converged());
}

#[test]
fn covariance_matches_linear_regression() {
    // y = a + b x with l2: cov = s^2 (X'X)^-1
    let s = setup("a + b*x", &["x"], Loss::L2, Target::Linear, &[]);
    let xs: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let y: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| 1.0 + 2.0 * x + if i % 2 == 0 { 0.1 } else { -0.1 })
        .collect();
    let data = Data::new(&s.formula, vec![xs.clone()]).unwrap();
    let yt = s.prepare_y(&y, 10).unwrap();
    let mut ws = Workspace::default();
    let r = lm(&s, &data, &yt, None, &[0.0, 0.0], &mut ws);
    let cov = covariance(&s, &data, &yt, None, &r.params).unwrap();
    let n = 10.0;
    let sx: f64 = xs.iter().sum();
    let sxx: f64 = xs.iter().map(|x| x * x).sum();
    let rss = 2.0 * r.objective;
    let s2 = rss / (n - 2.0);
    let det = n * sxx - sx * sx;
    assert!((cov[0] - s2 * sxx / det).abs() < 1e-10);
    assert!((cov[3] - s2 * n / det).abs() < 1e-10);
}

#[test]
fn one_start_covariance_matches_a_fresh_evaluation() {
    // the single-start path takes the covariance from the solver's last Jacobian
    let s = setup(
        "E + A*x^-alpha",
        &["x"],
        Loss::Huber(1e-2),
        Target::Log,
        &["E", "A"],
    );
    let xs: Vec<f64> = (0..30).map(|i| 10f64.powf(i as f64 / 7.0)).collect();
    let y: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| (1.0 + 3.0 * x.powf(-0.4)) * (1.0 + 0.02 * ((i * 7 % 11) as f64 - 5.0) / 5.0))
        .collect();
    let data = Data::new(&s.formula, vec![xs]).unwrap();
    let rep = fit_full(
        &s,
        &data,
        &y,
        None,
        Some(vec![vec![0.5, 2.0, 0.3]]),
        1,
        None,
    )
    .unwrap();
    assert!(rep.multi.best.status.converged());
    let yt = s.prepare_y(&y, data.n).unwrap();
    let (cov, r) = covariance_and_residuals(&s, &data, &yt, None, &rep.multi.best.params);
    let (cov, cov1) = (cov.unwrap(), rep.cov.unwrap());
    for (a, b) in cov.iter().zip(&cov1) {
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1e-300), "{a} vs {b}");
    }
    for (a, b) in r.iter().zip(&rep.residuals) {
        assert!((a - b).abs() <= 1e-13, "{a} vs {b}");
    }
}

#[test]
fn bounds_are_respected() {
    let mut s = setup("a + b*x", &["x"], Loss::L2, Target::Linear, &[]);
    s.set_bounds(vec![f64::NEG_INFINITY, 0.0], vec![f64::INFINITY, 1.0])
        .unwrap();
    let xs: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let y: Vec<f64> = xs.iter().map(|x| 1.0 + 2.0 * x).collect();
    let data = Data::new(&s.formula, vec![xs]).unwrap();
    let yt = s.prepare_y(&y, 10).unwrap();
    let r = lm(&s, &data, &yt, None, &[0.0, 0.5], &mut Workspace::default());
    assert!((r.params[1] - 1.0).abs() < 1e-12);
}

#[test]
fn huber_bread_is_the_smoothed_indicator() {
    use super::covariance::bread_weights;
    // residuals with sd ~1 (a fixed symmetric sample)
    let r: Vec<f64> = (0..200)
        .map(|i| {
            let u = (i as f64 + 0.5) / 200.0;
            // a smooth quantile-like map of (0, 1) onto about (-2.6, 2.6)
            (u / (1.0 - u)).ln() / 1.7
        })
        .collect();
    // L2: psi' = 1 everywhere
    assert!(bread_weights(Loss::L2, &r, None, 3)
        .iter()
        .all(|&w| w == 1.0));
    // delta far above the bandwidth: the indicator of |r| <= delta, except near +-delta
    let w = bread_weights(Loss::Huber(1.5), &r, None, 3);
    for (ri, wi) in r.iter().zip(&w) {
        if (ri.abs() - 1.5).abs() > 1.0 {
            assert!((wi - if ri.abs() <= 1.5 { 1.0 } else { 0.0 }).abs() < 1e-3);
        }
        assert!((0.0..=1.0).contains(wi));
    }
    // tiny delta (L1-like): a kernel estimate of 2 delta f(r) instead of a count of the few
    // points inside delta: positive everywhere, largest at r = 0, its mean ~ 2 delta f(0)
    let d = 1e-3;
    let w = bread_weights(Loss::Huber(d), &r, None, 3);
    let inside = r.iter().filter(|v| v.abs() <= d).count();
    assert_eq!(inside, 0);
    assert!(w.iter().all(|&v| v > 0.0));
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    // the logistic density of this sample at 0 is 1.7/4 = 0.425 (smoothed: a little less)
    assert!(mean > 2.0 * d * 0.3 && mean < 2.0 * d * 0.5, "{mean}");
    // the midpoint rule used for small delta / h agrees with the exact kernel mass
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let sd = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (r.len() - 3) as f64).sqrt();
    let mut sorted = r.clone();
    sorted.sort_by(f64::total_cmp);
    let qt = |t: f64| {
        let x = t * (sorted.len() - 1) as f64;
        let i = x.floor() as usize;
        sorted[i] + (x - x.floor()) * (sorted[i + 1] - sorted[i])
    };
    let h = 0.9 * sd.min((qt(0.75) - qt(0.25)) / 1.349) * (r.len() as f64).powf(-0.2);
    let phi = |x: f64| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
    for (ri, wi) in r.iter().zip(&w) {
        let exact = phi((d - ri.abs()) / h) - phi((-d - ri.abs()) / h);
        if ri.abs() < 5.0 * h {
            assert!((wi - exact).abs() <= 1e-6 * exact, "{ri} {wi} {exact}");
        }
    }
    // and for deltas of 1/4, 0.7 and 3 bandwidths (w = 0.5, 1.4 and 6: the vectorised rule)
    for f in [0.25, 0.7, 3.0] {
        let d2 = f * h;
        let w2 = bread_weights(Loss::Huber(d2), &r, None, 3);
        for (ri, wi) in r.iter().zip(&w2) {
            let exact = phi((d2 - ri.abs()) / h) - phi((-d2 - ri.abs()) / h);
            if ri.abs() < 3.0 * h {
                assert!((wi - exact).abs() <= 1e-4 * exact, "{f} {ri} {wi} {exact}");
            }
        }
    }
    // points of zero weight do not set the bandwidth; no spread at all: the indicator
    let z = vec![0.0; 10];
    assert_eq!(bread_weights(Loss::Huber(d), &z, None, 3), vec![1.0; 10]);
}

#[test]
fn sensitivity_is_the_relative_effect_of_each_parameter() {
    use super::sensitivity;
    // A x^-alpha: d ln f / d ln A = 1 everywhere; d ln f / d alpha = -ln x
    let s = setup("A*x^-alpha", &["x"], Loss::L2, Target::Log, &["A"]);
    let x: Vec<f64> = (1..=20).map(|i| i as f64 * 10.0).collect();
    let data = Data::new(&s.formula, vec![x.clone()]).unwrap();
    let (eff, fmax) = sensitivity(&s, &data, None, &[3.0, 0.5]);
    assert!((eff[0] - 1.0).abs() < 1e-12, "{eff:?}");
    assert!((eff[1] - 200f64.ln()).abs() < 1e-12, "{eff:?}");
    assert!((fmax - 3.0 * 10f64.powf(-0.5)).abs() < 1e-12);
    // E + A x^-alpha with alpha = 150: the power term is 0 at every point, so neither A nor
    // alpha has any effect (the diagnostics report them as not identified)
    let s = setup("E + A*x^-alpha", &["x"], Loss::L2, Target::Log, &["E", "A"]);
    let (eff, _) = sensitivity(&s, &data, None, &[1.7, 400.0, 150.0]);
    assert!(
        (eff[0] - 1.0).abs() < 1e-12 && eff[1] < 1e-100 && eff[2] < 1e-100,
        "{eff:?}"
    );
    // fit_full takes them from the covariance's Jacobian: the same numbers, for one start (the
    // solver's last Jacobian) and for several (a fresh evaluation), log and linear targets
    for target in [Target::Log, Target::Linear] {
        let s = setup("A*x^-alpha", &["x"], Loss::L2, target, &["A"]);
        let y: Vec<f64> = x
            .iter()
            .map(|v| 3.0 * v.powf(-0.5) * (1.0 + 0.01 * v.sin()))
            .collect();
        for starts in [vec![vec![2.0, 0.4]], vec![vec![2.0, 0.4], vec![4.0, 0.6]]] {
            let rep = fit_full(&s, &data, &y, None, Some(starts), 1, None).unwrap();
            let (eff, fmax) = sensitivity(&s, &data, None, &rep.multi.best.params);
            for (a, b) in rep.sensitivity.iter().zip(&eff) {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs(),
                    "{:?} {eff:?}",
                    rep.sensitivity
                );
            }
            assert!((rep.model_max - fmax).abs() <= 1e-12 * fmax);
        }
    }
    // a point of zero weight does not count; a model that is 0 somewhere: not defined
    let s0 = setup("A*(x - 10)", &["x"], Loss::L2, Target::Linear, &[]);
    let data = Data::new(&s0.formula, vec![x.clone()]).unwrap();
    assert!(sensitivity(&s0, &data, None, &[1.0]).0.is_empty());
    let mut w = vec![1.0; 20];
    w[0] = 0.0;
    assert_eq!(sensitivity(&s0, &data, Some(&w), &[1.0]).0.len(), 1);
}

/// NIST MGH10 (`b1 exp(b2 / (x + b3))`) from its far start 1: LM alone walks b1 towards 0 along
/// a valley to the iteration limit; the continuation by variable projection (b1 solved, LM on
/// b2 and b3) reaches the certified optimum, as MINPACK does.
#[test]
fn iteration_limit_is_continued_by_variable_projection() {
    let mut s = setup(
        "b1 * exp(b2 / (x + b3))",
        &["x"],
        Loss::L2,
        Target::Linear,
        &[],
    );
    s.opts.max_iter = 5000;
    let xs: Vec<f64> = (0..16).map(|i| 50.0 + 5.0 * i as f64).collect();
    let y = [
        34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0, 8261.0, 7030.0,
        6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0,
    ];
    let data = Data::new(&s.formula, vec![xs]).unwrap();
    let start = [2.0, 400000.0, 25000.0];
    let mut ws = Workspace::default();
    let alone = lm::lm_run(&s, &data, &y, None, &start, &mut ws, None);
    assert_eq!(alone.status, Termination::MaxIter);
    let r = lm(&s, &data, &y, None, &start, &mut ws);
    let cert = [5.6096364710e-03, 6.1813463463e+03, 3.4522363462e+02];
    assert!(r.status.converged(), "{r:?}");
    assert!(
        (2.0 * r.objective / 8.7945855171e+01 - 1.0).abs() < 1e-9,
        "{r:?}"
    );
    for k in 0..3 {
        assert!((r.params[k] / cert[k] - 1.0).abs() < 1e-7, "{r:?}");
    }
    assert!(r.n_iter > alone.n_iter);
    // the workspace holds the residuals at the returned point (the covariance uses them)
    let rss: f64 = ws.r.iter().map(|v| v * v).sum();
    assert!((rss / 8.7945855171e+01 - 1.0).abs() < 1e-9);
    // a deliberately short run is not continued
    s.opts.max_iter = 10;
    let short = lm(&s, &data, &y, None, &start, &mut ws);
    assert_eq!(short.status, Termination::MaxIter);
    assert_eq!(short.n_iter, 10);
}

/// The reduced problem with point weights reaches the weighted optimum that the full LM finds
/// from the truth; a positive linear parameter whose least-squares value is negative makes the
/// point infeasible.
#[test]
fn variable_projection_respects_weights_and_positivity() {
    let s = setup("E + A*x^-alpha", &["x"], Loss::L2, Target::Linear, &[]);
    let xs: Vec<f64> = (0..25).map(|i| 1.0 + 0.5 * i as f64).collect();
    let y: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| 1.5 + 4.0 * x.powf(-0.7) + 0.01 * ((i * 7 % 5) as f64 - 2.0))
        .collect();
    let w: Vec<f64> = (0..25).map(|i| 0.5 + (i % 3) as f64).collect();
    let data = Data::new(&s.formula, vec![xs]).unwrap();
    let mut ws = Workspace::default();
    let full = lm(&s, &data, &y, Some(&w), &[1.5, 4.0, 0.7], &mut ws);
    assert!(full.status.converged());
    let red = varpro::reduced_lm(&s, &data, &y, Some(&w), &[0.0, 1.0, 3.0], None).unwrap();
    assert!((red.objective / full.objective - 1.0).abs() < 1e-10);
    for k in 0..3 {
        assert!(
            (red.params[k] / full.params[k] - 1.0).abs() < 1e-6,
            "{:?}",
            red.params
        );
    }
    // decreasing data: A must be negative for E + A*x^alpha with alpha > 0 fixed near 1
    let s = setup("E + A*x^alpha", &["x"], Loss::L2, Target::Linear, &["A"]);
    let yd: Vec<f64> = (0..25).map(|i| 10.0 - 0.3 * i as f64).collect();
    assert!(varpro::reduced_lm(&s, &data, &yd, None, &[0.0, 1.0, 1.0], None).is_none());
}
