use super::*;
use crate::rng::normal;
use crate::rng::tagged_stream;

/// uniform points on the unit sphere S^d in R^(d+1)
fn sphere(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = tagged_stream(seed, 0, 0);
    let mut x = Vec::with_capacity(n * (d + 1));
    for _ in 0..n {
        let v: Vec<f64> = (0..=d).map(|_| normal(&mut rng)).collect();
        let r = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        x.extend(v.iter().map(|a| a / r));
    }
    x
}

#[test]
fn digamma_values() {
    assert!((digamma(1.0) + 0.5772156649015329).abs() < 1e-13);
    assert!((digamma(10.0) - 2.251752589066721).abs() < 1e-13);
    assert!((digamma(0.5) + 1.9635100260214235).abs() < 1e-12);
}

#[test]
fn unique_rows_drops_later_copies() {
    let x = [1.0, 2.0, 0.0, 0.0, 1.0, 2.0, -0.0, 0.0, 3.0, 1.0];
    assert_eq!(unique_rows(&x, 5, 2), vec![0, 1, 4]);
}

#[test]
fn sphere_estimates() {
    let (n, d) = (4000, 3);
    let x = sphere(n, d, 1);
    let t = twonn(&x, n, d + 1, 0.1, TwoNNMethod::Linear).unwrap();
    assert!((t.d - 3.0).abs() < 0.3, "twonn {}", t.d);
    let t = twonn(&x, n, d + 1, 0.0, TwoNNMethod::Ml).unwrap();
    assert!((t.d - 3.0).abs() < 0.3, "twonn ml {}", t.d);
    let m = mle(&x, n, d + 1, 20, false).unwrap();
    assert!((m.d - 3.0).abs() < 0.3, "mle {}", m.d);
    let opts = TileOptions {
        n_draws: 4,
        n_boot: 50,
        ..Default::default()
    };
    let tl = tile(&x, n, d + 1, &opts).unwrap();
    assert!((tl.d - 3.0).abs() < 0.3, "tile {}", tl.d);
    assert_eq!(tl.boot_d.len(), 50);
    // reproducible and thread-count invariant
    let tl2 = crate::parallel::with_threads(1, || tile(&x, n, d + 1, &opts).unwrap()).unwrap();
    assert_eq!(tl.per_draw, tl2.per_draw);
    assert_eq!(tl.boot_d, tl2.boot_d);
}

#[test]
fn duplicates_removed() {
    let (n, d) = (500, 2);
    let mut x = sphere(n, d, 2);
    let extra: Vec<f64> = x[..30].to_vec();
    x.extend(extra);
    let t = twonn(&x, n + 10, d + 1, 0.1, TwoNNMethod::Linear).unwrap();
    assert_eq!(t.n_duplicates, 10);
    assert_eq!(t.n_points, n);
}

#[test]
fn errors() {
    let x = sphere(10, 2, 3);
    assert!(mle(&x, 10, 3, 10, false).is_err());
    assert!(mle(&x, 10, 3, 1, false).is_err());
    assert!(mle(&x, 10, 3, 2, true).is_err());
    assert!(twonn(&x, 10, 3, 1.0, TwoNNMethod::Linear).is_err());
    assert!(twonn(&x, 10, 3, 0.0, TwoNNMethod::Linear).is_err());
    assert!(tile(&x, 10, 3, &TileOptions::default()).is_err());
    let lattice: Vec<f64> = (0..100)
        .flat_map(|i| [(i % 10) as f64, (i / 10) as f64])
        .collect();
    assert!(mle(&lattice, 100, 2, 4, false).is_ok() || mle(&lattice, 100, 2, 4, false).is_err());
}

#[test]
fn estimators_are_invariant_to_extreme_scales() {
    let (n, d) = (600usize, 2usize);
    let x = sphere(n, d, 3);
    let ctl = crate::dimension::KnnControl::default();
    let t0 = twonn_with(&x, n, d + 1, 0.1, TwoNNMethod::Linear, ctl).unwrap();
    let m0 = mle_with(&x, n, d + 1, 10, false, ctl).unwrap();
    let opts = TileOptions {
        sizes: vec![],
        n_sizes: 4,
        n_draws: 3,
        k: 1,
        seed: 1,
        n_boot: 20,
        abscissa: Abscissa::LogDm1,
    };
    let l0 = tile_with(&x, n, d + 1, &opts, ctl).unwrap();
    for e in [700, -700] {
        let xs: Vec<f64> = x.iter().map(|&v| libm::scalbn(v, e)).collect();
        let t = twonn_with(&xs, n, d + 1, 0.1, TwoNNMethod::Linear, ctl).unwrap();
        assert_eq!(t.d, t0.d);
        let m = mle_with(&xs, n, d + 1, 10, false, ctl).unwrap();
        assert_eq!(m.d, m0.d);
        let l = tile_with(&xs, n, d + 1, &opts, ctl).unwrap();
        assert!((l.d - l0.d).abs() <= 1e-9 * l0.d, "{} vs {}", l.d, l0.d);
        let shift = e as f64 * std::f64::consts::LN_2;
        assert!((l.intercept - l0.intercept - shift).abs() < 1e-9 * shift.abs());
    }
}
