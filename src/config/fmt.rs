//! `pim fmt`: the canonical layout of configuration files. Two-space
//! indentation by nesting, `=` aligned within a run of attributes, single
//! blank lines, a final newline. Comments and values are kept as written;
//! a file whose meaning would change is refused rather than rewritten.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FmtError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] super::read::ReadError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: syntax error: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{path}: formatting would change the meaning of the file; it was left as it is")]
    Unsafe { path: PathBuf },
}

/// Formats every configuration file of `dir`. Returns the files that were
/// (with `write`) or would be (without) changed.
pub fn format_dir(dir: &Path, write: bool) -> Result<Vec<PathBuf>, FmtError> {
    let paths = super::read::config_paths(dir).map_err(|source| FmtError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut changed = Vec::new();
    for path in paths {
        let text = super::read::read_text(&path)?;
        let formatted = format_source(&text).map_err(|e| e.with_path(&path))?;
        if formatted != text {
            if write {
                write_atomically(&path, &formatted)?;
            }
            changed.push(path);
        }
    }
    Ok(changed)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), FmtError> {
    let err = |source| FmtError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("hcl.fmt-tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

impl FmtError {
    fn with_path(self, path: &Path) -> FmtError {
        match self {
            FmtError::Syntax {
                line, col, message, ..
            } => FmtError::Syntax {
                path: path.to_path_buf(),
                line,
                col,
                message,
            },
            FmtError::Unsafe { .. } => FmtError::Unsafe {
                path: path.to_path_buf(),
            },
            other => other,
        }
    }
}

/// The canonical form of one file's text.
pub fn format_source(text: &str) -> Result<String, FmtError> {
    let original = parse(text)?;
    let lines = classify(text);
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        match line.kind {
            LineKind::Verbatim => out.push(line.text.trim_end_matches('\r').to_string()),
            LineKind::Blank => {
                if out.last().is_some_and(|l| !l.is_empty()) {
                    out.push(String::new());
                }
            }
            LineKind::Code => {
                // A run of single-line attributes at one depth is aligned on `=`.
                let mut j = i;
                while j < lines.len()
                    && lines[j].kind == LineKind::Code
                    && lines[j].depth == line.depth
                    && attr_key(&lines[j]).is_some()
                {
                    j += 1;
                }
                if j > i {
                    let width = lines[i..j]
                        .iter()
                        .filter_map(attr_key)
                        .map(|(k, _)| k.chars().count())
                        .max()
                        .unwrap_or(0);
                    for l in &lines[i..j] {
                        if let Some((key, value)) = attr_key(l) {
                            let pad = " ".repeat(width - key.chars().count());
                            out.push(format!("{}{key}{pad} = {value}", indent(l.indent)));
                        }
                    }
                    i = j;
                    continue;
                }
                out.push(format!("{}{}", indent(line.indent), line.text.trim()));
            }
        }
        i += 1;
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    let mut result = out.join("\n");
    result.push('\n');
    if parse(&result)? != original {
        return Err(FmtError::Unsafe {
            path: PathBuf::new(),
        });
    }
    Ok(result)
}

fn parse(text: &str) -> Result<hcl::Body, FmtError> {
    hcl::parse(text).map_err(|e| {
        let (line, col, message) = match &e {
            hcl::Error::Parse(p) => (
                p.location().line(),
                p.location().column(),
                p.message().to_string(),
            ),
            other => (1, 1, other.to_string()),
        };
        FmtError::Syntax {
            path: PathBuf::new(),
            line,
            col,
            message,
        }
    })
}

fn indent(n: usize) -> String {
    "  ".repeat(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Inside a heredoc or block comment: kept byte for byte.
    Verbatim,
    Blank,
    Code,
}

#[derive(Debug)]
struct Line<'a> {
    text: &'a str,
    kind: LineKind,
    /// Bracket depth at the start of the line.
    depth: usize,
    /// Indentation level to print the line at.
    indent: usize,
    /// The line ends inside an unclosed bracket (a multi-line value).
    continues: bool,
}

/// `key = value` of a line that holds a whole attribute, else `None`.
fn attr_key<'a>(line: &Line<'a>) -> Option<(&'a str, &'a str)> {
    if line.continues {
        return None;
    }
    let t = line.text.trim();
    let (key, value) = t.split_once('=')?;
    let key = key.trim_end();
    let ident = !key.is_empty()
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (ident && !value.starts_with('=')).then(|| (key, value.trim()))
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Str,
    Interp(usize),
}

/// Splits the text into lines and works out each line's nesting depth,
/// looking past strings, template interpolations, comments and heredocs.
fn classify(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    // The line each open bracket was opened on: a line opening several
    // (`type = object({`) indents what follows by one level, not two.
    let mut opened_on: Vec<usize> = Vec::new();
    let mut stack: Vec<Mode> = Vec::new();
    let mut heredoc: Option<String> = None;
    let mut block_comment = false;
    for raw in text.split('\n') {
        if let Some(tag) = &heredoc {
            if raw.trim() == tag {
                heredoc = None;
            }
            out.push(Line {
                text: raw,
                kind: LineKind::Verbatim,
                depth,
                indent: 0,
                continues: false,
            });
            continue;
        }
        if block_comment {
            if raw.contains("*/") {
                block_comment = false;
            }
            out.push(Line {
                text: raw,
                kind: LineKind::Verbatim,
                depth,
                indent: 0,
                continues: false,
            });
            continue;
        }
        if raw.trim().is_empty() && stack.is_empty() {
            out.push(Line {
                text: raw,
                kind: LineKind::Blank,
                depth,
                indent: 0,
                continues: false,
            });
            continue;
        }
        let start_depth = depth;
        let trimmed = raw.trim_start();
        let leading_closers = trimmed
            .chars()
            .take_while(|c| matches!(c, '}' | ']' | ')'))
            .count();
        let still_open = &opened_on[..opened_on.len().saturating_sub(leading_closers)];
        let indent = still_open
            .iter()
            .enumerate()
            .filter(|&(i, line)| i == 0 || still_open[i - 1] != *line)
            .count();
        let chars: Vec<char> = raw.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            let next = chars.get(k + 1).copied();
            match stack.last().copied() {
                Some(Mode::Str) => match c {
                    '\\' => k += 1,
                    '"' => {
                        stack.pop();
                    }
                    '$' | '%' if next == Some('{') => {
                        if chars.get(k.wrapping_sub(1)) != Some(&c) {
                            stack.push(Mode::Interp(0));
                        }
                        k += 1;
                    }
                    _ => {}
                },
                Some(Mode::Interp(n)) => match c {
                    '{' => *stack.last_mut().unwrap_or(&mut Mode::Interp(0)) = Mode::Interp(n + 1),
                    '}' if n == 0 => {
                        stack.pop();
                    }
                    '}' => *stack.last_mut().unwrap_or(&mut Mode::Interp(0)) = Mode::Interp(n - 1),
                    '"' => stack.push(Mode::Str),
                    _ => {}
                },
                None => match c {
                    '"' => stack.push(Mode::Str),
                    '#' => break,
                    '/' if next == Some('/') => break,
                    '/' if next == Some('*') => {
                        let rest: String = chars[k + 2..].iter().collect();
                        match rest.find("*/") {
                            Some(end) => k += 2 + rest[..end].chars().count() + 1,
                            None => {
                                block_comment = true;
                                break;
                            }
                        }
                    }
                    '<' if next == Some('<') => {
                        let rest: String = chars[k + 2..].iter().collect();
                        let tag = rest.trim_start_matches('-').trim();
                        if !tag.is_empty()
                            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            heredoc = Some(tag.to_string());
                            break;
                        }
                    }
                    '{' | '[' | '(' => {
                        depth += 1;
                        opened_on.push(out.len());
                    }
                    '}' | ']' | ')' => {
                        depth = depth.saturating_sub(1);
                        opened_on.pop();
                    }
                    _ => {}
                },
            }
            k += 1;
        }
        out.push(Line {
            text: raw,
            kind: LineKind::Code,
            depth: start_depth,
            indent,
            continues: depth > start_depth,
        });
    }
    // `split` yields a last empty piece for a trailing newline; it is re-added.
    if out.last().is_some_and(|l| l.text.is_empty()) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_and_aligns() {
        let src = "eligibility \"a\" {\nprincipal = \"user:a@contoso.com\"\n    role=\"Global Administrator\" # tier 0\n\n\n  duration = \"P90D\"\n}\n\n\n";
        let want = "eligibility \"a\" {\n  principal = \"user:a@contoso.com\"\n  role      = \"Global Administrator\" # tier 0\n\n  duration = \"P90D\"\n}\n";
        assert_eq!(format_source(src).unwrap(), want);
        assert_eq!(
            format_source(want).unwrap(),
            want,
            "formatting is idempotent"
        );
    }

    #[test]
    fn keeps_strings_heredocs_and_lists() {
        let src = "locals {\n  s = \"a { b ${upper(\"}\")}\"\n  h = <<EOT\n   keep   this\nEOT\n  l = [\n\"x\",\n      \"y\",\n  ]\n}\n";
        let want = "locals {\n  s = \"a { b ${upper(\"}\")}\"\n  h = <<EOT\n   keep   this\nEOT\n  l = [\n    \"x\",\n    \"y\",\n  ]\n}\n";
        assert_eq!(format_source(src).unwrap(), want);
    }

    #[test]
    fn a_line_opening_two_brackets_indents_by_one_level() {
        let src = "variable \"v\" {\ntype = object({\nupn = string\ntags = list(object({\nk = string\n}))\n})\n}\n";
        let want = "variable \"v\" {\n  type = object({\n    upn = string\n    tags = list(object({\n      k = string\n    }))\n  })\n}\n";
        assert_eq!(format_source(src).unwrap(), want);
        assert_eq!(format_source(want).unwrap(), want);
    }

    #[test]
    fn reports_syntax_errors() {
        let e = format_source("x {\n  a = \n}\n").unwrap_err();
        assert!(matches!(e, FmtError::Syntax { line: 2 | 3, .. }), "{e}");
    }
}
