//! Expression evaluation: the function library, the `var`/`local`/`each`
//! namespaces, and a walk that finds the references of an expression (with
//! their spans) so that unknown names are reported where they are written.
//! `can(…)` is evaluated here, before the rest of the expression, since a
//! function's arguments are evaluated before it is called.

use std::ops::Range;

use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{Expression as EditExpr, FuncCall, Traversal, TraversalOperator};
use hcl::edit::visit::{Visit, visit_expr, visit_func_call, visit_traversal_operator};
use hcl::edit::visit_mut::{VisitMut, visit_expr_mut};
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};

/// A reference found in an expression: `var.name`, `local.name`,
/// `each.key`, or a call of function `name` (root `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub root: String,
    /// The attribute after the root; `None` when the root stands alone.
    pub name: Option<String>,
    pub span: Option<Range<usize>>,
}

#[derive(Default)]
struct Collector {
    refs: Vec<Reference>,
}

impl Visit for Collector {
    fn visit_expr(&mut self, node: &EditExpr) {
        if let EditExpr::Variable(v) = node {
            self.refs.push(Reference {
                root: v.as_str().to_string(),
                name: None,
                span: v.span(),
            });
        }
        visit_expr(self, node);
    }

    fn visit_traversal(&mut self, node: &Traversal) {
        if let EditExpr::Variable(root) = &node.expr {
            let name = node.operators.first().and_then(|op| match op.value() {
                TraversalOperator::GetAttr(ident) => Some(ident.as_str().to_string()),
                _ => None,
            });
            let span = match (root.span(), node.operators.first().and_then(|op| op.span())) {
                (Some(a), Some(b)) if name.is_some() => Some(a.start..b.end),
                (a, _) => a,
            };
            self.refs.push(Reference {
                root: root.as_str().to_string(),
                name,
                span,
            });
        } else {
            self.visit_expr(&node.expr);
        }
        for op in &node.operators {
            visit_traversal_operator(self, op);
        }
    }

    fn visit_func_call(&mut self, node: &FuncCall) {
        self.refs.push(Reference {
            root: String::new(),
            name: Some(node.name.name.as_str().to_string()),
            span: node.name.name.span(),
        });
        visit_func_call(self, node);
    }
}

/// Every variable reference and function call in `expr`.
pub fn references(expr: &EditExpr) -> Vec<Reference> {
    let mut c = Collector::default();
    c.visit_expr(expr);
    c.refs
}

/// The namespaces an expression is evaluated in.
pub struct EvalScope {
    vars: hcl::Map<String, Value>,
    locals: hcl::Map<String, Value>,
    ctx: Context<'static>,
}

impl EvalScope {
    pub fn new(vars: &hcl::Map<String, Value>, locals: &hcl::Map<String, Value>) -> Self {
        EvalScope::build(vars.clone(), locals.clone(), None)
    }

    fn build(
        vars: hcl::Map<String, Value>,
        locals: hcl::Map<String, Value>,
        each: Option<Value>,
    ) -> Self {
        let mut ctx = Context::new();
        for (name, def) in function_library() {
            ctx.declare_func(name, def);
        }
        ctx.declare_var("var", Value::Object(vars.clone()));
        ctx.declare_var("local", Value::Object(locals.clone()));
        if let Some(each) = each {
            ctx.declare_var("each", each);
        }
        EvalScope { vars, locals, ctx }
    }

    /// A scope with `each.key` and `each.value` set.
    pub fn with_each(&self, key: &str, value: &Value) -> EvalScope {
        let mut each = hcl::Map::new();
        each.insert("key".to_string(), Value::String(key.to_string()));
        each.insert("value".to_string(), value.clone());
        EvalScope::build(
            self.vars.clone(),
            self.locals.clone(),
            Some(Value::Object(each)),
        )
    }

    pub fn vars(&self) -> &hcl::Map<String, Value> {
        &self.vars
    }

    pub fn locals(&self) -> &hcl::Map<String, Value> {
        &self.locals
    }

    pub fn eval(&self, expr: &EditExpr) -> Result<Value, String> {
        let mut expr = expr.clone();
        CanCalls { scope: self }.visit_expr_mut(&mut expr);
        let expr = hcl::Expression::from(expr);
        expr.evaluate(&self.ctx).map_err(|e| e.to_string())
    }
}

/// Replaces each `can(x)` by whether `x` evaluates. Not inside a `for`
/// expression, whose names are bound only while it runs: there `can` is the
/// library's, true when its argument evaluates, an error when it does not,
/// so it is never wrongly false.
struct CanCalls<'s> {
    scope: &'s EvalScope,
}

impl VisitMut for CanCalls<'_> {
    fn visit_expr_mut(&mut self, node: &mut EditExpr) {
        if let EditExpr::FuncCall(call) = node
            && call.name.name.as_str() == "can"
            && !call.name.is_namespaced()
            && call.args.len() == 1
            && let Some(arg) = call.args.get(0)
        {
            *node = EditExpr::from(self.scope.eval(arg).is_ok());
            return;
        }
        if matches!(node, EditExpr::ForExpr(_)) {
            return;
        }
        visit_expr_mut(self, node);
    }
}

/// The type of a value as messages name it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn function_library() -> Vec<(&'static str, FuncDef)> {
    let any = || ParamType::Any;
    vec![
        (
            "toset",
            FuncDef::builder()
                .param(ParamType::array_of(any()))
                .build(toset),
        ),
        (
            "concat",
            FuncDef::builder()
                .variadic_param(ParamType::array_of(any()))
                .build(concat),
        ),
        (
            "merge",
            FuncDef::builder()
                .variadic_param(ParamType::object_of(any()))
                .build(merge),
        ),
        (
            "lower",
            FuncDef::builder().param(ParamType::String).build(lower),
        ),
        (
            "upper",
            FuncDef::builder().param(ParamType::String).build(upper),
        ),
        (
            "format",
            FuncDef::builder()
                .param(ParamType::String)
                .variadic_param(any())
                .build(format),
        ),
        (
            "join",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::array_of(any()))
                .build(join),
        ),
        ("length", FuncDef::builder().param(any()).build(length)),
        (
            "contains",
            FuncDef::builder()
                .param(ParamType::array_of(any()))
                .param(any())
                .build(contains),
        ),
        (
            "startswith",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(startswith),
        ),
        (
            "endswith",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(endswith),
        ),
        (
            "alltrue",
            FuncDef::builder()
                .param(ParamType::array_of(any()))
                .build(alltrue),
        ),
        (
            "anytrue",
            FuncDef::builder()
                .param(ParamType::array_of(any()))
                .build(anytrue),
        ),
        (
            "regex",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(regex),
        ),
        (
            "can",
            FuncDef::builder()
                .param(any())
                .build(|_| Ok(Value::Bool(true))),
        ),
    ]
}

fn arg_str(args: &FuncArgs, i: usize) -> Result<&str, String> {
    args.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("argument {} must be a string", i + 1))
}

fn toset(args: FuncArgs) -> Result<Value, String> {
    let Some(Value::Array(items)) = args.first() else {
        return Err("toset takes a list".into());
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    // Sets of strings iterate in lexical order, as Terraform's do, so plans
    // do not depend on the order a list was written in.
    if out.iter().all(|v| v.is_string()) {
        out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    Ok(Value::Array(out))
}

fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for v in args.iter() {
        if let Value::Array(items) = v {
            out.extend(items.iter().cloned());
        }
    }
    Ok(Value::Array(out))
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for v in args.iter() {
        if let Value::Object(map) = v {
            for (k, v) in map {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(arg_str(&args, 0)?.to_lowercase()))
}

fn upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(arg_str(&args, 0)?.to_uppercase()))
}

fn plain(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "a {} cannot be written into a string",
            type_name(other)
        )),
    }
}

fn format(args: FuncArgs) -> Result<Value, String> {
    let spec = arg_str(&args, 0)?;
    let mut rest = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("format string ends with a lone %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = rest
            .next()
            .ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        match verb {
            's' | 'v' => out.push_str(&plain(v)?),
            'd' => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
                other => {
                    return Err(format!(
                        "%d needs a whole number, got a {}",
                        type_name(other)
                    ));
                }
            },
            'q' => out.push_str(&format!("{:?}", plain(v)?)),
            other => {
                return Err(format!(
                    "unsupported format verb %{other} (use %s, %d, %v, %q or %%)"
                ));
            }
        }
    }
    if rest.next().is_some() {
        return Err("too many arguments for the format string".into());
    }
    Ok(Value::String(out))
}

fn join(args: FuncArgs) -> Result<Value, String> {
    let sep = arg_str(&args, 0)?;
    let Some(Value::Array(items)) = args.get(1) else {
        return Err("join takes a separator and a list".into());
    };
    let parts = items.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(sep)))
}

fn length(args: FuncArgs) -> Result<Value, String> {
    let n = match args.first() {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        Some(other) => return Err(format!("length of a {} is undefined", type_name(other))),
        None => return Err("length takes one argument".into()),
    };
    Ok(Value::from(n as u64))
}

fn contains(args: FuncArgs) -> Result<Value, String> {
    let (Some(Value::Array(items)), Some(wanted)) = (args.first(), args.get(1)) else {
        return Err("contains takes a list and a value".into());
    };
    Ok(Value::Bool(items.contains(wanted)))
}

fn startswith(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(
        arg_str(&args, 0)?.starts_with(arg_str(&args, 1)?),
    ))
}

fn endswith(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(
        arg_str(&args, 0)?.ends_with(arg_str(&args, 1)?),
    ))
}

fn bools(args: &FuncArgs, name: &str) -> Result<Vec<bool>, String> {
    let Some(Value::Array(items)) = args.first() else {
        return Err(format!("{name} takes a list of bools"));
    };
    items
        .iter()
        .map(|v| match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            other => Err(format!(
                "{name} takes a list of bools; it holds a {}",
                type_name(other)
            )),
        })
        .collect()
}

fn alltrue(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(bools(&args, "alltrue")?.into_iter().all(|b| b)))
}

fn anytrue(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(bools(&args, "anytrue")?.into_iter().any(|b| b)))
}

/// Terraform's `regex`: the match, the list of its groups, or an object of
/// its named groups; an error when the pattern does not match.
fn regex(args: FuncArgs) -> Result<Value, String> {
    let pattern = arg_str(&args, 0)?;
    let text = arg_str(&args, 1)?;
    let re = regex::Regex::new(pattern).map_err(|e| format!("invalid regular expression: {e}"))?;
    let caps = re
        .captures(text)
        .ok_or_else(|| format!("the pattern {pattern:?} does not match {text:?}"))?;
    let group = |m: Option<regex::Match<'_>>| m.map_or(Value::Null, |m| Value::from(m.as_str()));
    if re.capture_names().flatten().next().is_some() {
        let mut out = hcl::Map::new();
        for name in re.capture_names().flatten() {
            out.insert(name.to_string(), group(caps.name(name)));
        }
        return Ok(Value::Object(out));
    }
    if re.captures_len() > 1 {
        return Ok(Value::Array(caps.iter().skip(1).map(group).collect()));
    }
    Ok(group(caps.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Value, String> {
        let expr = hcl::edit::parser::parse_expr(src).unwrap();
        let mut vars = hcl::Map::new();
        vars.insert("names".to_string(), Value::from(vec!["b", "a", "b"]));
        EvalScope::new(&vars, &hcl::Map::new()).eval(&expr)
    }

    #[test]
    fn functions_behave_like_terraforms() {
        assert_eq!(
            eval("toset(var.names)").unwrap(),
            Value::from(vec!["a", "b"])
        );
        assert_eq!(
            eval("concat([1], [2, 3])").unwrap(),
            Value::from(vec![1, 2, 3])
        );
        assert_eq!(
            eval("length(merge({a = 1}, {b = 2, a = 3}))").unwrap(),
            Value::from(2u64)
        );
        assert_eq!(
            eval("format(\"%s-%d%%\", \"x\", 5)").unwrap(),
            Value::from("x-5%")
        );
        assert_eq!(
            eval("join(\", \", [upper(\"a\"), lower(\"B\")])").unwrap(),
            Value::from("A, b")
        );
        assert_eq!(
            eval("\"n=${length(var.names)}\"").unwrap(),
            Value::from("n=3")
        );
        assert!(eval("format(\"%d\", \"x\")").is_err());
        assert!(eval("nope(1)").is_err());
        assert_eq!(
            eval("contains(var.names, \"a\")").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            eval("contains(var.names, \"c\")").unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            eval(
                "[startswith(\"abc\", \"ab\"), endswith(\"abc\", \"bc\"), endswith(\"abc\", \"a\")]"
            )
            .unwrap(),
            Value::from(vec![true, true, false])
        );
        assert_eq!(eval("alltrue([])").unwrap(), Value::Bool(true));
        assert_eq!(eval("anytrue([false, true])").unwrap(), Value::Bool(true));
        assert!(eval("alltrue([1])").is_err());
        assert_eq!(
            eval("regex(\"[a-z]+\", \"12ab3\")").unwrap(),
            Value::from("ab")
        );
        assert_eq!(
            eval("regex(\"(\\\\d+)-(\\\\d+)\", \"x 10-20\")").unwrap(),
            Value::from(vec!["10", "20"])
        );
        assert_eq!(
            eval("regex(\"(?P<k>\\\\w+)=\", \"a=b\").k").unwrap(),
            Value::from("a")
        );
        assert!(eval("regex(\"z\", \"abc\")").is_err());
    }

    #[test]
    fn can_says_whether_its_argument_evaluates() {
        assert_eq!(
            eval("can(regex(\"^a\", \"abc\"))").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            eval("can(regex(\"^z\", \"abc\"))").unwrap(),
            Value::Bool(false)
        );
        assert_eq!(eval("can(var.missing)").unwrap(), Value::Bool(false));
        assert_eq!(
            eval("\"${can(var.names[7])}-${can(var.names[0])}\"").unwrap(),
            Value::from("false-true")
        );
        // Inside a for expression it is never wrongly false: true or an error.
        assert_eq!(
            eval("[for n in var.names : can(regex(\"^[ab]$\", n))]").unwrap(),
            Value::from(vec![true, true, true])
        );
        assert!(eval("[for n in var.names : can(regex(\"^a$\", n))]").is_err());
    }

    #[test]
    fn finds_references_with_spans() {
        let src = "concat(var.a, [local.b], [each.value], foo(x))";
        let refs = references(&hcl::edit::parser::parse_expr(src).unwrap());
        let names: Vec<_> = refs
            .iter()
            .map(|r| (r.root.as_str(), r.name.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("", Some("concat")),
                ("var", Some("a")),
                ("local", Some("b")),
                ("each", Some("value")),
                ("", Some("foo")),
                ("x", None)
            ]
        );
        let var_a = refs[1].span.clone().unwrap();
        assert_eq!(&src[var_a], "var.a");
    }
}
