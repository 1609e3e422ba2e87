//! Bindings for the bootstrap engine: a prepared problem that runs index ranges of resamples.

use super::errors::to_py;
use super::fit::{columns_of, rows_of, PyProblem};
use super::interrupt::interruptible;
use crate::bootstrap::{Plan, Scheme};
use crate::error::Error;
use crate::expr::Data;
use crate::fit::Problem;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

/// A bootstrap job: problem, full-data optimum, scheme and seed, prepared once.
/// `run(start, count)` computes resamples start..start+count; results depend only on
/// (seed, index).
#[pyclass(name = "Bootstrapper", module = "scalingfit._core", frozen)]
struct Bootstrapper {
    plan: Plan,
}

#[pymethods]
impl Bootstrapper {
    #[new]
    #[pyo3(signature = (problem, columns, y, *, weights, scheme, groups, seed, theta_hat, extra_starts, warm))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        problem: &PyProblem,
        columns: PyReadonlyArray2<'_, f64>,
        y: PyReadonlyArray1<'_, f64>,
        weights: Option<PyReadonlyArray1<'_, f64>>,
        scheme: &str,
        groups: Option<PyReadonlyArray1<'_, i64>>,
        seed: u64,
        theta_hat: Vec<f64>,
        extra_starts: Option<PyReadonlyArray2<'_, f64>>,
        warm: bool,
    ) -> PyResult<Self> {
        let setup = problem.inner.clone();
        let data = Data::new(&setup.formula, columns_of(&columns)).map_err(to_py)?;
        let y = setup
            .prepare_y(&y.as_array().to_vec(), data.n)
            .map_err(to_py)?;
        let weights = weights.map(|w| w.as_array().to_vec());
        if let Some(w) = &weights {
            Problem::check_weights(w, data.n).map_err(to_py)?;
        }
        let scheme = match scheme {
            "pairs" => Scheme::Pairs,
            "residual" => Scheme::Residual,
            "parametric" => Scheme::Parametric,
            "groups" => {
                let g = groups
                    .ok_or_else(|| to_py(Error::arg("groups", "scheme='groups' needs groups=")))?;
                let ids: Vec<i64> = g.as_array().to_vec();
                if ids.iter().any(|&v| v < 0) {
                    return Err(to_py(Error::arg(
                        "groups",
                        "group codes must be non-negative",
                    )));
                }
                let ids: Vec<usize> = ids.into_iter().map(|v| v as usize).collect();
                let n_groups = ids.iter().max().map_or(0, |m| m + 1);
                Scheme::Groups { ids, n_groups }
            }
            other => {
                return Err(to_py(Error::arg(
                    "scheme",
                    format!(
                    "unknown scheme '{other}'; use 'pairs', 'groups', 'residual' or 'parametric'"
                ),
                )))
            }
        };
        let plan = Plan::new(
            setup,
            data,
            y,
            weights,
            scheme,
            seed,
            theta_hat,
            rows_of(extra_starts).unwrap_or_default(),
            warm,
        )
        .map_err(to_py)?;
        Ok(Bootstrapper { plan })
    }

    /// Resamples `start .. start + count`.
    #[pyo3(signature = (start, count, n_threads=0))]
    fn run(
        &self,
        py: Python<'_>,
        start: u64,
        count: usize,
        n_threads: usize,
    ) -> PyResult<BootstrapChunk> {
        let plan = &self.plan;
        let chunk = interruptible(py, n_threads, |abort| {
            plan.run_with(start, count, Some(abort))
        })?;
        let p = plan.setup.n_params();
        Ok(BootstrapChunk {
            samples: Array2::from_shape_vec((count, p), chunk.samples)
                .expect("count x p values")
                .into_pyarray(py)
                .unbind(),
            status: chunk.status.into_pyarray(py).unbind(),
            objective: chunk.objective.into_pyarray(py).unbind(),
            n_iter: chunk.n_iter.into_pyarray(py).unbind(),
        })
    }

    /// Leave-one-out (or leave-one-group-out) estimates, (n_units, p).
    #[pyo3(signature = (n_threads=0))]
    fn jackknife<'py>(
        &self,
        py: Python<'py>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let plan = &self.plan;
        let rows = interruptible(py, n_threads, |abort| plan.jackknife_with(Some(abort)))?;
        let p = plan.setup.n_params();
        let m = rows.len() / p;
        Ok(Array2::from_shape_vec((m, p), rows)
            .unwrap()
            .into_pyarray(py))
    }

    /// Multiplicity of each data point in resample `i` (pairs and groups schemes).
    fn counts<'py>(&self, py: Python<'py>, i: u64) -> PyResult<Bound<'py, numpy::PyArray1<u32>>> {
        if !matches!(self.plan.scheme, Scheme::Pairs | Scheme::Groups { .. }) {
            return Err(to_py(Error::arg(
                "scheme",
                "counts are defined for the 'pairs' and 'groups' schemes",
            )));
        }
        Ok(self.plan.counts(i).into_pyarray(py))
    }

    /// Residual scale used by the parametric scheme (target scale).
    fn sigma(&self) -> PyResult<f64> {
        Ok(self.plan.sigma())
    }
}

/// Results of a range of resamples: `samples` (count, p; NaN rows for failed resamples),
/// `status` (a `Termination` code per resample), `objective` and `n_iter`.
#[pyclass(name = "BootstrapChunk", module = "scalingfit._core", frozen, get_all)]
struct BootstrapChunk {
    samples: Py<PyArray2<f64>>,
    status: Py<PyArray1<u8>>,
    objective: Py<PyArray1<f64>>,
    n_iter: Py<PyArray1<u32>>,
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Bootstrapper>()?;
    m.add_class::<BootstrapChunk>()?;
    Ok(())
}
