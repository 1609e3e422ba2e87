//! Memory guards: a request for more memory than the machine can give is refused with
//! [`Error::Memory`] (Python `MemoryError`, naming the argument and the way out) before any
//! work starts, instead of letting the allocator abort the process or the kernel's OOM killer
//! end it half-way. The limit is half of the memory this process may use: the smallest of the
//! physical memory (Linux `/proc/meminfo`), the address-space limit (`ulimit -v`, from
//! `/proc/self/limits`) and the cgroup memory limit (containers, Slurm jobs); no limit where
//! none can be read, so other platforms rely on `try_reserve`.

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// Bytes of physical memory, when the platform says.
pub fn physical_memory() -> Option<u64> {
    static MEM: OnceLock<Option<u64>> = OnceLock::new();
    *MEM.get_or_init(|| {
        let s = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib.saturating_mul(1024))
    })
}

/// The soft address-space limit of this process (`ulimit -v`), when there is one.
fn address_space_limit() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The cgroup (v2, else v1) memory limit of this process, when there is one.
fn cgroup_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok())
    .find(|&v| v > 0 && v < (1u64 << 62))
}

/// Bytes of memory this process may use: the smallest of [`physical_memory`], the
/// address-space limit and the cgroup limit (read at each call: limits can change).
pub fn memory_limit() -> Option<u64> {
    [physical_memory(), address_space_limit(), cgroup_limit()]
        .into_iter()
        .flatten()
        .min()
}

/// The most one call may ask for: half of [`memory_limit`] (`u64::MAX` when unknown).
pub fn budget() -> u64 {
    memory_limit().map_or(u64::MAX, |m| m / 2)
}

fn gib(b: f64) -> String {
    format!("{:.3} GiB", b / (1u64 << 30) as f64)
}

/// Requests up to this size (64 MiB) are always allowed: every fit checks its workspace, and
/// reading the limits costs more than a small fit.
const SMALL: u128 = 1 << 26;

/// Refuse a request of `count` items of `bytes_each` bytes (overflow counts as too large) when
/// it exceeds [`budget`]. `arg` names the argument that sets the size, `what` says what the
/// memory is for (formatted only for a refusal: pass `format_args!` on hot paths), and `fix`
/// how to ask for less.
pub fn check(
    arg: &str,
    what: impl std::fmt::Display,
    count: usize,
    bytes_each: usize,
    fix: &str,
) -> Result<()> {
    let need = (count as u128) * (bytes_each as u128);
    if need <= SMALL {
        return Ok(()); // without reading the limits (files under /proc and /sys: ~50 us)
    }
    let limit = budget();
    if need > limit as u128 {
        let have = memory_limit()
            .map(|m| format!(" (half of the {} this process may use)", gib(m as f64)))
            .unwrap_or_default();
        return Err(Error::Memory(format!(
            "{arg}: {what} would need {} but at most {}{have} may be used; {fix}",
            gib(need as f64),
            gib(limit as f64)
        )));
    }
    Ok(())
}

/// `Vec::try_with_capacity` with the refusal of [`check`] first and an [`Error::Memory`]
/// instead of an abort when the allocator fails.
pub fn try_vec<T>(arg: &str, what: &str, len: usize, fix: &str) -> Result<Vec<T>> {
    check(arg, what, len, std::mem::size_of::<T>().max(1), fix)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::Memory(format!(
            "{arg}: could not allocate {} for {what}; {fix}",
            gib((len as f64) * std::mem::size_of::<T>() as f64)
        ))
    })?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_requests_are_refused_not_aborted() {
        let e = check("k", "the neighbour lists", usize::MAX, 16, "lower k").unwrap_err();
        assert!(matches!(e, Error::Memory(_)));
        assert!(e
            .to_string()
            .starts_with("k: the neighbour lists would need"));
        assert!(try_vec::<f64>("n", "x", usize::MAX / 2, "less").is_err());
        let v = try_vec::<f64>("n", "x", 10, "less").unwrap();
        assert!(v.capacity() >= 10 && v.is_empty());
        check("k", "a little", 1000, 8, "").unwrap();
    }
}
