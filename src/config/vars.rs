//! Variables and locals: values from defaults, `PIM_VAR_` environment
//! variables, `--var-file` and `--var`, each converted to its variable's
//! `type` and checked by its `validation` blocks; then the locals evaluated
//! in order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use hcl::Value;
use hcl::edit::expr::Expression as EditExpr;
use hcl::edit::structure::{Attribute, Block, Structure};

use super::diagnostic::{Diagnostic, Location, SourceFile};
use super::eval::{EvalScope, references, type_name};
use super::load::{Item, Loader, location, span_of, suggest, syntax_error};
use super::read;
use super::types::{self, VarType};

/// A declared variable: its type and rules.
struct Decl<'a> {
    file: &'a Arc<SourceFile>,
    label: Range<usize>,
    ty: VarType,
    nullable: bool,
    sensitive: bool,
    /// The type, a rule or the default is wrong: already reported.
    broken: bool,
    /// The default, converted to the type.
    default: Option<Value>,
    validations: Vec<&'a Block>,
}

/// A value given to a variable, and where.
#[derive(Clone)]
struct Given {
    value: Value,
    /// `the default`, `--var name`, `environment variable PIM_VAR_name`, …
    what: String,
    /// The file and span of the value, and its expression when it is HCL.
    at: Option<(Arc<SourceFile>, Range<usize>, Option<EditExpr>)>,
}

impl Given {
    fn is_default(&self) -> bool {
        self.what == "the default"
    }
}

/// A value read from a var file.
struct FileValue {
    name: String,
    value: Value,
    span: Range<usize>,
    expr: Option<EditExpr>,
}

impl Loader<'_> {
    pub(super) fn variables(&mut self, items: &[Item<'_>]) -> hcl::Map<String, Value> {
        let mut decls: hcl::Map<String, Decl<'_>> = hcl::Map::new();
        let mut declared: HashMap<String, Location> = HashMap::new();
        // Insertion order is the order of the config digest: defaults as
        // declared, then values as given.
        let mut given: hcl::Map<String, Given> = hcl::Map::new();
        for item in items {
            let Some(label) = item.block.labels.first() else {
                continue;
            };
            let name = label.as_str().to_string();
            let at = location(item.file, span_of(label));
            if let Some(first) = declared.get(&name) {
                let first = first.clone();
                self.error(
                    item.file,
                    span_of(label),
                    format!("variable \"{name}\" is declared twice"),
                )
                .hint = Some(format!("the first declaration is at {first}"));
                continue;
            }
            declared.insert(name.clone(), at);
            let (decl, default) = self.declaration(*item, &name);
            if let Some(d) = default {
                given.insert(name.clone(), d);
            }
            decls.insert(name, decl);
        }
        let names: Vec<String> = declared.keys().cloned().collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let set = |this: &mut Self,
                   given: &mut hcl::Map<String, Given>,
                   name: &str,
                   g: Given,
                   strict: bool| {
            if declared.contains_key(name) {
                given.insert(name.to_string(), g);
            } else {
                let msg = format!("{} sets variable \"{name}\", which is not declared", g.what);
                let mut d = if strict {
                    Diagnostic::error(msg)
                } else {
                    Diagnostic::warning(msg)
                };
                d.hint = suggest(name, &name_refs);
                this.diags.push(d);
            }
        };
        // A primitive type takes a flag's text as it is (`--var id=007` is
        // the string "007" for a string variable), as Terraform does.
        let flag_value = |name: &str, raw: &str| match decls.get(name) {
            Some(d) if d.ty.is_primitive() => Value::String(raw.to_string()),
            _ => parse_cli_value(raw),
        };
        let mut env: Vec<&(String, String)> = self
            .opts
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("PIM_VAR_"))
            .collect();
        env.sort();
        for (k, v) in env {
            let name = &k["PIM_VAR_".len()..];
            let g = Given {
                value: flag_value(name, v),
                what: format!("environment variable {k}"),
                at: None,
            };
            set(self, &mut given, name, g, false);
        }
        for path in &self.opts.var_files.clone() {
            let Some((file, values)) = self.var_file(path) else {
                continue;
            };
            for v in values {
                let g = Given {
                    value: v.value,
                    what: format!("var file {}", path.display()),
                    at: Some((file.clone(), v.span, v.expr)),
                };
                set(self, &mut given, &v.name, g, true);
            }
        }
        for (name, v) in &self.opts.vars {
            let g = Given {
                value: flag_value(name, v),
                what: format!("--var {name}"),
                at: None,
            };
            set(self, &mut given, name, g, true);
        }
        let mut accepted: HashSet<String> = HashSet::new();
        for (name, decl) in &decls {
            if decl.broken {
                self.unset_vars.insert(name.clone());
                continue;
            }
            let Some(g) = given.get(name) else {
                self.error(
                    decl.file,
                    decl.label.clone(),
                    format!("variable \"{name}\" has no value"),
                )
                .hint = Some(format!(
                    "give it a default, or set it with --var {name}=…, a --var-file, or PIM_VAR_{name}"
                ));
                self.unset_vars.insert(name.clone());
                continue;
            };
            if let Some(value) = self.accept(name, decl, g) {
                let g = Given { value, ..g.clone() };
                if self.validate(name, decl, &g) {
                    given.insert(name.clone(), g);
                    accepted.insert(name.clone());
                    continue;
                }
            }
            self.unset_vars.insert(name.clone());
        }
        given
            .into_iter()
            .filter(|(name, _)| accepted.contains(name))
            .map(|(name, g)| (name, g.value))
            .collect()
    }

    /// Reads a variable block: its type, rules and default (converted).
    fn declaration<'a>(&mut self, item: Item<'a>, name: &str) -> (Decl<'a>, Option<Given>) {
        let body = &item.block.body;
        let mut decl = Decl {
            file: item.file,
            label: item.block.labels.first().map(span_of).unwrap_or_default(),
            ty: VarType::Any,
            nullable: true,
            sensitive: false,
            broken: false,
            default: None,
            validations: body
                .blocks()
                .filter(|b| b.ident.as_str() == "validation")
                .collect(),
        };
        if let Some(attr) = body.get_attribute("type") {
            match types::parse(&attr.value) {
                Ok(ty) => decl.ty = ty,
                Err(e) => {
                    self.error(item.file, e.span, e.message).hint = e.hint;
                    decl.broken = true;
                }
            }
        }
        for (key, slot) in [
            ("nullable", &mut decl.nullable),
            ("sensitive", &mut decl.sensitive),
        ] {
            if let Some(attr) = body.get_attribute(key) {
                match self.literal_bool(item.file, attr) {
                    Some(b) => *slot = b,
                    None => decl.broken = true,
                }
            }
        }
        let Some(attr) = body.get_attribute("default") else {
            return (decl, None);
        };
        let empty = EvalScope::new(&hcl::Map::new(), &hcl::Map::new());
        if !self.check_refs(item.file, &attr.value, None, None, false) {
            decl.broken = true;
            return (decl, None);
        }
        let value = match empty.eval(&attr.value) {
            Ok(v) => v,
            Err(e) => {
                self.error(
                    item.file,
                    span_of(&attr.value),
                    format!("cannot evaluate the default: {e}"),
                );
                decl.broken = true;
                return (decl, None);
            }
        };
        let g = Given {
            value,
            what: "the default".into(),
            at: Some((
                item.file.clone(),
                span_of(&attr.value),
                Some(attr.value.clone()),
            )),
        };
        if decl.broken {
            return (decl, None);
        }
        // The default must fit the type whatever else gives a value.
        if g.value.is_null() && !decl.nullable {
            self.error(
                item.file,
                span_of(&attr.value),
                format!(
                    "the default of variable \"{name}\" is null, which nullable = false forbids"
                ),
            )
            .hint = Some("remove the default to make the variable required".into());
            decl.broken = true;
            return (decl, None);
        }
        match self.accept(name, &decl, &g) {
            Some(value) => {
                decl.default = Some(value.clone());
                (decl, Some(Given { value, ..g }))
            }
            None => {
                decl.broken = true;
                (decl, None)
            }
        }
    }

    fn literal_bool(&mut self, file: &SourceFile, attr: &Attribute) -> Option<bool> {
        let key = attr.key.as_str();
        if !self.check_refs(file, &attr.value, None, None, false) {
            return None;
        }
        match EvalScope::new(&hcl::Map::new(), &hcl::Map::new()).eval(&attr.value) {
            Ok(Value::Bool(b)) => Some(b),
            Ok(other) => {
                self.error(
                    file,
                    span_of(&attr.value),
                    format!(
                        "\"{key}\" must be true or false, not a {}",
                        type_name(&other)
                    ),
                );
                None
            }
            Err(e) => {
                self.error(
                    file,
                    span_of(&attr.value),
                    format!("cannot evaluate \"{key}\": {e}"),
                );
                None
            }
        }
    }

    /// The value converted to the variable's type, or `None` when it does
    /// not fit (reported where the value was given).
    fn accept(&mut self, name: &str, decl: &Decl<'_>, g: &Given) -> Option<Value> {
        if g.value.is_null() && !decl.nullable {
            // As Terraform: null for a non-nullable variable means its default.
            if !g.is_default()
                && let Some(default) = &decl.default
            {
                return Some(default.clone());
            }
            let msg = format!(
                "{} sets variable \"{name}\" to null, which nullable = false forbids",
                g.what
            );
            self.given_error(decl, g, msg, None);
            return None;
        }
        match types::convert(g.value.clone(), &decl.ty) {
            Ok(v) => Some(v),
            Err(m) => {
                let msg = format!(
                    "{} does not fit variable \"{name}\" of type {}: {}",
                    g.what,
                    decl.ty,
                    m.describe(name, decl.sensitive)
                );
                let span = g.at.as_ref().map(|(_, span, expr)| match expr {
                    Some(e) => types::span_at(e, &m.path),
                    None => span.clone(),
                });
                self.given_error(decl, g, msg, span);
                None
            }
        }
    }

    /// Runs the variable's validations on its value; false when one fails
    /// (reported at its block) or is itself wrong.
    fn validate(&mut self, name: &str, decl: &Decl<'_>, g: &Given) -> bool {
        let file = decl.file;
        let mut only = hcl::Map::new();
        only.insert(name.to_string(), g.value.clone());
        let scope = EvalScope::new(&only, &hcl::Map::new());
        let mut ok = true;
        for v in &decl.validations {
            let (Some(cond), Some(msg)) = (
                v.body.get_attribute("condition"),
                v.body.get_attribute("error_message"),
            ) else {
                let missing = if v.body.get_attribute("condition").is_none() {
                    "a condition"
                } else {
                    "an error_message"
                };
                self.error(
                    file,
                    span_of(&v.ident),
                    format!("a validation needs {missing}"),
                )
                .hint = Some(
                    "write validation { condition = <true when valid>, error_message = \"…\" }"
                        .into(),
                );
                ok = false;
                continue;
            };
            if !self.own_refs_only(file, name, &cond.value)
                | !self.own_refs_only(file, name, &msg.value)
            {
                ok = false;
                continue;
            }
            let own = references(&cond.value)
                .iter()
                .any(|r| r.root == "var" && r.name.as_deref() == Some(name));
            if !own {
                self.error(
                    file,
                    span_of(&cond.value),
                    format!("the condition does not look at var.{name}"),
                )
                .hint = Some(format!(
                    "a validation tests the value given, as in length(var.{name}) > 0"
                ));
                ok = false;
                continue;
            }
            let hidden = |e: String| {
                if decl.sensitive {
                    "the details are hidden: the variable is sensitive".to_string()
                } else {
                    e
                }
            };
            match scope.eval(&cond.value) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    let text = match scope.eval(&msg.value) {
                        Ok(Value::String(_)) if decl.sensitive && refers_to_var(&msg.value) => {
                            "the error message refers to the variable, which is sensitive, \
                             so it is not shown"
                                .to_string()
                        }
                        Ok(Value::String(t)) if !t.trim().is_empty() => t,
                        Ok(Value::String(_)) => {
                            self.error(file, span_of(&msg.value), "error_message is empty")
                                .hint = Some("say what a valid value is".into());
                            ok = false;
                            continue;
                        }
                        Ok(other) => {
                            self.error(
                                file,
                                span_of(&msg.value),
                                format!(
                                    "error_message must be a string, not a {}",
                                    type_name(&other)
                                ),
                            );
                            ok = false;
                            continue;
                        }
                        Err(e) => {
                            self.error(
                                file,
                                span_of(&msg.value),
                                format!("cannot evaluate error_message: {}", hidden(e)),
                            );
                            ok = false;
                            continue;
                        }
                    };
                    let source = match &g.at {
                        Some((f, span, _)) if !g.is_default() => {
                            format!("{} ({})", g.what, location(f, span.clone()))
                        }
                        _ => g.what.clone(),
                    };
                    self.error(
                        file,
                        span_of(&v.ident),
                        format!("invalid value for variable \"{name}\": {text}"),
                    )
                    .hint = Some(format!("the value comes from {source}"));
                    ok = false;
                }
                Ok(other) => {
                    self.error(
                        file,
                        span_of(&cond.value),
                        format!(
                            "a validation condition must be true or false; this one is {}",
                            types::given_text(&other, decl.sensitive)
                        ),
                    )
                    .hint = Some(format!(
                        "compare var.{name} with something, as in length(var.{name}) > 0"
                    ));
                    ok = false;
                }
                Err(e) => {
                    self.error(
                        file,
                        span_of(&cond.value),
                        format!("cannot evaluate the condition: {}", hidden(e)),
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    /// A validation may look only at its own variable, as in Terraform: false
    /// (reported) when `expr` refers to another variable, a local or `each`;
    /// unknown functions are reported too.
    fn own_refs_only(&mut self, file: &SourceFile, name: &str, expr: &EditExpr) -> bool {
        let mut ok = true;
        for r in references(expr) {
            let foreign = match r.root.as_str() {
                "var" => r.name.as_deref() != Some(name),
                "local" | "each" => true,
                _ => false,
            };
            if foreign {
                let what = match &r.name {
                    Some(n) => format!("{}.{n}", r.root),
                    None => r.root.clone(),
                };
                let span = r.span.unwrap_or_else(|| span_of(expr));
                self.error(
                    file,
                    span,
                    format!("a validation of variable \"{name}\" may refer only to var.{name}, not to {what}"),
                )
                .hint = Some(
                    "a validation checks the variable's own value; checks across values belong where the values are used"
                        .into(),
                );
                ok = false;
            }
        }
        if ok {
            let mut own = hcl::Map::new();
            own.insert(name.to_string(), Value::Null);
            ok = self.check_refs(file, expr, Some(&own), Some(&HashSet::new()), false);
        }
        ok
    }

    /// An error about a given value: at it when it is in a file, else
    /// naming where it came from, with where the variable is declared.
    fn given_error(&mut self, decl: &Decl<'_>, g: &Given, msg: String, span: Option<Range<usize>>) {
        match &g.at {
            Some((file, whole, _)) => {
                let span = span.unwrap_or_else(|| whole.clone());
                self.error(file, span, msg);
            }
            None => {
                let at = location(decl.file, decl.label.clone());
                self.diags.push(
                    Diagnostic::error(msg).with_hint(format!("the variable is declared at {at}")),
                );
            }
        }
    }

    fn var_file(&mut self, path: &Path) -> Option<(Arc<SourceFile>, Vec<FileValue>)> {
        let text = match read::read_text(path) {
            Ok(t) => t,
            Err(e) => {
                self.read_error(&e, "var file ");
                return None;
            }
        };
        let file = SourceFile::new(path.to_path_buf(), text);
        if path.extension().is_some_and(|e| e == "json") {
            return match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                &file.text,
            ) {
                Ok(map) => {
                    let spans = json_value_offsets(&file.text);
                    let values = map
                        .into_iter()
                        .map(|(name, v)| {
                            let at = spans.get(&name).copied().unwrap_or(0);
                            FileValue {
                                value: hcl::to_value(v).unwrap_or(Value::Null),
                                span: at..at + 1,
                                expr: None,
                                name,
                            }
                        })
                        .collect();
                    Some((file, values))
                }
                Err(e) => {
                    let offset = offset_at(&file, e.line(), e.column());
                    self.error(&file, offset..offset + 1, format!("invalid JSON: {e}"));
                    None
                }
            };
        }
        let body = match hcl::edit::parser::parse_body(&file.text) {
            Ok(b) => b,
            Err(e) => {
                self.diags.push(syntax_error(&file, &e));
                return None;
            }
        };
        let empty = EvalScope::new(&hcl::Map::new(), &hcl::Map::new());
        let mut out = Vec::new();
        for st in body.iter() {
            match st {
                Structure::Attribute(a) => {
                    if self.check_refs(&file, &a.value, None, None, false) {
                        match empty.eval(&a.value) {
                            Ok(v) => out.push(FileValue {
                                name: a.key.as_str().to_string(),
                                value: v,
                                span: span_of(&a.value),
                                expr: Some(a.value.clone()),
                            }),
                            Err(e) => {
                                self.error(
                                    &file,
                                    span_of(&a.value),
                                    format!("cannot evaluate: {e}"),
                                );
                            }
                        }
                    }
                }
                Structure::Block(b) => {
                    self.error(
                        &file,
                        span_of(&b.ident),
                        "a var file holds only name = value lines",
                    );
                }
            }
        }
        Some((file, out))
    }

    pub(super) fn locals(
        &mut self,
        items: &[Item<'_>],
        vars: &hcl::Map<String, Value>,
    ) -> hcl::Map<String, Value> {
        let mut defs: BTreeMap<String, (&Arc<SourceFile>, &Attribute)> = BTreeMap::new();
        for item in items {
            for a in item.block.body.attributes() {
                let name = a.key.as_str().to_string();
                if let Some((f, first)) = defs.get(&name) {
                    let at = location(f, span_of(&first.key));
                    self.error(
                        item.file,
                        span_of(&a.key),
                        format!("local value \"{name}\" is declared twice"),
                    )
                    .hint = Some(format!("the first declaration is at {at}"));
                } else {
                    defs.insert(name, (item.file, a));
                }
            }
        }
        let names: HashSet<String> = defs.keys().cloned().collect();
        let mut deps: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut broken: HashSet<String> = HashSet::new();
        for (name, (file, attr)) in &defs {
            if !self.check_refs(file, &attr.value, Some(vars), Some(&names), false) {
                broken.insert(name.clone());
            }
            let d = references(&attr.value)
                .into_iter()
                .filter(|r| r.root == "local")
                .filter_map(|r| r.name)
                .collect();
            deps.insert(name, d);
        }
        // Depth-first topological order; a back edge is a cycle.
        let mut order: Vec<String> = Vec::new();
        let mut state: HashMap<String, u8> = HashMap::new();
        for start in defs.keys() {
            let mut stack: Vec<(String, usize)> = vec![(start.clone(), 0)];
            let mut path: Vec<String> = Vec::new();
            while let Some((node, i)) = stack.pop() {
                if i == 0 {
                    match state.get(&node) {
                        Some(2) => continue,
                        Some(1) => {
                            let from = path.iter().position(|p| *p == node).unwrap_or(0);
                            let mut cycle: Vec<String> = path[from..].to_vec();
                            cycle.push(node.clone());
                            if let Some((file, attr)) = defs.get(&node) {
                                let (file, span) = ((*file).clone(), span_of(&attr.key));
                                self.error(
                                    &file,
                                    span,
                                    format!(
                                        "local values refer to each other in a cycle: {}",
                                        cycle.join(" → ")
                                    ),
                                )
                                .hint = Some(
                                    "break the cycle: one of them must not depend on the others"
                                        .into(),
                                );
                            }
                            broken.extend(cycle);
                            continue;
                        }
                        _ => {}
                    }
                    state.insert(node.clone(), 1);
                    path.push(node.clone());
                }
                let next = deps.get(node.as_str()).and_then(|d| d.get(i)).cloned();
                match next {
                    Some(dep) => {
                        stack.push((node, i + 1));
                        if defs.contains_key(&dep) {
                            stack.push((dep, 0));
                        }
                    }
                    None => {
                        state.insert(node.clone(), 2);
                        path.pop();
                        order.push(node);
                    }
                }
            }
        }
        let mut values = hcl::Map::new();
        for name in order {
            let Some((file, attr)) = defs.get(&name) else {
                continue;
            };
            let deps_ok = deps
                .get(name.as_str())
                .is_none_or(|d| d.iter().all(|x| !broken.contains(x)));
            if broken.contains(&name) || !deps_ok {
                broken.insert(name);
                continue;
            }
            match EvalScope::new(vars, &values).eval(&attr.value) {
                Ok(v) => {
                    values.insert(name, v);
                }
                Err(e) => {
                    let (file, span) = ((*file).clone(), span_of(&attr.value));
                    self.error(
                        &file,
                        span,
                        format!("cannot evaluate local value \"{name}\": {e}"),
                    );
                    broken.insert(name);
                }
            }
        }
        values
    }
}

/// Whether an expression uses a variable at all.
fn refers_to_var(expr: &EditExpr) -> bool {
    references(expr).iter().any(|r| r.root == "var")
}

/// Where each top-level value of a JSON object starts: serde_json keeps no
/// positions, and a value of the wrong type is reported at its line.
fn json_value_offsets(text: &str) -> HashMap<String, usize> {
    let bytes = text.as_bytes();
    let mut out = HashMap::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                // At depth 1 a string followed by a colon is a key.
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if depth == 1 && bytes.get(j) == Some(&b':') {
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if let Some(k) = text
                        .get(start..=i.min(bytes.len() - 1))
                        .and_then(|k| serde_json::from_str::<String>(k).ok())
                    {
                        out.insert(k, j);
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    out
}

fn offset_at(file: &SourceFile, line: usize, col: usize) -> usize {
    file.offset(super::Pos { line, col })
}

/// Values given on the command line or in the environment: HCL literals
/// (`true`, `5`, `["a"]`, `{…}`, `"quoted"`) are parsed; anything else is a
/// plain string, so `--var env=prod` needs no quotes.
fn parse_cli_value(s: &str) -> Value {
    let t = s.trim();
    let literal = t.starts_with(['[', '{', '"'])
        || matches!(t, "true" | "false" | "null")
        || (!t.is_empty() && t.parse::<f64>().is_ok());
    if literal
        && let Ok(expr) = hcl::edit::parser::parse_expr(t)
        && let Ok(v) = EvalScope::new(&hcl::Map::new(), &hcl::Map::new()).eval(&expr)
    {
        return v;
    }
    Value::String(s.to_string())
}
