//! The PyO3 binding layer (cargo feature `python`). It converts numpy <-> Rust, releases the
//! GIL around heavy work with `py.detach`, and maps [`crate::Error`] to Python exceptions.
//! No numerics live here.

use crate::error::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

mod bootstrap;
mod dimension;
mod fit;

/// Map a core error to the matching Python exception.
pub(crate) fn to_py(e: Error) -> PyErr {
    match e {
        Error::InvalidArgument { .. } | Error::Parse { .. } => PyValueError::new_err(e.to_string()),
        Error::Type { .. } => PyTypeError::new_err(e.to_string()),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        Error::Numerical(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    fit::register(m)?;
    bootstrap::register(m)?;
    dimension::register(m)?;
    Ok(())
}
