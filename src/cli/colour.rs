//! Whether the output is coloured: `--color`, then the conventions of the
//! environment (`NO_COLOR`, `CLICOLOR_FORCE`, `FORCE_COLOR`, `CLICOLOR`,
//! `TERM=dumb`), then whether the stream is a terminal. Decided once per
//! stream, for stdout and stderr separately (`pim plan > plan.txt` on a
//! terminal keeps its errors coloured and its plan plain).

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::sync::OnceLock;

use crate::render::Paint;

/// `--color`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set; always with CLICOLOR_FORCE or FORCE_COLOR.
    #[default]
    Auto,
    /// Always, even into a file or a pipe.
    Always,
    /// Never.
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Records the command line's choice; the first call wins.
pub fn choose(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

fn choice() -> ColorChoice {
    CHOICE.get().copied().unwrap_or_default()
}

/// How text written to stdout is painted.
pub fn stdout() -> Paint {
    Paint::new(decide(choice(), std::io::stdout().is_terminal(), |k| {
        std::env::var_os(k)
    }))
}

/// How text written to stderr is painted.
pub fn stderr() -> Paint {
    Paint::new(decide(choice(), std::io::stderr().is_terminal(), |k| {
        std::env::var_os(k)
    }))
}

/// The decision, with the environment passed in. An explicit `--color`
/// wins over the environment; among the variables `NO_COLOR` wins, as
/// no-color.org asks ("regardless of its value", when not empty).
fn decide(choice: ColorChoice, terminal: bool, env: impl Fn(&str) -> Option<OsString>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                return false;
            }
            // CLICOLOR_FORCE: "set and not 0"; FORCE_COLOR as Node's tools
            // read it, where 0 and false turn it off.
            let forced = |k: &str, off: &[&str]| {
                env(k).is_some_and(|v| !off.iter().any(|o| v.eq_ignore_ascii_case(o)))
            };
            if forced("CLICOLOR_FORCE", &["0"]) || forced("FORCE_COLOR", &["0", "false"]) {
                return true;
            }
            if env("CLICOLOR").is_some_and(|v| v == "0") {
                return false;
            }
            terminal && env("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| {
            vars.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn auto_colours_a_terminal_only() {
        assert!(decide(ColorChoice::Auto, true, with(&[])));
        assert!(!decide(ColorChoice::Auto, false, with(&[])));
        assert!(!decide(ColorChoice::Auto, true, with(&[("TERM", "dumb")])));
        assert!(!decide(ColorChoice::Auto, true, with(&[("CLICOLOR", "0")])));
    }

    #[test]
    fn no_color_wins_among_the_variables_and_empty_means_unset() {
        assert!(!decide(ColorChoice::Auto, true, with(&[("NO_COLOR", "1")])));
        assert!(!decide(
            ColorChoice::Auto,
            false,
            with(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])
        ));
        assert!(decide(ColorChoice::Auto, true, with(&[("NO_COLOR", "")])));
    }

    #[test]
    fn forcing_colours_a_pipe_unless_it_says_zero() {
        for forced in [
            ("CLICOLOR_FORCE", "1"),
            ("FORCE_COLOR", "1"),
            ("FORCE_COLOR", ""),
        ] {
            assert!(
                decide(ColorChoice::Auto, false, with(&[forced])),
                "{forced:?}"
            );
        }
        for off in [
            ("CLICOLOR_FORCE", "0"),
            ("FORCE_COLOR", "0"),
            ("FORCE_COLOR", "false"),
        ] {
            assert!(!decide(ColorChoice::Auto, false, with(&[off])), "{off:?}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        assert!(decide(
            ColorChoice::Always,
            false,
            with(&[("NO_COLOR", "1")])
        ));
        assert!(!decide(
            ColorChoice::Never,
            true,
            with(&[("CLICOLOR_FORCE", "1")])
        ));
    }
}
