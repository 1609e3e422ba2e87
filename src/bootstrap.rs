//! Bootstrap: resampled refits in parallel, reproducible from a seed.
//!
//! Resample `i` (a global index, so a job can be split into index ranges across calls,
//! processes or machines) draws from its own xoshiro256++ stream seeded by a hash of
//! (seed, i) ([`crate::rng`]), so results do not depend on the thread count or on how the
//! index range is split. Random integers use Lemire's unbiased method and normals the
//! Box-Muller transform with a portable libm, written in [`crate::rng`] so the draws never
//! change with a dependency's version or the platform.
//!
//! Pairs and groups resampling are done by multiplicity weights (the distinct points drawn, each
//! weighted by how often it was drawn), never by copying data.

use crate::error::{Error, Result};
use crate::expr::{Data, EvalWs};
use crate::fit::{lm_with, LmResult, Problem, Target, Termination, Workspace};
use crate::rng::{below, normal, resample_stream as stream};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// points with replacement
    Pairs,
    /// whole groups with replacement; `ids[i]` in 0..n_groups is point i's group
    Groups { ids: Vec<usize>, n_groups: usize },
    /// fitted values plus residuals drawn with replacement (on the target scale)
    Residual,
    /// fitted values plus normal noise with the residual scale (on the target scale)
    Parametric,
}

/// What every resample needs: the problem, the full-data fit and the scheme. Built once
/// (validation, and fitted values and residual scale for the residual/parametric schemes),
/// then any number of index ranges run from it.
pub struct Plan {
    pub setup: Problem,
    pub data: Data,
    /// prepared target (ln y for a log target)
    pub y: Vec<f64>,
    /// optional user point weights
    pub weights: Option<Vec<f64>>,
    pub scheme: Scheme,
    pub seed: u64,
    /// the full-data optimum (natural coordinates): warm start, and fitted values for the
    /// residual / parametric schemes
    pub theta_hat: Vec<f64>,
    /// extra starts (e.g. the full start grid); the best objective wins
    pub extra_starts: Vec<Vec<f64>>,
    /// start from theta_hat (in addition to extra_starts)
    pub warm: bool,
    /// fitted values on the target scale and residuals (for residual/parametric)
    fitted: Vec<f64>,
    resid: Vec<f64>,
    sigma: f64,
    /// the weights were divided by `2^weight_exp` ([`Problem::normalised_weights`])
    weight_exp: i32,
}

/// Results of a range of resamples.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// row-major (count, p); NaN rows for failed resamples
    pub samples: Vec<f64>,
    pub status: Vec<u8>,
    pub objective: Vec<f64>,
    pub n_iter: Vec<u32>,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        setup: Problem,
        data: Data,
        y: Vec<f64>,
        weights: Option<Vec<f64>>,
        scheme: Scheme,
        seed: u64,
        theta_hat: Vec<f64>,
        extra_starts: Vec<Vec<f64>>,
        warm: bool,
    ) -> Result<Plan> {
        let n = data.n;
        let p = setup.n_params();
        let (weights, weight_exp) = match weights {
            Some(w) => {
                let (v, e) = Problem::normalised_weights(&w);
                (Some(v.into_owned()), e)
            }
            None => (None, 0),
        };
        if theta_hat.len() != p || theta_hat.iter().any(|v| !v.is_finite()) {
            return Err(Error::arg(
                "fit",
                "the full-data fit has no finite optimum to bootstrap from",
            ));
        }
        if !warm && extra_starts.is_empty() {
            return Err(Error::arg(
                "warm_start",
                "with warm_start=False give starts (e.g. the full start grid)",
            ));
        }
        if let Scheme::Groups { ids, n_groups } = &scheme {
            if ids.len() != n {
                return Err(Error::arg(
                    "groups",
                    format!("has length {} but the data has {n} rows", ids.len()),
                ));
            }
            if *n_groups < 2 {
                return Err(Error::arg(
                    "groups",
                    "needs at least 2 distinct groups to resample",
                ));
            }
            if ids.iter().any(|&g| g >= *n_groups) {
                return Err(Error::arg("groups", "group ids must be in 0..n_groups"));
            }
        }
        let mut fitted = Vec::new();
        let mut resid = Vec::new();
        let mut sigma = 0.0;
        if matches!(scheme, Scheme::Residual | Scheme::Parametric) {
            let mut ev = EvalWs::default();
            let mut f = vec![0.0; n];
            setup.formula.eval(&theta_hat, &data, &mut ev, &mut f, None);
            if setup.target == Target::Log {
                if !crate::fit::residuals::all_positive(&f) {
                    return Err(Error::arg(
                        "scheme",
                        "the fitted model is not positive everywhere; use target='linear'",
                    ));
                }
                f.iter_mut().for_each(|v| *v = v.ln());
            }
            resid = y.iter().zip(&f).map(|(a, b)| a - b).collect();
            // residual scale: RMS with n-p dof for l2. Huber with the default small delta fits
            // like least absolute deviations, whose residuals understate the noise (p of them
            // are ~0 and the rest are pulled in): the residuals are centred on their median and
            // inflated by sqrt(n/(n-p)) before resampling, and the parametric scale is 1.4826
            // MAD (about the median) times the same factor
            sigma = match setup.loss {
                crate::fit::Loss::L2 => {
                    let dof = (n as f64 - p as f64).max(1.0);
                    (resid.iter().map(|r| r * r).sum::<f64>() / dof).sqrt()
                }
                crate::fit::Loss::Huber(_) => {
                    let med = median(&resid);
                    let inflate = (n as f64 / (n as f64 - p as f64).max(1.0)).sqrt();
                    resid.iter_mut().for_each(|r| *r = (*r - med) * inflate);
                    let a: Vec<f64> = resid.iter().map(|r| r.abs()).collect();
                    1.4826 * median(&a)
                }
            };
            fitted = f;
        }
        Ok(Plan {
            setup,
            data,
            y,
            weights,
            weight_exp,
            scheme,
            seed,
            theta_hat,
            extra_starts,
            warm,
            fitted,
            resid,
            sigma,
        })
    }

    /// Residual scale used by the parametric scheme.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Run resamples `start .. start + count` in parallel (on the current rayon pool). The
    /// outcome of resample i depends only on (seed, i), never on the split or thread count.
    pub fn run(&self, start: u64, count: usize) -> Result<Chunk> {
        self.run_with(start, count, None)
    }

    /// [`run`](Self::run) that stops with [`Error::Interrupted`] soon after `abort` is set
    /// (every refit reads it before each trial step).
    pub fn run_with(&self, start: u64, count: usize, abort: Option<&AtomicBool>) -> Result<Chunk> {
        let p = self.setup.n_params();
        self.setup.check_workspace(self.data.n)?;
        let results: Vec<LmResult> = (0..count)
            .into_par_iter()
            .map_init(Local::default, |loc, k| {
                if abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
                    return LmResult::failed(p);
                }
                self.one(start + k as u64, loc, abort)
            })
            .collect();
        if abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
            return Err(Error::Interrupted);
        }
        let mut out = Chunk {
            samples: Vec::with_capacity(count * p),
            status: Vec::with_capacity(count),
            objective: Vec::with_capacity(count),
            n_iter: Vec::with_capacity(count),
        };
        for r in results {
            if r.status == Termination::Failed || r.params.iter().any(|v| !v.is_finite()) {
                out.samples.extend(std::iter::repeat_n(f64::NAN, p));
                out.status.push(Termination::Failed.code());
            } else {
                out.samples.extend_from_slice(&r.params);
                out.status.push(r.status.code());
            }
            out.objective
                .push(libm::scalbn(r.objective, self.weight_exp));
            out.n_iter.push(r.n_iter as u32);
        }
        Ok(out)
    }

    /// Multiplicity of each point in resample `i` (pairs and groups schemes).
    pub fn counts(&self, i: u64) -> Vec<u32> {
        let mut rng = stream(self.seed, i);
        let (mut c, mut g) = (Vec::new(), Vec::new());
        self.draw_counts(&mut rng, &mut c, &mut g);
        c
    }

    fn draw_counts(
        &self,
        rng: &mut crate::rng::Stream,
        counts: &mut Vec<u32>,
        gcounts: &mut Vec<u32>,
    ) {
        let n = self.data.n;
        counts.clear();
        counts.resize(n, 0);
        match &self.scheme {
            Scheme::Groups { ids, n_groups } => {
                gcounts.clear();
                gcounts.resize(*n_groups, 0);
                for _ in 0..*n_groups {
                    gcounts[below(rng, *n_groups as u64) as usize] += 1;
                }
                for (cnt, &g) in counts.iter_mut().zip(ids) {
                    *cnt = gcounts[g];
                }
            }
            _ => {
                for _ in 0..n {
                    counts[below(rng, n as u64) as usize] += 1;
                }
            }
        }
    }

    /// One resample.
    fn one(&self, i: u64, loc: &mut Local, abort: Option<&AtomicBool>) -> LmResult {
        let n = self.data.n;
        let mut rng = stream(self.seed, i);
        let (data, y, c): (&Data, &[f64], Option<&[f64]>) = match &self.scheme {
            Scheme::Pairs | Scheme::Groups { .. } => {
                self.draw_counts(&mut rng, &mut loc.counts, &mut loc.gcounts);
                loc.idx.clear();
                loc.w.clear();
                loc.y.clear();
                for (j, &cnt) in loc.counts.iter().enumerate() {
                    if cnt > 0 {
                        let uw = self.weights.as_ref().map_or(1.0, |w| w[j]);
                        loc.idx.push(j);
                        loc.w.push(cnt as f64 * uw);
                        loc.y.push(self.y[j]);
                    }
                }
                loc.data.gather_from(&self.data, &loc.idx);
                (&loc.data, &loc.y[..], Some(&loc.w[..]))
            }
            Scheme::Residual => {
                loc.y.clear();
                for j in 0..n {
                    let r = self.resid[below(&mut rng, n as u64) as usize];
                    loc.y.push(self.fitted[j] + r);
                }
                (&self.data, &loc.y[..], self.weights.as_deref())
            }
            Scheme::Parametric => {
                loc.y.clear();
                for j in 0..n {
                    loc.y.push(self.fitted[j] + self.sigma * normal(&mut rng));
                }
                (&self.data, &loc.y[..], self.weights.as_deref())
            }
        };
        let mut best: Option<LmResult> = None;
        if self.warm {
            best = Some(lm_with(
                &self.setup,
                data,
                y,
                c,
                &self.theta_hat,
                &mut loc.ws,
                abort,
            ));
        }
        for st in &self.extra_starts {
            let r = lm_with(&self.setup, data, y, c, st, &mut loc.ws, abort);
            if best.as_ref().is_none_or(|b| r.objective < b.objective) {
                best = Some(r);
            }
        }
        best.unwrap()
    }

    /// Leave-one-out (or leave-one-group-out) estimates for the BCa acceleration, warm-started
    /// from theta_hat: row-major (n_units, p), NaN rows where a refit failed.
    pub fn jackknife(&self) -> Vec<f64> {
        self.jackknife_with(None)
            .expect("no abort flag, no interruption")
    }

    /// [`jackknife`](Self::jackknife) that stops with [`Error::Interrupted`] once `abort` is set.
    pub fn jackknife_with(&self, abort: Option<&AtomicBool>) -> Result<Vec<f64>> {
        let n = self.data.n;
        let p = self.setup.n_params();
        let units: Vec<Vec<usize>> = match &self.scheme {
            Scheme::Groups { ids, n_groups } => {
                let mut u = vec![Vec::new(); *n_groups];
                for (j, &g) in ids.iter().enumerate() {
                    u[g].push(j);
                }
                u
            }
            _ => (0..n).map(|j| vec![j]).collect(),
        };
        let rows: Vec<Vec<f64>> = units
            .par_iter()
            .map_init(Workspace::default, |ws, drop| {
                let mut w: Vec<f64> = self.weights.clone().unwrap_or_else(|| vec![1.0; n]);
                for &j in drop {
                    w[j] = 0.0;
                }
                let r = lm_with(
                    &self.setup,
                    &self.data,
                    &self.y,
                    Some(&w),
                    &self.theta_hat,
                    ws,
                    abort,
                );
                if r.status == Termination::Failed || r.params.iter().any(|v| !v.is_finite()) {
                    vec![f64::NAN; p]
                } else {
                    r.params
                }
            })
            .collect();
        if abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
            return Err(Error::Interrupted);
        }
        Ok(rows.into_iter().flatten().collect())
    }
}

#[derive(Default)]
struct Local {
    ws: Workspace,
    data: Data,
    counts: Vec<u32>,
    gcounts: Vec<u32>,
    idx: Vec<usize>,
    w: Vec<f64>,
    y: Vec<f64>,
}

/// Median of finite values (NaN for none).
fn median(v: &[f64]) -> f64 {
    let mut a = v.to_vec();
    a.sort_by(f64::total_cmp);
    let n = a.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => a[n / 2],
        _ => 0.5 * (a[n / 2 - 1] + a[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Formula;
    use crate::fit::{Loss, Problem};
    use crate::rng::Rng;

    fn problem() -> (Problem, Data, Vec<f64>) {
        let f = Formula::new("E + A * x^-alpha", &["x".into()]).unwrap();
        let s = Problem::new(f, Loss::Huber(1e-3), Target::Log, vec![true, true, false]).unwrap();
        let xs: Vec<f64> = (0..40).map(|i| 1e6 * 1.3f64.powi(i)).collect();
        let y: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                (1.7 + 300.0 * x.powf(-0.3))
                    * (1.0
                        + 0.01 * (crate::rng::splitmix64(i as u64) as f64 / u64::MAX as f64 - 0.5))
            })
            .collect();
        let data = Data::new(&s.formula, vec![xs]).unwrap();
        let yt = s.prepare_y(&y, data.n).unwrap();
        (s, data, yt)
    }

    #[test]
    fn lemire_is_in_range_and_roughly_uniform() {
        let mut rng = stream(1, 2);
        let mut hist = [0u32; 7];
        for _ in 0..70_000 {
            hist[below(&mut rng, 7) as usize] += 1;
        }
        for h in hist {
            assert!((9_000..11_000).contains(&h), "{hist:?}");
        }
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|i| stream(7, i).next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|i| stream(7, i).next_u64()).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] != w[1]));
        // seed ^ i would make (seed=1, i=0) collide with (seed=0, i=1): this must not
        assert_ne!(stream(1, 0).next_u64(), stream(0, 1).next_u64());
    }

    #[test]
    fn results_do_not_depend_on_split_or_threads() {
        let (s, data, y) = problem();
        let theta = vec![1.7, 300.0, 0.3];
        for scheme in [Scheme::Pairs, Scheme::Residual, Scheme::Parametric] {
            let plan = Plan::new(
                s.clone(),
                data.clone(),
                y.clone(),
                None,
                scheme,
                42,
                theta.clone(),
                vec![],
                true,
            )
            .unwrap();
            let whole = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| plan.run(0, 24).unwrap());
            let a = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap()
                .install(|| plan.run(0, 10).unwrap());
            let b = plan.run(10, 14).unwrap();
            let joined: Vec<f64> = a.samples.iter().chain(&b.samples).copied().collect();
            assert_eq!(whole.samples.len(), joined.len());
            for (u, v) in whole.samples.iter().zip(&joined) {
                assert_eq!(u.to_bits(), v.to_bits());
            }
        }
    }

    #[test]
    fn groups_resample_whole_groups() {
        let (s, data, y) = problem();
        let ids: Vec<usize> = (0..40).map(|i| i / 4).collect();
        let plan = Plan::new(
            s.clone(),
            data.clone(),
            y.clone(),
            None,
            Scheme::Groups {
                ids: ids.clone(),
                n_groups: 10,
            },
            3,
            vec![1.7, 300.0, 0.3],
            vec![],
            true,
        )
        .unwrap();
        let mut loc = Local::default();
        for i in 0..50 {
            plan.one(i, &mut loc, None);
            // every point of a group has its group's count
            for g in 0..10 {
                let c: Vec<u32> = (0..40)
                    .filter(|j| ids[*j] == g)
                    .map(|j| loc.counts[j])
                    .collect();
                assert!(c.iter().all(|&v| v == c[0]));
            }
            assert_eq!(loc.counts.iter().sum::<u32>(), 40);
        }
    }

    #[test]
    fn bad_groups_are_rejected() {
        let (s, data, y) = problem();
        let r = Plan::new(
            s.clone(),
            data.clone(),
            y.clone(),
            None,
            Scheme::Groups {
                ids: vec![0; 3],
                n_groups: 2,
            },
            0,
            vec![1.7, 300.0, 0.3],
            vec![],
            true,
        );
        assert!(r.is_err());
    }
}
