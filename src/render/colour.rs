//! Terminal colours of the text output, and which colour each action has.

use crate::plan::Action;

/// Terminal colours of the plan output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Green,
    Cyan,
    Yellow,
    Magenta,
    Red,
    None,
}

impl Colour {
    pub fn ansi(self) -> &'static str {
        match self {
            Colour::Green => "\x1b[32m",
            Colour::Cyan => "\x1b[36m",
            Colour::Yellow => "\x1b[33m",
            Colour::Magenta => "\x1b[35m",
            Colour::Red => "\x1b[31m",
            Colour::None => "",
        }
    }
}

/// The colour an action is shown in.
pub(super) trait ActionColour {
    fn colour(self) -> Colour;
}

impl ActionColour for Action {
    fn colour(self) -> Colour {
        match self {
            Action::Create => Colour::Green,
            Action::Adopt => Colour::Cyan,
            Action::Update | Action::UpdateRules => Colour::Yellow,
            Action::Renew => Colour::Magenta,
            Action::Remove => Colour::Red,
            Action::NoOp => Colour::None,
        }
    }
}

const RESET: &str = "\x1b[0m";

/// Paints text for a terminal, or leaves it as it is. Whether to colour is
/// the command line's decision (`--color`, `NO_COLOR`, `CLICOLOR_FORCE`, a
/// terminal or not); what gets which colour is decided here, once, so that
/// errors, warnings, findings and plans look alike everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paint {
    pub colour: bool,
}

impl Paint {
    pub const PLAIN: Paint = Paint { colour: false };

    pub fn new(colour: bool) -> Paint {
        Paint { colour }
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.colour && !code.is_empty() && !s.is_empty() {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    pub fn with(self, c: Colour, s: &str) -> String {
        self.wrap(c.ansi(), s)
    }

    /// `error`, as a label: bold red.
    pub fn error(self, s: &str) -> String {
        self.wrap("\x1b[1;31m", s)
    }

    /// `warning`, as a label: bold yellow.
    pub fn warning(self, s: &str) -> String {
        self.wrap("\x1b[1;33m", s)
    }

    /// A hint or a gutter: bold cyan, as compilers show them.
    pub fn note(self, s: &str) -> String {
        self.wrap("\x1b[1;36m", s)
    }

    pub fn bold(self, s: &str) -> String {
        self.wrap("\x1b[1m", s)
    }

    pub fn dim(self, s: &str) -> String {
        self.wrap("\x1b[2m", s)
    }
}
