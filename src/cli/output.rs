//! Where the command line writes. Every write to stdout goes through
//! [`out!`] and [`outln!`], which turn a closed stdout (`pim plan | head -1`)
//! into [`StdoutClosed`]: the command stops where it is, unwinding through
//! its usual error path (so a lock is still released), and pim exits with
//! [`STDOUT_CLOSED`] instead of panicking. SIGPIPE stays ignored, as Rust
//! sets it: restoring it would also let a dropped connection of the
//! embedded emulator or the Graph client kill the process.
//!
//! Writes to stderr ([`errln!`]) ignore failure: there is nowhere left to
//! report it, and a closed stderr must not stop an apply half-way.

use std::fmt;
use std::io::{self, Write as _};

/// The reader of stdout went away before everything was written.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed before all output was written")]
pub struct StdoutClosed;

/// The exit status when stdout was closed: 128 + SIGPIPE, what a shell
/// reports for a program the signal ended. Not 0: the output was not
/// delivered; not 1, so a script can tell it from a failed run.
pub const STDOUT_CLOSED: u8 = 141;

/// Writes to stdout and flushes, so a closed pipe is found at the write
/// that meets it.
pub fn write_stdout(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

pub fn write_stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Whether an error is, or was caused by, a closed stdout.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// `print!` that returns `anyhow::Result<()>`; see the module.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that returns `anyhow::Result<()>`; see the module.
macro_rules! outln {
    () => {
        $crate::cli::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => {
        $crate::cli::output::write_stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
