//! The SearchParameter expression subset, compiled once and evaluated straight over JSON.
//!
//! R4's SearchParameter expressions use a small, fixed part of FHIRPath: member paths, `|`
//! unions, `as` / `.as()` / `.ofType()` on choice elements, `where(resolve() is Type)`,
//! `where(field = 'literal')`, `[n]`, `exists()`, `and` and `!=`. Extraction runs once per
//! parameter per resource on every write and over whole bulk files, so it is compiled into this
//! small tree at registry build time and walks `serde_json::Value` without building FHIRPath
//! items. Choice elements are found by key prefix (`value` → `valueQuantity`) and carry the type
//! from the key suffix, which is all `as` needs. `resolve()` cannot fetch anything during
//! indexing, so it yields the *type* of the reference target, which is all `is` needs.
//! Anything outside the subset fails to compile and the parameter is reported as not indexable.

use crate::definitions::Definitions;
use serde_json::Value;

/// A compiled search expression.
#[derive(Debug, Clone)]
pub enum PathExpr {
    /// The current context (`$this`, the root at the start).
    This,
    /// `Type` at the start of a path: keeps the root only when it is that resource type.
    RootType(String),
    Member(Box<PathExpr>, String),
    /// `as T`, `.as(T)`, `.ofType(T)`.
    AsType(Box<PathExpr>, String),
    Is(Box<PathExpr>, String),
    Where(Box<PathExpr>, Box<PathExpr>),
    Resolve(Box<PathExpr>),
    Exists(Box<PathExpr>),
    First(Box<PathExpr>),
    Index(Box<PathExpr>, usize),
    Union(Vec<PathExpr>),
    Equals(Box<PathExpr>, Box<PathExpr>, bool),
    And(Box<PathExpr>, Box<PathExpr>),
    Str(String),
    Bool(bool),
}

/// An evaluation result.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A JSON node; `ty` is the type named by a choice key suffix (`Quantity` for `valueQuantity`).
    Node {
        value: &'a Value,
        ty: Option<&'a str>,
    },
    Bool(bool),
    Str(String),
    /// The target of `resolve()`: only its resource type is known during indexing.
    Resolved(String),
}

/// Why an expression is outside the supported subset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unsupported search expression `{expression}`: {reason}")]
pub struct PathError {
    pub expression: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(usize),
    Sym(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[st..i].to_string()));
        } else if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Num(s[st..i].parse().map_err(|_| "bad number")?));
        } else if c == b'\'' {
            let st = i + 1;
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            if i >= b.len() {
                return Err("unterminated string".into());
            }
            out.push(Tok::Str(s[st..i].to_string()));
            i += 1;
        } else if s[i..].starts_with("!=") {
            out.push(Tok::Sym("!="));
            i += 2;
        } else {
            let sym = match c {
                b'.' => ".",
                b'|' => "|",
                b'(' => "(",
                b')' => ")",
                b'[' => "[",
                b']' => "]",
                b'=' => "=",
                b',' => ",",
                _ => return Err(format!("unexpected character `{}`", c as char)),
            };
            out.push(Tok::Sym(sym));
            i += 1;
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_ident(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(x)) if x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(format!("expected `{s}`"))
        }
    }
    fn ident(&mut self) -> Result<String, String> {
        match self.toks.get(self.pos) {
            Some(Tok::Ident(x)) => {
                self.pos += 1;
                Ok(x.clone())
            }
            _ => Err("expected a name".into()),
        }
    }

    // and-expr := eq-expr ('and' eq-expr)*
    fn and_expr(&mut self) -> Result<PathExpr, String> {
        let mut left = self.eq_expr()?;
        while self.eat_ident("and") {
            let right = self.eq_expr()?;
            left = PathExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn eq_expr(&mut self) -> Result<PathExpr, String> {
        let left = self.union()?;
        let neg = if self.eat_sym("=") {
            false
        } else if self.eat_sym("!=") {
            true
        } else {
            return Ok(left);
        };
        let right = self.union()?;
        Ok(PathExpr::Equals(Box::new(left), Box::new(right), neg))
    }
    fn union(&mut self) -> Result<PathExpr, String> {
        let mut parts = vec![self.type_expr()?];
        while self.eat_sym("|") {
            parts.push(self.type_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(PathExpr::This)
        } else {
            PathExpr::Union(parts)
        })
    }
    fn type_expr(&mut self) -> Result<PathExpr, String> {
        let mut e = self.postfix()?;
        loop {
            if self.eat_ident("as") {
                e = PathExpr::AsType(Box::new(e), self.ident()?);
            } else if self.eat_ident("is") {
                e = PathExpr::Is(Box::new(e), self.ident()?);
            } else {
                return Ok(e);
            }
        }
    }
    fn postfix(&mut self) -> Result<PathExpr, String> {
        let mut e = self.term()?;
        loop {
            if self.eat_sym(".") {
                let name = self.ident()?;
                e = self.invocation(e, name)?;
            } else if self.eat_sym("[") {
                let n = match self.toks.get(self.pos) {
                    Some(Tok::Num(n)) => *n,
                    _ => return Err("expected an index".into()),
                };
                self.pos += 1;
                self.expect_sym("]")?;
                e = PathExpr::Index(Box::new(e), n);
            } else {
                return Ok(e);
            }
        }
    }
    fn invocation(&mut self, base: PathExpr, name: String) -> Result<PathExpr, String> {
        if !self.eat_sym("(") {
            return Ok(PathExpr::Member(Box::new(base), name));
        }
        let b = Box::new(base);
        let e = match name.as_str() {
            "as" | "ofType" => PathExpr::AsType(b, self.ident()?),
            "where" => PathExpr::Where(b, Box::new(self.and_expr()?)),
            "resolve" => PathExpr::Resolve(b),
            "exists" => PathExpr::Exists(b),
            "first" => PathExpr::First(b),
            other => return Err(format!("function `{other}` is not in the search subset")),
        };
        self.expect_sym(")")?;
        Ok(e)
    }
    fn term(&mut self) -> Result<PathExpr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Sym("(")) => {
                self.pos += 1;
                let e = self.and_expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(PathExpr::Str(s))
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                match name.as_str() {
                    "true" => return Ok(PathExpr::Bool(true)),
                    "false" => return Ok(PathExpr::Bool(false)),
                    _ => {}
                }
                if self.eat_sym("(") {
                    let e = self.invocation_on_this(&name)?;
                    return Ok(e);
                }
                if name.as_bytes()[0].is_ascii_uppercase() {
                    Ok(PathExpr::RootType(name))
                } else {
                    Ok(PathExpr::Member(Box::new(PathExpr::This), name))
                }
            }
            _ => Err("expected an expression".into()),
        }
    }
    fn invocation_on_this(&mut self, name: &str) -> Result<PathExpr, String> {
        // `(` already consumed: rewind one token so `invocation` sees it.
        self.pos -= 1;
        self.invocation(PathExpr::This, name.to_string())
    }
}

impl PathExpr {
    /// Compiles a search expression.
    ///
    /// ```
    /// use firn_core::search::path::PathExpr;
    /// let e = PathExpr::compile("Observation.subject.where(resolve() is Patient)").unwrap();
    /// let obs = serde_json::json!({"resourceType": "Observation", "subject": {"reference": "Patient/1"}});
    /// assert_eq!(e.evaluate(&obs).len(), 1);
    /// ```
    pub fn compile(expression: &str) -> Result<PathExpr, PathError> {
        let err = |reason: String| PathError {
            expression: expression.to_string(),
            reason,
        };
        let toks = tokenize(expression).map_err(err)?;
        let mut p = Parser { toks, pos: 0 };
        let e = p.and_expr().map_err(err)?;
        if p.pos != p.toks.len() {
            return Err(err("unexpected trailing input".into()));
        }
        Ok(e)
    }

    /// Evaluates against a resource.
    pub fn evaluate<'a>(&self, resource: &'a Value) -> Vec<Item<'a>> {
        let root = Item::Node {
            value: resource,
            ty: None,
        };
        let mut out = Vec::new();
        self.eval_into(std::slice::from_ref(&root), resource, &mut out);
        out
    }

    /// True when the expression only selects nodes (no booleans): used to decide whether a
    /// parameter's values can be sorted or indexed directly.
    fn eval_into<'a>(&self, input: &[Item<'a>], root: &'a Value, out: &mut Vec<Item<'a>>) {
        match self {
            PathExpr::This => out.extend_from_slice(input),
            PathExpr::RootType(t) => {
                let rt = root.get("resourceType").and_then(Value::as_str);
                let ok = rt == Some(t.as_str())
                    || t == "Resource"
                    || (t == "DomainResource"
                        && rt.is_some_and(|r| r != "Bundle" && r != "Binary" && r != "Parameters"));
                if ok {
                    out.push(Item::Node {
                        value: root,
                        ty: None,
                    });
                }
            }
            PathExpr::Member(base, name) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                for it in &tmp {
                    if let Item::Node { value, .. } = it {
                        member(value, name, out);
                    }
                }
            }
            PathExpr::AsType(base, t) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                out.extend(tmp.into_iter().filter(|it| type_matches(it, t, true)));
            }
            PathExpr::Is(base, t) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                if let [one] = tmp.as_slice() {
                    out.push(Item::Bool(type_matches(one, t, false)));
                }
            }
            PathExpr::Where(base, cond) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                for it in tmp {
                    let mut c = Vec::new();
                    cond.eval_into(std::slice::from_ref(&it), root, &mut c);
                    if matches!(c.as_slice(), [Item::Bool(true)]) {
                        out.push(it);
                    }
                }
            }
            PathExpr::Resolve(base) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                for it in tmp {
                    if let Item::Node { value, .. } = it {
                        let ty = value
                            .get("reference")
                            .and_then(Value::as_str)
                            .and_then(|r| super::value::parse_reference(r).resource_type)
                            .or_else(|| {
                                value
                                    .get("type")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            });
                        if let Some(t) = ty {
                            out.push(Item::Resolved(t));
                        }
                    }
                }
            }
            PathExpr::Exists(base) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                out.push(Item::Bool(!tmp.is_empty()));
            }
            PathExpr::First(base) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                out.extend(tmp.into_iter().next());
            }
            PathExpr::Index(base, n) => {
                let mut tmp = Vec::new();
                base.eval_into(input, root, &mut tmp);
                out.extend(tmp.into_iter().nth(*n));
            }
            PathExpr::Union(parts) => {
                for p in parts {
                    p.eval_into(input, root, out);
                }
            }
            PathExpr::Equals(l, r, neg) => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                l.eval_into(input, root, &mut a);
                r.eval_into(input, root, &mut b);
                if a.is_empty() || b.is_empty() {
                    return;
                }
                let eq =
                    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| scalar(x) == scalar(y));
                out.push(Item::Bool(eq != *neg));
            }
            PathExpr::And(l, r) => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                l.eval_into(input, root, &mut a);
                r.eval_into(input, root, &mut b);
                let t = |v: &[Item]| match v {
                    [Item::Bool(x)] => Some(*x),
                    [] => None,
                    _ => Some(true),
                };
                match (t(&a), t(&b)) {
                    (Some(false), _) | (_, Some(false)) => out.push(Item::Bool(false)),
                    (Some(true), Some(true)) => out.push(Item::Bool(true)),
                    _ => {}
                }
            }
            PathExpr::Str(s) => out.push(Item::Str(s.clone())),
            PathExpr::Bool(b) => out.push(Item::Bool(*b)),
        }
    }
}

#[derive(PartialEq)]
enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Num(f64),
    Other,
}

fn scalar<'a>(it: &'a Item<'a>) -> Scalar<'a> {
    match it {
        Item::Node { value, .. } => match value {
            Value::String(s) => Scalar::Str(s),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Scalar::Other, Scalar::Num),
            _ => Scalar::Other,
        },
        Item::Bool(b) => Scalar::Bool(*b),
        Item::Str(s) => Scalar::Str(s),
        Item::Resolved(_) => Scalar::Other,
    }
}

fn push_node<'a>(v: &'a Value, ty: Option<&'a str>, out: &mut Vec<Item<'a>>) {
    match v {
        Value::Array(a) => out.extend(a.iter().map(|value| Item::Node { value, ty })),
        Value::Null => {}
        value => out.push(Item::Node { value, ty }),
    }
}

/// `name` on an object: the key itself, or a choice key `name` + a type name.
fn member<'a>(v: &'a Value, name: &str, out: &mut Vec<Item<'a>>) {
    let Value::Object(map) = v else { return };
    if let Some(x) = map.get(name) {
        push_node(x, None, out);
        return;
    }
    for (k, x) in map {
        if let Some(suffix) = k.strip_prefix(name)
            && suffix
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_uppercase)
            && is_type_suffix(suffix)
        {
            push_node(x, Some(suffix), out);
        }
    }
}

/// True when a choice-key suffix names a FHIR type (`Quantity`, `DateTime` for `dateTime`).
fn is_type_suffix(suffix: &str) -> bool {
    let defs = Definitions::r4();
    if defs.type_def(suffix).is_some() {
        return true;
    }
    let mut lower = String::with_capacity(suffix.len());
    let mut cs = suffix.chars();
    if let Some(c) = cs.next() {
        lower.push(c.to_ascii_lowercase());
    }
    lower.extend(cs);
    defs.is_primitive(&lower)
}

fn eq_type_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.as_bytes().first().map(u8::to_ascii_lowercase)
            == b.as_bytes().first().map(u8::to_ascii_lowercase)
        && a.as_bytes().get(1..) == b.as_bytes().get(1..)
}

/// Does the item have type `t`? Nodes without a known type pass `as` (lenient) but fail `is`.
fn type_matches(it: &Item, t: &str, lenient: bool) -> bool {
    match it {
        Item::Node { ty: Some(ty), .. } => {
            if ty.is_empty() || t.is_empty() {
                return false;
            }
            eq_type_name(ty, t) || Definitions::r4().is_a(ty, t)
        }
        Item::Node { value, ty: None } => {
            if let Some(rt) = value.get("resourceType").and_then(Value::as_str) {
                return Definitions::r4().is_a(rt, t);
            }
            lenient
        }
        Item::Resolved(rt) => rt == t || Definitions::r4().is_a(rt, t),
        Item::Bool(_) => t == "boolean" || t == "Boolean",
        Item::Str(_) => t == "string" || t == "String",
    }
}

impl PathExpr {
    /// Evaluates with `context` as `$this` (composite components are relative to their root item).
    pub fn evaluate_on<'a>(&self, context: &Item<'a>, resource: &'a Value) -> Vec<Item<'a>> {
        let mut out = Vec::new();
        self.eval_into(std::slice::from_ref(context), resource, &mut out);
        out
    }
}

impl PathExpr {
    /// The resource type a path starts from (`Observation` in `Observation.code`), if any.
    fn root_type(&self) -> Option<&str> {
        match self {
            PathExpr::RootType(t) => Some(t),
            PathExpr::Member(b, _)
            | PathExpr::AsType(b, _)
            | PathExpr::Is(b, _)
            | PathExpr::Where(b, _)
            | PathExpr::Resolve(b)
            | PathExpr::Exists(b)
            | PathExpr::First(b)
            | PathExpr::Index(b, _) => b.root_type(),
            _ => None,
        }
    }

    /// Drops union branches that start from another resource type: shared parameters such as
    /// `patient` are one union over thirty types, and each type needs only its own branch.
    pub fn specialize(self, resource_type: &str) -> PathExpr {
        match self {
            PathExpr::Union(parts) => {
                let mut kept: Vec<PathExpr> = parts
                    .into_iter()
                    .filter(|p| {
                        p.root_type().is_none_or(|t| {
                            t == resource_type || t == "Resource" || t == "DomainResource"
                        })
                    })
                    .collect();
                if kept.len() == 1 {
                    kept.pop().unwrap_or(PathExpr::Union(Vec::new()))
                } else {
                    PathExpr::Union(kept)
                }
            }
            other => other,
        }
    }
}
