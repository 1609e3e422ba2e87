//! Timing of the Chinchilla fit on the Epoch data: `cargo run --release --example chinchilla_timing`.
use scalingfit::expr::{Data, EvalWs, Formula};
use scalingfit::fit::{lm, multistart, Loss, Problem, Target, Workspace};
use std::time::Instant;

/// The Chinchilla optimum (E, A, alpha, B, beta), for the pieces that time work at it.
const BEST: [f64; 5] = [
    1.8172180994067317,
    477.82587086158753,
    0.34731049921052665,
    2143.4173614389056,
    0.36717243258096766,
];

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("../shared/data/chinchilla/svg_extracted_data.csv".into());
    let text = std::fs::read_to_string(path).expect("data file");
    let mut rows: Vec<(f64, f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
                f[6].parse().unwrap(),
            )
        })
        .collect();
    let mut losses: Vec<f64> = rows.iter().map(|r| r.2).collect();
    losses.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let cut = losses[losses.len() - 5];
    rows.retain(|r| r.2 < cut);
    let n: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let d: Vec<f64> = rows.iter().map(|r| r.1 / (6.0 * r.0)).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let f = Formula::new("E + A * N^-alpha + B * D^-beta", &["N".into(), "D".into()]).unwrap();
    let s = Problem::new(
        f,
        Loss::Huber(1e-3),
        Target::Log,
        vec![true, true, false, true, false],
    )
    .unwrap();
    let data = Data::new(&s.formula, vec![n, d]).unwrap();
    let yt = s.prepare_y(&y, data.n).unwrap();
    let theta = [1.8, 400.0, 0.3, 2000.0, 0.3];
    let mut ev = EvalWs::default();
    let mut v = vec![0.0; data.n];
    let mut j = vec![0.0; data.n * 5];
    let reps = if std::env::var_os("SF_QUICK").is_some() {
        10
    } else {
        20000
    };
    let t = Instant::now();
    for _ in 0..reps {
        s.formula.eval(&theta, &data, &mut ev, &mut v, Some(&mut j));
    }
    println!(
        "eval+jac: {:.2} us",
        t.elapsed().as_secs_f64() / reps as f64 * 1e6
    );
    let t = Instant::now();
    for _ in 0..reps {
        s.formula.eval(&theta, &data, &mut ev, &mut v, None);
    }
    println!(
        "eval only: {:.2} us",
        t.elapsed().as_secs_f64() / reps as f64 * 1e6
    );
    let mut ws = Workspace::default();
    for st in [
        [1.8, 400.0, 0.3, 2000.0, 0.3],
        [0.5f64.exp(), 5f64.exp(), 0.5, 10f64.exp(), 0.5],
    ] {
        let t = Instant::now();
        let mut r = None;
        let reps1: usize = std::env::var("SF_REPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        for _ in 0..reps1 {
            r = Some(lm(&s, &data, &yt, None, &st, &mut ws));
        }
        let r = r.unwrap();
        println!(
            "one start: {:.1} us, {} iters, {} evals, obj {:.15e}",
            t.elapsed().as_secs_f64() / reps1 as f64 * 1e6,
            r.n_iter,
            r.n_eval,
            r.objective
        );
    }
    {
        // what one Python call does: set-up, data, one start, covariance
        let reps1: usize = std::env::var("SF_REPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let cols = data.cols.clone();
        let st = vec![0.5f64.exp(), 5f64.exp(), 0.5, 10f64.exp(), 0.5];
        let t = Instant::now();
        for _ in 0..reps1 {
            let s2 = Problem::new(
                s.formula.clone(),
                Loss::Huber(1e-3),
                Target::Log,
                vec![true, true, false, true, false],
            )
            .unwrap();
            let d2 = Data::new(&s2.formula, cols.clone()).unwrap();
            let r = scalingfit::fit::fit_full(&s2, &d2, &y, None, Some(vec![st.clone()]), 1, None)
                .unwrap();
            std::hint::black_box(r);
        }
        println!(
            "full call: {:.1} us",
            t.elapsed().as_secs_f64() / reps1 as f64 * 1e6
        );
    }
    if std::env::var_os("SF_PIECES").is_some() {
        // the parts of a one-start call outside LM, one at a time
        let reps = 20000;
        let cols = data.cols.clone();
        let positive = vec![true, true, false, true, false];
        let st = vec![vec![0.5f64.exp(), 5f64.exp(), 0.5, 10f64.exp(), 0.5]];
        type Piece<'a> = (&'a str, Box<dyn Fn() + 'a>);
        let pieces: Vec<Piece> = vec![
            (
                "setup",
                Box::new(|| {
                    drop(std::hint::black_box(
                        Problem::new(
                            s.formula.clone(),
                            Loss::Huber(1e-3),
                            Target::Log,
                            positive.clone(),
                        )
                        .unwrap(),
                    ))
                }),
            ),
            (
                "data",
                Box::new(|| {
                    drop(std::hint::black_box(
                        Data::new(&s.formula, cols.clone()).unwrap(),
                    ))
                }),
            ),
            (
                "prepare_y",
                Box::new(|| drop(std::hint::black_box(s.prepare_y(&y, data.n).unwrap()))),
            ),
            (
                "cov",
                Box::new(|| {
                    drop(std::hint::black_box(
                        scalingfit::fit::covariance_and_residuals(&s, &data, &yt, None, &BEST),
                    ))
                }),
            ),
            (
                "multistart(1)",
                Box::new(|| {
                    drop(std::hint::black_box(
                        multistart(&s, &data, &yt, None, &st).unwrap(),
                    ))
                }),
            ),
        ];
        for (name, f) in &pieces {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            println!(
                "{name}: {:.2} us",
                t.elapsed().as_secs_f64() / reps as f64 * 1e6
            );
        }
        return;
    }
    if std::env::var_os("SF_QUICK").is_some() {
        return;
    }
    if std::env::var_os("SF_COUNT").is_some() {
        let starts =
            scalingfit::forms::default_grid("chinchilla", s.formula.param_names(), 2.5).unwrap();
        let its: Vec<(usize, usize, f64)> = starts
            .iter()
            .map(|st| {
                let r = lm(&s, &data, &yt, None, st, &mut ws);
                (r.n_iter, r.n_eval, r.objective)
            })
            .collect();
        let best = its.iter().map(|x| x.2).fold(f64::INFINITY, f64::min);
        let near = its.iter().filter(|x| x.2 <= best * (1.0 + 1e-9)).count();
        println!(
            "iters {} evals {} best {:.15e} reaching {}",
            its.iter().map(|x| x.0).sum::<usize>(),
            its.iter().map(|x| x.1).sum::<usize>(),
            best,
            near
        );
        return;
    }
    if std::env::var_os("SF_GRID1").is_some() {
        let starts =
            scalingfit::forms::default_grid("chinchilla", s.formula.param_names(), 2.5).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let m = pool.install(|| multistart(&s, &data, &yt, None, &starts).unwrap());
        println!("best {:.15e} {:?}", m.best.objective, m.best.params);
        return;
    }
    if std::env::var_os("SF_BOOT").is_some() {
        let plan = scalingfit::bootstrap::Plan::new(
            s.clone(),
            data.clone(),
            yt.clone(),
            None,
            scalingfit::bootstrap::Scheme::Pairs,
            0,
            BEST.to_vec(),
            vec![],
            true,
        )
        .unwrap();
        let c = plan.run(3, 1).unwrap();
        println!("{:?} {:?}", c.n_iter, c.status);
        return;
    }
    let starts =
        scalingfit::forms::default_grid("chinchilla", s.formula.param_names(), 2.5).unwrap();
    {
        let t = Instant::now();
        let mut its: Vec<(usize, usize, u8, f64)> = starts
            .iter()
            .map(|st| {
                let r = lm(&s, &data, &yt, None, st, &mut ws);
                (r.n_iter, r.n_eval, r.status.code(), r.objective)
            })
            .collect();
        println!("sequential grid: {:.3} s", t.elapsed().as_secs_f64());
        let tot_it: usize = its.iter().map(|x| x.0).sum();
        let tot_ev: usize = its.iter().map(|x| x.1).sum();
        println!("total iters {tot_it}, evals {tot_ev}");
        let mut st = [0usize; 6];
        for x in &its {
            st[x.2 as usize] += 1;
        }
        println!("statuses {st:?}");
        its.sort_by_key(|x| x.0);
        let q = |f: f64| its[((its.len() - 1) as f64 * f) as usize].0;
        println!(
            "iters quantiles 10/50/90/99/max: {} {} {} {} {}",
            q(0.1),
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
        let best = its.iter().map(|x| x.3).fold(f64::INFINITY, f64::min);
        let near = its.iter().filter(|x| x.3 <= best * (1.0 + 1e-9)).count();
        println!("starts reaching the best objective: {near}");
    }
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let t = Instant::now();
        let m = pool.install(|| multistart(&s, &data, &yt, None, &starts).unwrap());
        let iters: usize = 0;
        let _ = iters;
        println!(
            "grid 4500 starts, {threads} threads: {:.3} s, best {:.15e}",
            t.elapsed().as_secs_f64(),
            m.best.objective
        );
    }
}
