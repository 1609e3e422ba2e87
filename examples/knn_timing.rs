//! Timing of exact kNN and the TwoNN/MLE estimators on the benchmark data (a 10-dim Gaussian
//! linearly embedded in `dim` dimensions plus 1e-3 isotropic noise):
//! `cargo run --release --example knn_timing -- N DIM [THREADS] [REPEATS] [WHAT] [ALGO]`
//! with WHAT a comma list of knn,twonn,mle (default all) and ALGO auto|brute|kdtree. Prints the
//! minimum time of each.
use scalingfit::dimension::{knn_with, mle_with, twonn_with, Algorithm, KnnControl, TwoNNMethod};
use std::time::Instant;

fn data(n: usize, dim: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut unif = move || {
        s = scalingfit::rng::mix64(s.wrapping_add(0x9e37_79b9_7f4a_7c15));
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut gauss = move || (-2.0 * unif().ln()).sqrt() * (std::f64::consts::TAU * unif()).cos();
    // orthonormal basis of a random 10-dim subspace (Gram-Schmidt)
    let m = 10.min(dim);
    let mut q: Vec<Vec<f64>> = Vec::new();
    while q.len() < m {
        let mut v: Vec<f64> = (0..dim).map(|_| gauss()).collect();
        for u in &q {
            let p: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= p * b);
        }
        let r = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.iter_mut().for_each(|a| *a /= r);
        q.push(v);
    }
    let mut x = vec![0.0; n * dim];
    for i in 0..n {
        let z: Vec<f64> = (0..m).map(|_| gauss()).collect();
        for t in 0..dim {
            x[i * dim + t] = (0..m).map(|c| z[c] * q[c][t]).sum::<f64>() + 1e-3 * gauss();
        }
    }
    x
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a
        .get(1)
        .map_or(10_000, |s| s.parse::<f64>().unwrap() as usize);
    let dim: usize = a.get(2).map_or(16, |s| s.parse().unwrap());
    let threads: usize = a.get(3).map_or(0, |s| s.parse().unwrap());
    let reps: usize = a.get(4).map_or(3, |s| s.parse().unwrap());
    let what = a.get(5).cloned().unwrap_or("knn,twonn,mle".into());
    let algorithm = Algorithm::parse(a.get(6).map_or("auto", |s| s.as_str())).unwrap();
    let ctl = KnnControl {
        algorithm,
        abort: None,
    };
    let x = data(n, dim, 0);
    let time = |name: &str, f: &dyn Fn()| {
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("n={n} dim={dim} threads={threads} {algorithm:?} {name}: {best:.4} s");
    };
    let run = |f: &(dyn Fn() + Sync)| scalingfit::parallel::with_threads(threads, f).unwrap();
    for w in what.split(',') {
        match w {
            "knn" => time("knn k=20", &|| {
                run(&|| drop(knn_with(&x, n, dim, 20, ctl).unwrap()))
            }),
            "twonn" => time("twonn", &|| {
                run(&|| drop(twonn_with(&x, n, dim, 0.1, TwoNNMethod::Linear, ctl).unwrap()))
            }),
            "mle" => time("mle k=20", &|| {
                run(&|| drop(mle_with(&x, n, dim, 20, false, ctl).unwrap()))
            }),
            o => panic!("unknown {o}"),
        }
    }
}
