//! Bindings for `crate::dimension` (kNN and intrinsic-dimension estimators).
//! Arrays arrive as C-contiguous float64 (the Python layer normalises them); heavy work runs
//! with the GIL released on a pool of `n_threads` threads (0 = rayon's global pool).
//!
//! Ctrl-C: the work runs on a helper thread while the calling thread waits without the GIL
//! and, every [`POLL`], runs Python's signal handlers (`py.check_signals()`); when one raises
//! (KeyboardInterrupt), it sets the abort flag that the kNN checks between units of work,
//! waits for the helper to stop (promptly) and re-raises.

use super::errors::to_py;
use crate::dimension::{self as est, Abscissa, TileOptions, TwoNNMethod};
use crate::dimension::{Algorithm, KnnControl};
use crate::error::{Error, Result};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;
use std::borrow::Cow;

/// Run `f` (given the kNN control for `algorithm` with an abort flag) on `n_threads` threads,
/// interruptible by Ctrl-C (see [`super::interrupt`]).
fn interruptible<T: Send>(
    py: Python<'_>,
    n_threads: usize,
    algorithm: &str,
    f: impl FnOnce(KnnControl) -> Result<T> + Send,
) -> PyResult<T> {
    let algorithm = Algorithm::parse(algorithm).map_err(to_py)?;
    super::interrupt::interruptible(py, n_threads, |abort| {
        f(KnnControl {
            algorithm,
            abort: Some(abort),
        })
    })
}

/// Borrow the data when C-contiguous (no copy), else copy it in row-major order.
fn points<'a>(x: &'a PyReadonlyArray2<'_, f64>) -> (Cow<'a, [f64]>, usize, usize) {
    let (n, dim) = x.as_array().dim();
    let v = match x.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(x.as_array().iter().copied().collect()),
    };
    (v, n, dim)
}

/// `(distances, indices)`, both (n, k).
type Neighbours<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<i64>>);

/// Exact k nearest neighbours of every row (self excluded): (distances (n, k), indices (n, k)).
#[pyfunction]
#[pyo3(signature = (x, k, n_threads=0, algorithm="auto"))]
fn knn<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    k: usize,
    n_threads: usize,
    algorithm: &str,
) -> PyResult<Neighbours<'py>> {
    let (v, n, dim) = points(&x);
    let r = interruptible(py, n_threads, algorithm, |ctl| {
        crate::dimension::knn_with(&v, n, dim, k, ctl)
    })?;
    let idx: Vec<i64> = r.indices.iter().map(|&i| i as i64).collect();
    let d = Array2::from_shape_vec((n, k), r.distances)
        .unwrap()
        .into_pyarray(py);
    let i = Array2::from_shape_vec((n, k), idx)
        .unwrap()
        .into_pyarray(py);
    Ok((d, i))
}

#[pyfunction]
#[pyo3(signature = (x, discard_fraction=0.1, method="linear", n_threads=0, algorithm="auto"))]
fn twonn<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    discard_fraction: f64,
    method: &str,
    n_threads: usize,
    algorithm: &str,
) -> PyResult<TwoNNOutput> {
    let m = match method {
        "linear" => TwoNNMethod::Linear,
        "ml" | "mle" => TwoNNMethod::Ml,
        o => {
            return Err(to_py(Error::arg(
                "method",
                format!("unknown method '{o}'; use 'linear' or 'ml'"),
            )))
        }
    };
    let (v, n, dim) = points(&x);
    let r = interruptible(py, n_threads, algorithm, |ctl| {
        est::twonn_with(&v, n, dim, discard_fraction, m, ctl)
    })?;
    Ok(TwoNNOutput {
        d: r.d,
        stderr: r.stderr,
        n_points: r.n_points,
        n_keep: r.n_keep,
        n_duplicates: r.n_duplicates,
        log_mu: r.log_mu.into_pyarray(py).unbind(),
    })
}

#[pyfunction]
#[pyo3(signature = (x, k=20, unbiased=false, n_threads=0, algorithm="auto"))]
fn mle<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    k: usize,
    unbiased: bool,
    n_threads: usize,
    algorithm: &str,
) -> PyResult<MleOutput> {
    let (v, n, dim) = points(&x);
    let r = interruptible(py, n_threads, algorithm, |ctl| {
        est::mle_with(&v, n, dim, k, unbiased, ctl)
    })?;
    Ok(MleOutput {
        d: r.d,
        stderr: r.stderr,
        n_points: r.n_points,
        n_duplicates: r.n_duplicates,
        pointwise: r.pointwise.into_pyarray(py).unbind(),
    })
}

#[pyfunction]
#[pyo3(signature = (x, sizes=None, n_sizes=6, n_draws=10, k=1, seed=0, n_boot=1000, abscissa="log", n_threads=0, algorithm="auto"))]
#[allow(clippy::too_many_arguments)]
fn tile<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    sizes: Option<Vec<usize>>,
    n_sizes: usize,
    n_draws: usize,
    k: usize,
    seed: u64,
    n_boot: usize,
    abscissa: &str,
    n_threads: usize,
    algorithm: &str,
) -> PyResult<TileOutput> {
    let abscissa = match abscissa {
        "log" => Abscissa::LogDm1,
        "digamma" => Abscissa::Digamma,
        o => {
            return Err(to_py(Error::arg(
                "abscissa",
                format!("unknown abscissa '{o}'; use 'log' (ln(D-1)) or 'digamma'"),
            )))
        }
    };
    let opts = TileOptions {
        sizes: sizes.unwrap_or_default(),
        n_sizes,
        n_draws,
        k,
        seed,
        n_boot,
        abscissa,
    };
    let (v, n, dim) = points(&x);
    let r = interruptible(py, n_threads, algorithm, |ctl| {
        est::tile_with(&v, n, dim, &opts, ctl)
    })?;
    let m = r.sizes.len();
    let sizes: Vec<i64> = r.sizes.iter().map(|&s| s as i64).collect();
    Ok(TileOutput {
        d: r.d,
        slope: r.slope,
        intercept: r.intercept,
        sizes: sizes.into_pyarray(py).unbind(),
        x: r.x.into_pyarray(py).unbind(),
        mean_log: r.mean_log.into_pyarray(py).unbind(),
        per_draw: Array2::from_shape_vec((r.n_draws, m), r.per_draw)
            .expect("n_draws x sizes values")
            .into_pyarray(py)
            .unbind(),
        local_d: r.local_d.into_pyarray(py).unbind(),
        boot_d: r.boot_d.into_pyarray(py).unbind(),
        n_draws: r.n_draws,
        k: r.k,
        n_points: r.n_points,
        n_duplicates: r.n_duplicates,
    })
}

/// What `twonn` returns (see `scalingfit.dimension.twonn`).
#[pyclass(name = "TwoNNOutput", module = "scalingfit._core", frozen, get_all)]
struct TwoNNOutput {
    d: f64,
    stderr: f64,
    n_points: usize,
    n_keep: usize,
    n_duplicates: usize,
    log_mu: Py<PyArray1<f64>>,
}

/// What `mle` returns (see `scalingfit.dimension.mle`).
#[pyclass(name = "MleOutput", module = "scalingfit._core", frozen, get_all)]
struct MleOutput {
    d: f64,
    stderr: f64,
    n_points: usize,
    n_duplicates: usize,
    pointwise: Py<PyArray1<f64>>,
}

/// What `tile` returns (see `scalingfit.dimension.tile`).
#[pyclass(name = "TileOutput", module = "scalingfit._core", frozen, get_all)]
struct TileOutput {
    d: f64,
    slope: f64,
    intercept: f64,
    sizes: Py<PyArray1<i64>>,
    x: Py<PyArray1<f64>>,
    mean_log: Py<PyArray1<f64>>,
    per_draw: Py<PyArray2<f64>>,
    local_d: Py<PyArray1<f64>>,
    boot_d: Py<PyArray1<f64>>,
    n_draws: usize,
    k: usize,
    n_points: usize,
    n_duplicates: usize,
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TwoNNOutput>()?;
    m.add_class::<MleOutput>()?;
    m.add_class::<TileOutput>()?;
    m.add_function(wrap_pyfunction!(knn, m)?)?;
    m.add_function(wrap_pyfunction!(twonn, m)?)?;
    m.add_function(wrap_pyfunction!(mle, m)?)?;
    m.add_function(wrap_pyfunction!(tile, m)?)?;
    Ok(())
}
