//! Bindings for the formula compiler and the fitter.

use super::errors::to_py;
use super::interrupt::interruptible;
use crate::error::Error;
use crate::expr::{Data, EvalWs, Formula};
use crate::fit::{fit_full, LmOptions, Loss, Problem, Target, Termination};
use crate::forms as builtin;
use crate::parallel::on_this_thread;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

/// Model values and, when asked for, the (n, p) Jacobian.
type Evaluation<'py> = (Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyAny>>);

/// What `Formula.__reduce__` returns: the class and its constructor's (source, variables).
type Reduced<'py> = (Bound<'py, PyAny>, (String, Vec<String>));

/// A built-in form: (name, formula, variables, positive parameters, description).
type FormRow = (String, String, Vec<String>, Vec<String>, String);

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
    /// Pickling (and `copy.deepcopy`): a formula is rebuilt from its source and variables,
    /// which compile to the same tape.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduced<'py>> {
        let me = slf.get();
        Ok((
            slf.get_type().into_any(),
            (me.inner.source().to_string(), me.inner.var_names().to_vec()),
        ))
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
    ) -> PyResult<Evaluation<'py>> {
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

/// A fitting problem: the compiled formula, loss, target scale, log-space (positive)
/// parameters, bounds and the solver's limits, checked once and passed to `fit` and
/// `Bootstrapper`. Options are keyword-only, so no two can be swapped by position.
#[pyclass(name = "Problem", module = "scalingfit._core", frozen)]
pub(crate) struct PyProblem {
    pub(crate) inner: Problem,
}

#[pymethods]
impl PyProblem {
    #[new]
    #[pyo3(signature = (formula, *, loss, delta, target, positive, lower, upper, max_iter, ftol, xtol, gtol))]
    #[allow(clippy::too_many_arguments)]
    fn new(
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
    ) -> PyResult<Self> {
        let mut inner = Problem::new(
            formula.inner.clone(),
            parse_loss(loss, delta)?,
            parse_target(target)?,
            positive,
        )
        .map_err(to_py)?;
        inner.set_bounds(lower, upper).map_err(to_py)?;
        if max_iter == 0 {
            return Err(to_py(Error::arg("max_iter", "must be at least 1")));
        }
        inner.opts = LmOptions {
            max_iter,
            ftol,
            xtol,
            gtol,
        };
        Ok(PyProblem { inner })
    }
    #[getter]
    fn n_params(&self) -> usize {
        self.inner.n_params()
    }
    #[getter]
    fn param_names(&self) -> Vec<String> {
        self.inner.formula.param_names().to_vec()
    }
}

/// Why a Levenberg-Marquardt run stopped (the codes of `FitOutput.status` and of the
/// bootstrap's per-resample status array).
#[pyclass(name = "Termination", module = "scalingfit._core", eq, eq_int, frozen)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PyTermination {
    Ftol = 0,
    Xtol = 1,
    Gtol = 2,
    Stalled = 3,
    MaxIter = 4,
    Failed = 5,
    Diverged = 6,
}

#[pymethods]
impl PyTermination {
    /// Whether this termination counts as converged.
    #[getter]
    fn converged(&self) -> bool {
        self.core().converged()
    }
    /// A one-line explanation.
    #[getter]
    fn message(&self) -> &'static str {
        self.core().message()
    }
}

impl PyTermination {
    fn core(self) -> Termination {
        match self {
            PyTermination::Ftol => Termination::Ftol,
            PyTermination::Xtol => Termination::Xtol,
            PyTermination::Gtol => Termination::Gtol,
            PyTermination::Stalled => Termination::Stalled,
            PyTermination::MaxIter => Termination::MaxIter,
            PyTermination::Failed => Termination::Failed,
            PyTermination::Diverged => Termination::Diverged,
        }
    }
    fn of(t: Termination) -> PyTermination {
        match t {
            Termination::Ftol => PyTermination::Ftol,
            Termination::Xtol => PyTermination::Xtol,
            Termination::Gtol => PyTermination::Gtol,
            Termination::Stalled => PyTermination::Stalled,
            Termination::MaxIter => PyTermination::MaxIter,
            Termination::Failed => PyTermination::Failed,
            Termination::Diverged => PyTermination::Diverged,
        }
    }
}

/// What `fit` returns: the best start's optimum (natural coordinates), how it stopped, every
/// start's objective, the covariance (None when singular), residuals and the starts run.
#[pyclass(name = "FitOutput", module = "scalingfit._core", frozen, get_all)]
pub(crate) struct FitOutput {
    params: Py<PyArray1<f64>>,
    objective: f64,
    termination: PyTermination,
    n_iter: usize,
    n_eval: usize,
    best_index: usize,
    objectives: Py<PyArray1<f64>>,
    n_converged: usize,
    cov: Option<Py<PyArray2<f64>>>,
    residuals: Py<PyArray1<f64>>,
    starts: Py<PyArray2<f64>>,
    auto_starts: bool,
    sensitivity: Py<PyArray1<f64>>,
    model_max: f64,
    /// with `Termination.Diverged`, the names of the parameters that run off
    diverging: Vec<String>,
}

/// Memory held per start during a multi-start fit besides 32 bytes per parameter (the start,
/// its result and their bookkeeping).
pub(crate) const START_BYTES: usize = 256;

/// Fit a problem to data. `columns` is (n_vars, n) float64; `starts` is (s, p) in natural
/// coordinates, or None for automatic starts (or the built-in form `form_grid`'s grid).
#[pyfunction]
#[pyo3(signature = (problem, columns, y, *, weights=None, starts=None, form_grid=None, n_auto=64, n_threads=0))]
#[allow(clippy::too_many_arguments)]
fn fit(
    py: Python<'_>,
    problem: &PyProblem,
    columns: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray1<'_, f64>,
    weights: Option<PyReadonlyArray1<'_, f64>>,
    starts: Option<PyReadonlyArray2<'_, f64>>,
    form_grid: Option<String>,
    n_auto: usize,
    n_threads: usize,
) -> PyResult<FitOutput> {
    let s = &problem.inner;
    let data = Data::new(&s.formula, columns_of(&columns)).map_err(to_py)?;
    let y = y.as_array().to_vec();
    let w = weights.map(|w| w.as_array().to_vec());
    if let Some(st) = &starts {
        let (ns, p) = st.as_array().dim();
        crate::mem::check(
            "starts",
            format_args!("{ns} starts"),
            ns,
            START_BYTES + 32 * p,
            "pass fewer starts (a coarser grid) or run them in batches",
        )
        .map_err(to_py)?;
    }
    let mut starts = rows_of(starts);
    if starts.is_none() {
        if let Some(name) = form_grid {
            let y_max = y.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
            starts = builtin::default_grid(&name, s.formula.param_names(), y_max);
        }
    }
    let rep = if starts.as_ref().is_some_and(|st| st.len() == 1) {
        // a single given start (microseconds) runs on the calling thread: no hand-off
        py.detach(|| on_this_thread(|| fit_full(s, &data, &y, w.as_deref(), starts, n_auto, None)))
            .map_err(to_py)?
            .map_err(to_py)?
    } else {
        interruptible(py, n_threads, |abort| {
            fit_full(s, &data, &y, w.as_deref(), starts, n_auto, Some(abort))
        })?
    };
    let p = s.n_params();
    let best = &rep.multi.best;
    let ns = rep.starts.len();
    let flat: Vec<f64> = rep.starts.into_iter().flatten().collect();
    let matrix = |rows: usize, v: Vec<f64>| {
        Array2::from_shape_vec((rows, p), v)
            .expect("rows x p values")
            .into_pyarray(py)
            .unbind()
    };
    Ok(FitOutput {
        params: best.params.clone().into_pyarray(py).unbind(),
        objective: best.objective,
        termination: PyTermination::of(best.status),
        n_iter: best.n_iter,
        n_eval: best.n_eval,
        best_index: rep.multi.best_index,
        objectives: rep.multi.objectives.into_pyarray(py).unbind(),
        n_converged: rep.multi.statuses.iter().filter(|s| s.converged()).count(),
        cov: rep.cov.map(|c| matrix(p, c)),
        residuals: rep.residuals.into_pyarray(py).unbind(),
        starts: matrix(ns, flat),
        auto_starts: rep.auto_starts,
        sensitivity: rep.sensitivity.into_pyarray(py).unbind(),
        model_max: rep.model_max,
        diverging: best
            .diverging
            .iter()
            .map(|&k| s.formula.param_names()[k].clone())
            .collect(),
    })
}

/// Built-in forms: list of (name, formula, variables, positive, description).
#[pyfunction]
fn forms() -> Vec<FormRow> {
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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFormula>()?;
    m.add_class::<PyProblem>()?;
    m.add_class::<PyTermination>()?;
    m.add_class::<FitOutput>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(forms, m)?)?;
    Ok(())
}
