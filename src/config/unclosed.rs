//! Finding the `{` a file leaves open. The parser notices a missing `}`
//! only where the input ends, which tells the user nothing; the block that
//! lacks it is found here by matching braces outside strings, templates'
//! literal text, heredocs and comments.

/// An opening `{` that is never closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unclosed {
    /// Byte offset of the first non-blank character of its line: where the
    /// block header starts.
    pub start: usize,
    /// Byte offset of the `{` itself.
    pub brace: usize,
    pub opener: Opener,
}

/// What the `{` opens, as far as its line tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Opener {
    /// A block, named as written: `eligibility "bob"`.
    Block(String),
    /// An object value of an attribute: `tags = {`.
    Object(String),
    /// Anything else, such as an object inside a list.
    Brace,
}

impl Opener {
    /// How a message names it: `eligibility "bob"`, `the object of tags`.
    pub fn describe(&self) -> String {
        match self {
            Opener::Block(name) => name.clone(),
            Opener::Object(attr) => format!("the object of {attr}"),
            Opener::Brace => "this {".to_string(),
        }
    }

    /// What to do about it, given the line it was opened at.
    pub fn hint(&self, line: usize) -> String {
        match self {
            Opener::Brace => format!("add its closing }} (opened at line {line})"),
            _ => format!(
                "add the closing }} of {} (opened at line {line})",
                self.describe()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Brace {
        at: usize,
        indent: usize,
    },
    /// `${` or `%{` inside a quoted string: code until its `}`.
    Template,
}

/// The `{` left open at the end of `src`, or `None` when every brace is
/// closed or the text cannot be followed (an unterminated string, comment or
/// heredoc, a stray `}`): then the parser's own position is the better guess.
pub(super) fn find(src: &str) -> Option<Unclosed> {
    let b = src.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_string = false;
    // A `}` less indented than the block it closes, and lined up with an
    // outer one instead, may have been meant for the outer block: then the
    // block it closed is the one that lacks its own `}`. (The `{` closed,
    // the outer `{`.) Only an outer block still open at the end bears it out.
    let mut misclosed: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                b'\n' => return None,
                b'$' | b'%' if b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&b'{') => i += 2,
                b'$' | b'%' if b.get(i + 1) == Some(&b'{') => {
                    stack.push(Frame::Template);
                    in_string = false;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'#' => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2 + find_bytes(&b[i + 2..], b"*/")? + 1;
            }
            b'<' if b.get(i + 1) == Some(&b'<') => {
                if let Some(end) = heredoc_end(b, i) {
                    i = end;
                    continue;
                }
                i += 1;
            }
            b'{' => stack.push(Frame::Brace {
                at: i,
                indent: indent_of(b, i),
            }),
            b'}' => match stack.pop()? {
                Frame::Template => in_string = true,
                Frame::Brace { at, indent } => {
                    let own = indent_of(b, i);
                    let first_on_line = b[line_start(b, i) + own..i].is_empty();
                    let outer = stack.iter().rev().find_map(|f| match f {
                        Frame::Brace { at, indent } if *indent == own => Some(*at),
                        _ => None,
                    });
                    if let Some(outer) = outer
                        && first_on_line
                        && own < indent
                    {
                        misclosed.push((at, outer));
                    }
                }
            },
            _ => {}
        }
        i += 1;
    }
    if in_string || stack.iter().any(|f| matches!(f, Frame::Template)) {
        return None;
    }
    let open: Vec<usize> = stack
        .iter()
        .filter_map(|f| match f {
            Frame::Brace { at, .. } => Some(*at),
            Frame::Template => None,
        })
        .collect();
    let innermost = *open.last()?;
    let brace = misclosed
        .iter()
        .find(|(_, outer)| open.contains(outer))
        .map_or(innermost, |(at, _)| *at);
    let start = line_start(b, brace) + indent_of(b, brace);
    Some(Unclosed {
        start,
        brace,
        opener: opener(&src[start..brace]),
    })
}

fn line_start(b: &[u8], i: usize) -> usize {
    b[..i]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1)
}

/// The offset of the newline ending the line at `i` (or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p)
}

fn indent_of(b: &[u8], i: usize) -> usize {
    let s = line_start(b, i);
    b[s..i]
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count()
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// For `<<EOF` or `<<-EOF` at `i`, the offset just past the line closing
/// it. `None` when `<<` does not start a heredoc, or nothing closes it (which
/// the caller cannot tell apart: it then scans on as if it were code, and
/// the parser's position is used if that goes wrong).
fn heredoc_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 2;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    let name_start = j;
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    {
        j += 1;
    }
    let name = &b[name_start..j];
    if name.is_empty() {
        return None;
    }
    if b.get(j) == Some(&b'\r') {
        j += 1;
    }
    if b.get(j) != Some(&b'\n') {
        return None;
    }
    let mut line = j + 1;
    while line < b.len() {
        let end = line_end(b, line);
        let text = b[line..end].trim_ascii();
        if text == name {
            return Some(end);
        }
        line = end + 1;
    }
    None
}

/// Reads a block header (`type "label" label`) or an attribute name
/// (`name =`) from the text before a `{`.
fn opener(head: &str) -> Opener {
    let head = head.trim();
    if let Some(attr) = head.strip_suffix('=').map(str::trim_end)
        && is_identifier(attr)
    {
        return Opener::Object(attr.to_string());
    }
    let mut words = Vec::new();
    let mut rest = head;
    while !rest.is_empty() {
        let word = if rest.starts_with('"') {
            match quoted_len(rest) {
                Some(n) => &rest[..n],
                None => return Opener::Brace,
            }
        } else {
            let n = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            &rest[..n]
        };
        if !(word.starts_with('"') || is_identifier(word))
            || (words.is_empty() && word.starts_with('"'))
        {
            return Opener::Brace;
        }
        words.push(word);
        rest = rest[word.len()..].trim_start();
    }
    if words.is_empty() {
        Opener::Brace
    } else {
        Opener::Block(words.join(" "))
    }
}

/// The length of the quoted string `s` starts with, quotes included.
fn quoted_len(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(src: &str) -> Option<(usize, Opener)> {
        find(src).map(|u| {
            assert_eq!(&src[u.brace..=u.brace], "{");
            let line = src[..u.start].matches('\n').count() + 1;
            (line, u.opener)
        })
    }

    fn block(name: &str) -> Opener {
        Opener::Block(name.to_string())
    }

    #[test]
    fn balanced_text_has_nothing_open() {
        assert_eq!(open("a {\n  b = 1\n}\n"), None);
        assert_eq!(open(""), None);
        assert_eq!(open("a \"x\" {\n  b { c = { d = 1 } }\n}\n"), None);
    }

    #[test]
    fn names_the_block_left_open_before_a_closed_one() {
        let src = "eligibility \"alice\" {\n  role = \"Global Reader\"\n\neligibility \"bob\" {\n  role = \"Global Reader\"\n}\n";
        assert_eq!(open(src), Some((1, block("eligibility \"alice\""))));
    }

    #[test]
    fn the_last_block_left_open() {
        let src = "tenant {\n  id = \"x\"\n}\n\npolicy \"Global Administrator\" {\n  activation {\n    require_mfa = true\n  }\n";
        assert_eq!(
            open(src),
            Some((5, block("policy \"Global Administrator\"")))
        );
    }

    #[test]
    fn a_nested_block_closed_by_its_parents_brace() {
        // The `}` at column 1 lines up with policy, not with activation.
        let src = "policy \"GA\" {\n  activation {\n    require_mfa = true\n\n}\n\nrole \"GA\" {\n  exclusive = true\n}\n";
        assert_eq!(open(src), Some((2, block("activation"))));
    }

    #[test]
    fn sloppy_indentation_alone_is_not_blamed() {
        let src = "a {\n    x = {\n  }\n}\nb {\n  y = 1\n";
        assert_eq!(open(src), Some((5, block("b"))));
        // The } at column 1 lines up with a, but a is closed after it.
        let src = "a {\n  b {\n    x = 1\n}\n}\nc {\n";
        assert_eq!(open(src), Some((6, block("c"))));
    }

    #[test]
    fn braces_in_strings_templates_and_comments_do_not_count() {
        let src = concat!(
            "a {\n",
            "  x = \"{ not a brace\"\n",
            "  y = \"${merge({ k = \"}\" }, {})} and %{ if true }yes%{ endif } $${literal\"\n",
            "  z = \"escaped \\\" { quote\"\n",
            "  # a comment {\n",
            "  // another {\n",
            "  /* a block\n     comment { */\n",
            "}\n",
            "b {\n",
        );
        assert_eq!(open(src), Some((10, block("b"))));
    }

    #[test]
    fn heredocs_are_skipped() {
        let src = "a {\n  text = <<EOT\n  { not\n  a brace }}\n  EOT\n  more = <<-X\n    {\n    X\n}\nb \"k\" {\n";
        assert_eq!(open(src), Some((10, block("b \"k\""))));
    }

    #[test]
    fn an_object_value_left_open() {
        let src = "locals {\n  tags = {\n    a = 1\n\n}\n";
        assert_eq!(open(src), Some((2, Opener::Object("tags".into()))));
        assert_eq!(
            open("x = [{\n  a = 1\n"),
            Some((1, Opener::Brace)),
            "not a block header"
        );
    }

    #[test]
    fn unsure_when_the_text_cannot_be_followed() {
        assert_eq!(open("a {\n  x = \"unterminated\n}\n"), None);
        assert_eq!(open("a {\n  x = \"${unterminated\n"), None);
        assert_eq!(open("a {\n  /* unterminated\n"), None);
        assert_eq!(open("a {\n}\n}\n"), None, "a stray }}");
    }

    #[test]
    fn openers_read_from_the_header() {
        assert_eq!(opener("eligibility \"bob\" "), block("eligibility \"bob\""));
        assert_eq!(
            opener("notification \"a \\\" b\""),
            block("notification \"a \\\" b\"")
        );
        assert_eq!(opener("tenant"), block("tenant"));
        assert_eq!(opener("for_each = "), Opener::Object("for_each".into()));
        assert_eq!(opener("\"x\""), Opener::Brace);
        assert_eq!(opener("x = f("), Opener::Brace);
        assert_eq!(opener(""), Opener::Brace);
    }
}
