//! Data prepared for a formula: validated columns and the logarithms the tape needs.

use super::tape::Formula;
use crate::error::{Error, Result};

/// Data prepared for a formula: columns (variables) and their logarithms where needed.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub n: usize,
    /// `cols[j]` is variable j, length n.
    pub cols: Vec<Vec<f64>>,
    /// `ln_cols[j]` is `ln(cols[j])` when the formula needs it, else empty.
    pub ln_cols: Vec<Vec<f64>>,
}

impl Data {
    /// Validate and prepare columns for `f`. `cols[j]` must have the same length for every j.
    pub fn new(f: &Formula, cols: Vec<Vec<f64>>) -> Result<Data> {
        if cols.len() != f.n_vars() {
            return Err(Error::arg(
                "data",
                format!(
                    "expected {} columns ({}), got {}",
                    f.n_vars(),
                    f.vars.join(", "),
                    cols.len()
                ),
            ));
        }
        let n = cols.first().map(|c| c.len()).unwrap_or(0);
        for (j, c) in cols.iter().enumerate() {
            if c.len() != n {
                return Err(Error::arg(
                    "data",
                    format!(
                        "column '{}' has length {} but '{}' has length {n}; all columns must have the same length",
                        f.vars[j],
                        c.len(),
                        f.vars[0]
                    ),
                ));
            }
            check_finite_col(&f.vars[j], c)?;
        }
        let mut ln_cols = vec![Vec::new(); cols.len()];
        for &j in &f.log_vars {
            if let Some(i) = cols[j].iter().position(|&v| v <= 0.0) {
                return Err(Error::arg(
                    "data",
                    format!(
                        "column '{}' must be positive (the formula raises it to a fitted power or takes its log) but has {} at index {i}",
                        f.vars[j], cols[j][i]
                    ),
                ));
            }
            let mut l = vec![0.0; n];
            crate::simd::fastmath::ln_slice(&cols[j], &mut l);
            ln_cols[j] = l;
        }
        Ok(Data { n, cols, ln_cols })
    }

    /// Copy rows `idx` of `src` into `self`, reusing allocations.
    pub fn gather_from(&mut self, src: &Data, idx: &[usize]) {
        self.n = idx.len();
        self.cols.resize(src.cols.len(), Vec::new());
        self.ln_cols.resize(src.ln_cols.len(), Vec::new());
        for (dst, s) in self.cols.iter_mut().zip(&src.cols) {
            dst.clear();
            dst.extend(idx.iter().map(|&i| s[i]));
        }
        for (dst, s) in self.ln_cols.iter_mut().zip(&src.ln_cols) {
            dst.clear();
            if !s.is_empty() {
                dst.extend(idx.iter().map(|&i| s[i]));
            }
        }
    }
}

fn check_finite_col(name: &str, c: &[f64]) -> Result<()> {
    if let Some(i) = c.iter().position(|v| !v.is_finite()) {
        return Err(Error::arg(
            "data",
            format!(
                "column '{name}' has a non-finite value ({}) at index {i}; drop or impute NaN/inf rows first",
                c[i]
            ),
        ));
    }
    Ok(())
}
