//! Multi-start LM: every start in parallel (screened at a loose tolerance above
//! [`SCREEN_MIN_STARTS`] starts, the best polished), best by objective.

use super::lm::{lm_run, lm_with, rescuable, rescue};
use super::problem::{LmResult, Problem, Termination, Workspace};
use super::subsample::{Subsample, POLISH_FULL};
use crate::error::{Error, Result};
use crate::expr::Data;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Results of a multi-start fit.
#[derive(Debug, Clone)]
pub struct MultiFit {
    pub best: LmResult,
    pub best_index: usize,
    /// objective and status of every start, in input order
    pub objectives: Vec<f64>,
    pub statuses: Vec<Termination>,
}

/// Above this many starts, [`multistart`] screens with a looser tolerance and polishes the best.
pub const SCREEN_MIN_STARTS: usize = 64;
/// Screening tolerance (ftol, xtol and gtol): a screened run stops once a step improves the
/// objective by less than this fraction. On the Chinchilla grid this halves the work of the
/// 4500 starts and the polished best is the same to 1e-15 (1e-3 gives the same best too).
const SCREEN_TOL: f64 = 1e-4;
/// Screened starts polished to the full tolerance, best screened objective first.
const POLISH: usize = 16;

/// LM from every start (in parallel); best by objective, ties broken by start order.
pub fn multistart(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    starts: &[Vec<f64>],
) -> Result<MultiFit> {
    multistart_in(s, data, y, c, starts, &mut Workspace::default(), None, None)
}

/// [`multistart`]; a single start runs in `ws`, which afterwards holds the residuals and the
/// Jacobian at the returned point. With a subsample `sub` (large data) and several starts,
/// every start runs on the subsample and the best [`POLISH_FULL`] distinct end points are run
/// on all the data; the objectives of the other starts are their subsample objectives scaled
/// to the whole data.
#[allow(clippy::too_many_arguments)]
pub(crate) fn multistart_in(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    starts: &[Vec<f64>],
    ws: &mut Workspace,
    abort: Option<&AtomicBool>,
    sub: Option<&Subsample>,
) -> Result<MultiFit> {
    let aborted = || abort.is_some_and(|a| a.load(Ordering::Relaxed));
    if starts.is_empty() {
        return Err(Error::arg("starts", "no starting points given"));
    }
    let p = s.n_params();
    for (i, st) in starts.iter().enumerate() {
        if st.len() != p {
            return Err(Error::arg(
                "starts",
                format!("start {i} has {} values, expected {p}", st.len()),
            ));
        }
    }
    // Many starts: screen them all with a looser tolerance, then polish the best few to the
    // full tolerance (the answer is the same; the tails of the runs that end elsewhere are
    // not worth converging to 1e-14).
    let sub = sub.filter(|_| starts.len() > 1);
    let screen = starts.len() > SCREEN_MIN_STARTS;
    let loose_setup;
    let loose = if screen {
        let mut l = s.clone();
        l.opts.ftol = s.opts.ftol.max(SCREEN_TOL);
        l.opts.xtol = s.opts.xtol.max(SCREEN_TOL);
        l.opts.gtol = s.opts.gtol.max(SCREEN_TOL);
        loose_setup = l;
        &loose_setup
    } else {
        s
    };
    let (d1, y1, c1) = match sub {
        Some(sb) => (&sb.data, &sb.y[..], sb.c.as_deref()),
        None => (data, y, c),
    };
    let mut results: Vec<LmResult> = if starts.len() == 1 {
        // one start: no thread hand-off
        vec![lm_with(loose, data, y, c, &starts[0], ws, abort)]
    } else {
        starts
            .par_iter()
            .map_init(Workspace::default, |ws, st| {
                // checked per start: one start takes microseconds to milliseconds
                if aborted() {
                    return LmResult::failed(p);
                }
                // without the continuation by variable projection: that is for the runs
                // still in the race at the end (below, or the polish)
                lm_run(loose, d1, y1, c1, st, ws, abort)
            })
            .collect()
    };
    if aborted() {
        return Err(Error::Interrupted);
    }
    // with a subsample, only the starts polished on all the data compete for the best (an
    // unpolished one must not win on its scaled subsample estimate)
    let mut polished_only: Option<Vec<usize>> = None;
    if let Some(sb) = sub {
        polished_only = Some(polish_on_full(s, data, y, c, sb.scale, &mut results, abort));
    } else if screen {
        let mut order = ranked(&results);
        order.truncate(POLISH);
        for (i, r) in polish(s, data, y, c, &results, &order, abort) {
            if r.objective <= results[i].objective {
                results[i] = r;
            }
        }
    } else if results.len() > 1 {
        continue_crawling(s, data, y, c, starts, &mut results, abort);
    }
    if aborted() {
        return Err(Error::Interrupted);
    }
    let mut best = usize::MAX;
    for (i, r) in results.iter().enumerate() {
        if polished_only.as_ref().is_some_and(|ch| !ch.contains(&i)) {
            continue;
        }
        if r.objective.is_finite() && (best == usize::MAX || r.objective < results[best].objective)
        {
            best = i;
        }
    }
    let objectives = results.iter().map(|r| r.objective).collect();
    let statuses = results.iter().map(|r| r.status).collect();
    if best == usize::MAX {
        return Ok(MultiFit {
            best: results.into_iter().next().unwrap(),
            best_index: 0,
            objectives,
            statuses,
        });
    }
    Ok(MultiFit {
        best: results[best].clone(),
        best_index: best,
        objectives,
        statuses,
    })
}

/// Run the best distinct subsample end points on all the data (full tolerance); the other
/// objectives are rescaled from the subsample by `scale` (their ranking is what they are for).
fn polish_on_full(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    scale: f64,
    results: &mut [LmResult],
    abort: Option<&AtomicBool>,
) -> Vec<usize> {
    let order = ranked(results);
    // the best, and others whose subsample objective is within 2% of it: all of them ran on
    // the same points, so their ranking errs only by how the subsample's points differ from
    // the rest, and a basin 2% worse on 8,192 random points is very unlikely to be the best
    let cutoff = order.first().map_or(0.0, |&i| results[i].objective * 1.02);
    let mut chosen: Vec<usize> = Vec::new();
    for &i in &order {
        if chosen.len() >= POLISH_FULL || results[i].objective > cutoff {
            break;
        }
        let same = chosen.iter().any(|&j| {
            results[i]
                .params
                .iter()
                .zip(&results[j].params)
                .all(|(a, b)| (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-12))
        });
        if !same {
            chosen.push(i);
        }
    }
    for r in results.iter_mut() {
        r.objective *= scale;
    }
    for (i, r) in polish(s, data, y, c, results, &chosen, abort) {
        results[i] = r;
    }
    chosen
}

/// The runs that reached the iteration limit (or stopped as diverging) while lower than every
/// converged run, best first and at most [`POLISH`] of them, continued by variable projection
/// (see [`lm_with`]); the others lost to a converged run already.
fn continue_crawling(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    starts: &[Vec<f64>],
    results: &mut [LmResult],
    abort: Option<&AtomicBool>,
) {
    let best_converged = results
        .iter()
        .filter(|r| r.status.converged())
        .map(|r| r.objective)
        .fold(f64::INFINITY, f64::min);
    let mut which: Vec<usize> = ranked(results)
        .into_iter()
        .filter(|&i| rescuable(s, &results[i]) && results[i].objective < best_converged)
        .collect();
    which.truncate(POLISH);
    let done: Vec<(usize, LmResult)> = which
        .par_iter()
        .map_init(Workspace::default, |ws, &i| {
            (
                i,
                rescue(s, data, y, c, &starts[i], results[i].clone(), ws, abort),
            )
        })
        .collect();
    for (i, r) in done {
        results[i] = r;
    }
}

/// Indices of the starts with a finite objective, best first (ties by start order).
fn ranked(results: &[LmResult]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].objective.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        results[a]
            .objective
            .partial_cmp(&results[b].objective)
            .unwrap()
            .then(a.cmp(&b))
    });
    order
}

/// LM at the full tolerance on `data` from the end points `which` of `results` (in parallel),
/// counting the earlier run's iterations and evaluations in.
fn polish(
    s: &Problem,
    data: &Data,
    y: &[f64],
    c: Option<&[f64]>,
    results: &[LmResult],
    which: &[usize],
    abort: Option<&AtomicBool>,
) -> Vec<(usize, LmResult)> {
    which
        .par_iter()
        .map_init(Workspace::default, |ws, &i| {
            let mut r = lm_with(s, data, y, c, &results[i].params, ws, abort);
            r.n_iter += results[i].n_iter;
            r.n_eval += results[i].n_eval;
            (i, r)
        })
        .collect()
}

/// Cartesian product of per-parameter value lists (first parameter varies slowest).
pub fn grid(values: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = vec![Vec::new()];
    for vals in values {
        let mut next = Vec::with_capacity(out.len() * vals.len());
        for prefix in &out {
            for &v in vals {
                let mut q = prefix.clone();
                q.push(v);
                next.push(q);
            }
        }
        out = next;
    }
    out
}
