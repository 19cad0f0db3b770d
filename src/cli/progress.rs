//! How `pim apply` reports its steps on stderr: one line per finished step
//! for logs and CI, and on a terminal the same lines above a progress bar
//! with the count, the elapsed time and what is running.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{Progress, StepResult};
use crate::plan::Change;

/// The line a finished step is logged as.
fn step_line(change: &Change, result: &StepResult) -> String {
    match result {
        StepResult::Done { detail } => {
            format!("{}: {} done ({detail})", change.address, change.action)
        }
        StepResult::Failed { error } => {
            format!("{}: {} FAILED: {error}", change.address, change.action)
        }
    }
}

/// The reporter for an apply of `steps` changes: a bar when stderr is a
/// terminal, plain lines otherwise.
pub fn for_apply(steps: usize) -> Reporter {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(
            Some(steps as u64),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} steps  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Reporter::Bar(bar)
    } else {
        Reporter::Lines
    }
}

pub enum Reporter {
    /// One line per finished step.
    Lines,
    /// The lines, above a bar.
    Bar(ProgressBar),
}

impl Reporter {
    /// Takes the bar off the screen, leaving the lines.
    pub fn finish(&self) {
        if let Reporter::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Reporter {
    fn started(&self, change: &Change) {
        if let Reporter::Bar(bar) = self {
            bar.set_message(format!("{} {}", change.action, change.address));
        }
    }

    fn finished(&self, change: &Change, result: &StepResult) {
        let line = step_line(change, result);
        match self {
            Reporter::Lines => eprintln!("{line}"),
            Reporter::Bar(bar) => {
                bar.println(line);
                bar.inc(1);
            }
        }
    }
}
