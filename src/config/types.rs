//! Type constraints of variables (`type = list(string)`): read from their
//! HCL expression, and values converted to them the way Terraform converts
//! (a string `"3"` to a number, a list to a set, a number to a string).

use std::fmt;
use std::ops::Range;

use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{Expression as EditExpr, FuncCall, ObjectKey};

use super::eval::EvalScope;
use super::load::{span_of, suggest};
use crate::render::escape;

/// A type constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum VarType {
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Set(Box<VarType>),
    Map(Box<VarType>),
    Object(Vec<ObjectAttr>),
    Tuple(Vec<VarType>),
}

/// An attribute of an `object({…})` type.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAttr {
    pub name: String,
    pub ty: VarType,
    /// `optional(T)`: the attribute may be left out.
    pub optional: bool,
    /// `optional(T, default)`: what a left-out attribute becomes (else null).
    pub default: Option<Value>,
}

impl VarType {
    /// The type of a value given on the command line: such values are taken
    /// as they are written, not parsed, when the type is a primitive one.
    pub fn is_primitive(&self) -> bool {
        matches!(self, VarType::String | VarType::Number | VarType::Bool)
    }
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarType::Any => f.write_str("any"),
            VarType::String => f.write_str("string"),
            VarType::Number => f.write_str("number"),
            VarType::Bool => f.write_str("bool"),
            VarType::List(t) => write!(f, "list({t})"),
            VarType::Set(t) => write!(f, "set({t})"),
            VarType::Map(t) => write!(f, "map({t})"),
            VarType::Object(attrs) => {
                f.write_str("object({")?;
                for (i, a) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if a.optional {
                        write!(f, "{} = optional({})", a.name, a.ty)?;
                    } else {
                        write!(f, "{} = {}", a.name, a.ty)?;
                    }
                }
                f.write_str("})")
            }
            VarType::Tuple(items) => {
                f.write_str("tuple([")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
        }
    }
}

/// A type expression that is not a type, with where it is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeError {
    pub span: Range<usize>,
    pub message: String,
    pub hint: Option<String>,
}

const PRIMITIVES: &[&str] = &["string", "number", "bool", "any"];
const CONSTRUCTORS: &[&str] = &["list", "set", "map", "object", "tuple"];
const TYPE_HINT: &str = "types are string, number, bool, any, list(T), set(T), map(T), \
     object({ name = T, … }) and tuple([T, …])";

fn type_error(span: Range<usize>, message: String, hint: Option<String>) -> TypeError {
    TypeError {
        span,
        message,
        hint,
    }
}

/// Reads a type expression.
pub fn parse(expr: &EditExpr) -> Result<VarType, TypeError> {
    parse_in(expr, false).map(|(t, _)| t)
}

/// Reads a type; `in_object` allows `optional(…)`, which is returned as
/// `Some(default)` (a null default when none is written).
fn parse_in(expr: &EditExpr, in_object: bool) -> Result<(VarType, Option<Value>), TypeError> {
    let span = span_of(expr);
    match expr {
        EditExpr::Variable(v) => {
            let name = v.as_str();
            let ty = match name {
                "string" => VarType::String,
                "number" => VarType::Number,
                "bool" => VarType::Bool,
                "any" => VarType::Any,
                _ if CONSTRUCTORS.contains(&name) => {
                    return Err(type_error(
                        span,
                        format!("\"{name}\" needs the type of its elements"),
                        Some(format!("write {}", example(name))),
                    ));
                }
                _ => return Err(unknown(name, span)),
            };
            Ok((ty, None))
        }
        EditExpr::Parenthesis(p) => parse_in(p.inner(), in_object),
        EditExpr::FuncCall(call) => parse_call(call, span, in_object),
        EditExpr::String(s) => {
            let hint = if PRIMITIVES.contains(&s.as_str()) {
                format!("write type = {}", s.as_str())
            } else {
                TYPE_HINT.to_string()
            };
            Err(type_error(
                span,
                "a type is written without quotes".into(),
                Some(hint),
            ))
        }
        _ => Err(type_error(
            span,
            "this is not a type".into(),
            Some(TYPE_HINT.into()),
        )),
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "list" => "list(string)",
        "set" => "set(string)",
        "map" => "map(string)",
        "object" => "object({ name = string })",
        "tuple" => "tuple([string, number])",
        _ => "string",
    }
}

fn unknown(name: &str, span: Range<usize>) -> TypeError {
    let mut names: Vec<&str> = PRIMITIVES.to_vec();
    names.extend(CONSTRUCTORS);
    type_error(
        span,
        format!("unknown type \"{name}\""),
        suggest(name, &names).or_else(|| Some(TYPE_HINT.into())),
    )
}

fn parse_call(
    call: &FuncCall,
    span: Range<usize>,
    in_object: bool,
) -> Result<(VarType, Option<Value>), TypeError> {
    let name = call.name.name.as_str();
    let name_span = span_of(&call.name.name);
    let args: Vec<&EditExpr> = call.args.iter().collect();
    if call.name.is_namespaced() {
        return Err(unknown(name, name_span));
    }
    let one = |what: &str| -> Result<&EditExpr, TypeError> {
        match args.as_slice() {
            [only] => Ok(only),
            _ => Err(type_error(
                span.clone(),
                format!("\"{name}\" takes one argument: {what}"),
                Some(format!("write {}", example(name))),
            )),
        }
    };
    let ty = match name {
        "list" | "set" | "map" => {
            let (inner, _) = parse_in(one("the type of its elements")?, false)?;
            let inner = Box::new(inner);
            match name {
                "list" => VarType::List(inner),
                "set" => VarType::Set(inner),
                _ => VarType::Map(inner),
            }
        }
        "object" => {
            let arg = one("{ name = type, … }")?;
            let EditExpr::Object(obj) = arg else {
                return Err(type_error(
                    span_of(arg),
                    "object(…) takes its attributes in braces".into(),
                    Some("write object({ name = string, size = number })".into()),
                ));
            };
            let mut attrs: Vec<ObjectAttr> = Vec::new();
            for (key, value) in obj.iter() {
                let (attr, key_span) = match key {
                    ObjectKey::Ident(id) => (id.as_str().to_string(), span_of(id)),
                    ObjectKey::Expression(EditExpr::String(s)) => {
                        (s.as_str().to_string(), span_of(s))
                    }
                    ObjectKey::Expression(e) => {
                        return Err(type_error(
                            span_of(e),
                            "an attribute of an object type is named by a literal name".into(),
                            Some("write object({ name = string })".into()),
                        ));
                    }
                };
                if attrs.iter().any(|a| a.name == attr) {
                    return Err(type_error(
                        key_span,
                        format!("attribute \"{attr}\" is declared twice in the object type"),
                        None,
                    ));
                }
                let (ty, optional) = parse_in(value.expr(), true)?;
                attrs.push(ObjectAttr {
                    name: attr,
                    ty,
                    default: optional.clone().filter(|d| !d.is_null()),
                    optional: optional.is_some(),
                });
            }
            VarType::Object(attrs)
        }
        "tuple" => {
            let arg = one("[type, …]")?;
            let EditExpr::Array(items) = arg else {
                return Err(type_error(
                    span_of(arg),
                    "tuple(…) takes its element types in brackets".into(),
                    Some("write tuple([string, number])".into()),
                ));
            };
            let items = items
                .iter()
                .map(|e| parse_in(e, false).map(|(t, _)| t))
                .collect::<Result<Vec<_>, _>>()?;
            VarType::Tuple(items)
        }
        "optional" if in_object => {
            let (ty, default) = match args.as_slice() {
                [ty] => (parse_in(ty, false)?.0, Value::Null),
                [ty, default] => {
                    let ty = parse_in(ty, false)?.0;
                    let empty = EvalScope::new(&hcl::Map::new(), &hcl::Map::new());
                    let value = empty.eval(default).map_err(|e| {
                        type_error(
                            span_of(*default),
                            format!("cannot evaluate the default of the optional attribute: {e}"),
                            Some("the default is a literal value".into()),
                        )
                    })?;
                    let value = convert(value, &ty).map_err(|m| {
                        type_error(
                            span_of(*default),
                            format!(
                                "the default of the optional attribute is not of type {ty}: {}",
                                m.describe("", false)
                            ),
                            None,
                        )
                    })?;
                    (ty, value)
                }
                _ => {
                    return Err(type_error(
                        span,
                        "\"optional\" takes a type and, optionally, a default".into(),
                        Some("write optional(string) or optional(string, \"x\")".into()),
                    ));
                }
            };
            return Ok((ty, Some(default)));
        }
        "optional" => {
            return Err(type_error(
                name_span,
                "optional(…) marks an attribute of an object type".into(),
                Some("write object({ name = optional(string) })".into()),
            ));
        }
        _ if PRIMITIVES.contains(&name) => {
            return Err(type_error(
                span,
                format!("\"{name}\" takes no arguments"),
                Some(format!("write {name}")),
            ));
        }
        _ => return Err(unknown(name, name_span)),
    };
    Ok((ty, None))
}

/// One step into a value: an element of a list or an attribute or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Index(usize),
    Key(String),
}

/// Why a value does not convert, and where in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub path: Vec<Step>,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// `expected` is a type; `given` the value found.
    Expected {
        expected: String,
        given: Value,
    },
    MissingAttribute(String),
    Length {
        expected: usize,
        given: usize,
    },
}

impl Mismatch {
    fn at(problem: Problem) -> Mismatch {
        Mismatch {
            path: Vec::new(),
            problem,
        }
    }

    fn expected(ty: &VarType, given: Value) -> Mismatch {
        Mismatch::at(Problem::Expected {
            expected: ty.to_string(),
            given,
        })
    }

    fn inside(mut self, step: Step) -> Mismatch {
        self.path.insert(0, step);
        self
    }

    /// `name[1].owner: expected string, got list`. A sensitive value is
    /// named by its type only.
    pub fn describe(&self, name: &str, sensitive: bool) -> String {
        let mut out = String::new();
        if !self.path.is_empty() {
            out.push_str(name);
            for step in &self.path {
                match step {
                    Step::Index(i) => out.push_str(&format!("[{i}]")),
                    Step::Key(k) if is_identifier(k) => out.push_str(&format!(".{k}")),
                    Step::Key(k) => out.push_str(&format!("[{}]", escape::quoted(k))),
                }
            }
            out.push_str(": ");
        }
        match &self.problem {
            Problem::Expected { expected, given } => {
                out.push_str(&format!(
                    "expected {expected}, got {}",
                    given_text(given, sensitive)
                ));
            }
            Problem::MissingAttribute(a) => {
                out.push_str(&format!("attribute \"{a}\" is required"));
            }
            Problem::Length { expected, given } => {
                out.push_str(&format!("expected {expected} elements, got {given}"));
            }
        }
        out
    }
}

fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a value is, as messages show it: `string "abc"`, `number 3`, `list`.
pub fn given_text(v: &Value, sensitive: bool) -> String {
    let shown = match v {
        Value::String(s) => format!("string {}", escape::quoted(&shorten(s))),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("bool {b}"),
        Value::Null => return "null".into(),
        Value::Array(a) => return format!("a list of {}", count(a.len(), "element")),
        Value::Object(o) => return format!("an object with {}", count(o.len(), "attribute")),
    };
    if sensitive {
        let ty = shown.split(' ').next().unwrap_or("value");
        format!("{ty} (sensitive value)")
    } else {
        shown
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// Converts `v` to `ty`, or says where and why it does not fit. Null fits
/// every type (whether a variable may be null is the variable's matter).
pub fn convert(v: Value, ty: &VarType) -> Result<Value, Mismatch> {
    if v.is_null() {
        return Ok(v);
    }
    match ty {
        VarType::Any => Ok(v),
        VarType::String => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(number_text(&n))),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(Mismatch::expected(ty, other)),
        },
        VarType::Number => match v {
            Value::Number(_) => Ok(v),
            Value::String(s) => {
                parse_number(&s).ok_or_else(|| Mismatch::expected(ty, Value::String(s)))
            }
            other => Err(Mismatch::expected(ty, other)),
        },
        VarType::Bool => match v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(Mismatch::expected(ty, other)),
        },
        VarType::List(elem) | VarType::Set(elem) => {
            let Value::Array(items) = v else {
                return Err(Mismatch::expected(ty, v));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(convert(item, elem).map_err(|m| m.inside(Step::Index(i)))?);
            }
            if matches!(ty, VarType::Set(_)) {
                out = set_of(out);
            }
            Ok(Value::Array(out))
        }
        VarType::Map(elem) => {
            let Value::Object(map) = v else {
                return Err(Mismatch::expected(ty, v));
            };
            let mut out = hcl::Map::new();
            for (k, item) in map {
                let item = convert(item, elem).map_err(|m| m.inside(Step::Key(k.clone())))?;
                out.insert(k, item);
            }
            Ok(Value::Object(out))
        }
        VarType::Object(attrs) => {
            let Value::Object(mut map) = v else {
                return Err(Mismatch::expected(ty, v));
            };
            // Attributes the type does not name are dropped, as Terraform does.
            let mut out = hcl::Map::new();
            for a in attrs {
                let value = match map.shift_remove(&a.name) {
                    Some(value) => {
                        convert(value, &a.ty).map_err(|m| m.inside(Step::Key(a.name.clone())))?
                    }
                    None if a.optional => a.default.clone().unwrap_or(Value::Null),
                    None => {
                        return Err(Mismatch::at(Problem::MissingAttribute(a.name.clone())));
                    }
                };
                out.insert(a.name.clone(), value);
            }
            Ok(Value::Object(out))
        }
        VarType::Tuple(types) => {
            let Value::Array(items) = v else {
                return Err(Mismatch::expected(ty, v));
            };
            if items.len() != types.len() {
                return Err(Mismatch::at(Problem::Length {
                    expected: types.len(),
                    given: items.len(),
                }));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, t)) in items.into_iter().zip(types).enumerate() {
                out.push(convert(item, t).map_err(|m| m.inside(Step::Index(i)))?);
            }
            Ok(Value::Array(out))
        }
    }
}

/// Without duplicates; strings in lexical order, as `toset` gives them.
fn set_of(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    if out.iter().all(Value::is_string) {
        out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    out
}

/// A number as Terraform writes it into a string: `3`, not `3.0`.
fn number_text(n: &hcl::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

fn parse_number(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    if let Ok(u) = t.parse::<u64>() {
        return Some(Value::from(u));
    }
    // Rust also reads "inf" and "NaN"; a number is written in digits.
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    let f = t.parse::<f64>().ok()?;
    hcl::Number::from_f64(f).map(Value::Number)
}

/// The span of the part of a literal `expr` that `path` leads to; as far
/// as the expression is literal, else the whole expression's.
pub fn span_at(expr: &EditExpr, path: &[Step]) -> Range<usize> {
    let mut here = expr;
    for step in path {
        if let EditExpr::Parenthesis(p) = here {
            here = p.inner();
        }
        let next = match (here, step) {
            (EditExpr::Array(a), Step::Index(i)) => a.get(*i),
            (EditExpr::Object(o), Step::Key(k)) => o
                .iter()
                .find(|(key, _)| match key {
                    ObjectKey::Ident(id) => id.as_str() == k,
                    ObjectKey::Expression(EditExpr::String(s)) => s.as_str() == k,
                    _ => false,
                })
                .map(|(_, v)| v.expr()),
            _ => None,
        };
        match next {
            Some(n) => here = n,
            None => break,
        }
    }
    here.span().unwrap_or_else(|| span_of(expr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str) -> Result<VarType, TypeError> {
        parse(&hcl::edit::parser::parse_expr(src).unwrap())
    }

    fn value(src: &str) -> Value {
        let e = hcl::edit::parser::parse_expr(src).unwrap();
        EvalScope::new(&hcl::Map::new(), &hcl::Map::new())
            .eval(&e)
            .unwrap()
    }

    #[test]
    fn types_read_and_print_back() {
        for src in [
            "string",
            "number",
            "bool",
            "any",
            "list(string)",
            "set(number)",
            "map(list(bool))",
            "object({name = string, tags = optional(list(string))})",
            "tuple([string, number, any])",
        ] {
            assert_eq!(ty(src).unwrap().to_string(), src);
        }
        let e = ty("map(strng)").unwrap_err();
        assert_eq!(e.message, "unknown type \"strng\"");
        assert_eq!(e.hint.as_deref(), Some("did you mean \"string\"?"));
        assert_eq!(e.span, 4..9);
        assert_eq!(
            ty("list").unwrap_err().message,
            "\"list\" needs the type of its elements"
        );
        assert_eq!(
            ty("\"string\"").unwrap_err().hint.as_deref(),
            Some("write type = string")
        );
        assert!(ty("optional(string)").is_err(), "only in an object");
        assert!(ty("list(string, number)").is_err());
        // The parser refuses `a` twice; a quoted `"a"` gets here.
        assert!(ty("object({a = string, \"a\" = number})").is_err());
    }

    #[test]
    fn values_convert_as_terraform_converts() {
        let conv = |t: &str, v: &str| convert(value(v), &ty(t).unwrap());
        assert_eq!(conv("number", "\"3\""), Ok(Value::from(3)));
        assert_eq!(conv("number", "\"-2.5\""), Ok(value("-2.5")));
        assert_eq!(conv("bool", "\"true\""), Ok(Value::Bool(true)));
        assert_eq!(conv("string", "3"), Ok(Value::from("3")));
        assert_eq!(conv("string", "3.0"), Ok(Value::from("3")));
        assert_eq!(conv("string", "false"), Ok(Value::from("false")));
        assert_eq!(
            conv("set(string)", "[\"b\", \"a\", \"b\"]"),
            Ok(value("[\"a\", \"b\"]"))
        );
        assert_eq!(
            conv(
                "object({a = string, b = optional(number, 7)})",
                "{a = 1, c = true}"
            ),
            Ok(value("{a = \"1\", b = 7}"))
        );
        let m = conv("list(object({n = number}))", "[{n = 1}, {n = \"x\"}]").unwrap_err();
        assert_eq!(
            m.describe("v", false),
            "v[1].n: expected number, got string \"x\""
        );
        assert_eq!(
            m.describe("v", true),
            "v[1].n: expected number, got string (sensitive value)"
        );
        let m = conv("tuple([string, number])", "[\"a\"]").unwrap_err();
        assert_eq!(m.describe("v", false), "expected 2 elements, got 1");
        assert!(conv("number", "\"inf\"").is_err());
        assert!(conv("bool", "\"yes\"").is_err());
        assert!(conv("map(string)", "[]").is_err());
        assert_eq!(conv("list(string)", "null"), Ok(Value::Null));
    }

    #[test]
    fn spans_lead_into_literals() {
        let src = "[{n = 1}, {n = \"x\"}]";
        let e = hcl::edit::parser::parse_expr(src).unwrap();
        let at = span_at(&e, &[Step::Index(1), Step::Key("n".into())]);
        assert_eq!(&src[at], "\"x\"");
        let at = span_at(&e, &[Step::Index(5)]);
        assert_eq!(&src[at], src);
    }
}
