//! Bindings for `crate::dimension` (kNN and intrinsic-dimension estimators).

use pyo3::prelude::*;

pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
