//! Variables and locals: values from defaults, `PIM_VAR_` environment
//! variables, `--var-file` and `--var`, then the locals evaluated in order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use hcl::Value;
use hcl::edit::structure::{Attribute, Structure};

use super::diagnostic::{Diagnostic, Location, SourceFile};
use super::eval::{EvalScope, references};
use super::load::{Item, Loader, location, span_of, suggest, syntax_error};
use super::read;

impl Loader<'_> {
    pub(super) fn variables(&mut self, items: &[Item<'_>]) -> hcl::Map<String, Value> {
        let mut values = hcl::Map::new();
        let mut declared: HashMap<String, Location> = HashMap::new();
        let mut missing: Vec<(String, Arc<SourceFile>, Range<usize>)> = Vec::new();
        let empty = EvalScope::new(&hcl::Map::new(), &hcl::Map::new());
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
            match item.block.body.get_attribute("default") {
                Some(attr) => {
                    if self.check_refs(item.file, &attr.value, None, None, false) {
                        match empty.eval(&attr.value) {
                            Ok(v) => {
                                values.insert(name, v);
                            }
                            Err(e) => {
                                self.error(
                                    item.file,
                                    span_of(&attr.value),
                                    format!("cannot evaluate the default: {e}"),
                                );
                            }
                        }
                    }
                }
                None => missing.push((name, item.file.clone(), span_of(label))),
            }
        }
        let names: Vec<String> = declared.keys().cloned().collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut set = |this: &mut Self, name: &str, v: Value, origin: &str, strict: bool| {
            if declared.contains_key(name) {
                values.insert(name.to_string(), v);
            } else {
                let mut d = if strict {
                    Diagnostic::error(format!(
                        "{origin} sets variable \"{name}\", which is not declared"
                    ))
                } else {
                    Diagnostic::warning(format!(
                        "{origin} sets variable \"{name}\", which is not declared"
                    ))
                };
                d.hint = suggest(name, &name_refs);
                this.diags.push(d);
            }
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
            set(
                self,
                name,
                parse_cli_value(v),
                &format!("environment variable {k}"),
                false,
            );
        }
        for path in &self.opts.var_files.clone() {
            for (name, v) in self.var_file(path) {
                set(
                    self,
                    &name,
                    v,
                    &format!("var file {}", path.display()),
                    true,
                );
            }
        }
        for (name, v) in &self.opts.vars {
            set(
                self,
                name,
                parse_cli_value(v),
                &format!("--var {name}"),
                true,
            );
        }
        for (name, file, span) in missing {
            if !values.contains_key(&name) {
                self.error(&file, span, format!("variable \"{name}\" has no value"))
                    .hint = Some(format!(
                    "give it a default, or set it with --var {name}=…, a --var-file, or PIM_VAR_{name}"
                ));
                self.unset_vars.insert(name);
            }
        }
        values
    }

    fn var_file(&mut self, path: &Path) -> Vec<(String, Value)> {
        let text = match read::read_text(path) {
            Ok(t) => t,
            Err(e) => {
                self.read_error(&e, "var file ");
                return Vec::new();
            }
        };
        let file = SourceFile::new(path.to_path_buf(), text);
        if path.extension().is_some_and(|e| e == "json") {
            return match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                &file.text,
            ) {
                Ok(map) => map
                    .into_iter()
                    .map(|(k, v)| (k, hcl::to_value(v).unwrap_or(Value::Null)))
                    .collect(),
                Err(e) => {
                    let offset = offset_at(&file, e.line(), e.column());
                    self.error(&file, offset..offset + 1, format!("invalid JSON: {e}"));
                    Vec::new()
                }
            };
        }
        let body = match hcl::edit::parser::parse_body(&file.text) {
            Ok(b) => b,
            Err(e) => {
                self.diags.push(syntax_error(&file, &e));
                return Vec::new();
            }
        };
        let empty = EvalScope::new(&hcl::Map::new(), &hcl::Map::new());
        let mut out = Vec::new();
        for st in body.iter() {
            match st {
                Structure::Attribute(a) => {
                    if self.check_refs(&file, &a.value, None, None, false) {
                        match empty.eval(&a.value) {
                            Ok(v) => out.push((a.key.as_str().to_string(), v)),
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
        out
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
