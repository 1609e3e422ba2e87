//! The PyO3 binding layer (cargo feature `python`). It converts numpy <-> Rust, releases the
//! GIL around heavy work with `py.detach`, and maps [`crate::Error`] to Python exceptions.
//! No numerics live here.

use pyo3::prelude::*;

mod bootstrap;
mod dimension;
mod errors;
mod fit;
mod interrupt;

/// The instruction-set level the kernels run at on this CPU: "portable", "avx2" or "avx512"
/// (chosen once at first use; `SCALINGFIT_SIMD` caps it).
#[pyfunction]
fn simd_level() -> &'static str {
    crate::simd::level().name()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_THREADS", crate::parallel::MAX_THREADS)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    fit::register(m)?;
    bootstrap::register(m)?;
    dimension::register(m)?;
    Ok(())
}
