//! How `pim apply` reports its steps on stderr: one line per finished step
//! for logs and CI, and on a terminal the same lines above a progress bar
//! with the count, the elapsed time and what is running.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{Progress, StepResult};
use crate::plan::Change;
use crate::render::escape::text;

/// The line a finished step is logged as.
fn step_line(change: &Change, result: &StepResult) -> String {
    // The address may come from the tenant, the detail and error from Graph.
    let address = change.address.to_string();
    let address = text(&address);
    match result {
        StepResult::Done { detail } => {
            format!("{address}: {} done ({})", change.action, text(detail))
        }
        StepResult::Failed { error } => {
            format!("{address}: {} FAILED: {}", change.action, text(error))
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
            bar.set_message(format!(
                "{} {}",
                change.action,
                text(&change.address.to_string())
            ));
        }
    }

    fn finished(&self, change: &Change, result: &StepResult) {
        let line = step_line(change, result);
        match self {
            Reporter::Lines => errln!("{line}"),
            Reporter::Bar(bar) => {
                bar.println(line);
                bar.inc(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, BlockKind, RuleSet};
    use crate::plan::{Action, Reason, RulePatch, Step};

    #[test]
    fn step_lines_show_addresses_and_graph_messages_escaped() {
        let change = Change {
            address: Address::new(BlockKind::Role, "Global Administrator")
                .with_key("eligible user:x\neligibility.fake: create done"),
            action: Action::Remove,
            reason: Reason::Exclusive,
            role: "Global Administrator".into(),
            before: None,
            after: None,
            origin: None,
            step: Step::Rules(RulePatch {
                surface: crate::model::SurfaceKind::DirectoryRole,
                policy_id: "p".into(),
                role_id: "r".into(),
                scope_id: "/".into(),
                rules: RuleSet::default(),
                settings: Vec::new(),
            }),
        };
        let failed = StepResult::Failed {
            error: "Denied\u{1b}[1A\u{1b}[2K".into(),
        };
        assert_eq!(
            step_line(&change, &failed),
            "role[\"Global Administrator\"][\"eligible user:x\\neligibility.fake: create done\"]: remove FAILED: Denied\\u{1b}[1A\\u{1b}[2K"
        );
    }
}
