//! Does one resource match a query? Used for conditional operations, subscriptions,
//! `_typeFilter` and offline matching in the browser.
//!
//! The value comparisons here (prefix range semantics, token systems, reference forms, UCUM
//! canonical quantities) are also what the set evaluator in [`super::index`] verifies candidates
//! with, so a single resource and a whole store always agree.

use super::extract::{Entries, extract};
use super::query::{Filter, FilterKind, Modifier, Prefix, Query, TokenSystem, ValuePred};
use super::value::{
    DateRange, Decimal, IndexValue, QuantityValue, RefValue, Token, UCUM, ucum_canonical,
};
use super::{SearchConfig, SearchError};
use crate::bulk::{TypeFilter, TypeFilterMatcher};
use crate::definitions::{Definitions, Membership};
use crate::outcome::{IntoOutcome, OperationOutcome};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Fetches other resources for chains, `_has`, `_list` and includes.
pub trait Resolver {
    /// The resource a reference points to (`Patient/1`, or an absolute URL).
    fn resolve(&self, reference: &str) -> Option<Cow<'_, Value>>;

    /// Resources of `source_type` whose reference parameter `param` points to `target`
    /// (`Patient/1`). The default knows none, so `_has` never matches.
    fn referencing(&self, source_type: &str, param: &str, target: &str) -> Vec<Cow<'_, Value>> {
        let _ = (source_type, param, target);
        Vec::new()
    }
}

/// A resolver that knows no other resources: chains, `_has` and `_list` never match.
pub struct NoResolver;

impl Resolver for NoResolver {
    fn resolve(&self, _reference: &str) -> Option<Cow<'_, Value>> {
        None
    }
}

/// Does `resource` match `query`?
///
/// ```
/// use firn_core::search::{Query, SearchConfig, NoResolver, matches};
/// let obs = serde_json::json!({"resourceType": "Observation", "id": "o1", "status": "final",
///     "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
///     "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}});
/// let q = Query::parse("Observation", "code=8480-6&value-quantity=gt100", &SearchConfig::default()).unwrap();
/// assert!(matches(&q, &obs, &NoResolver).unwrap());
/// ```
pub fn matches(
    query: &Query,
    resource: &Value,
    resolver: &dyn Resolver,
) -> Result<bool, SearchError> {
    if resource.get("resourceType").and_then(Value::as_str) != Some(query.resource_type.as_str()) {
        return Ok(false);
    }
    let entries = extract(resource)?;
    matches_entries(query, &entries, resolver)
}

/// `_typeFilter` matching for bulk export ([`crate::bulk::ExportFilter`]): each filter's query is
/// parsed once and cached, then evaluated with [`matches()`].
///
/// ```
/// use firn_core::bulk::{TypeFilter, TypeFilterMatcher};
/// use firn_core::definitions::Definitions;
/// use firn_core::search::{NoResolver, TypeFilterSearch};
/// let m = TypeFilterSearch::new(Default::default(), &NoResolver);
/// let f = TypeFilter::parse("Observation?status=final", Definitions::r4()).unwrap();
/// let obs = serde_json::json!({"resourceType": "Observation", "status": "final"});
/// assert!(m.matches(&f, &obs).unwrap());
/// ```
pub struct TypeFilterSearch<'r> {
    config: SearchConfig,
    resolver: &'r dyn Resolver,
    parsed: Mutex<HashMap<(String, String), Arc<Query>>>,
}

impl<'r> TypeFilterSearch<'r> {
    /// A matcher with the host's search limits and a resolver for chained parameters.
    pub fn new(config: SearchConfig, resolver: &'r dyn Resolver) -> Self {
        TypeFilterSearch {
            config,
            resolver,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    fn query(&self, filter: &TypeFilter) -> Result<Arc<Query>, SearchError> {
        let key = (filter.resource_type.clone(), filter.query.clone());
        let mut cache = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = cache.get(&key) {
            return Ok(q.clone());
        }
        let q = Arc::new(Query::parse(
            &filter.resource_type,
            &filter.query,
            &self.config,
        )?);
        cache.insert(key, q.clone());
        Ok(q)
    }
}

impl TypeFilterMatcher for TypeFilterSearch<'_> {
    fn matches(&self, filter: &TypeFilter, resource: &Value) -> Result<bool, OperationOutcome> {
        let query = self.query(filter).map_err(IntoOutcome::into_outcome)?;
        matches(&query, resource, self.resolver).map_err(IntoOutcome::into_outcome)
    }
}

/// [`matches()`] on already extracted entries (what a server stores).
pub fn matches_entries(
    query: &Query,
    entries: &Entries,
    resolver: &dyn Resolver,
) -> Result<bool, SearchError> {
    for f in &query.filters {
        if !filter_matches(f, entries, resolver, &query.config)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn filter_matches(
    f: &Filter,
    entries: &Entries,
    resolver: &dyn Resolver,
    cfg: &SearchConfig,
) -> Result<bool, SearchError> {
    if let Some(b) = simple_filter_matches(&f.kind, entries, cfg) {
        return Ok(b);
    }
    match &f.kind {
        FilterKind::Chain { param, targets } => {
            for v in entries.get(&param.code) {
                let IndexValue::Reference(r) = v else {
                    continue;
                };
                let Some(target) = ref_target(r, cfg) else {
                    continue;
                };
                let Some(res) = resolver.resolve(&target) else {
                    continue;
                };
                let rt = res
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                for (ty, inner) in targets {
                    if ty == rt {
                        let e = extract(&res)?;
                        if filter_matches(inner, &e, resolver, cfg)? {
                            return Ok(true);
                        }
                    }
                }
            }
            Ok(false)
        }
        FilterKind::Has {
            source_type,
            ref_param,
            inner,
        } => {
            let Some(key) = entries.key() else {
                return Ok(false);
            };
            for src in resolver.referencing(source_type, &ref_param.code, &key) {
                let e = extract(&src)?;
                if filter_matches(inner, &e, resolver, cfg)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        FilterKind::List(ids) => {
            let Some(key) = entries.key() else {
                return Ok(false);
            };
            for id in ids {
                if let Some(list) = resolver.resolve(&format!("List/{id}"))
                    && list_items(&list).any(|r| r == key)
                {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

/// `List.entry.item.reference` values.
pub(crate) fn list_items(list: &Value) -> impl Iterator<Item = &str> {
    list.get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.pointer("/item/reference").and_then(Value::as_str))
}

/// The local `Type/id` a reference points to, when it is local to this server.
pub(crate) fn ref_target(r: &RefValue, cfg: &SearchConfig) -> Option<String> {
    if is_local(r, cfg) {
        r.local_key()
    } else {
        r.url.clone()
    }
}

fn is_local(r: &RefValue, cfg: &SearchConfig) -> bool {
    match (&r.base, &cfg.base_url) {
        (None, _) => true,
        (Some(b), Some(base)) => b.trim_end_matches('/') == base.trim_end_matches('/'),
        _ => false,
    }
}

/// Evaluates filters that need nothing but the resource's own entries; `None` for chains,
/// `_has` and `_list`.
pub(crate) fn simple_filter_matches(
    kind: &FilterKind,
    entries: &Entries,
    cfg: &SearchConfig,
) -> Option<bool> {
    match kind {
        FilterKind::Missing { param, missing } => {
            Some(entries.get(&param.code).is_empty() == *missing)
        }
        FilterKind::Values {
            param,
            modifier,
            any_of,
        } => {
            let negate = matches!(modifier, Some(Modifier::Not | Modifier::NotIn));
            let hit = entries.get(&param.code).iter().any(|v| {
                any_of
                    .iter()
                    .any(|p| value_matches(p, modifier.as_ref(), v, cfg))
            });
            Some(hit != negate)
        }
        _ => None,
    }
}

/// Does one index value satisfy one query value?
pub fn value_matches(
    pred: &ValuePred,
    modifier: Option<&Modifier>,
    v: &IndexValue,
    cfg: &SearchConfig,
) -> bool {
    match (pred, v) {
        (ValuePred::Number(p, d), IndexValue::Number(t)) => number_cmp(*p, d, t.value),
        (ValuePred::Number(p, d), IndexValue::Quantity(q)) => number_cmp(*p, d, q.value.value),
        (ValuePred::Date(p, s), IndexValue::Date(t)) => date_cmp(*p, s, t, cfg.now),
        (
            ValuePred::String { exact, folded },
            IndexValue::String {
                exact: te,
                folded: tf,
            },
        ) => match modifier {
            Some(Modifier::Exact) => te == exact,
            Some(Modifier::Contains) => tf.contains(folded.as_str()),
            Some(Modifier::Text) => word_prefix(tf, folded),
            _ => tf.starts_with(folded.as_str()),
        },
        (ValuePred::Text(q), IndexValue::Text(t)) => q.split(' ').all(|w| t.contains(w)),
        (ValuePred::Text(q), IndexValue::Token(t)) => {
            t.text.as_deref().is_some_and(|x| word_prefix(x, q))
        }
        (ValuePred::Token { system, code }, IndexValue::Token(t)) => {
            token_matches(system, code.as_deref(), t)
        }
        (
            ValuePred::OfType {
                system,
                code,
                value,
            },
            IndexValue::Token(t),
        ) => {
            t.code.as_deref() == Some(value.as_str())
                && t.of_type
                    .iter()
                    .any(|(s, c)| c == code && (system.is_none() || s == system))
        }
        (ValuePred::ValueSet(url), IndexValue::Token(t)) => t.code.as_deref().is_some_and(|c| {
            Definitions::r4().value_set_contains(url, t.system.as_deref(), c) == Membership::Member
        }),
        (ValuePred::Reference(q), IndexValue::Reference(t)) => reference_matches(q, t, cfg),
        (ValuePred::RefIdentifier(sys, val), IndexValue::Reference(t)) => t
            .identifier
            .as_ref()
            .is_some_and(|(s, v)| v == val && (sys.is_none() || s == sys)),
        (ValuePred::Uri(q), IndexValue::Reference(t)) => t
            .url
            .as_deref()
            .is_some_and(|u| uri_matches(q, u, modifier)),
        (ValuePred::Uri(q), IndexValue::Uri(t)) => uri_matches(q, t, modifier),
        (
            ValuePred::Quantity {
                prefix,
                value,
                system,
                code,
            },
            IndexValue::Quantity(t),
        ) => quantity_matches(*prefix, value, system.as_deref(), code.as_deref(), t),
        (ValuePred::Composite(preds), IndexValue::Composite(comps)) => {
            preds.len() == comps.len()
                && preds
                    .iter()
                    .zip(comps)
                    .all(|(p, vals)| vals.iter().any(|v| value_matches(p, None, v, cfg)))
        }
        _ => false,
    }
}

/// True when some word of `text` starts with `q` (or `q` spans words from a word start).
fn word_prefix(text: &str, q: &str) -> bool {
    text.starts_with(q)
        || text
            .match_indices(q)
            .any(|(i, _)| i > 0 && text.as_bytes()[i - 1] == b' ')
}

fn token_matches(system: &TokenSystem, code: Option<&str>, t: &Token) -> bool {
    let sys_ok = match system {
        TokenSystem::Any => true,
        TokenSystem::None => t.system.is_none(),
        TokenSystem::Is(s) => t.system.as_deref() == Some(s.as_str()),
    };
    sys_ok && code.is_none_or(|c| t.code.as_deref() == Some(c))
}

fn uri_matches(q: &str, t: &str, modifier: Option<&Modifier>) -> bool {
    let prefix_of = |short: &str, long: &str| {
        long == short
            || (long.starts_with(short)
                && (short.ends_with('/') || long.as_bytes().get(short.len()) == Some(&b'/')))
    };
    match modifier {
        Some(Modifier::Below) => prefix_of(q, t),
        Some(Modifier::Above) => prefix_of(t, q),
        Some(Modifier::Contains) => t.contains(q),
        _ => t == q,
    }
}

fn reference_matches(q: &RefValue, t: &RefValue, cfg: &SearchConfig) -> bool {
    let version_ok = q.version.is_none() || q.version == t.version;
    if q.base.is_some() {
        // An absolute reference that is not ours: compare URLs.
        return q.url == t.url && version_ok;
    }
    if let Some(id) = &q.id {
        return is_local(t, cfg)
            && t.id.as_ref() == Some(id)
            && (q.resource_type.is_none() || q.resource_type == t.resource_type)
            && version_ok;
    }
    q.url.is_some() && q.url == t.url && version_ok
}

/// Number comparison: the query's implicit precision range for `eq`/`ne`/`ap`, the value itself
/// for the ordering prefixes.
pub fn number_cmp(p: Prefix, q: &Decimal, v: f64) -> bool {
    match p {
        Prefix::Eq => q.low <= v && v < q.high,
        Prefix::Ne => !(q.low <= v && v < q.high),
        Prefix::Gt | Prefix::Sa => v > q.value,
        Prefix::Lt | Prefix::Eb => v < q.value,
        Prefix::Ge => v >= q.value,
        Prefix::Le => v <= q.value,
        Prefix::Ap => (v - q.value).abs() <= (0.1 * q.value.abs()).max((q.high - q.low) / 2.0),
    }
}

/// Date comparison with R4 range semantics between the query range `s` and the target range `t`.
pub fn date_cmp(p: Prefix, s: &DateRange, t: &DateRange, now: Option<i64>) -> bool {
    match p {
        Prefix::Eq => s.contains(t),
        Prefix::Ne => !s.contains(t),
        Prefix::Gt => t.high > s.high,
        Prefix::Lt => t.low < s.low,
        Prefix::Ge => t.high > s.high || s.contains(t),
        Prefix::Le => t.low < s.low || s.contains(t),
        Prefix::Sa => t.low >= s.high,
        Prefix::Eb => t.high <= s.low,
        Prefix::Ap => {
            let width = match now {
                Some(n) => ((n - s.low).abs() / 10).max(s.high - s.low),
                None => ((s.high - s.low) / 10).max(86_400_000),
            };
            let wide = DateRange {
                low: s.low.saturating_sub(width),
                high: s.high.saturating_add(width),
            };
            wide.overlaps(t)
        }
    }
}

fn quantity_matches(
    p: Prefix,
    q: &Decimal,
    system: Option<&str>,
    code: Option<&str>,
    t: &QuantityValue,
) -> bool {
    // Canonical comparison when both sides are UCUM units with the same dimension.
    if let (Some(c), Some((tv, tu))) = (code, &t.canonical)
        && system.is_none_or(|s| s == UCUM)
        && let Some(k) = ucum_canonical(c)
        && &k.unit == tu
    {
        return number_cmp(p, &q.scaled(k.factor, k.offset), tv.value);
    }
    if let Some(c) = code {
        let code_ok =
            t.code.as_deref() == Some(c) || (system.is_none() && t.unit.as_deref() == Some(c));
        if !code_ok || system.is_some_and(|s| t.system.as_deref() != Some(s)) {
            return false;
        }
    } else if let Some(s) = system
        && t.system.as_deref() != Some(s)
    {
        return false;
    }
    number_cmp(p, q, t.value.value)
}
