//! The typed query: a URL query string or form body checked against the SearchParameter registry.
//!
//! Parsing is where a search is rejected, so every error names the parameter. Comma-separated
//! values are OR, repeated parameters are AND, `\,` `\$` `\|` escape the separators. Chains
//! (`subject:Patient.name=peter`, any depth) and reverse chains (`_has:Observation:patient:code=x`)
//! parse into nested filters against the other resource type, so one evaluator handles them.
//! Result parameters (`_count`, `_sort`, `_include`, ...) are separated from filters.

use super::value::{
    DateRange, Decimal, RefValue, fold, parse_date, parse_decimal, parse_reference,
};
use super::{SearchConfig, SearchError};
use crate::definitions::{Definitions, SearchParam, SearchParamType};

/// A comparison prefix (`eq` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    fn split(s: &str) -> (Prefix, &str) {
        if s.len() > 2 && s.is_char_boundary(2) {
            let p = match &s[..2] {
                "eq" => Some(Prefix::Eq),
                "ne" => Some(Prefix::Ne),
                "gt" => Some(Prefix::Gt),
                "lt" => Some(Prefix::Lt),
                "ge" => Some(Prefix::Ge),
                "le" => Some(Prefix::Le),
                "sa" => Some(Prefix::Sa),
                "eb" => Some(Prefix::Eb),
                "ap" => Some(Prefix::Ap),
                _ => None,
            };
            if let Some(p) = p {
                return (p, &s[2..]);
            }
        }
        (Prefix::Eq, s)
    }
}

/// A search modifier other than `:missing` (which becomes [`FilterKind::Missing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    Exact,
    Contains,
    Text,
    Not,
    Above,
    Below,
    In,
    NotIn,
    OfType,
    Identifier,
    /// `:[type]` on a reference (`subject:Patient=1`).
    Type(String),
}

/// Which system a token query value asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSystem {
    /// `code`: any system.
    Any,
    /// `|code`: no system.
    None,
    /// `system|code` or `system|`.
    Is(String),
}

/// One query value (one of the comma-separated alternatives), typed by its parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ValuePred {
    Number(Prefix, Decimal),
    Date(Prefix, DateRange),
    /// `exact` unescaped as written, `folded` for the default starts-with and `:contains`.
    String {
        exact: String,
        folded: String,
    },
    Token {
        system: TokenSystem,
        code: Option<String>,
    },
    /// `:of-type`: `type-system|type-code|value`.
    OfType {
        system: Option<String>,
        code: String,
        value: String,
    },
    /// Folded text: token `:text`, `_text`, `_content`.
    Text(String),
    /// `:in` / `:not-in` value set URL.
    ValueSet(String),
    Reference(RefValue),
    /// Reference `:identifier`: `system|value`.
    RefIdentifier(Option<String>, String),
    Quantity {
        prefix: Prefix,
        value: Decimal,
        system: Option<String>,
        code: Option<String>,
    },
    Uri(String),
    Composite(Vec<ValuePred>),
}

/// One AND-ed condition.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The parameter as written (`subject:Patient.name`), for messages.
    pub name: String,
    pub kind: FilterKind,
}

#[derive(Debug, Clone)]
pub enum FilterKind {
    /// `:missing=true|false`.
    Missing {
        param: &'static SearchParam,
        missing: bool,
    },
    /// Any of the values matches (OR). With [`Modifier::Not`] or [`Modifier::NotIn`] the filter
    /// is negated at resource level: no value of the resource matches.
    Values {
        param: &'static SearchParam,
        modifier: Option<Modifier>,
        any_of: Vec<ValuePred>,
    },
    /// `param[:Type].rest`: some referenced resource of one of the target types matches.
    Chain {
        param: &'static SearchParam,
        targets: Vec<(String, Filter)>,
    },
    /// `_has:Source:param:rest`: some `Source` referencing this resource through `param` matches.
    Has {
        source_type: String,
        ref_param: &'static SearchParam,
        inner: Box<Filter>,
    },
    /// `_list=id`: the resource is an item of `List/id`.
    List(Vec<String>),
}

/// `_sort` key.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub param: &'static SearchParam,
    pub descending: bool,
}

/// `_include` / `_revinclude` value.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The resource type holding the reference (`*` for the wildcard).
    pub source_type: String,
    /// `None` = every reference parameter (`*`).
    pub param: Option<&'static str>,
    pub target_type: Option<String>,
    pub iterate: bool,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    True,
    Text,
    Data,
    Count,
    False,
}

impl Summary {
    /// The values `_summary` accepts, for messages.
    pub const EXPECTED: &'static str = "expected true, text, data, count or false";

    /// A `_summary` value (`true`, `text`, `data`, `count`, `false`).
    pub fn parse(s: &str) -> Option<Summary> {
        Some(match s {
            "true" => Summary::True,
            "text" => Summary::Text,
            "data" => Summary::Data,
            "count" => Summary::Count,
            "false" => Summary::False,
            _ => return None,
        })
    }
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

/// The result parameters of a query.
#[derive(Debug, Clone, Default)]
pub struct ResultParams {
    pub count: Option<usize>,
    /// Paging cursor: matches skipped (`_offset`, written by Firn's own `next` links).
    pub offset: usize,
    pub sort: Vec<SortKey>,
    pub include: Vec<Include>,
    pub revinclude: Vec<Include>,
    pub summary: Option<Summary>,
    pub elements: Option<Vec<String>>,
    pub total: Option<Total>,
}

/// A parsed search.
#[derive(Debug, Clone)]
pub struct Query {
    pub resource_type: String,
    /// AND-ed filters.
    pub filters: Vec<Filter>,
    pub result: ResultParams,
    /// Parameters ignored in lenient mode: `(parameter, reason)`.
    pub ignored: Vec<(String, String)>,
    /// The accepted parameters, decoded, for rebuilding links (without `_offset`).
    pub params: Vec<(String, String)>,
    /// The configuration the query was parsed with (limits, base URL, clock) — evaluation uses it.
    pub config: SearchConfig,
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte).
pub fn decode_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-decoding of one query component (`+` is a space); invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query component for links.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:|,/$*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits on an unescaped separator and removes the escapes (`\,` `\$` `\|` `\\`).
pub fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) if n == sep => cur.push(n),
                Some(n) => {
                    // keep other escapes for the next split level
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

/// Removes any remaining escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> SearchError {
    SearchError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn defs() -> &'static Definitions {
    Definitions::r4()
}

impl Query {
    /// Parses a URL query string (or form body) for `resource_type`.
    ///
    /// ```
    /// use firn_core::search::{Query, SearchConfig};
    /// let q = Query::parse("Observation", "code=http://loinc.org|8480-6&date=ge2020&_count=10",
    ///                      &SearchConfig::default()).unwrap();
    /// assert_eq!(q.filters.len(), 2);
    /// assert_eq!(q.result.count, Some(10));
    /// let err = Query::parse("Observation", "colour=red", &SearchConfig::default()).unwrap_err();
    /// assert!(err.to_string().contains("colour"));
    /// ```
    pub fn parse(
        resource_type: &str,
        query: &str,
        cfg: &SearchConfig,
    ) -> Result<Query, SearchError> {
        let q = query.strip_prefix('?').unwrap_or(query);
        Query::from_pairs(resource_type, decode_form(q), cfg)
    }

    /// Parses a relative search URL, `Type?query` — the form of subscription criteria,
    /// `_typeFilter` values and conditional-operation URLs.
    ///
    /// ```
    /// use firn_core::search::{Query, SearchConfig};
    /// let q = Query::parse_url("Observation?status=final", &SearchConfig::default()).unwrap();
    /// assert_eq!(q.resource_type, "Observation");
    /// assert_eq!(q.filters.len(), 1);
    /// ```
    pub fn parse_url(url: &str, cfg: &SearchConfig) -> Result<Query, SearchError> {
        let (ty, query) = url.split_once('?').unwrap_or((url, ""));
        let ty = ty.trim_start_matches('/');
        let ty = ty.rsplit('/').next().unwrap_or(ty);
        Query::parse(ty, query, cfg)
    }

    /// Parses already-decoded `(name, value)` pairs.
    pub fn from_pairs(
        resource_type: &str,
        pairs: impl IntoIterator<Item = (String, String)>,
        cfg: &SearchConfig,
    ) -> Result<Query, SearchError> {
        if !defs().is_resource_type(resource_type) {
            return Err(SearchError::UnknownResourceType(resource_type.to_string()));
        }
        let mut q = Query {
            resource_type: resource_type.to_string(),
            filters: Vec::new(),
            result: ResultParams::default(),
            ignored: Vec::new(),
            params: Vec::new(),
            config: cfg.clone(),
        };
        for (k, v) in pairs {
            match q.add(&k, &v, cfg) {
                Ok(keep) => {
                    if keep {
                        q.params.push((k, v));
                    }
                }
                Err(e) if cfg.lenient && !matches!(e, SearchError::TooCostly { .. }) => {
                    q.ignored.push((k, e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        q.check_combinations(cfg)?;
        Ok(q)
    }

    /// The lenient-mode report: one warning per ignored parameter (empty when none).
    pub fn ignored_outcome(&self) -> crate::outcome::OperationOutcome {
        use crate::outcome::{Issue, IssueType};
        crate::outcome::OperationOutcome::new(
            self.ignored
                .iter()
                .map(|(n, r)| {
                    Issue::warning(
                        IssueType::NotSupported,
                        format!("parameter `{n}` ignored: {r}"),
                    )
                })
                .collect(),
        )
    }

    fn check_combinations(&self, _cfg: &SearchConfig) -> Result<(), SearchError> {
        let r = &self.result;
        if r.summary == Some(Summary::Text) && (!r.include.is_empty() || !r.revinclude.is_empty()) {
            return Err(SearchError::NotSupported {
                name: "_summary".into(),
                reason: "_summary=text cannot be combined with _include or _revinclude".into(),
            });
        }
        if r.elements.is_some() && r.summary.is_some_and(|s| s != Summary::False) {
            return Err(SearchError::NotSupported {
                name: "_elements".into(),
                reason: "_elements cannot be combined with _summary".into(),
            });
        }
        Ok(())
    }

    /// Adds one parameter; `Ok(false)` when it is not echoed in links.
    fn add(&mut self, key: &str, value: &str, cfg: &SearchConfig) -> Result<bool, SearchError> {
        let int = |name: &str| -> Result<usize, SearchError> {
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| invalid(name, value, "expected a non-negative integer"))
        };
        match key {
            "_count" => {
                let n = int(key)?;
                if n == 0 {
                    return Err(invalid(key, value, "_count must be at least 1"));
                }
                if n > cfg.max_count {
                    if cfg.lenient {
                        self.ignored.push((
                            key.into(),
                            format!("_count {n} reduced to the maximum {}", cfg.max_count),
                        ));
                        self.result.count = Some(cfg.max_count);
                        return Ok(true);
                    }
                    return Err(invalid(
                        key,
                        value,
                        format!("the maximum is {}", cfg.max_count),
                    ));
                }
                self.result.count = Some(n);
            }
            "_offset" => {
                self.result.offset = int(key)?;
                return Ok(false);
            }
            "_sort" => {
                for k in value.split(',').filter(|k| !k.is_empty()) {
                    let (descending, code) = match k.strip_prefix('-') {
                        Some(c) => (true, c),
                        None => (false, k),
                    };
                    let param = defs()
                        .search_param(&self.resource_type, code)
                        .filter(|p| {
                            !matches!(
                                p.kind,
                                SearchParamType::Composite | SearchParamType::Special
                            )
                        })
                        .ok_or_else(|| {
                            invalid(
                                key,
                                value,
                                format!(
                                    "`{code}` is not a sortable parameter of {}",
                                    self.resource_type
                                ),
                            )
                        })?;
                    if sorts_on_complex(&self.resource_type, param) {
                        return Err(invalid(
                            key,
                            value,
                            format!(
                                "`{code}` searches a HumanName or Address and cannot be sorted; sort by a part (e.g. `family`)"
                            ),
                        ));
                    }
                    self.result.sort.push(SortKey { param, descending });
                }
                if self.result.sort.len() > cfg.max_sort_keys {
                    return Err(invalid(
                        key,
                        value,
                        format!("at most {} sort keys", cfg.max_sort_keys),
                    ));
                }
            }
            "_include" | "_include:iterate" | "_revinclude" | "_revinclude:iterate" => {
                let rev = key.starts_with("_rev");
                let inc = self.parse_include(key, value, key.ends_with(":iterate"), rev)?;
                if rev {
                    self.result.revinclude.push(inc);
                } else {
                    self.result.include.push(inc);
                }
            }
            "_summary" => {
                self.result.summary = Some(
                    Summary::parse(value).ok_or_else(|| invalid(key, value, Summary::EXPECTED))?,
                );
            }
            "_elements" => {
                self.result.elements = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(|e| {
                            e.strip_prefix(&format!("{}.", self.resource_type))
                                .unwrap_or(e)
                                .to_string()
                        })
                        .collect(),
                );
            }
            "_total" => {
                self.result.total = Some(match value {
                    "none" => Total::None,
                    "estimate" => Total::Estimate,
                    "accurate" => Total::Accurate,
                    _ => return Err(invalid(key, value, "expected none, estimate or accurate")),
                });
            }
            "_format" | "_pretty" => return Ok(true),
            "_list" => {
                let ids = split_escaped(value, ',')
                    .iter()
                    .map(|s| unescape(s))
                    .collect();
                self.filters.push(Filter {
                    name: key.into(),
                    kind: FilterKind::List(ids),
                });
            }
            "_filter" | "_query" | "_contained" | "_containedType" => {
                return Err(SearchError::NotSupported {
                    name: key.into(),
                    reason: "not implemented by Firn".into(),
                });
            }
            _ => {
                let f = parse_filter(&self.resource_type, key, value, cfg)?;
                self.filters.push(f);
            }
        }
        Ok(true)
    }

    fn parse_include(
        &self,
        key: &str,
        value: &str,
        iterate: bool,
        rev: bool,
    ) -> Result<Include, SearchError> {
        if value == "*" {
            return Ok(Include {
                source_type: "*".into(),
                param: None,
                target_type: None,
                iterate,
            });
        }
        let parts: Vec<&str> = value.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(invalid(key, value, "expected Type:parameter[:targetType]"));
        }
        let source = parts[0];
        if !defs().is_resource_type(source) {
            return Err(invalid(
                key,
                value,
                format!("unknown resource type `{source}`"),
            ));
        }
        if !iterate && !rev && source != self.resource_type {
            return Err(invalid(
                key,
                value,
                format!(
                    "source type must be {} (or use :iterate)",
                    self.resource_type
                ),
            ));
        }
        let param = if parts[1] == "*" {
            None
        } else {
            let p = defs()
                .search_param(source, parts[1])
                .filter(|p| p.kind == SearchParamType::Reference)
                .ok_or_else(|| {
                    invalid(
                        key,
                        value,
                        format!("`{}` is not a reference parameter of {source}", parts[1]),
                    )
                })?;
            Some(p.code.as_str())
        };
        let target_type = match parts.get(2) {
            Some(t) if defs().is_resource_type(t) => Some(t.to_string()),
            Some(t) => return Err(invalid(key, value, format!("unknown target type `{t}`"))),
            None => None,
        };
        Ok(Include {
            source_type: source.into(),
            param,
            target_type,
            iterate,
        })
    }
}

/// True when a parameter's expression selects a whole HumanName or Address for this type
/// (`Patient.name`): HealthLake rejects sorting on such nested values, and so does Firn.
fn sorts_on_complex(resource_type: &str, param: &SearchParam) -> bool {
    let Some(expr) = &param.expression else {
        return false;
    };
    expr.split('|').map(str::trim).any(|part| {
        part.strip_prefix(resource_type)
            .is_some_and(|rest| rest.starts_with('.'))
            && defs().element(part).is_some_and(|e| {
                e.types
                    .iter()
                    .any(|t| t.code == "HumanName" || t.code == "Address")
            })
    })
}

/// Parses one filter parameter (`name[:modifier][.chain]=value` or `_has:...`) for a type.
pub fn parse_filter(
    resource_type: &str,
    key: &str,
    value: &str,
    cfg: &SearchConfig,
) -> Result<Filter, SearchError> {
    if let Some(rest) = key.strip_prefix("_has:") {
        let mut it = rest.splitn(3, ':');
        let (Some(source), Some(rp), Some(inner_key)) = (it.next(), it.next(), it.next()) else {
            return Err(invalid(
                key,
                value,
                "expected _has:Type:reference:parameter",
            ));
        };
        if !defs().is_resource_type(source) {
            return Err(invalid(
                key,
                value,
                format!("unknown resource type `{source}`"),
            ));
        }
        let ref_param = defs()
            .search_param(source, rp)
            .filter(|p| p.kind == SearchParamType::Reference)
            .ok_or_else(|| {
                invalid(
                    key,
                    value,
                    format!("`{rp}` is not a reference parameter of {source}"),
                )
            })?;
        if !ref_param.targets.is_empty()
            && !ref_param
                .targets
                .iter()
                .any(|t| t == resource_type || t == "Resource")
        {
            return Err(invalid(
                key,
                value,
                format!("{source}.{rp} cannot refer to {resource_type}"),
            ));
        }
        let inner = parse_filter(source, inner_key, value, cfg)?;
        return Ok(Filter {
            name: key.into(),
            kind: FilterKind::Has {
                source_type: source.into(),
                ref_param,
                inner: Box::new(inner),
            },
        });
    }
    let (head, chain) = match key.split_once('.') {
        Some((h, c)) => (h, Some(c)),
        None => (key, None),
    };
    let (code, modifier) = match head.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (head, None),
    };
    let param =
        defs()
            .search_param(resource_type, code)
            .ok_or_else(|| SearchError::UnknownParameter {
                resource_type: resource_type.into(),
                name: code.into(),
            })?;
    if let Some(chain) = chain {
        if param.kind != SearchParamType::Reference {
            return Err(invalid(
                key,
                value,
                format!("`{code}` is not a reference parameter and cannot be chained"),
            ));
        }
        let types: Vec<String> = match modifier {
            Some(t) if defs().is_resource_type(t) => {
                if !param.targets.is_empty()
                    && !param.targets.iter().any(|x| x == t || x == "Resource")
                {
                    return Err(invalid(key, value, format!("`{code}` cannot refer to {t}")));
                }
                vec![t.to_string()]
            }
            Some(m) => {
                return Err(SearchError::UnsupportedModifier {
                    name: key.into(),
                    modifier: m.into(),
                });
            }
            None => param.targets.clone(),
        };
        let mut targets = Vec::new();
        let mut last_err = None;
        for t in types {
            match parse_filter(&t, chain, value, cfg) {
                Ok(f) => targets.push((t, f)),
                Err(e) => last_err = Some(e),
            }
        }
        if targets.is_empty() {
            return Err(
                last_err.unwrap_or_else(|| invalid(key, value, "no target type to chain into"))
            );
        }
        return Ok(Filter {
            name: key.into(),
            kind: FilterKind::Chain { param, targets },
        });
    }
    let modifier = match modifier {
        None => None,
        Some("missing") => {
            let missing = match value {
                "true" => true,
                "false" => false,
                _ => return Err(invalid(key, value, "expected true or false")),
            };
            return Ok(Filter {
                name: key.into(),
                kind: FilterKind::Missing { param, missing },
            });
        }
        Some(m) => Some(parse_modifier(param, key, m)?),
    };
    if value.is_empty() {
        return Err(invalid(key, value, "empty value"));
    }
    let mut any_of = Vec::new();
    for alt in split_escaped(value, ',') {
        any_of.push(parse_value(param, modifier.as_ref(), key, &alt, cfg)?);
    }
    Ok(Filter {
        name: key.into(),
        kind: FilterKind::Values {
            param,
            modifier,
            any_of,
        },
    })
}

fn parse_modifier(param: &SearchParam, key: &str, m: &str) -> Result<Modifier, SearchError> {
    use SearchParamType as T;
    let md = match m {
        "exact" => Modifier::Exact,
        "contains" => Modifier::Contains,
        "text" => Modifier::Text,
        "not" => Modifier::Not,
        "above" => Modifier::Above,
        "below" => Modifier::Below,
        "in" => Modifier::In,
        "not-in" => Modifier::NotIn,
        "of-type" => Modifier::OfType,
        "identifier" => Modifier::Identifier,
        t if defs().is_resource_type(t) => Modifier::Type(t.to_string()),
        _ => {
            return Err(SearchError::UnsupportedModifier {
                name: key.into(),
                modifier: m.into(),
            });
        }
    };
    let ok = match (&md, param.kind) {
        (Modifier::Exact | Modifier::Contains | Modifier::Text, T::String) => true,
        (
            Modifier::Text
            | Modifier::Not
            | Modifier::Above
            | Modifier::Below
            | Modifier::In
            | Modifier::NotIn,
            T::Token,
        ) => true,
        (Modifier::OfType, T::Token) => true,
        (Modifier::Identifier | Modifier::Above | Modifier::Below, T::Reference) => true,
        (Modifier::Type(t), T::Reference) => {
            param.targets.is_empty() || param.targets.iter().any(|x| x == t || x == "Resource")
        }
        (Modifier::Above | Modifier::Below | Modifier::Contains, T::Uri) => true,
        _ => false,
    };
    if !ok {
        return Err(SearchError::UnsupportedModifier {
            name: key.into(),
            modifier: m.into(),
        });
    }
    Ok(md)
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| unescape(s))
}

/// Parses one value alternative for a parameter.
fn parse_value(
    param: &SearchParam,
    modifier: Option<&Modifier>,
    key: &str,
    raw: &str,
    cfg: &SearchConfig,
) -> Result<ValuePred, SearchError> {
    use SearchParamType as T;
    let bad = |reason: &str| invalid(key, raw, reason);
    if matches!(param.code.as_str(), "_text" | "_content") {
        // Plain-text search over the narrative / the whole resource (R4 declares them `string`).
        return Ok(ValuePred::Text(fold(&unescape(raw))));
    }
    Ok(match param.kind {
        T::Number => {
            let (p, rest) = Prefix::split(raw);
            ValuePred::Number(p, parse_decimal(rest).ok_or_else(|| bad("not a number"))?)
        }
        T::Date => {
            let (p, rest) = Prefix::split(raw);
            // An unencoded `+` in a zone arrives as a space (form decoding): accept it.
            let rest = rest.replace(' ', "+");
            ValuePred::Date(p, parse_date(&rest).ok_or_else(|| bad("not a FHIR date"))?)
        }
        T::String => {
            let exact = unescape(raw);
            ValuePred::String {
                folded: fold(&exact),
                exact,
            }
        }
        T::Special => match param.code.as_str() {
            "_text" | "_content" => ValuePred::Text(fold(&unescape(raw))),
            _ => {
                return Err(SearchError::NotSupported {
                    name: key.into(),
                    reason: "special parameter without plain-text semantics".into(),
                });
            }
        },
        T::Token => match modifier {
            Some(Modifier::Text) => ValuePred::Text(fold(&unescape(raw))),
            Some(Modifier::In | Modifier::NotIn) => ValuePred::ValueSet(unescape(raw)),
            Some(Modifier::OfType) => {
                let p = split_escaped(raw, '|');
                if p.len() != 3 || p[1].is_empty() || p[2].is_empty() {
                    return Err(bad("expected type-system|type-code|value"));
                }
                ValuePred::OfType {
                    system: opt(&p[0]),
                    code: unescape(&p[1]),
                    value: unescape(&p[2]),
                }
            }
            _ => {
                let p = split_escaped(raw, '|');
                match p.as_slice() {
                    [c] => ValuePred::Token {
                        system: TokenSystem::Any,
                        code: Some(unescape(c)),
                    },
                    [s, c] if s.is_empty() => ValuePred::Token {
                        system: TokenSystem::None,
                        code: opt(c),
                    },
                    [s, c] => ValuePred::Token {
                        system: TokenSystem::Is(unescape(s)),
                        code: opt(c),
                    },
                    _ => return Err(bad("too many `|` in a token")),
                }
            }
        },
        T::Reference => match modifier {
            Some(Modifier::Identifier) => {
                let p = split_escaped(raw, '|');
                match p.as_slice() {
                    [v] => ValuePred::RefIdentifier(None, unescape(v)),
                    [s, v] => ValuePred::RefIdentifier(opt(s), unescape(v)),
                    _ => return Err(bad("expected system|value")),
                }
            }
            Some(Modifier::Above | Modifier::Below) => ValuePred::Uri(unescape(raw)),
            _ => {
                let raw = unescape(raw);
                let mut r = parse_reference(&raw);
                if r.id.is_none() && !raw.contains([':', '/']) {
                    r = RefValue {
                        id: Some(raw.clone()),
                        ..RefValue::default()
                    };
                }
                if let Some(Modifier::Type(t)) = modifier {
                    if r.resource_type.as_ref().is_some_and(|rt| rt != t) {
                        return Err(bad("reference type contradicts the type modifier"));
                    }
                    r.resource_type = Some(t.clone());
                }
                if let (Some(b), Some(base)) = (&r.base, &cfg.base_url)
                    && b.trim_end_matches('/') == base.trim_end_matches('/')
                {
                    r.base = None;
                }
                ValuePred::Reference(r)
            }
        },
        T::Quantity => {
            let (prefix, rest) = Prefix::split(raw);
            let p = split_escaped(rest, '|');
            let value = parse_decimal(&p[0]).ok_or_else(|| bad("not a number"))?;
            let (system, code) = match p.as_slice() {
                [_] => (None, None),
                [_, s, c] => (opt(s), opt(c)),
                _ => return Err(bad("expected number|system|code")),
            };
            ValuePred::Quantity {
                prefix,
                value,
                system,
                code,
            }
        }
        T::Uri => ValuePred::Uri(unescape(raw)),
        T::Composite => {
            let parts = split_escaped(raw, '$');
            if parts.len() != param.components.len() {
                return Err(bad(&format!(
                    "expected {} `$`-separated components",
                    param.components.len()
                )));
            }
            let mut out = Vec::new();
            for (c, v) in param.components.iter().zip(&parts) {
                let cp = defs()
                    .search_param_by_url(&c.definition)
                    .ok_or_else(|| bad("composite component definition not found"))?;
                out.push(parse_value(cp, None, key, v, cfg)?);
            }
            ValuePred::Composite(out)
        }
    })
}
