//! Thread pools: one cached pool per thread count, and panics caught at the pool boundary.

use crate::error::{Error, Result};
#[cfg(test)]
use rayon::prelude::*;

/// Run `f` on a pool of `n_threads` threads (0 = rayon's global pool). A panic inside `f`
/// (a bug) is caught and returned as an error, so it never unwinds into a caller such as
/// the Python bindings.
pub fn with_threads<T: Send>(n_threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let guarded = move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::Numerical(format!("internal error (please report this bug): {msg}"))
        })
    };
    if n_threads == 0 {
        return guarded();
    }
    pool(n_threads)?.install(guarded)
}

/// A thread pool of `n` threads, created once per size and kept (starting threads costs
/// ~0.2 ms, as much as a whole fit).
fn pool(n: usize) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Error::Numerical(format!("could not start a thread pool: {e}")))?,
    );
    pools.insert(n, p.clone());
    Ok(p)
}

#[cfg(test)]
#[test]
fn with_threads_turns_panics_into_errors() {
    let r: Result<()> = with_threads(2, || {
        (0..4).into_par_iter().for_each(|i| {
            if i == 3 {
                panic!("boom")
            }
        })
    });
    assert!(matches!(r, Err(Error::Numerical(m)) if m.contains("boom")));
}
