//! The loader proper: files → blocks → variables → locals → objects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcl::Value;
use hcl::edit::Span;
use hcl::edit::structure::{Block, Body, Structure};

use super::diagnostic::{Diagnostic, Diagnostics, Location, SourceFile};
use super::eval::EvalScope;
use super::read;
use super::schema;
use super::unclosed;
use super::{Desired, FILE_SUFFIX, LoadError, LoadOptions, StateSettings};
use crate::model::{Address, AssignmentKind};
use crate::model::{Caseless, closest_names};

pub(super) const HIDDEN_HINT: &str = "names and for_each keys become addresses shown in plans and kept in state; \
     remove the control characters (newlines, tabs, escapes, direction overrides)";

/// Loads and validates every configuration file in `dir`.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Desired, LoadError> {
    let mut loader = Loader::new(dir, opts);
    let sources = loader.read_dir(dir);
    finish(loader, sources)
}

/// Loads configuration given as `(path, text)` pairs instead of reading a
/// directory: for tools that hold the files in memory, and for fuzzing.
pub fn load_sources(
    dir: &Path,
    sources: Vec<(PathBuf, String)>,
    opts: &LoadOptions,
) -> Result<Desired, LoadError> {
    let loader = Loader::new(dir, opts);
    finish(loader, sources)
}

fn finish(mut loader: Loader<'_>, sources: Vec<(PathBuf, String)>) -> Result<Desired, LoadError> {
    let files = loader.parse(sources);
    let desired = loader.build(&files);
    let mut diags = loader.diags;
    diags.sort();
    match desired {
        Some(mut d) if !diags.has_errors() => {
            d.warnings = diags;
            Ok(d)
        }
        _ => Err(LoadError::Invalid(diags)),
    }
}

pub(super) struct Loader<'o> {
    pub(super) diags: Diagnostics,
    pub(super) opts: &'o LoadOptions,
    pub(super) dir: PathBuf,
    pub(super) files: HashMap<PathBuf, Arc<SourceFile>>,
    /// Declared variables that got no value: already reported, so
    /// expressions that use them are skipped rather than reported again.
    pub(super) unset_vars: HashSet<String>,
}

/// A parsed file.
struct ParsedFile {
    file: Arc<SourceFile>,
    body: Body,
}

/// A top-level block and the file it is in.
#[derive(Clone, Copy)]
pub(super) struct Item<'a> {
    pub(super) file: &'a Arc<SourceFile>,
    pub(super) block: &'a Block,
}

pub(super) fn span_of(s: &impl Span) -> Range<usize> {
    s.span().unwrap_or(0..0)
}

pub(super) fn location(file: &SourceFile, span: Range<usize>) -> Location {
    Location {
        file: file.path.clone(),
        pos: file.position(span.start),
    }
}

pub(super) fn suggest(name: &str, candidates: &[&str]) -> Option<String> {
    let close = closest_names(name, candidates.iter().copied(), 1, 0.8);
    close.first().map(|c| format!("did you mean \"{c}\"?"))
}

impl<'o> Loader<'o> {
    fn new(dir: &Path, opts: &'o LoadOptions) -> Self {
        Loader {
            diags: Diagnostics::default(),
            opts,
            dir: dir.to_path_buf(),
            files: HashMap::new(),
            unset_vars: HashSet::new(),
        }
    }

    pub(super) fn error(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(msg).at(file, span));
        let last = self.diags.0.len() - 1;
        &mut self.diags.0[last]
    }

    fn read_dir(&mut self, dir: &Path) -> Vec<(PathBuf, String)> {
        let paths = match read::config_paths(dir) {
            Ok(p) => p,
            Err(e) => {
                self.diags.push(Diagnostic::error(format!(
                    "cannot read directory {}: {e}",
                    dir.display()
                )));
                return Vec::new();
            }
        };
        if paths.is_empty() {
            self.diags.push(
                Diagnostic::error(format!("no *{FILE_SUFFIX} files in {}", dir.display()))
                    .with_hint("point -C at the directory that holds the configuration"),
            );
        }
        let mut out = Vec::new();
        for path in paths {
            match read::read_text(&path) {
                Ok(t) => out.push((path, t)),
                Err(e) => self.read_error(&e, ""),
            }
        }
        out
    }

    /// A file that could not be read: an error naming it, never a file skipped.
    pub(super) fn read_error(&mut self, e: &read::ReadError, what: &str) {
        let mut d = Diagnostic::error(format!(
            "cannot read {what}{}: {}",
            e.path.display(),
            e.reason
        ));
        d.hint = e.hint().map(String::from);
        self.diags.push(d);
    }

    fn parse(&mut self, sources: Vec<(PathBuf, String)>) -> Vec<ParsedFile> {
        let mut parsed = Vec::new();
        for (path, text) in sources {
            let file = SourceFile::new(path, text);
            self.files.insert(file.path.clone(), file.clone());
            match hcl::edit::parser::parse_body(&file.text) {
                Ok(body) => parsed.push(ParsedFile { file, body }),
                Err(e) => self.diags.push(syntax_error(&file, &e)),
            }
        }
        parsed
    }

    fn build(&mut self, files: &[ParsedFile]) -> Option<Desired> {
        let mut by_kind: BTreeMap<&'static str, Vec<Item<'_>>> = BTreeMap::new();
        for p in files {
            for s in p.body.iter() {
                match s {
                    Structure::Attribute(a) => {
                        let name = a.key.as_str().to_string();
                        self.error(&p.file, span_of(&a.key), format!("unexpected attribute \"{name}\" at the top level"))
                            .hint = Some("attributes go inside a block; values shared by blocks go in locals { … }".into());
                    }
                    Structure::Block(b) => {
                        if let Some(s) = self.check_block(&p.file, b, &schema::ROOT) {
                            by_kind.entry(s.name).or_default().push(Item {
                                file: &p.file,
                                block: b,
                            });
                        }
                    }
                }
            }
        }
        for kind in ["tenant", "state"] {
            if let Some(items) = by_kind.get(kind).filter(|i| i.len() > 1) {
                let first = location(items[0].file, span_of(&items[0].block.ident));
                for extra in &items[1..] {
                    self.error(
                        extra.file,
                        span_of(&extra.block.ident),
                        format!("a second \"{kind}\" block"),
                    )
                    .hint = Some(format!("the first is at {first}; merge them"));
                }
            }
        }
        let items = |k: &str| by_kind.get(k).cloned().unwrap_or_default();

        let vars = self.variables(&items("variable"));
        let config_hash = hash_config(files, &vars);
        let locals = self.locals(&items("locals"), &vars);
        let scope = EvalScope::new(&vars, &locals);

        let state = items("state")
            .first()
            .map(|i| self.state(*i, &scope))
            .unwrap_or_else(|| StateSettings::Local {
                path: self.dir.join("pim.state.json"),
            });

        let roles = self.roles(&items("role"), &scope);
        let custom: HashSet<Caseless> = roles
            .iter()
            .filter(|r| r.item.custom)
            .map(|r| Caseless::new(&r.item.role.to_string()))
            .collect();
        let tenant = items("tenant")
            .first()
            .map(|i| self.tenant(*i, &scope, &custom))
            .unwrap_or_default();
        let mut addresses: HashMap<Address, Location> = HashMap::new();
        for r in &roles {
            self.claim_address(&mut addresses, &r.address, &r.origin.block);
        }

        let mut grants = Vec::new();
        for (kind, block) in [
            (AssignmentKind::Eligible, "eligibility"),
            (AssignmentKind::Active, "assignment"),
        ] {
            for item in items(block) {
                grants.extend(self.grants(item, kind, &scope, &custom, &mut addresses));
            }
        }
        self.check_duplicate_grants(&grants);
        let (eligibilities, assignments) = grants
            .into_iter()
            .partition(|g| g.item.kind == AssignmentKind::Eligible);

        let mut policies = Vec::new();
        for item in items("policy") {
            if let Some(p) = self.policy(item, &scope, &custom) {
                self.claim_address(&mut addresses, &p.address, &p.origin.block);
                policies.push(p);
            }
        }

        Some(Desired {
            dir: self.dir.clone(),
            tenant,
            state,
            eligibilities,
            assignments,
            policies,
            roles,
            warnings: Diagnostics::default(),
            config_hash,
            sources: files.iter().map(|p| p.file.clone()).collect(),
        })
    }

    pub(super) fn claim_address(
        &mut self,
        seen: &mut HashMap<Address, Location>,
        address: &Address,
        at: &Location,
    ) {
        if let Some(first) = seen.get(address) {
            let msg = format!("{address} is declared twice");
            let hint = format!("the first declaration is at {first}");
            let mut d = Diagnostic::error(msg).with_hint(hint);
            if let Some(file) = self.file_for(at) {
                let offset = offset_of(&file, at);
                d = d.at(&file, offset..offset + 1);
            }
            self.diags.push(d);
        } else {
            seen.insert(address.clone(), at.clone());
        }
    }

    pub(super) fn file_for(&self, at: &Location) -> Option<Arc<SourceFile>> {
        self.files.get(&at.file).cloned()
    }
}

/// The parser's error as a diagnostic. A `}` missing at the end of the file
/// is pointed at the block that lacks it rather than at the end.
pub(super) fn syntax_error(file: &SourceFile, e: &hcl::edit::parser::Error) -> Diagnostic {
    let offset = e.location().offset();
    let at_end = file
        .text
        .get(offset..)
        .is_none_or(|rest| rest.trim().chars().count() <= 1);
    if at_end
        && e.message().contains("`}`")
        && let Some(open) = unclosed::find(&file.text)
    {
        let line = file.position(open.start).line;
        return Diagnostic::error(format!(
            "syntax error: {} is not closed; the file ends before its }}",
            open.opener.describe()
        ))
        .with_hint(open.opener.hint(line))
        .at(file, open.start..open.brace + 1);
    }
    let msg = e.message();
    let msg = if msg.is_empty() {
        "invalid HCL syntax".to_string()
    } else {
        format!("syntax error: {msg}")
    };
    Diagnostic::error(msg).at(file, offset..offset + 1)
}

fn hash_config(files: &[ParsedFile], vars: &hcl::Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in files {
        let name = p
            .file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((p.file.text.len() as u64).to_le_bytes());
        h.update(p.file.text.as_bytes());
    }
    // Values, not their sources: the same value from --var or a var file is the same configuration.
    h.update(serde_json::to_vec(vars).unwrap_or_default());
    format!("sha256:{:x}", h.finalize())
}

pub(super) fn offset_of(file: &SourceFile, at: &Location) -> usize {
    file.offset(at.pos)
}
