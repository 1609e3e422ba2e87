//! Bindings for the formula compiler and the fitter.

use super::errors::to_py;
use crate::error::Error;
use crate::expr::{Data, EvalWs, Formula};
use crate::fit::{fit_full, LmOptions, Loss, Problem, Target};
use crate::forms as builtin;
use crate::parallel::with_threads;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A compiled formula.
#[pyclass(name = "Formula", module = "scalingfit._core", frozen)]
pub(crate) struct PyFormula {
    pub(crate) inner: Formula,
}

#[pymethods]
impl PyFormula {
    #[new]
    fn new(source: &str, variables: Vec<String>) -> PyResult<Self> {
        Ok(PyFormula {
            inner: Formula::new(source, &variables).map_err(to_py)?,
        })
    }
    #[getter]
    fn source(&self) -> String {
        self.inner.source().to_string()
    }
    #[getter]
    fn param_names(&self) -> Vec<String> {
        self.inner.param_names().to_vec()
    }
    #[getter]
    fn variables(&self) -> Vec<String> {
        self.inner.var_names().to_vec()
    }
    /// Indices of parameters in which the formula is jointly affine.
    fn linear_params(&self) -> Vec<usize> {
        self.inner.linear_params()
    }
    /// Indices of data columns that must be positive.
    fn log_vars(&self) -> Vec<usize> {
        self.inner.log_vars().to_vec()
    }
    /// Indices of data columns the formula uses.
    fn used_vars(&self) -> Vec<usize> {
        self.inner.used_vars()
    }
    /// Evaluate at natural parameters; returns (values, jacobian (n, p) or None).
    #[pyo3(signature = (params, columns, jacobian=false))]
    fn eval<'py>(
        &self,
        py: Python<'py>,
        params: PyReadonlyArray1<'py, f64>,
        columns: PyReadonlyArray2<'py, f64>,
        jacobian: bool,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyAny>>)> {
        let theta = params.as_slice()?.to_vec();
        let p = self.inner.n_params();
        if theta.len() != p {
            return Err(to_py(Error::arg(
                "params",
                format!("expected {p} values, got {}", theta.len()),
            )));
        }
        let data = Data::new(&self.inner, columns_of(&columns)).map_err(to_py)?;
        let n = data.n;
        let (v, j) = py.detach(|| {
            let mut ws = EvalWs::default();
            let mut v = vec![0.0; n];
            let mut j = if jacobian {
                vec![0.0; n * p]
            } else {
                Vec::new()
            };
            self.inner.eval(
                &theta,
                &data,
                &mut ws,
                &mut v,
                jacobian.then_some(&mut j[..]),
            );
            (v, j)
        });
        let jac = if jacobian {
            // column-major (p, n) -> (n, p)
            let a = Array2::from_shape_vec((p, n), j)
                .unwrap()
                .reversed_axes()
                .as_standard_layout()
                .to_owned();
            Some(a.into_pyarray(py).into_any())
        } else {
            None
        };
        Ok((v.into_pyarray(py), jac))
    }
}

pub(crate) fn columns_of(a: &PyReadonlyArray2<'_, f64>) -> Vec<Vec<f64>> {
    a.as_array()
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect()
}

pub(crate) fn parse_loss(loss: &str, delta: f64) -> PyResult<Loss> {
    match loss {
        "l2" | "squared" => Ok(Loss::L2),
        "huber" => Ok(Loss::Huber(delta)),
        other => Err(to_py(Error::arg(
            "loss",
            format!("unknown loss '{other}'; use 'huber' or 'l2'"),
        ))),
    }
}

pub(crate) fn parse_target(target: &str) -> PyResult<Target> {
    match target {
        "log" => Ok(Target::Log),
        "linear" => Ok(Target::Linear),
        other => Err(to_py(Error::arg(
            "target",
            format!("unknown target '{other}'; use 'log' or 'linear'"),
        ))),
    }
}

pub(crate) fn rows_of(a: Option<PyReadonlyArray2<'_, f64>>) -> Option<Vec<Vec<f64>>> {
    a.map(|a| {
        a.as_array()
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect()
    })
}

/// Build a [`Problem`] from Python-side settings.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_setup(
    formula: &PyFormula,
    loss: &str,
    delta: f64,
    target: &str,
    positive: Vec<bool>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    max_iter: usize,
    ftol: f64,
    xtol: f64,
    gtol: f64,
) -> PyResult<Problem> {
    let mut s = Problem::new(
        formula.inner.clone(),
        parse_loss(loss, delta)?,
        parse_target(target)?,
        positive,
    )
    .map_err(to_py)?;
    s.set_bounds(lower, upper).map_err(to_py)?;
    if max_iter == 0 {
        return Err(to_py(Error::arg("max_iter", "must be at least 1")));
    }
    s.opts = LmOptions {
        max_iter,
        ftol,
        xtol,
        gtol,
    };
    Ok(s)
}

/// Fit a formula. All arrays are float64; `columns` is (n_vars, n); `starts` is (s, p) in
/// natural coordinates or None for automatic starts (or the form's default grid).
#[pyfunction]
#[pyo3(signature = (formula, columns, y, weights, loss, delta, target, positive, lower, upper, starts, form_grid, n_auto, max_iter, ftol, xtol, gtol, n_threads))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    formula: &PyFormula,
    columns: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    loss: &str,
    delta: f64,
    target: &str,
    positive: Vec<bool>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    starts: Option<PyReadonlyArray2<'py, f64>>,
    form_grid: Option<String>,
    n_auto: usize,
    max_iter: usize,
    ftol: f64,
    xtol: f64,
    gtol: f64,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let s = make_setup(
        formula, loss, delta, target, positive, lower, upper, max_iter, ftol, xtol, gtol,
    )?;
    let data = Data::new(&s.formula, columns_of(&columns)).map_err(to_py)?;
    let y = y.as_array().to_vec();
    let w = weights.map(|w| w.as_array().to_vec());
    let mut starts = rows_of(starts);
    if starts.is_none() {
        if let Some(name) = form_grid {
            starts = builtin::default_grid(&name, s.formula.param_names());
        }
    }
    // a single given start runs on the calling thread: no pool hand-off
    let threads = if starts.as_ref().is_some_and(|st| st.len() == 1) {
        0
    } else {
        n_threads
    };
    let rep = py
        .detach(|| {
            with_threads(threads, || {
                fit_full(&s, &data, &y, w.as_deref(), starts, n_auto)
            })
        })
        .map_err(to_py)?
        .map_err(to_py)?;
    let p = s.n_params();
    let d = PyDict::new(py);
    let best = &rep.multi.best;
    d.set_item("params", best.params.clone().into_pyarray(py))?;
    d.set_item("objective", best.objective)?;
    d.set_item("status", best.status.code())?;
    d.set_item("converged", best.status.converged())?;
    d.set_item("message", best.status.message())?;
    d.set_item("n_iter", best.n_iter)?;
    d.set_item("n_eval", best.n_eval)?;
    d.set_item("best_index", rep.multi.best_index)?;
    d.set_item("objectives", rep.multi.objectives.clone().into_pyarray(py))?;
    d.set_item(
        "n_converged",
        rep.multi.statuses.iter().filter(|s| s.converged()).count(),
    )?;

    match &rep.cov {
        Some(c) => d.set_item(
            "cov",
            Array2::from_shape_vec((p, p), c.clone())
                .unwrap()
                .into_pyarray(py),
        )?,
        None => d.set_item("cov", py.None())?,
    }
    d.set_item("residuals", rep.residuals.clone().into_pyarray(py))?;
    let ns = rep.starts.len();
    let flat: Vec<f64> = rep.starts.into_iter().flatten().collect();
    d.set_item(
        "starts",
        Array2::from_shape_vec((ns, p), flat)
            .unwrap()
            .into_pyarray(py),
    )?;
    d.set_item("auto_starts", rep.auto_starts)?;
    Ok(d)
}

/// Built-in forms: list of (name, formula, variables, positive, description).
#[pyfunction]
fn forms() -> Vec<(String, String, Vec<String>, Vec<String>, String)> {
    builtin::FORMS
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                f.formula.to_string(),
                f.variables.iter().map(|s| s.to_string()).collect(),
                f.positive.iter().map(|s| s.to_string()).collect(),
                f.description.to_string(),
            )
        })
        .collect()
}

/// Termination messages by code.
#[pyfunction]
fn status_messages() -> Vec<(u8, bool, String)> {
    use crate::fit::Termination::*;
    [Ftol, Xtol, Gtol, Stalled, MaxIter, Failed]
        .iter()
        .map(|s| (s.code(), s.converged(), s.message().to_string()))
        .collect()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFormula>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(forms, m)?)?;
    m.add_function(wrap_pyfunction!(status_messages, m)?)?;
    Ok(())
}
