//! Crash points: the steps between two writes where a process that dies leaves half a story
//! (the work committed and its ledger row still `running`; the event out and not recorded; the
//! file uploaded and not recorded). The soak (`make soak`, issue 30) kills a function exactly
//! there: a kill timed from outside cannot land between two statements a millisecond apart.
//!
//! Armed by a file: `$TIS_SYNC_CRASH_POINTS/<point>` (the local cloud's soak flavour sets the
//! directory). The first process to reach the point removes the file, which only one can, and
//! aborts: no unwinding, no destructors, as a `kill -9` or Lambda's timeout. Compiled out of
//! release builds, so the deployed artifact has no such path.

/// Dies here if `point` is armed (debug builds only).
#[inline]
pub fn reached(point: &str) {
    #[cfg(debug_assertions)]
    if let Some(dir) = std::env::var_os("TIS_SYNC_CRASH_POINTS").filter(|d| !d.is_empty()) {
        if std::fs::remove_file(std::path::Path::new(&dir).join(point)).is_ok() {
            tracing::warn!(point, "crash point reached: the process aborts here");
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}
