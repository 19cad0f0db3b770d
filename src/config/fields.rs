//! `Fields`: reads the typed attributes of one block (strings, URLs,
//! principals, durations, dates), reporting type errors at the value.

use std::ops::Range;

use chrono::{DateTime, Utc};
use hcl::Value;
use hcl::edit::structure::{Attribute, Body};

use super::Origin;
use super::diagnostic::{Location, SourceFile};
use super::eval::{EvalScope, type_name};
use super::load::{Item, Loader, location, span_of};
use crate::model::{DurationError, IsoDuration, PrincipalRef, Scope as DirScope};
use crate::surface::Surface;

/// Reads the attributes of one block, reporting type errors at the value.
pub(super) struct Fields<'l, 'o, 'a, 's> {
    pub(super) loader: &'l mut Loader<'o>,
    pub(super) item: Item<'a>,
    pub(super) scope: &'s EvalScope,
    /// `Some(has_for_each)` in blocks where `each` may be used.
    pub(super) each: Option<bool>,
}

impl<'l, 'o, 'a, 's> Fields<'l, 'o, 'a, 's> {
    pub(super) fn new(
        loader: &'l mut Loader<'o>,
        item: Item<'a>,
        scope: &'s EvalScope,
        each: Option<bool>,
    ) -> Self {
        Fields {
            loader,
            item,
            scope,
            each,
        }
    }

    pub(super) fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.item.block.body.get_attribute(name)
    }

    pub(super) fn value_span(&self, name: &str) -> Range<usize> {
        self.attr(name)
            .map(|a| span_of(&a.value))
            .unwrap_or_else(|| span_of(&self.item.block.ident))
    }

    pub(super) fn origin(&self) -> Origin {
        fn walk(file: &SourceFile, body: &Body, prefix: &str, out: &mut Vec<(String, Location)>) {
            for a in body.attributes() {
                out.push((
                    format!("{prefix}{}", a.key.as_str()),
                    location(file, span_of(&a.value)),
                ));
            }
            for b in body.blocks() {
                walk(
                    file,
                    &b.body,
                    &format!("{prefix}{}.", b.ident.as_str()),
                    out,
                );
            }
        }
        let file = self.item.file;
        let mut attributes = Vec::new();
        walk(file, &self.item.block.body, "", &mut attributes);
        Origin {
            block: location(file, span_of(&self.item.block.ident)),
            attributes,
        }
    }

    pub(super) fn value(&mut self, name: &str) -> Option<(Value, Range<usize>)> {
        let attr = self.attr(name)?;
        let span = span_of(&attr.value);
        let each = self.each == Some(true);
        if !self
            .loader
            .check_refs_scoped(self.item.file, &attr.value, self.scope, each)
        {
            return None;
        }
        match self.scope.eval(&attr.value) {
            Ok(Value::Null) => None,
            Ok(v) => Some((v, span)),
            Err(e) => {
                self.loader.error(
                    self.item.file,
                    span,
                    format!("cannot evaluate \"{name}\": {e}"),
                );
                None
            }
        }
    }

    pub(super) fn type_error(
        &mut self,
        name: &str,
        span: Range<usize>,
        expected: &str,
        found: &Value,
    ) {
        self.loader.error(
            self.item.file,
            span,
            format!("\"{name}\" must be {expected}, not a {}", type_name(found)),
        );
    }

    pub(super) fn string(&mut self, name: &str) -> Option<String> {
        match self.value(name)? {
            (Value::String(s), _) => Some(s),
            (Value::Number(n), _) => Some(n.to_string()),
            (other, span) => {
                self.type_error(name, span, "a string", &other);
                None
            }
        }
    }

    /// The attribute that completes a `policy` or `role` block's label on
    /// its surface (`access` of a group, `scope` of an Azure role), with its
    /// span; the other surfaces' such attributes are errors here. A
    /// directory role's block reads `access`, to refuse it by name.
    pub(super) fn label_attribute(
        &mut self,
        label: &str,
        block: &str,
    ) -> (Option<String>, Range<usize>) {
        let surface = crate::surface::for_label(label);
        let own = surface.label_attribute().unwrap_or("access");
        for other in crate::surface::all().filter_map(|s| s.label_attribute()) {
            if other == own || self.attr(other).is_none() {
                continue;
            }
            let span = self.value_span(other);
            let hint = match other {
                "scope" => "an Azure role's block takes scope: label it \"azure:<role>\"",
                _ => "a group's block takes access: label it \"group:<name>\"",
            };
            self.loader
                .error(
                    self.item.file,
                    span,
                    format!(
                        "{other} is not an attribute of a {} {block} block",
                        surface.kind()
                    ),
                )
                .hint = Some(hint.into());
        }
        (self.string(own), self.value_span(own))
    }

    pub(super) fn required_string(&mut self, name: &str) -> Option<String> {
        if self.attr(name).is_none() {
            let block = self.item.block.ident.as_str();
            let span = span_of(&self.item.block.ident);
            let example = match name {
                "principal" => " = \"user:alice@contoso.com\"",
                "role" => " = \"Global Administrator\"",
                _ => " = \"…\"",
            };
            self.loader
                .error(
                    self.item.file,
                    span,
                    format!("\"{block}\" block is missing \"{name}\""),
                )
                .hint = Some(format!("add {name}{example}"));
            return None;
        }
        self.string(name)
    }

    pub(super) fn url(&mut self, name: &str) -> Option<String> {
        let s = self.string(name)?;
        if !(s.starts_with("https://") || s.starts_with("http://")) {
            let span = self.value_span(name);
            self.loader
                .error(
                    self.item.file,
                    span,
                    format!("\"{name}\" must be a URL, not {s:?}"),
                )
                .hint = Some("write it with its scheme, as in https://graph.microsoft.com".into());
            return None;
        }
        Some(s.trim_end_matches('/').to_string())
    }

    pub(super) fn bool(&mut self, name: &str) -> Option<bool> {
        match self.value(name)? {
            (Value::Bool(b), _) => Some(b),
            (other, span) => {
                self.type_error(name, span, "true or false", &other);
                None
            }
        }
    }

    pub(super) fn strings(&mut self, name: &str) -> Option<Vec<(String, Range<usize>)>> {
        match self.value(name)? {
            (Value::Array(items), span) => {
                let mut out = Vec::new();
                for it in items {
                    match it {
                        Value::String(s) => out.push((s, span.clone())),
                        other => {
                            self.type_error(name, span.clone(), "a list of strings", &other);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            (other, span) => {
                self.type_error(name, span, "a list of strings", &other);
                None
            }
        }
    }

    pub(super) fn emails(&mut self, name: &str) -> Option<Vec<String>> {
        let list = self.strings(name)?;
        let mut out = Vec::new();
        for (s, span) in list {
            if s.split_once('@')
                .is_none_or(|(l, d)| l.is_empty() || !d.contains('.'))
            {
                self.loader
                    .error(
                        self.item.file,
                        span,
                        format!("{s:?} is not an e-mail address"),
                    )
                    .hint = Some(
                    "notification recipients are e-mail addresses, as in pim-alerts@contoso.com"
                        .into(),
                );
            } else {
                out.push(s);
            }
        }
        Some(out)
    }

    pub(super) fn principal_from(
        &mut self,
        text: &str,
        span: Range<usize>,
    ) -> Option<PrincipalRef> {
        match text.parse::<PrincipalRef>() {
            Ok(p) => Some(p),
            Err(e) => {
                self.loader.error(self.item.file, span, e.to_string()).hint =
                    Some(e.hint().to_string());
                None
            }
        }
    }

    pub(super) fn principal(&mut self, name: &str, required: bool) -> Option<PrincipalRef> {
        let text = if required {
            self.required_string(name)?
        } else {
            self.string(name)?
        };
        let span = self.value_span(name);
        self.principal_from(&text, span)
    }

    pub(super) fn principals(&mut self, name: &str) -> Option<Vec<PrincipalRef>> {
        let list = self.strings(name)?;
        Some(
            list.into_iter()
                .filter_map(|(s, span)| self.principal_from(&s, span))
                .collect(),
        )
    }

    /// Where a grant applies, as its surface reads the scope attribute.
    pub(super) fn scope(&mut self, surface: &dyn Surface) -> DirScope {
        let name = surface.scope_attribute();
        let text = self.string(name);
        match surface.parse_scope(text.as_deref()) {
            Ok(s) => s,
            Err(problem) => {
                let span = self.value_span(name);
                self.loader
                    .error(self.item.file, span, problem.message)
                    .hint = problem.hint;
                DirScope::default()
            }
        }
    }

    pub(super) fn duration(&mut self, name: &str) -> Option<IsoDuration> {
        let text = match self.value(name)? {
            (Value::String(s), _) => s,
            (other, span) => {
                self.type_error(name, span, "an ISO 8601 duration such as \"P90D\"", &other);
                return None;
            }
        };
        let span = self.value_span(name);
        match text.parse::<IsoDuration>() {
            Ok(d) if d.is_zero() => {
                self.loader.error(
                    self.item.file,
                    span,
                    format!("\"{name}\" must be longer than zero"),
                );
                None
            }
            Ok(d) => Some(d),
            // Graph refuses years, months and weeks: name the same length in
            // days (a year as 365 days, a month as 30, see DAYS_PER_MONTH).
            Err(DurationError::Calendar { text, units, days }) => {
                self.loader
                    .error(
                        self.item.file,
                        span,
                        format!("{text:?} counts {units}, which Graph's durations cannot hold"),
                    )
                    .hint = Some(format!(
                    "write \"{days}\": durations count days, hours, minutes and seconds (a year is 365 days, a month 30)"
                ));
                None
            }
            Err(e) => {
                self.loader.error(self.item.file, span, e.to_string()).hint =
                    Some("ISO 8601 durations look like P90D, PT8H, PT1H30M or P1DT12H".into());
                None
            }
        }
    }

    pub(super) fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let text = self.string(name)?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(e) => {
                let span = self.value_span(name);
                self.loader
                    .error(
                        self.item.file,
                        span,
                        format!("{text:?} is not a date-time: {e}"),
                    )
                    .hint = Some("write an RFC 3339 date-time, as in 2027-06-01T00:00:00Z".into());
                None
            }
        }
    }

    pub(super) fn not_for(&mut self, name: &str, what: &str) {
        if self.attr(name).is_some() {
            let span = span_of(
                &self
                    .attr(name)
                    .map(|a| a.key.clone())
                    .unwrap_or_else(|| self.item.block.ident.clone()),
            );
            self.loader.error(
                self.item.file,
                span,
                format!("\"{name}\" does not apply to {what}"),
            );
        }
    }
}
