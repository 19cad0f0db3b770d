//! Text compared without regard to case.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// Text that Entra, Graph or HTTP compare without regard to case: user
/// principal names, role and unit display names, Graph's enum values,
/// header and host names. It is lowered once, when made, so it compares,
/// hashes and keys maps as it is, and the folding lives here alone.
///
/// `new` lowers as Unicode does (display names may be in any script);
/// `ascii` only ASCII letters, for text ASCII by definition (enum values,
/// header names, UPNs), where Unicode lowering would change nothing but
/// the cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Caseless(String);

impl Caseless {
    pub fn new(text: &str) -> Caseless {
        Caseless(text.to_lowercase())
    }

    pub fn ascii(text: &str) -> Caseless {
        Caseless(text.to_ascii_lowercase())
    }

    /// Whether two texts are the same but for ASCII case, without making
    /// either: Graph's enum values and names pim compares once.
    pub fn same(a: &str, b: &str) -> bool {
        a.eq_ignore_ascii_case(b)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Caseless {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Caseless {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Caseless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_lowered_once_and_compares_as_it_is() {
        assert_eq!(
            Caseless::new("Global Administrator").as_str(),
            "global administrator"
        );
        assert_eq!(Caseless::new("ÉQUIPE"), Caseless::new("équipe"));
        assert_eq!(Caseless::ascii("ÉQUIPE").as_str(), "Équipe");
        assert!(Caseless::same("Retry-After", "retry-after"));
        assert!(!Caseless::same("retry-after", "retry-afte"));
        let mut set = std::collections::HashSet::new();
        set.insert(Caseless::new("Helpdesk Tier 1"));
        assert!(set.contains("helpdesk tier 1"));
    }
}
