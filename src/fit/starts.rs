//! Automatic starts: a grid over the nonlinear parameters chosen from their roles, with
//! the linear parameters solved by least squares at each point (variable projection).

use super::linalg::chol_solve;
use super::multistart::grid;
use super::problem::{Problem, Target, Workspace};
use super::residuals::objective;
use crate::expr::{Data, EvalWs};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

fn geomspace(a: f64, b: f64, k: usize) -> Vec<f64> {
    if k == 1 {
        return vec![(a * b).sqrt()];
    }
    let (la, lb) = (a.ln(), b.ln());
    (0..k)
        .map(|i| (la + (lb - la) * i as f64 / (k - 1) as f64).exp())
        .collect()
}

/// The role of a nonlinear parameter that decides its start values; parameters with the same
/// role on the same data column are interchangeable, and starts giving two of them the same
/// value are degenerate (equal rates, coinciding peaks) and skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// `x / p` (true) or `p * x` (false) for column j
    Scale(usize, bool),
    /// `x - p`: a location on column j
    Location(usize),
    /// a divisor of an expression of column j: a width
    Width(usize),
    /// `sin(c x / p)`: a period on column j (cycle length 2 pi p / c)
    Period(usize, u64),
    Other,
}

/// Role of each parameter in `nonlin`, from the formula's structure.
fn roles(s: &Problem, nonlin: &[usize]) -> Vec<Role> {
    let f = &s.formula;
    let scales = f.scale_params();
    let locs = f.location_params();
    let widths = f.width_params();
    let periods = f.period_params();
    nonlin
        .iter()
        .map(|&k| {
            if let Some(&(_, j, c)) = periods.iter().find(|t| t.0 == k) {
                Role::Period(j, c.to_bits())
            } else if let Some(&(_, j, ratio)) = scales.iter().find(|t| t.0 == k) {
                Role::Scale(j, ratio)
            } else if let Some(&(_, j)) = locs.iter().find(|t| t.0 == k) {
                Role::Location(j)
            } else if let Some(&(_, j)) = widths.iter().find(|t| t.0 == k) {
                Role::Width(j)
            } else {
                Role::Other
            }
        })
        .collect()
}

/// (smallest non-zero |x|, largest |x|, min x, max x) of a column; the smallest non-zero
/// magnitude is floored at 1e-8 of the largest (a 0 in the data must not stretch a scale grid
/// down to 1e-300).
fn col_range(col: &[f64]) -> (f64, f64, f64, f64) {
    let mx = col.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(1e-300);
    let mn = col
        .iter()
        .filter(|v| **v != 0.0)
        .fold(f64::INFINITY, |a, &b| a.min(b.abs()))
        .max(mx * 1e-8)
        .min(mx);
    let lo = col.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mn, mx, lo, hi)
}

/// x positions of the `k` most pronounced local extremes of y along column x (y smoothed by a
/// moving average over ~n/40 neighbours, at least 3, so noise makes no peaks; extremes of
/// |y - median| ranked by height), for locations of peaks.
fn peaks(x: &[f64], y: &[f64], k: usize) -> Vec<f64> {
    let n = x.len().min(y.len());
    if n < 5 || k == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let mut sorted = ys.clone();
    sorted.sort_by(f64::total_cmp);
    let med = sorted[n / 2];
    let raw = ys.clone();
    let half = (n / 80).max(1);
    for (i, v) in ys.iter_mut().enumerate() {
        let (a, b) = (i.saturating_sub(half), (i + half).min(n - 1));
        *v = raw[a..=b].iter().sum::<f64>() / (b - a + 1) as f64;
    }
    let h: Vec<f64> = ys.iter().map(|v| (v - med).abs()).collect();
    let mut cand: Vec<(f64, f64)> = (1..n - 1)
        .filter(|&i| h[i] > h[i - 1] && h[i] >= h[i + 1] && h[i].is_finite())
        .map(|i| (h[i], x[order[i]]))
        .collect();
    cand.sort_by(|a, b| b.0.total_cmp(&a.0));
    cand.into_iter().take(k).map(|c| c.1).collect()
}

/// Candidate values for each nonlinear parameter, chosen from its role in the formula and the
/// data: scales and rates spanning the column's magnitudes, locations across its range, widths
/// from 1% of its span to the span.
fn nonlinear_grid(
    s: &Problem,
    data: &Data,
    y: &[f64],
    nonlin: &[usize],
    max_points: usize,
) -> Vec<Vec<f64>> {
    let f = &s.formula;
    let exps = f.exponent_params();
    let roles = roles(s, nonlin);
    let full: Vec<Vec<f64>> = nonlin
        .iter()
        .zip(&roles)
        .map(|(&k, role)| -> Vec<f64> {
            if let Role::Scale(j, ratio) = *role {
                let (mn, mx, _, _) = col_range(&data.cols[j]);
                // a column spanning decades: scales across all of them (a break anywhere);
                // otherwise a finer grid around the column's size (rates of exp(-k x) from
                // 0.1 to 100 e-folds over the largest x)
                let v = if mx > 100.0 * mn {
                    geomspace(mn / 100.0, mx * 1e4, 9)
                } else {
                    geomspace(mx / 100.0, mx * 10.0, 13)
                };
                if ratio {
                    v
                } else {
                    v.iter().rev().map(|x| 1.0 / x).collect()
                }
            } else if let Role::Location(j) = *role {
                // across the column's range, and no shift at all
                let (_, _, lo, hi) = col_range(&data.cols[j]);
                let zero = !(lo..=hi).contains(&0.0);
                let m = if zero { 8 } else { 9 };
                let spread: Vec<f64> = (0..m)
                    .map(|i| lo + (hi - lo) * (i as f64 + 0.5) / m as f64)
                    .collect();
                // the data's most pronounced peaks (or dips) first, interleaved with the
                // spread so that thinning the grid (every other value) keeps the peaks
                let peaks = peaks(&data.cols[j], y, 3);
                let mut v = Vec::with_capacity(m + 1);
                let (mut a, mut b) = (peaks.into_iter(), spread.iter().copied());
                while v.len() < m {
                    match a.next().or_else(|| b.next()) {
                        Some(x) => v.push(x),
                        None => break,
                    }
                    if v.len() < m {
                        if let Some(x) = b.next() {
                            v.push(x);
                        }
                    }
                }
                if zero {
                    v.push(0.0);
                }
                v
            } else if let Role::Period(j, c) = *role {
                // 0.5 to 40 cycles over the column's span in steps of half a cycle (a finer
                // grid than the basins of a periodic fit, which are ~1/span wide in frequency)
                let (_, mx, lo, hi) = col_range(&data.cols[j]);
                let span = if hi > lo { hi - lo } else { mx };
                let c = f64::from_bits(c).abs().max(1e-300);
                (1..=80)
                    .map(|h| span / (0.5 * h as f64) * c / (2.0 * std::f64::consts::PI))
                    .collect()
            } else if let Role::Width(j) = *role {
                let (_, mx, lo, hi) = col_range(&data.cols[j]);
                let span = if hi > lo { hi - lo } else { mx };
                geomspace(span / 100.0, span, 7)
            } else if exps.contains(&k) {
                vec![0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2, 2.0]
            } else if s.positive[k] {
                vec![0.05, 0.2, 0.5, 1.0, 2.0, 5.0]
            } else {
                vec![-1.0, -0.3, 0.0, 0.1, 0.3, 0.6, 1.0, 2.0]
            }
        })
        .collect();
    // respect bounds
    let mut full: Vec<Vec<f64>> = full
        .into_iter()
        .zip(nonlin)
        .map(|(v, &k)| {
            let kept: Vec<f64> = v
                .iter()
                .copied()
                .filter(|&x| x >= s.lower[k] && x <= s.upper[k])
                .collect();
            if kept.is_empty() {
                let mid = if s.lower[k].is_finite() && s.upper[k].is_finite() {
                    0.5 * (s.lower[k] + s.upper[k])
                } else if s.lower[k].is_finite() {
                    s.lower[k] + 1.0
                } else {
                    s.upper[k] - 1.0
                };
                vec![mid]
            } else {
                kept
            }
        })
        .collect();
    // thin until the product fits
    loop {
        let total: usize = full.iter().map(|v| v.len()).product();
        if total <= max_points {
            break;
        }
        let (imax, _) = full
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| v.len())
            .unwrap();
        let v = &full[imax];
        if v.len() <= 2 {
            break;
        }
        full[imax] = v.iter().step_by(2).copied().collect();
    }
    full
}

/// Automatic starts by variable projection: for every point of a grid over the nonlinear
/// parameters, solve the linear parameters by (weighted) least squares, score the start by the
/// true objective, and return the `keep` best distinct starts (natural coordinates).
pub fn auto_starts(
    s: &Problem,
    data: &Data,
    y_raw: &[f64],
    y: &[f64],
    keep: usize,
    abort: Option<&AtomicBool>,
) -> Vec<Vec<f64>> {
    let f = &s.formula;
    let p = f.n_params();
    let lin = f.linear_params();
    let nonlin: Vec<usize> = (0..p).filter(|k| !lin.contains(k)).collect();
    let vals = nonlinear_grid(s, data, y_raw, &nonlin, 20_000);
    let combos = grid(&vals);
    let role = roles(s, &nonlin);
    // starts where two interchangeable parameters coincide are degenerate (their terms are
    // collinear, the linear solve is singular): skipped
    let degenerate = |combo: &[f64]| {
        (0..combo.len()).any(|a| {
            role[a] != Role::Other
                && (a + 1..combo.len()).any(|b| role[b] == role[a] && combo[a] == combo[b])
        })
    };
    let n = data.n;
    let scored: Vec<(f64, Vec<f64>)> = combos
        .par_iter()
        .map_init(
            || {
                (
                    Workspace::default(),
                    EvalWs::default(),
                    vec![0.0; n],
                    vec![0.0; n * p],
                )
            },
            |(ws, ev, fv, jac), combo| {
                if abort.is_some_and(|a| a.load(Ordering::Relaxed)) || degenerate(combo) {
                    return (f64::INFINITY, Vec::new());
                }
                let mut theta = vec![0.0; p];
                for (t, &k) in nonlin.iter().enumerate() {
                    theta[k] = combo[t];
                }
                for &k in &lin {
                    theta[k] = 0.0;
                }
                if !lin.is_empty() {
                    f.eval(&theta, data, ev, fv, Some(jac));
                    if let Some(sol) = solve_linear(s, &lin, fv, jac, y_raw, n) {
                        for (t, &k) in lin.iter().enumerate() {
                            theta[k] = sol[t];
                        }
                    } else {
                        return (f64::INFINITY, theta);
                    }
                }
                let obj = objective(s, data, y, None, &theta, ws);
                (if obj.is_finite() { obj } else { f64::INFINITY }, theta)
            },
        )
        .collect();
    let mut order: Vec<usize> = (0..scored.len())
        .filter(|&i| scored[i].0.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        scored[a]
            .0
            .partial_cmp(&scored[b].0)
            .unwrap()
            .then(a.cmp(&b))
    });
    // Keep the best starts, half of them by objective alone and half spread out: a start
    // whose grid cell is within one step (in every nonlinear coordinate) of one already kept
    // usually runs into the same basin, so the spread half skips those.
    let radix: Vec<usize> = vals.iter().map(|v| v.len()).collect();
    let cell = |mut i: usize| -> Vec<usize> {
        let mut c = vec![0; radix.len()];
        for t in (0..radix.len()).rev() {
            c[t] = i % radix[t];
            i /= radix[t];
        }
        c
    };
    let distinct = |out: &[Vec<f64>], cand: &[f64]| {
        out.iter().all(|o| {
            o.iter()
                .zip(cand)
                .any(|(a, b)| (a - b).abs() > 1e-6 * (a.abs() + b.abs()).max(1e-12))
        })
    };
    let mut out: Vec<Vec<f64>> = Vec::new();
    let mut cells: Vec<Vec<usize>> = Vec::new();
    let by_rank = keep.div_ceil(2);
    for pass in 0..2 {
        for &i in &order {
            if out.len() >= if pass == 0 { by_rank } else { keep } {
                break;
            }
            let cand = &scored[i].1;
            let c = cell(i);
            let spread = pass == 0
                || cells
                    .iter()
                    .all(|k| k.iter().zip(&c).any(|(a, b)| a.abs_diff(*b) > 1));
            if spread && distinct(&out, cand) {
                out.push(cand.clone());
                cells.push(c);
            }
        }
    }
    if out.len() < keep {
        // not enough spread-out cells: fill up by objective
        for &i in &order {
            if out.len() >= keep {
                break;
            }
            let cand = &scored[i].1;
            if distinct(&out, cand) {
                out.push(cand.clone());
            }
        }
    }
    if out.is_empty() {
        // nothing finite on the grid: fall back to the grid centre
        let mut theta = vec![1.0; p];
        for (t, &k) in nonlin.iter().enumerate() {
            theta[k] = vals[t][vals[t].len() / 2];
        }
        out.push(theta);
    }
    out
}

/// Least squares for the linear parameters given f at lin=0 (`fv`) and their Jacobian
/// columns. Relative (1/y^2) weights for a log target. Positive parameters that come out
/// non-positive are pinned at a small positive value and the rest re-solved.
fn solve_linear(
    s: &Problem,
    lin: &[usize],
    fv: &[f64],
    jac: &[f64],
    y: &[f64],
    n: usize,
) -> Option<Vec<f64>> {
    let m = lin.len();
    let ymax = y.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(1e-300);
    // relative weights 1/y^2: of y / 2^e (exact) when y is so large or small that 1/y^2 would
    // overflow or underflow float64
    let e = if (1e-100..=1e100).contains(&ymax) {
        0
    } else {
        libm::frexp(ymax).1
    };
    let w: Vec<f64> = match s.target {
        Target::Log => y
            .iter()
            .map(|&v| {
                let v = libm::scalbn(v, -e);
                1.0 / (v * v)
            })
            .collect(),
        Target::Linear => vec![1.0; n],
    };
    let mut pinned = vec![None::<f64>; m];
    for _round in 0..=m {
        let free: Vec<usize> = (0..m).filter(|&t| pinned[t].is_none()).collect();
        let q = free.len();
        // residual target after removing pinned contributions
        let mut rhs = vec![0.0; n];
        for i in 0..n {
            let mut v = y[i] - fv[i];
            for t in 0..m {
                if let Some(val) = pinned[t] {
                    v -= val * jac[lin[t] * n + i];
                }
            }
            rhs[i] = v;
        }
        let mut sol = vec![0.0; m];
        if q > 0 {
            let mut a = vec![0.0; q * q];
            let mut b = vec![0.0; q];
            for (u, &tu) in free.iter().enumerate() {
                let cu = &jac[lin[tu] * n..(lin[tu] + 1) * n];
                for i in 0..n {
                    b[u] += w[i] * cu[i] * rhs[i];
                }
                for (v, &tv) in free.iter().enumerate().take(u + 1) {
                    let cv = &jac[lin[tv] * n..(lin[tv] + 1) * n];
                    let mut acc = 0.0;
                    for i in 0..n {
                        acc += w[i] * cu[i] * cv[i];
                    }
                    a[u * q + v] = acc;
                    a[v * q + u] = acc;
                }
            }
            let tr: f64 = (0..q).map(|u| a[u * q + u]).sum::<f64>().max(1e-300);
            for u in 0..q {
                a[u * q + u] += 1e-12 * tr / q as f64;
            }
            if !chol_solve(&mut a, &mut b, q) {
                return None;
            }
            for (u, &t) in free.iter().enumerate() {
                sol[t] = b[u];
            }
        }
        for t in 0..m {
            if let Some(v) = pinned[t] {
                sol[t] = v;
            }
        }
        let mut changed = false;
        for t in 0..m {
            let k = lin[t];
            if pinned[t].is_none() && s.positive[k] && !(sol[t] > 0.0) {
                let colmax = jac[k * n..(k + 1) * n]
                    .iter()
                    .fold(0.0f64, |a, &b| a.max(b.abs()))
                    .max(1e-300);
                pinned[t] = Some(1e-3 * ymax / colmax);
                changed = true;
            }
        }
        if !changed {
            for t in 0..m {
                let k = lin[t];
                sol[t] = sol[t].clamp(s.lower[k], s.upper[k]);
                if s.positive[k] && !(sol[t] > 0.0) {
                    sol[t] = 1e-300;
                }
            }
            return sol.iter().all(|v| v.is_finite()).then_some(sol);
        }
    }
    None
}
