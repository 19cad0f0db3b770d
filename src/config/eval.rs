//! Expression evaluation: the function library, the `var`/`local`/`each`
//! namespaces, and a walk that finds the references of an expression (with
//! their spans) so that unknown names are reported where they are written.

use std::ops::Range;

use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{Expression as EditExpr, FuncCall, Traversal, TraversalOperator};
use hcl::edit::visit::{Visit, visit_expr, visit_func_call, visit_traversal_operator};
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
        let expr = hcl::Expression::from(expr.clone());
        expr.evaluate(&self.ctx).map_err(|e| e.to_string())
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
