//! Values from configuration or the tenant, made safe for what shows them.
//! Anyone who can name a `for_each` key, a group or an administrative unit
//! could otherwise send escape sequences to a terminal, print a line that
//! looks like pim's own, or close a Markdown code block and write the rest
//! of a pull-request comment.
//!
//! [`text`] is the one escaping of hidden characters; the Markdown and
//! HTML forms build on it.

use std::borrow::Cow;

/// Characters that are invisible or move the cursor: the C0 and C1
/// controls and DEL, the bidirectional overrides and isolates (which can
/// make a line read backwards), and the Unicode line and paragraph
/// separators.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Whether `s` holds a character that [`text`] would escape.
pub fn has_hidden(s: &str) -> bool {
    s.chars().any(is_hidden)
}

/// `s` with each hidden character written as Rust and HCL write it in a
/// string: `\n`, `\r`, `\t`, or `\u{1b}`. Everything else, backslashes
/// included, is left as it is, so ordinary names read as they are.
pub fn text(s: &str) -> Cow<'_, str> {
    if !has_hidden(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_char(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// A message pim composed of several lines: each line escaped, the line
/// breaks kept.
pub fn lines(s: &str) -> String {
    s.split('\n').map(text).collect::<Vec<_>>().join("\n")
}

/// `s` as a quoted string, the way HCL writes it: `"` and `\` escaped too.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => push_char(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// `s` as Markdown text (outside code): every character that could start
/// emphasis, code, a link, an image, raw HTML, an entity, a table cell,
/// strike-through, maths or a heading is backslash-escaped, so it shows
/// as written.
pub fn markdown(s: &str) -> String {
    let s = text(s);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        // `_` between letters or digits can neither open nor close emphasis
        // (CommonMark's flanking rules), so `alice_ga` stays as it is.
        let inert_underscore = c == '_'
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if !inert_underscore
            && matches!(
                c,
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '&' | '$' | '!'
            )
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `s` as text inside an HTML element, such as `<summary>`, where Markdown
/// is not read but entities are.
pub fn html(s: &str) -> String {
    let s = text(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// `s` as a Markdown code span: delimited by more backticks than any run
/// inside it, so nothing in it can end the span. In a table cell `|` is
/// escaped as well, since GitHub splits cells on it even inside code.
pub fn code_span(s: &str, in_table: bool) -> String {
    let mut body = text(s).into_owned();
    if in_table {
        body = body.replace('|', "\\|");
    }
    let ticks = "`".repeat(longest_backtick_run(&body) + 1);
    // A space each side is taken off again, and keeps a backtick at either
    // end from joining the delimiter.
    let pad = body.starts_with('`')
        || body.ends_with('`')
        || body.is_empty()
        || (body.starts_with(' ') && body.ends_with(' ') && !body.trim().is_empty());
    if pad {
        format!("{ticks} {body} {ticks}")
    } else {
        format!("{ticks}{body}{ticks}")
    }
}

/// The fence for a Markdown code block holding `content` (already escaped
/// with [`text`] line by line): longer than any run of backticks in it, so
/// no line of it can close the block.
pub fn fence(content: &str) -> String {
    "`".repeat((longest_backtick_run(content) + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_written_as_escapes() {
        assert_eq!(text("alice"), "alice");
        assert!(matches!(text("Global Administrator"), Cow::Borrowed(_)));
        assert_eq!(text("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(text("x\n+ eligibility.fake {"), "x\\n+ eligibility.fake {");
        assert_eq!(text("\r\t\u{7f}\u{9b}"), "\\r\\t\\u{7f}\\u{9b}");
        assert_eq!(text("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(text("a\u{2028}b"), "a\\u{2028}b");
        assert_eq!(text("C:\\path é 日本"), "C:\\path é 日本");
        // Escaping twice changes nothing: what it writes is all visible.
        let once = text("a\u{1b}\nb").into_owned();
        assert_eq!(text(&once), once);
        assert_eq!(lines("one\u{1b}\ntwo"), "one\\u{1b}\ntwo");
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quoted("P90D"), "\"P90D\"");
        assert_eq!(quoted("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        for s in ["plain", "with \"quotes\"", "tab\tand\u{1b}esc", "é"] {
            assert_eq!(quoted(s), format!("{s:?}"), "{s}");
        }
    }

    #[test]
    fn markdown_text_cannot_format_link_or_break_out() {
        assert_eq!(markdown("Global Administrator"), "Global Administrator");
        assert_eq!(
            markdown("**bold** _it_ `code` [l](u) <b> a|b ~~s~~ &amp; $x$ ![i]"),
            "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\[l\\](u) \\<b\\> a\\|b \\~\\~s\\~\\~ \\&amp; \\$x\\$ \\!\\[i\\]"
        );
        assert_eq!(markdown("## Plan: no changes"), "\\#\\# Plan: no changes");
        assert_eq!(markdown("eligibility.alice_ga"), "eligibility.alice_ga");
        assert_eq!(markdown("a _b_ c_"), "a \\_b\\_ c\\_");
        assert_eq!(markdown("a\n## b"), "a\\\\n\\#\\# b");
        assert_eq!(
            html("<b>&\"x\"</b>\n"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;\\n"
        );
    }

    #[test]
    fn code_spans_and_fences_outlast_the_backticks_inside() {
        assert_eq!(code_span("eligibility.a", true), "`eligibility.a`");
        assert_eq!(code_span("a`b", false), "``a`b``");
        assert_eq!(code_span("`a``", false), "``` `a`` ```");
        assert_eq!(code_span("a|b", true), "`a\\|b`");
        assert_eq!(code_span("a|b", false), "`a|b`");
        assert_eq!(code_span(" a ", false), "`  a  `");
        assert_eq!(code_span("x\n```", false), "```` x\\n``` ````");
        assert_eq!(fence("no ticks"), "```");
        assert_eq!(fence("a ```` b"), "`````");
    }
}
