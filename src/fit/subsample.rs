//! Large data: the starts are screened on a random subsample of the points and only the best
//! few are run on all of them.
//!
//! Choosing between starts needs far fewer points than the final answer: a smooth law with a
//! handful of parameters ranks its basins the same on 8,192 random points as on 10^6. So above
//! [`SUBSAMPLE_MIN`] used points every start (automatic or given) runs on [`SUBSAMPLE`] points
//! drawn without replacement (a fixed seed, so the same data give the same subsample), and the
//! [`POLISH_FULL`] best distinct end points are then run to full tolerance on all the data.

use crate::expr::Data;
use crate::rng::{tagged_stream, unit};

/// Above this many used points (positive weight), starts are screened on a subsample.
pub const SUBSAMPLE_MIN: usize = 32_768;
/// Points in the screening subsample.
pub const SUBSAMPLE: usize = 8_192;
/// Distinct best subsample end points run to full tolerance on all the data.
pub const POLISH_FULL: usize = 4;
/// Stream tag of the subsample (fixed: the subsample depends only on the data).
const TAG: u64 = 0x5ab5_a3b1_e000_0001;

/// The subsample of a data set: its rows, targets and weights, and the factor that puts an
/// objective measured on it onto the scale of the whole data (total weight ratio).
#[derive(Debug, Clone)]
pub(crate) struct Subsample {
    pub data: Data,
    pub y: Vec<f64>,
    pub y_raw: Vec<f64>,
    pub c: Option<Vec<f64>>,
    pub scale: f64,
}

/// Sorted indices of `m` of the `eligible` rows, uniformly without replacement (Knuth's
/// selection sampling: one pass, exact count).
fn select(eligible: &[usize], m: usize) -> Vec<usize> {
    let mut rng = tagged_stream(0, TAG, eligible.len() as u64);
    let n = eligible.len();
    let mut out = Vec::with_capacity(m);
    for (t, &i) in eligible.iter().enumerate() {
        let need = m - out.len();
        if need == 0 {
            break;
        }
        if ((n - t) as f64) * unit(&mut rng) < need as f64 {
            out.push(i);
        }
    }
    out
}

/// The screening subsample when the data are large enough to need one.
pub(crate) fn subsample(
    data: &Data,
    y: &[f64],
    y_raw: &[f64],
    c: Option<&[f64]>,
) -> Option<Subsample> {
    let eligible: Vec<usize> = match c {
        Some(w) => (0..data.n).filter(|&i| w[i] > 0.0).collect(),
        None => {
            if data.n <= SUBSAMPLE_MIN {
                return None;
            }
            (0..data.n).collect()
        }
    };
    if eligible.len() <= SUBSAMPLE_MIN {
        return None;
    }
    let idx = select(&eligible, SUBSAMPLE);
    let mut sub = Data::default();
    sub.gather_from(data, &idx);
    let (cs, scale) = match c {
        Some(w) => {
            let cs: Vec<f64> = idx.iter().map(|&i| w[i]).collect();
            let total: f64 = eligible.iter().map(|&i| w[i]).sum();
            let part: f64 = cs.iter().sum();
            (Some(cs), total / part)
        }
        None => (None, data.n as f64 / idx.len() as f64),
    };
    Some(Subsample {
        data: sub,
        y: idx.iter().map(|&i| y[i]).collect(),
        y_raw: idx.iter().map(|&i| y_raw[i]).collect(),
        c: cs,
        scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_is_exact_sorted_and_deterministic() {
        let el: Vec<usize> = (0..100_000).map(|i| 3 * i + 1).collect();
        let a = select(&el, SUBSAMPLE);
        assert_eq!(a.len(), SUBSAMPLE);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|i| i % 3 == 1));
        assert_eq!(a, select(&el, SUBSAMPLE));
        // roughly uniform: each tenth of the rows gets about a tenth of the sample
        for d in 0..10 {
            let lo = 3 * d * 10_000;
            let hi = 3 * (d + 1) * 10_000;
            let k = a.iter().filter(|&&i| (lo..hi).contains(&i)).count();
            assert!((700..940).contains(&k), "tenth {d}: {k}");
        }
    }
}
