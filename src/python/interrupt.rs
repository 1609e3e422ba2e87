//! Long calls that stop on Ctrl-C: the work runs in a worker thread with an abort flag while
//! the calling thread waits without the GIL and polls Python's signal handlers.

use super::errors::to_py;
use crate::error::{Error, Result};
use crate::parallel::with_threads;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How often a waiting call checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// Run `f` on `n_threads` threads in a worker thread, while this thread waits without the GIL
/// and checks for Ctrl-C every [`POLL`]; on Ctrl-C it sets the abort flag `f` receives, waits
/// for `f` to stop (the work checks the flag between small units) and raises
/// KeyboardInterrupt. Panics become errors (`with_threads`).
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    n_threads: usize,
    f: impl FnOnce(&AtomicBool) -> Result<T> + Send,
) -> PyResult<T> {
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<()>();
    // a Mutex makes the receiver shareable with the GIL-free waits (it is only used here)
    let rx = std::sync::Mutex::new(rx);
    let wait = |timeout: Option<Duration>| {
        let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            Some(t) => !matches!(rx.recv_timeout(t), Err(mpsc::RecvTimeoutError::Timeout)),
            None => {
                let _ = rx.recv();
                true
            }
        }
    };
    std::thread::scope(|s| {
        let flag = &abort;
        let worker = std::thread::Builder::new()
            .spawn_scoped(s, move || {
                let r = with_threads(n_threads, || f(flag));
                let _ = tx.send(());
                r
            })
            .map_err(|e| {
                to_py(Error::Memory(format!(
                    "could not start a worker thread ({e}): the system refuses more threads \
                     (process or memory limits)"
                )))
            })?;
        let mut interrupt = None;
        loop {
            let done = py.detach(|| wait(Some(POLL)));
            if done {
                break;
            }
            if let Err(e) = py.check_signals() {
                abort.store(true, Ordering::Relaxed);
                interrupt = Some(e);
                py.detach(|| wait(None));
                break;
            }
        }
        let r = worker.join().map_err(|_| {
            to_py(Error::Numerical(
                "internal error: the worker thread panicked".into(),
            ))
        })?;
        if let Some(e) = interrupt {
            return Err(e);
        }
        r.map_err(to_py)?.map_err(to_py)
    })
}
