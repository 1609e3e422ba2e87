//! Core errors as Python exceptions.

use crate::error::Error;
use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::PyErr;

/// Map a core error to the matching Python exception.
pub(crate) fn to_py(e: Error) -> PyErr {
    match e {
        Error::InvalidArgument { .. } | Error::Parse { .. } => PyValueError::new_err(e.to_string()),
        Error::Type { .. } => PyTypeError::new_err(e.to_string()),
        Error::Memory(_) => PyMemoryError::new_err(e.to_string()),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        Error::Numerical(_) => PyRuntimeError::new_err(e.to_string()),
    }
}
