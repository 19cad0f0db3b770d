//! pim's exit statuses: one value per meaning, so no command can say
//! "changes" or "drift" when it means "error".

use std::process::ExitCode;

/// What a command's exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, no changes, no drift, valid.
    Ok,
    /// 1: an error of any kind: bad usage or input, a refused plan, a failed
    /// step, findings with `--strict`.
    Error,
    /// 2: `plan --detailed-exitcode` has changes.
    Changes,
    /// 2: `drift` found drift.
    Drift,
    /// 2: a self-service request refused by the role's rules or by Graph.
    Refused,
    /// 3: `fmt --check` would change a file.
    WouldChange,
    /// 3: `activate --wait` timed out; the request still stands.
    TimedOut,
    /// 4: the request was denied, failed or was canceled while waiting.
    Denied,
    /// 141: stdout was closed before everything was written.
    StdoutClosed,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Changes | Exit::Drift | Exit::Refused => 2,
            Exit::WouldChange | Exit::TimedOut => 3,
            Exit::Denied => 4,
            Exit::StdoutClosed => super::output::STDOUT_CLOSED,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
