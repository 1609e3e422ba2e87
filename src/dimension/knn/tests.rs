use super::brute::{knn_blocked, knn_brute, spatial_order};
use super::*;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn brute(x: &[f64], n: usize, dim: usize, k: usize) -> (Vec<f64>, Vec<usize>) {
    let mut ds = Vec::new();
    let mut is = Vec::new();
    for i in 0..n {
        let mut c: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                (
                    exact_dist(&x[i * dim..(i + 1) * dim], &x[j * dim..(j + 1) * dim]),
                    j,
                )
            })
            .collect();
        c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(d, j) in &c[..k] {
            ds.push(d);
            is.push(j);
        }
    }
    (ds, is)
}

fn random(n: usize, dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| rng.random::<f64>() * 2.0 - 1.0 + 100.0)
        .collect()
}

#[test]
fn matches_brute_force() {
    for &(n, dim, k) in &[
        (1000usize, 3usize, 5usize),
        (900, 40, 1),
        (50, 7, 49),
        (2, 1, 1),
        (800, 17, 12),
    ] {
        let x = random(n, dim, n as u64 + dim as u64);
        let r = knn_brute(&x, n, dim, k, None).unwrap();
        let (d, i) = brute(&x, n, dim, k);
        assert_eq!(r.indices, i, "n={n} dim={dim} k={k}");
        for (a, b) in r.distances.iter().zip(&d) {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn ties_and_duplicates() {
    // integer lattice: many exact ties, resolved by index
    let mut x = Vec::new();
    for a in 0..20 {
        for b in 0..20 {
            x.push(a as f64);
            x.push(b as f64);
        }
    }
    x.extend_from_slice(&[3.0, 4.0]); // a duplicate of point 3*20+4
    let n = x.len() / 2;
    let r = knn_brute(&x, n, 2, 6, None).unwrap();
    let (d, i) = brute(&x, n, 2, 6);
    assert_eq!(r.indices, i);
    assert_eq!(r.distances, d);
    assert_eq!(r.distances[64 * 6], 0.0);
}

#[test]
fn thread_count_invariant() {
    let (n, dim, k) = (2000, 9, 4);
    let x = random(n, dim, 7);
    for algorithm in [Algorithm::Brute, Algorithm::KdTree, Algorithm::Projected] {
        let ctl = KnnControl {
            algorithm,
            abort: None,
        };
        let a = crate::parallel::with_threads(1, || knn_with(&x, n, dim, k, ctl).unwrap()).unwrap();
        let b = crate::parallel::with_threads(3, || knn_with(&x, n, dim, k, ctl).unwrap()).unwrap();
        assert_eq!(a.indices, b.indices);
        assert_eq!(a.distances, b.distances);
    }
}

#[test]
fn small_blocks_match_brute_force() {
    // many tiles with ragged edges (block not a multiple of the scan width) and lattice ties
    for &(n, dim, k, block) in &[
        (700usize, 5usize, 7usize, 37usize),
        (300, 2, 3, 13),
        (257, 9, 20, 64),
    ] {
        let mut x = random(n, dim, 11 + n as u64);
        if dim == 2 {
            x.iter_mut().for_each(|v| *v = (*v * 4.0).round());
        }
        let r = knn_blocked(&x, n, dim, k, block, None).unwrap();
        let (d, i) = brute(&x, n, dim, k);
        assert_eq!(r.indices, i, "n={n} dim={dim} k={k} block={block}");
        assert_eq!(r.distances, d);
    }
}

#[test]
fn exact_distance_and_order() {
    let a: Vec<f64> = (0..19).map(|t| t as f64 * 0.37 - 2.0).collect();
    let b: Vec<f64> = (0..19).map(|t| (t * t) as f64 * 0.01).collect();
    let naive: f64 = a
        .iter()
        .zip(&b)
        .map(|(u, v)| (u - v) * (u - v))
        .sum::<f64>()
        .sqrt();
    assert!((exact_dist(&a, &b) - naive).abs() <= 1e-14 * naive);
    assert_eq!(exact_dist(&a, &a), 0.0);
    let x = random(5000, 3, 4);
    let mut o = spatial_order(&x, 5000, 3, 64);
    o.sort_unstable();
    assert_eq!(o, (0..5000).collect::<Vec<_>>());
    // nearby positions hold nearby points: a leaf of 64 spans far less than the unit cube
    let o = spatial_order(&x, 5000, 3, 64);
    let spread = |c: &[usize]| {
        (0..3)
            .map(|t| {
                let v = c.iter().map(|&i| x[i * 3 + t]);
                v.clone().fold(f64::MIN, f64::max) - v.fold(f64::MAX, f64::min)
            })
            .fold(0.0, f64::max)
    };
    assert!(spread(&o[..39]) < 1.0 && spread(&o) > 1.9);
}

#[test]
fn algorithm_choice_and_abort() {
    assert_eq!(Algorithm::parse("auto").unwrap(), Algorithm::Auto);
    assert_eq!(Algorithm::parse("kdtree").unwrap(), Algorithm::KdTree);
    assert_eq!(Algorithm::parse("projected").unwrap(), Algorithm::Projected);
    assert!(Algorithm::parse("ball")
        .unwrap_err()
        .to_string()
        .contains("'auto', 'brute', 'kdtree' or 'projected'"));
    assert_eq!(Algorithm::Auto.resolve(1000, 3), Algorithm::KdTree);
    assert_eq!(Algorithm::Auto.resolve(1000, 64), Algorithm::Brute);
    assert_eq!(Algorithm::Auto.resolve(5000, 64), Algorithm::Brute);
    assert_eq!(Algorithm::Auto.resolve(5000, 96), Algorithm::Projected);
    assert_eq!(Algorithm::Brute.resolve(1000, 2), Algorithm::Brute);
    let x = random(3000, 4, 1);
    let stop = AtomicBool::new(true);
    for algorithm in [Algorithm::Brute, Algorithm::KdTree] {
        let r = knn_with(
            &x,
            3000,
            4,
            3,
            KnnControl {
                algorithm,
                abort: Some(&stop),
            },
        );
        assert!(matches!(r, Err(Error::Interrupted)));
    }
}

#[test]
fn errors() {
    assert!(knn(&[0.0, 1.0], 2, 1, 2).is_err());
    assert!(knn(&[0.0, 1.0], 2, 1, 0).is_err());
    assert!(knn(&[0.0, f64::NAN], 2, 1, 1).is_err());
    assert!(knn(&[], 0, 0, 1).is_err());
}

#[test]
fn projected_falls_back_to_brute_force() {
    // full-rank points: the projection declines, and the dispatcher runs brute force instead
    let (n, dim) = (2500, 40);
    let x = random(n, dim, 11);
    let ctl = KnnControl {
        algorithm: Algorithm::Projected,
        abort: None,
    };
    let a = knn_unchecked(&x, n, dim, 3, ctl).unwrap();
    let b = knn_brute(&x, n, dim, 3, None).unwrap();
    assert_eq!(a.distances, b.distances);
    assert_eq!(a.indices, b.indices);
}

#[test]
fn extreme_scales_give_exact_finite_distances() {
    let (n, dim, k) = (400usize, 3usize, 4usize);
    let x = random(n, dim, 7);
    for algorithm in [Algorithm::Brute, Algorithm::KdTree] {
        let ctl = KnnControl {
            algorithm,
            abort: None,
        };
        let base = knn_with(&x, n, dim, k, ctl).unwrap();
        // 2^600 and 2^-700: far outside the range where squared distances fit in float64
        for e in [600, -700, 1000] {
            let xs: Vec<f64> = x.iter().map(|&v| libm::scalbn(v, e)).collect();
            let r = knn_with(&xs, n, dim, k, ctl).unwrap();
            assert_eq!(r.indices, base.indices, "scale 2^{e}");
            for (a, b) in r.distances.iter().zip(&base.distances) {
                assert_eq!(*a, libm::scalbn(*b, e), "scale 2^{e}");
            }
        }
        // distances past the largest float64 are refused, not inf
        let xs = [-1e308, 0.0, 1e308, 0.0, 0.0, 1e308];
        let e = match knn_with(&xs, 3, 2, 2, ctl) {
            Ok(_) => panic!("distances past 1.8e308 were not refused"),
            Err(e) => e.to_string(),
        };
        assert!(e.starts_with("X: the distance from row"), "{e}");
    }
}

#[test]
fn distinct_rows_closer_than_float64_resolves_are_refused() {
    // rows 0 and 1 differ by 1e-200 next to values of 1: their squared distance underflows
    let x = [1.0, 0.0, 1.0, 1e-200, 3.0, 0.0, 5.0, 1.0];
    let e = knn(&x, 4, 2, 1).unwrap_err().to_string();
    assert!(e.contains("rows 0 and 1 differ"), "{e}");
    // exact duplicates are fine (distance 0)
    let x = [1.0, 0.0, 1.0, 0.0, 3.0, 0.0, 5.0, 1.0];
    let r = knn(&x, 4, 2, 1).unwrap();
    assert_eq!(r.distances[0], 0.0);
}

#[test]
fn neighbour_lists_larger_than_memory_are_refused() {
    // n * k entries of ~40 bytes: far more than any machine here; refused before any work
    let n = 1usize << 20;
    let x = vec![0.0; 1];
    let e = knn_unchecked(&x, n, 1, n - 1, KnnControl::default()).unwrap_err();
    assert!(matches!(e, crate::Error::Memory(_)), "{e}");
    assert!(e.to_string().starts_with("k: "), "{e}");
}
