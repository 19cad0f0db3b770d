//! Checks against the vocabulary: a block's labels, attributes and nested
//! blocks, and the functions, variables and locals an expression refers to.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use hcl::Value;
use hcl::edit::expr::Expression as EditExpr;
use hcl::edit::structure::{Block, Structure};

use super::diagnostic::SourceFile;
use super::eval::{EvalScope, Reference, references};
use super::load::{HIDDEN_HINT, Loader, location, span_of, suggest};
use super::schema::{self, BlockSchema, Labels};
use crate::render::escape;

impl Loader<'_> {
    /// Checks a block's labels, attributes and nested blocks against the
    /// vocabulary. Returns the schema of the block when its name is known.
    pub(super) fn check_block(
        &mut self,
        file: &SourceFile,
        b: &Block,
        parent: &BlockSchema,
    ) -> Option<&'static BlockSchema> {
        let name = b.ident.as_str();
        let Some(s) = parent.block(name) else {
            let names: Vec<&str> = parent.blocks.iter().map(|b| b.name).collect();
            let msg = if parent.name.is_empty() {
                format!("unknown block type \"{name}\"")
            } else {
                format!("unknown block \"{name}\" in \"{}\"", parent.name)
            };
            let d = self.error(file, span_of(&b.ident), msg);
            d.hint = suggest(name, &names)
                .or_else(|| Some(format!("expected one of: {}", names.join(", "))));
            return None;
        };
        let want = match s.labels {
            Labels::None => 0,
            Labels::One(_) => 1,
        };
        if b.labels.len() != want {
            let msg = match s.labels {
                Labels::None => format!("\"{name}\" blocks take no label"),
                Labels::One(what) => format!("\"{name}\" blocks take one label: the {what}"),
            };
            let span = b
                .labels
                .get(want)
                .map(span_of)
                .unwrap_or_else(|| span_of(&b.ident));
            self.error(file, span, msg).hint = match s.labels {
                Labels::One(what) => Some(format!("write {name} \"<{what}>\" {{ … }}")),
                Labels::None => Some(format!("write {name} {{ … }}")),
            };
            return None;
        }
        // Labels name what plans, state and logs show.
        if let Some(label) = b.labels.iter().find(|l| escape::has_hidden(l.as_str())) {
            self.error(
                file,
                span_of(label),
                format!(
                    "the label {} of \"{name}\" holds a control character",
                    escape::quoted(label.as_str())
                ),
            )
            .hint = Some(HIDDEN_HINT.into());
            return None;
        }
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for st in b.body.iter() {
            match st {
                Structure::Attribute(a) => {
                    let key = a.key.as_str();
                    if !s.has_attribute(key) {
                        let d = self.error(
                            file,
                            span_of(&a.key),
                            format!("unknown attribute \"{key}\" in \"{name}\""),
                        );
                        d.hint = suggest(key, s.attributes).or_else(|| {
                            Some(format!("\"{name}\" takes: {}", s.attributes.join(", ")))
                        });
                    } else if let Some(first) = seen.insert(key, span_of(&a.key)) {
                        let at = location(file, first);
                        self.error(file, span_of(&a.key), format!("\"{key}\" is set twice"))
                            .hint = Some(format!("first set at {at}"));
                    }
                }
                Structure::Block(inner) => {
                    if let Some(is) = self.check_block(file, inner, s)
                        && !is.repeatable
                        && let Some(first) = seen.insert(is.name, span_of(&inner.ident))
                    {
                        let at = location(file, first);
                        self.error(
                            file,
                            span_of(&inner.ident),
                            format!("a second \"{}\" block", is.name),
                        )
                        .hint = Some(format!("the first is at {at}"));
                    }
                }
            }
        }
        Some(s)
    }

    /// Checks the references of an expression; false when one is unknown.
    pub(super) fn check_refs(
        &mut self,
        file: &SourceFile,
        expr: &EditExpr,
        vars: Option<&hcl::Map<String, Value>>,
        locals: Option<&HashSet<String>>,
        each: bool,
    ) -> bool {
        let mut ok = true;
        for Reference { root, name, span } in references(expr) {
            let span = span.unwrap_or_else(|| span_of(expr));
            let name = name.unwrap_or_default();
            let problem: Option<(String, Option<String>)> = match root.as_str() {
                "" if !schema::FUNCTIONS.contains(&name.as_str()) => Some((
                    format!("unknown function \"{name}\""),
                    suggest(&name, schema::FUNCTIONS)
                        .or_else(|| Some(format!("available: {}", schema::FUNCTIONS.join(", ")))),
                )),
                "var" if self.unset_vars.contains(&name) => {
                    ok = false;
                    None
                }
                "var" => match vars {
                    None => Some(("variables cannot be used here".into(), None)),
                    Some(_) if name.is_empty() => Some((
                        "\"var\" must be followed by a name, as in var.approvers".into(),
                        None,
                    )),
                    Some(v) if !v.contains_key(&name) => {
                        let names: Vec<&str> = v.keys().map(String::as_str).collect();
                        Some((
                            format!("unknown variable \"{name}\""),
                            suggest(&name, &names).or_else(|| {
                                Some(format!("declare it: variable \"{name}\" {{ default = … }}"))
                            }),
                        ))
                    }
                    _ => None,
                },
                "local" => match locals {
                    None => Some(("locals cannot be used here".into(), None)),
                    Some(_) if name.is_empty() => Some((
                        "\"local\" must be followed by a name, as in local.tier0".into(),
                        None,
                    )),
                    Some(l) if !l.contains(&name) => {
                        let names: Vec<&str> = l.iter().map(String::as_str).collect();
                        Some((
                            format!("unknown local value \"{name}\""),
                            suggest(&name, &names)
                                .or_else(|| Some(format!("declare it: locals {{ {name} = … }}"))),
                        ))
                    }
                    _ => None,
                },
                "each" if !each => Some((
                    "\"each\" is only defined in a block with for_each".into(),
                    Some("add for_each to the block, or use a literal value".into()),
                )),
                "each" if name != "key" && name != "value" => Some((
                    format!("\"each.{name}\" does not exist"),
                    Some("use each.key or each.value".into()),
                )),
                _ => None,
            };
            if let Some((msg, hint)) = problem {
                self.error(file, span, msg).hint = hint;
                ok = false;
            }
        }
        ok
    }

    pub(super) fn check_refs_scoped(
        &mut self,
        file: &SourceFile,
        expr: &EditExpr,
        scope: &EvalScope,
        each: bool,
    ) -> bool {
        let locals: HashSet<String> = scope.locals().keys().cloned().collect();
        self.check_refs(file, expr, Some(scope.vars()), Some(&locals), each)
    }
}
