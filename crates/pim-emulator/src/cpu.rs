//! CPU time for the statistics: the whole process's, and the calling
//! thread's (to charge handlers with what they spend, apart from the TLS,
//! HTTP and, in-process, the client sharing the process).

/// User and system CPU the process has used, in seconds.
#[cfg(unix)]
pub(crate) fn process_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes the struct it is given, which is
    // valid and large enough; it is read only when the call succeeded.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(usage.ru_utime) + secs(usage.ru_stime))
}

#[cfg(not(unix))]
pub(crate) fn process_seconds() -> Option<f64> {
    None
}

/// CPU the calling thread has used, in nanoseconds.
#[cfg(unix)]
pub(crate) fn thread_nanos() -> Option<u64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return None;
    }
    Some(u64::try_from(t.tv_sec).ok()? * 1_000_000_000 + u64::try_from(t.tv_nsec).ok()?)
}

#[cfg(not(unix))]
pub(crate) fn thread_nanos() -> Option<u64> {
    None
}

/// Run `f` and add the CPU the thread spent in it to `total` (nanoseconds).
/// Handlers are synchronous, so that is all theirs.
pub(crate) fn charged<T>(total: &std::sync::atomic::AtomicU64, f: impl FnOnce() -> T) -> T {
    let before = thread_nanos();
    let out = f();
    if let (Some(b), Some(a)) = (before, thread_nanos()) {
        total.fetch_add(a.saturating_sub(b), std::sync::atomic::Ordering::Relaxed);
    }
    out
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn cpu_clocks_advance_with_work() {
        let total = std::sync::atomic::AtomicU64::new(0);
        let p0 = process_seconds().unwrap();
        let n = charged(&total, || {
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            x
        });
        std::hint::black_box(n);
        assert!(total.load(std::sync::atomic::Ordering::Relaxed) > 0);
        assert!(process_seconds().unwrap() > p0);
    }
}
