//! How `pim apply` reports its steps on stderr: one line per finished step
//! for logs and CI, and on a terminal the same lines above a progress bar
//! with the count, the elapsed time and what is running.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{Progress, StepResult};
use crate::plan::Change;
use crate::render::escape::text;
use crate::render::{Colour, Paint};

/// The line a finished step is logged as.
fn step_line(change: &Change, result: &StepResult, paint: Paint) -> String {
    // The address may come from the tenant, the detail and error from Graph.
    let address = change.address.to_string();
    let address = text(&address);
    match result {
        StepResult::Done { detail } => format!(
            "{address}: {} {} ({})",
            change.action,
            paint.with(Colour::Green, "done"),
            text(detail)
        ),
        StepResult::Failed { error } => format!(
            "{address}: {} {}: {}",
            change.action,
            paint.error("FAILED"),
            text(error)
        ),
    }
}

/// The reporter for an apply of `steps` changes: a bar when stderr is a
/// terminal, plain lines otherwise.
pub fn for_apply(steps: usize) -> Reporter {
    if std::io::stderr().is_terminal() {
        Reporter::Bar(bar(steps, ProgressDrawTarget::stderr_with_hz(10)))
    } else {
        Reporter::Lines
    }
}

/// The bar: the count, the elapsed time and the running step's whole
/// address, cut only where the terminal ends (`wide_msg` takes what the
/// rest of the line leaves).
fn bar(steps: usize, target: ProgressDrawTarget) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(steps as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn running(change: &Change) -> String {
    format!("{} {}", change.action, text(&change.address.to_string()))
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
            bar.set_message(running(change));
        }
    }

    fn finished(&self, change: &Change, result: &StepResult) {
        let line = step_line(change, result, super::colour::stderr());
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

    fn change(address: Address) -> Change {
        Change {
            address,
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
        }
    }

    /// A terminal of a given width that keeps what is drawn on its last line.
    #[derive(Debug, Clone, Default)]
    struct Screen {
        width: u16,
        lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.lines.lock().unwrap().push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn drawn(width: u16, message: &str) -> String {
        let screen = Screen {
            width,
            ..Screen::default()
        };
        let b = bar(3, ProgressDrawTarget::term_like(Box::new(screen.clone())));
        b.set_message(message.to_string());
        b.tick();
        // The last frame drawn (padding is written apart from it).
        let written = screen.lines.lock().unwrap().clone();
        written
            .into_iter()
            .rev()
            .find(|w| !w.trim().is_empty())
            .unwrap_or_default()
    }

    #[test]
    fn the_bar_shows_the_whole_address_where_the_terminal_has_room() {
        let address = Address::new(BlockKind::Assignment, "ivan_ua_paris_office_helpdesk_rota")
            .with_key("user:ivan@contoso.com");
        let message = running(&change(address.clone()));
        let line = drawn(200, &message);
        assert!(line.contains(&address.to_string()), "{line:?}");
        // On a narrow terminal it is cut at the terminal's edge, not before.
        let narrow = drawn(70, &message);
        assert_eq!(console_width(narrow.trim_end()), 70, "{narrow:?}");
        assert!(narrow.ends_with("remove assignment.ivan_"), "{narrow:?}");
    }

    fn console_width(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn step_lines_show_addresses_and_graph_messages_escaped() {
        let change = change(
            Address::new(BlockKind::Role, "Global Administrator")
                .with_key("eligible user:x\neligibility.fake: create done"),
        );
        let failed = StepResult::Failed {
            error: "Denied\u{1b}[1A\u{1b}[2K".into(),
        };
        assert_eq!(
            step_line(&change, &failed, Paint::PLAIN),
            "role[\"Global Administrator\"][\"eligible user:x\\neligibility.fake: create done\"]: remove FAILED: Denied\\u{1b}[1A\\u{1b}[2K"
        );
    }
}
