//! Thread pools: one cached pool per thread count, and panics caught at the pool boundary.

use crate::error::{Error, Result};
#[cfg(test)]
use rayon::prelude::*;

/// Most threads one call may ask for (far above any useful count; a typo such as 10**6
/// would otherwise start a million OS threads).
pub const MAX_THREADS: usize = 1024;

/// Most thread pools kept alive at once (least recently used ones are released).
const MAX_POOLS: usize = 4;

/// The number of threads "all cores" means here.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` on a pool of `n_threads` threads (0 = one per core). A panic inside `f` (a bug) is
/// caught and returned as an error, so it never unwinds into a caller such as the Python
/// bindings. Rayon's global pool is never used: a process forked after it started would
/// inherit it without its threads and hang (see [`pool`]).
pub fn with_threads<T: Send>(n_threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let guarded = move || on_this_thread(f);
    if n_threads > MAX_THREADS {
        return Err(Error::arg(
            "n_threads",
            format!(
                "at most {MAX_THREADS} threads, got {n_threads} (this machine has {} cores; 0 or None uses all of them)",
                all_cores()
            ),
        ));
    }
    let n = if n_threads == 0 {
        all_cores()
    } else {
        n_threads
    };
    pool(n)?.install(guarded)
}

/// Run `f` on the calling thread (for work too small to hand to a pool; `f` must not use
/// rayon's parallel iterators), with panics caught and returned as errors.
pub fn on_this_thread<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        let msg = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::Numerical(format!("internal error (please report this bug): {msg}"))
    })
}

/// A thread pool of `n` threads, created once per size and kept (starting threads costs
/// ~0.2 ms, as much as a whole fit); at most [`MAX_POOLS`] are kept, least recently used
/// released first. The cache belongs to the process that made it: after a `fork` the child
/// sees another process id and starts afresh (the inherited pools have no threads in the
/// child; they are leaked, never joined or dropped).
fn pool(n: usize) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    use std::sync::{Arc, Mutex, OnceLock};
    struct Cache {
        pid: u32,
        /// most recently used last
        pools: Vec<(usize, Arc<rayon::ThreadPool>)>,
    }
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let pid = std::process::id();
    let mut cache = CACHE
        .get_or_init(|| {
            Mutex::new(Cache {
                pid,
                pools: Vec::new(),
            })
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if cache.pid != pid {
        std::mem::forget(std::mem::take(&mut cache.pools));
        cache.pid = pid;
    }
    if let Some(i) = cache.pools.iter().position(|(k, _)| *k == n) {
        let entry = cache.pools.remove(i);
        let p = entry.1.clone();
        cache.pools.push(entry);
        return Ok(p);
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| {
                Error::arg(
                    "n_threads",
                    format!(
                        "could not start {n} threads ({e}): the system refuses more threads \
                         (process or memory limits); use fewer, e.g. n_threads=None (one per core)"
                    ),
                )
            })?,
    );
    if cache.pools.len() >= MAX_POOLS {
        cache.pools.remove(0);
    }
    cache.pools.push((n, p.clone()));
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

#[cfg(test)]
#[test]
fn thread_counts_are_capped_and_pools_reused() {
    let e = with_threads(MAX_THREADS + 1, || ()).unwrap_err();
    assert!(e.to_string().contains("n_threads"), "{e}");
    // more sizes than the cache keeps: each call still runs on a pool of its size
    for n in 1..=2 * MAX_POOLS {
        assert_eq!(with_threads(n, rayon::current_num_threads).unwrap(), n);
    }
    assert_eq!(
        with_threads(0, rayon::current_num_threads).unwrap(),
        all_cores()
    );
}
