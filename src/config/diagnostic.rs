//! Diagnostics with source positions, rendered as
//! `path:line:col: error: message`, the source line and a caret.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::render::Paint;

/// One configuration file's text, kept so that byte offsets from the parser
/// can be turned into lines and columns and quoted back to the user.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Arc<SourceFile> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(SourceFile {
            path,
            text,
            line_starts,
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self
            .line_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        Pos {
            line: line + 1,
            col: col + 1,
        }
    }

    /// The byte offset of a 1-based line and column (in characters), the
    /// inverse of [`position`](Self::position); past the end of a line it
    /// is the line's end. Looked up by line, so a position costs the
    /// length of its line, not of the file before it.
    pub fn offset(&self, pos: Pos) -> usize {
        let Some(&start) = self.line_starts.get(pos.line.saturating_sub(1)) else {
            return self.text.len();
        };
        let line = self.line_with_end(pos.line);
        start
            + line
                .char_indices()
                .nth(pos.col.saturating_sub(1))
                .map_or(line.len(), |(o, _)| o)
    }

    /// A line with its line break.
    fn line_with_end(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    pub fn line_text(&self, line: usize) -> &str {
        self.line_with_end(line).trim_end_matches(['\n', '\r'])
    }
}

/// A 1-based line and column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A place in a configuration file: where an object or attribute was declared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub file: PathBuf,
    pub pos: Pos,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.file.display(),
            self.pos.line,
            self.pos.col
        )
    }
}

/// How every JSON output (plan, check, drift) locates a declaration:
/// `{"file": "./roles.pim.hcl", "line": 12, "column": 1}`. The saved plan
/// keeps [`Location`]'s own shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JsonLocation {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn for_json(&self) -> JsonLocation {
        JsonLocation {
            file: self.file.display().to_string(),
            line: self.pos.line,
            column: self.pos.col,
        }
    }
}

/// `#[serde(serialize_with)]` for an optional location in a JSON output.
pub fn serialize_json_location<S: serde::Serializer>(
    l: &Option<Location>,
    s: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&l.as_ref().map(Location::for_json), s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found in the configuration, with where it is and what to do.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
    source: Option<Snippet>,
}

#[derive(Debug, Clone)]
struct Snippet {
    location: Location,
    line_text: String,
    /// Width of the caret underline in characters.
    width: usize,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Points the diagnostic at a byte range of a file. A range that spans
    /// lines is underlined to the end of its first line.
    pub fn at(mut self, file: &SourceFile, span: Range<usize>) -> Self {
        let pos = file.position(span.start);
        let line_text = file.line_text(pos.line).to_string();
        let end = file.position(span.end.max(span.start));
        let line_chars = line_text.chars().count();
        let width = if end.line == pos.line {
            end.col.saturating_sub(pos.col)
        } else {
            line_chars + 1 - pos.col
        };
        self.source = Some(Snippet {
            location: Location {
                file: file.path.clone(),
                pos,
            },
            line_text,
            width: width.max(1),
        });
        self
    }

    /// Points the diagnostic at a known location whose source text is not at
    /// hand (later stages keep `Location`s, not files): no line is quoted.
    pub fn at_location(mut self, location: &Location) -> Self {
        self.source = Some(Snippet {
            location: location.clone(),
            line_text: String::new(),
            width: 0,
        });
        self
    }

    /// Points the diagnostic at a file without a position.
    pub fn in_file(mut self, path: &Path) -> Self {
        self.source = Some(Snippet {
            location: Location {
                file: path.to_path_buf(),
                pos: Pos { line: 1, col: 1 },
            },
            line_text: String::new(),
            width: 0,
        });
        self
    }

    pub fn location(&self) -> Option<&Location> {
        self.source.as_ref().map(|s| &s.location)
    }

    /// Quotes the line a later stage pointed at, from the files as read,
    /// underlining to the end of the line.
    fn quote_from(&mut self, sources: &[Arc<SourceFile>]) {
        let Some(s) = self.source.as_mut().filter(|s| s.width == 0) else {
            return;
        };
        let Some(file) = sources.iter().find(|f| f.path == s.location.file) else {
            return;
        };
        let line = file.line_text(s.location.pos.line);
        let rest = line
            .chars()
            .skip(s.location.pos.col - 1)
            .collect::<String>();
        let width = rest.trim_end().chars().count();
        if width > 0 {
            s.line_text = line.to_string();
            s.width = width;
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Paint::PLAIN))
    }
}

impl Diagnostic {
    /// The diagnostic as a terminal shows it: `paint` colours the label,
    /// the gutter, the caret and the hint.
    pub fn render(&self, paint: Paint) -> String {
        // Messages quote names from the configuration and the tenant, and
        // the snippet quotes the file: hidden characters are shown escaped.
        use crate::render::escape::text;
        use std::fmt::Write as _;
        let (label, mark) = match self.severity {
            Severity::Error => (
                paint.error("error"),
                Paint::error as fn(Paint, &str) -> String,
            ),
            Severity::Warning => (
                paint.warning("warning"),
                Paint::warning as fn(Paint, &str) -> String,
            ),
        };
        let mut f = String::new();
        match &self.source {
            Some(s) => {
                let _ = write!(
                    f,
                    "{}: {label}: {}",
                    paint.bold(&text(&s.location.to_string())),
                    paint.bold(&text(&self.message))
                );
            }
            None => {
                let _ = write!(f, "{label}: {}", paint.bold(&text(&self.message)));
            }
        }
        if let Some(s) = self.source.as_ref().filter(|s| s.width > 0) {
            let n = s.location.pos.line.to_string();
            let pad = " ".repeat(n.len());
            // Tabs are kept so that the caret lines up under them in a
            // terminal; every other character takes the width it is shown in.
            let shown = |c: char| -> usize {
                if c == '\t' {
                    1
                } else {
                    text(c.encode_utf8(&mut [0; 4])).chars().count()
                }
            };
            let chars: Vec<char> = s.line_text.chars().collect();
            let col = (s.location.pos.col - 1).min(chars.len());
            let lead: String = chars[..col]
                .iter()
                .map(|&c| {
                    if c == '\t' {
                        "\t".to_string()
                    } else {
                        " ".repeat(shown(c))
                    }
                })
                .collect();
            let under = &chars[col..(col + s.width).min(chars.len())];
            let width = under.iter().map(|&c| shown(c)).sum::<usize>() + s.width - under.len();
            let line: Vec<_> = s.line_text.split('\t').map(text).collect();
            let bar = paint.note(&format!("{pad} |"));
            let _ = write!(
                f,
                "\n{bar}\n{} {}\n{bar} {lead}{}",
                paint.note(&format!("{n} |")),
                line.join("\t"),
                mark(paint, &"^".repeat(width))
            );
        }
        if let Some(h) = &self.hint {
            let _ = write!(f, "\n  {} {}", paint.note("= hint:"), text(h));
        }
        f
    }
}

/// Every diagnostic of a run, errors first in file order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Quotes each diagnostic's line from `sources` where none is quoted yet.
    pub fn quote_from(&mut self, sources: &[Arc<SourceFile>]) {
        for d in &mut self.0 {
            d.quote_from(sources);
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            a.severity.cmp(&b.severity).then_with(|| {
                fn key(d: &Diagnostic) -> Option<(&Path, Pos)> {
                    d.location().map(|l| (l.file.as_path(), l.pos))
                }
                key(a).cmp(&key(b))
            })
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Paint::PLAIN))
    }
}

impl Diagnostics {
    /// Every diagnostic, a blank line between them; see [`Diagnostic::render`].
    pub fn render(&self, paint: Paint) -> String {
        self.0
            .iter()
            .map(|d| d.render(paint))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_in_the_quoted_line_are_escaped_and_the_caret_follows() {
        let f = SourceFile::new("a.pim.hcl".into(), "\tx = \"\u{1b}[31m\" + nope\n".into());
        let start = f.text.find("nope").unwrap();
        let d = Diagnostic::error("unknown \"\u{1b}\"").at(&f, start..start + 4);
        assert_eq!(
            d.to_string(),
            "a.pim.hcl:1:16: error: unknown \"\\u{1b}\"\n  |\n1 | \tx = \"\\u{1b}[31m\" + nope\n  | \t                   ^^^^"
        );
    }

    #[test]
    fn renders_with_caret() {
        let f = SourceFile::new("a.pim.hcl".into(), "x {\n  role = \"Nope\"\n}\n".into());
        let start = f.text.find("\"Nope\"").unwrap();
        let d = Diagnostic::error("unknown role \"Nope\"")
            .with_hint("did you mean \"Nop\"?")
            .at(&f, start..start + 6);
        assert_eq!(
            d.to_string(),
            "a.pim.hcl:2:10: error: unknown role \"Nope\"\n  |\n2 |   role = \"Nope\"\n  |          ^^^^^^\n  = hint: did you mean \"Nop\"?"
        );
        assert_eq!(f.position(0), Pos { line: 1, col: 1 });
        assert_eq!(f.position(f.text.len()), Pos { line: 4, col: 1 });
        for offset in 0..=f.text.len() {
            assert_eq!(f.offset(f.position(offset)), offset);
        }
        assert_eq!(
            f.offset(Pos { line: 1, col: 99 }),
            4,
            "past the end of a line"
        );
        assert_eq!(f.offset(Pos { line: 9, col: 1 }), f.text.len());
    }
}
