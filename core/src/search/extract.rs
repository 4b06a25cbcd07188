//! Index entries: what a resource *is* to search, computed once from its SearchParameters.
//!
//! `extract` evaluates every parameter of the resource's type and normalizes the results with
//! [`super::value`]. The entries are the single source of truth for matching: the one-resource
//! matcher, the in-memory index and a server's store all compare queries against them, so they
//! cannot disagree. Expressions are compiled once per (type, parameter) in a [`SearchRegistry`].

use super::SearchError;
use super::path::{Item, PathExpr};
use super::value::{
    Decimal, IndexValue, QuantityValue, RefValue, Token, fold, fold_into, fold_into_with,
    parse_date, parse_decimal, parse_reference,
};
use crate::definitions::{Definitions, SearchParam, SearchParamType};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The index values of one resource, per parameter code (sorted by code; parameters without
/// values are absent, which is what `:missing=true` tests).
///
/// Serializable, so a server can store them next to the resource; deserializing re-links each
/// code to the registry (codes the registry does not know for the type are dropped).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredEntries")]
pub struct Entries {
    pub resource_type: String,
    pub id: Option<String>,
    pub params: Vec<(&'static str, Vec<IndexValue>)>,
}

/// The owned form [`Entries`] deserialize through.
#[derive(serde::Deserialize)]
struct StoredEntries {
    resource_type: String,
    id: Option<String>,
    params: Vec<(String, Vec<IndexValue>)>,
}

impl From<StoredEntries> for Entries {
    fn from(s: StoredEntries) -> Entries {
        let known = SearchRegistry::r4().params(&s.resource_type);
        let mut params: Vec<(&'static str, Vec<IndexValue>)> = s
            .params
            .into_iter()
            .filter_map(|(code, values)| {
                let i = known
                    .binary_search_by(|c| c.param.code.as_str().cmp(&code))
                    .ok()?;
                Some((known[i].param.code.as_str(), values))
            })
            .collect();
        params.sort_by(|a, b| a.0.cmp(b.0));
        Entries {
            resource_type: s.resource_type,
            id: s.id,
            params,
        }
    }
}

impl Entries {
    /// The values of one parameter (empty when missing).
    pub fn get(&self, code: &str) -> &[IndexValue] {
        match self.params.binary_search_by(|(c, _)| (*c).cmp(code)) {
            Ok(i) => &self.params[i].1,
            Err(_) => &[],
        }
    }

    /// `Type/id` of the resource.
    pub fn key(&self) -> Option<String> {
        Some(format!("{}/{}", self.resource_type, self.id.as_ref()?))
    }
}

/// One parameter of one type, compiled.
#[derive(Debug)]
pub struct CompiledParam {
    pub param: &'static SearchParam,
    /// `None` for `_text` / `_content` (computed from the resource) and non-indexable params.
    pub expr: Option<PathExpr>,
    /// Composite components: the component parameter and its expression relative to each root item.
    pub components: Vec<(&'static SearchParam, PathExpr)>,
}

/// Every resource type's compiled search parameters.
#[derive(Debug)]
pub struct SearchRegistry {
    by_type: HashMap<String, Vec<CompiledParam>>,
    /// `(type, code, reason)` for expressions outside the supported subset.
    pub not_indexable: Vec<(String, String, String)>,
}

impl SearchRegistry {
    /// The registry over the embedded R4 SearchParameters, built on first use.
    ///
    /// ```
    /// use firn_core::search::SearchRegistry;
    /// let reg = SearchRegistry::r4();
    /// assert!(reg.params("Observation").iter().any(|c| c.param.code == "code-value-quantity"));
    /// assert!(reg.not_indexable.len() < 5);
    /// ```
    pub fn r4() -> &'static SearchRegistry {
        static REG: OnceLock<SearchRegistry> = OnceLock::new();
        REG.get_or_init(|| SearchRegistry::new(Definitions::r4()))
    }

    /// Compiles every parameter of every resource type of `defs`.
    pub fn new(defs: &'static Definitions) -> SearchRegistry {
        let mut by_type = HashMap::new();
        let mut not_indexable = Vec::new();
        for ty in defs.resource_types() {
            let mut list: Vec<CompiledParam> = Vec::new();
            for param in defs.search_params(ty) {
                if list.iter().any(|c| c.param.code == param.code) {
                    continue;
                }
                let mut cp = CompiledParam {
                    param,
                    expr: None,
                    components: Vec::new(),
                };
                if let Some(e) = &param.expression {
                    match PathExpr::compile(e) {
                        Ok(x) => cp.expr = Some(x.specialize(ty)),
                        Err(err) => not_indexable.push((
                            ty.to_string(),
                            param.code.clone(),
                            err.to_string(),
                        )),
                    }
                }
                for c in &param.components {
                    match (
                        defs.search_param_by_url(&c.definition),
                        PathExpr::compile(&c.expression),
                    ) {
                        (Some(p), Ok(x)) => cp.components.push((p, x)),
                        _ => not_indexable.push((
                            ty.to_string(),
                            param.code.clone(),
                            format!("composite component {} not usable", c.definition),
                        )),
                    }
                }
                list.push(cp);
            }
            list.sort_by(|a, b| a.param.code.cmp(&b.param.code));
            by_type.insert(ty.to_string(), list);
        }
        SearchRegistry {
            by_type,
            not_indexable,
        }
    }

    /// The compiled parameters of a type, sorted by code.
    pub fn params(&self, resource_type: &str) -> &[CompiledParam] {
        self.by_type.get(resource_type).map_or(&[], Vec::as_slice)
    }

    /// Extracts the index entries of a resource.
    pub fn extract(&self, resource: &Value) -> Result<Entries, SearchError> {
        let rt = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or_else(|| SearchError::InvalidValue {
                name: "resourceType".into(),
                value: String::new(),
                reason: "the resource has no resourceType".into(),
            })?;
        let params = self
            .by_type
            .get(rt)
            .ok_or_else(|| SearchError::UnknownResourceType(rt.to_string()))?;
        let mut out = Vec::with_capacity(params.len());
        for cp in params {
            let values = extract_param(cp, resource);
            if !values.is_empty() {
                out.push((cp.param.code.as_str(), values));
            }
        }
        Ok(Entries {
            resource_type: rt.to_string(),
            id: resource
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string),
            params: out,
        })
    }
}

/// Extracts the index entries of a resource with the R4 registry.
///
/// ```
/// use firn_core::search::extract;
/// use firn_core::search::value::IndexValue;
/// let p = serde_json::json!({"resourceType": "Patient", "id": "1", "birthDate": "1970-03",
///                            "name": [{"family": "Müller", "given": ["Eve"]}]});
/// let e = extract(&p).unwrap();
/// assert!(matches!(e.get("birthdate"), [IndexValue::Date(_)]));
/// assert!(e.get("family").iter().any(|v| matches!(v, IndexValue::String { folded, .. } if folded == "muller")));
/// ```
pub fn extract(resource: &Value) -> Result<Entries, SearchError> {
    SearchRegistry::r4().extract(resource)
}

fn extract_param(cp: &CompiledParam, resource: &Value) -> Vec<IndexValue> {
    let mut out = Vec::new();
    match cp.param.code.as_str() {
        "_text" => {
            if let Some(div) = resource.pointer("/text/div").and_then(Value::as_str) {
                let mut s = String::with_capacity(div.len());
                fold_into_with(div, &mut s, true);
                out.push(IndexValue::Text(s.trim_end().to_string()));
            }
            return out;
        }
        "_content" => {
            let mut s = String::new();
            collect_text(resource, &mut s);
            if !s.is_empty() {
                s.truncate(s.trim_end().len());
                out.push(IndexValue::Text(s));
            }
            return out;
        }
        _ => {}
    }
    let Some(expr) = &cp.expr else { return out };
    let items = expr.evaluate(resource);
    if cp.param.kind == SearchParamType::Composite {
        for it in &items {
            let comps = cp
                .components
                .iter()
                .map(|(p, e)| {
                    let mut vals = Vec::new();
                    for ci in e.evaluate_on(it, resource) {
                        normalize(p.kind, &ci, &mut vals);
                    }
                    vals
                })
                .collect::<Vec<_>>();
            if comps.iter().all(|c| !c.is_empty()) {
                out.push(IndexValue::Composite(comps));
            }
        }
        return out;
    }
    for it in &items {
        normalize(cp.param.kind, it, &mut out);
    }
    out
}

/// All string content of a resource, folded (narrative stripped of markup), for `_content`.
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            fold_into(s, out);
            out.push(' ');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("div", Value::String(s)) => {
                        fold_into_with(s, out, true);
                        out.push(' ');
                    }
                    ("resourceType" | "id" | "reference" | "system" | "url" | "fullUrl", _) => {}
                    _ => collect_text(x, out),
                }
            }
        }
        _ => {}
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn own(v: &Value, k: &str) -> Option<String> {
    s(v, k).map(str::to_string)
}

fn push_string(text: &str, out: &mut Vec<IndexValue>) {
    if !text.is_empty() {
        out.push(IndexValue::String {
            exact: text.to_string(),
            folded: fold(text),
        });
    }
}

fn coding_token(c: &Value, cc_text: Option<&str>) -> Option<Token> {
    let code = own(c, "code");
    let system = own(c, "system");
    if code.is_none() && system.is_none() {
        return None;
    }
    let mut text = String::new();
    if let Some(d) = s(c, "display") {
        text.push_str(d);
    }
    if let Some(t) = cc_text {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(t);
    }
    Some(Token {
        system,
        code,
        text: (!text.is_empty()).then(|| fold(&text)),
        of_type: Vec::new(),
    })
}

/// Normalizes one evaluation item for a parameter type (appending zero or more values).
pub fn normalize(kind: SearchParamType, it: &Item, out: &mut Vec<IndexValue>) {
    use SearchParamType as T;
    let v = match it {
        Item::Node { value, .. } => *value,
        Item::Bool(b) => {
            if kind == T::Token {
                out.push(IndexValue::Token(Token {
                    code: Some(b.to_string()),
                    ..Token::default()
                }));
            }
            return;
        }
        Item::Str(x) => {
            match kind {
                T::String => push_string(x, out),
                T::Uri => out.push(IndexValue::Uri(x.clone())),
                T::Token => out.push(IndexValue::Token(Token {
                    code: Some(x.clone()),
                    ..Token::default()
                })),
                _ => {}
            }
            return;
        }
        Item::Resolved(_) => return,
    };
    match kind {
        T::Number => match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    out.push(IndexValue::Number(Decimal::exact(f)));
                }
            }
            Value::String(x) => {
                if let Some(d) = parse_decimal(x) {
                    out.push(IndexValue::Number(Decimal::exact(d.value)));
                }
            }
            Value::Object(_) => {
                if let Some(f) = v.get("value").and_then(Value::as_f64) {
                    out.push(IndexValue::Number(Decimal::exact(f)));
                }
            }
            _ => {}
        },
        T::Date => match v {
            Value::String(x) => {
                if let Some(r) = parse_date(x) {
                    out.push(IndexValue::Date(r));
                }
            }
            Value::Object(m) => {
                if m.contains_key("start") || m.contains_key("end") {
                    let low = s(v, "start")
                        .and_then(parse_date)
                        .map_or(i64::MIN, |r| r.low);
                    let high = s(v, "end")
                        .and_then(parse_date)
                        .map_or(i64::MAX, |r| r.high);
                    if low < high {
                        out.push(IndexValue::Date(super::value::DateRange { low, high }));
                    }
                } else if m.contains_key("event") || m.contains_key("repeat") {
                    // Timing: its events, and the bounds of its repeat.
                    if let Some(Value::Array(ev)) = m.get("event") {
                        for e in ev.iter().filter_map(Value::as_str).filter_map(parse_date) {
                            out.push(IndexValue::Date(e));
                        }
                    }
                    if let Some(b) = v.pointer("/repeat/boundsPeriod") {
                        normalize(kind, &Item::Node { value: b, ty: None }, out);
                    }
                }
            }
            _ => {}
        },
        T::String => match v {
            Value::String(x) => push_string(x, out),
            Value::Object(m) => {
                // HumanName, Address and other complex values: every textual part.
                for (k, x) in m {
                    if matches!(k.as_str(), "use" | "type" | "period" | "extension" | "id") {
                        continue;
                    }
                    match x {
                        Value::String(t) => push_string(t, out),
                        Value::Array(a) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .for_each(|t| push_string(t, out)),
                        _ => {}
                    }
                }
            }
            _ => {}
        },
        T::Token => match v {
            Value::String(x) => out.push(IndexValue::Token(Token {
                code: Some(x.clone()),
                ..Token::default()
            })),
            Value::Bool(b) => out.push(IndexValue::Token(Token {
                code: Some(b.to_string()),
                ..Token::default()
            })),
            Value::Number(n) => out.push(IndexValue::Token(Token {
                code: Some(n.to_string()),
                ..Token::default()
            })),
            Value::Object(m) => {
                if m.contains_key("coding") || (m.contains_key("text") && !m.contains_key("value"))
                {
                    // CodeableConcept
                    let cc_text = s(v, "text");
                    let mut any = false;
                    if let Some(Value::Array(cs)) = m.get("coding") {
                        for c in cs {
                            if let Some(t) = coding_token(c, cc_text) {
                                out.push(IndexValue::Token(t));
                                any = true;
                            }
                        }
                    }
                    if !any && let Some(t) = cc_text {
                        out.push(IndexValue::Token(Token {
                            text: Some(fold(t)),
                            ..Token::default()
                        }));
                    }
                } else if m.contains_key("value") {
                    // Identifier or ContactPoint: system|value.
                    let mut t = Token {
                        system: own(v, "system"),
                        code: v.get("value").and_then(|x| match x {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        }),
                        ..Token::default()
                    };
                    if let Some(ty) = v.get("type") {
                        t.text = s(ty, "text").map(fold);
                        if let Some(Value::Array(cs)) = ty.get("coding") {
                            for c in cs {
                                if let Some(code) = s(c, "code") {
                                    t.of_type.push((own(c, "system"), code.to_string()));
                                }
                            }
                        }
                    }
                    if t.code.is_some() {
                        out.push(IndexValue::Token(t));
                    }
                } else if let Some(t) = coding_token(v, None) {
                    out.push(IndexValue::Token(t));
                }
            }
            _ => {}
        },
        T::Reference => match v {
            Value::String(x) => out.push(IndexValue::Reference(parse_reference(x))),
            Value::Object(_) => {
                let mut r = match s(v, "reference") {
                    Some(x) => parse_reference(x),
                    None => RefValue::default(),
                };
                if r.resource_type.is_none() {
                    r.resource_type = own(v, "type");
                }
                if let Some(idf) = v.get("identifier")
                    && let Some(val) = s(idf, "value")
                {
                    r.identifier = Some((own(idf, "system"), val.to_string()));
                }
                if r.url.is_some() || r.identifier.is_some() {
                    out.push(IndexValue::Reference(r));
                }
            }
            _ => {}
        },
        T::Quantity => {
            if let Some(f) = v.get("value").and_then(Value::as_f64) {
                let (system, code) = match s(v, "currency") {
                    Some(c) => (
                        Some("urn:iso:std:iso:4217".to_string()),
                        Some(c.to_string()),
                    ),
                    None => (own(v, "system"), own(v, "code")),
                };
                out.push(IndexValue::Quantity(QuantityValue::new(
                    Decimal::exact(f),
                    system,
                    code,
                    own(v, "unit"),
                )));
            } else if v.get("low").is_some() || v.get("high").is_some() {
                for k in ["low", "high"] {
                    if let Some(x) = v.get(k) {
                        normalize(kind, &Item::Node { value: x, ty: None }, out);
                    }
                }
            }
        }
        T::Uri => {
            if let Value::String(x) = v {
                out.push(IndexValue::Uri(x.clone()));
            }
        }
        T::Composite | T::Special => {}
    }
}
