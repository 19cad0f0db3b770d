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
