//! Output: the searchset Bundle, `_summary` and `_elements`.
//!
//! Subsetted resources are tagged `SUBSETTED` so a client never mistakes them for complete ones
//! (and never updates with them); mandatory elements are always kept so the result stays valid.

use super::index::{SearchIndex, SearchPage};
use super::query::{Query, Summary, percent_encode};
use crate::definitions::Definitions;
use serde_json::{Map, Value, json};

/// The code system of the `SUBSETTED` tag.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

fn keep_element(
    ty: &str,
    key: &str,
    pred: impl Fn(&crate::definitions::ElementDef) -> bool,
) -> bool {
    let k = key.strip_prefix('_').unwrap_or(key);
    Definitions::r4()
        .child(ty, k)
        .is_some_and(|c| pred(c.element))
}

/// Applies `_summary` or `_elements` to a resource. Returns the resource unchanged for
/// `_summary=false` / nothing requested; otherwise a copy with the `SUBSETTED` tag.
///
/// ```
/// use firn_core::search::{subset, Summary};
/// let p = serde_json::json!({"resourceType": "Patient", "id": "1", "gender": "female",
///     "text": {"status": "generated", "div": "<div/>"}, "photo": [{"url": "http://x"}]});
/// let s = subset(&p, Some(Summary::True), None);
/// assert!(s.get("gender").is_some() && s.get("photo").is_none() && s.get("text").is_none());
/// assert_eq!(s["meta"]["tag"][0]["code"], "SUBSETTED");
/// ```
pub fn subset(resource: &Value, summary: Option<Summary>, elements: Option<&[String]>) -> Value {
    let Value::Object(m) = resource else {
        return resource.clone();
    };
    let ty = m
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mandatory = |k: &str| keep_element(ty, k, |e| e.min > 0);
    let always = |k: &str| matches!(k, "resourceType" | "id" | "meta");
    let keep: Box<dyn Fn(&str) -> bool> = match (summary, elements) {
        (_, Some(els)) => Box::new(move |k: &str| {
            let base = k.strip_prefix('_').unwrap_or(k);
            always(k)
                || mandatory(k)
                || els.iter().any(|e| {
                    e == base
                        || Definitions::r4()
                            .child(ty, base)
                            .is_some_and(|c| c.element.name().trim_end_matches("[x]") == e)
                })
        }),
        (Some(Summary::True), None) => return tagged(summary_true(resource, ty, true)),
        (Some(Summary::Text), None) => {
            Box::new(move |k: &str| always(k) || k == "text" || mandatory(k))
        }
        (Some(Summary::Data), None) => Box::new(|k: &str| k != "text"),
        _ => return resource.clone(),
    };
    let mut out = Map::new();
    for (k, v) in m {
        if keep(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    tagged(Value::Object(out))
}

/// `_summary=true` below the root: elements marked summary (or mandatory) in the base definition,
/// recursively through complex and backbone elements.
fn summary_true(v: &Value, context: &str, root: bool) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| summary_true(x, context, root)).collect()),
        Value::Object(m) => {
            let defs = Definitions::r4();
            let mut out = Map::new();
            for (k, x) in m {
                if root && matches!(k.as_str(), "resourceType" | "id" | "meta") {
                    out.insert(k.clone(), x.clone());
                    continue;
                }
                let base = k.strip_prefix('_').unwrap_or(k);
                let Some(child) = defs.child(context, base) else {
                    continue;
                };
                if !(child.element.is_summary || child.element.min > 0) {
                    continue;
                }
                let nested = if defs.is_primitive(child.type_code)
                    || k.starts_with('_')
                    || child.type_code == "Resource"
                {
                    x.clone()
                } else {
                    summary_true(x, child.context, false)
                };
                out.insert(k.clone(), nested);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Adds the `SUBSETTED` tag.
fn tagged(v: Value) -> Value {
    let Value::Object(mut out) = v else { return v };
    if !out.contains_key("meta") {
        // Place a new `meta` where FHIR JSON puts it: after `id` (or `resourceType`).
        let anchor = if out.contains_key("id") {
            "id"
        } else {
            "resourceType"
        };
        let mut with_meta = Map::new();
        for (k, x) in std::mem::take(&mut out) {
            let is_anchor = k == anchor;
            with_meta.insert(k, x);
            if is_anchor {
                with_meta.insert("meta".into(), json!({}));
            }
        }
        out = with_meta;
    }
    let meta = out.entry("meta").or_insert_with(|| json!({}));
    if let Value::Object(meta) = meta {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Value::Array(tags) = tags
            && !tags.iter().any(|t| t["code"] == "SUBSETTED")
        {
            tags.push(json!({"system": SUBSETTED_SYSTEM, "code": "SUBSETTED", "display": "Resource encoded in summary mode"}));
        }
    }
    Value::Object(out)
}

fn link(base: &str, query: &Query, offset: Option<usize>) -> String {
    let mut qs: Vec<String> = query
        .params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    if let Some(o) = offset {
        qs.push(format!("_offset={o}"));
    }
    let path = if base.is_empty() {
        query.resource_type.clone()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), query.resource_type)
    };
    if qs.is_empty() {
        path
    } else {
        format!("{path}?{}", qs.join("&"))
    }
}

/// Renders a page as a searchset Bundle with `self`/`next`/`previous` links, `search.mode`
/// `match` / `include`, `total` and (in lenient mode) an OperationOutcome entry listing ignored
/// parameters. `base` is the service base URL (may be empty for relative links).
///
/// ```
/// use firn_core::search::{MemoryIndex, Query, SearchConfig, search, to_bundle};
/// let mut idx = MemoryIndex::new();
/// for id in ["a", "b", "c"] {
///     idx.insert(serde_json::json!({"resourceType": "Patient", "id": id})).unwrap();
/// }
/// let q = Query::parse("Patient", "_count=2", &SearchConfig::default()).unwrap();
/// let b = to_bundle(&q, &search(&idx, &q).unwrap(), &idx, "http://x/fhir");
/// assert_eq!(b["total"], 3);
/// assert_eq!(b["link"][1]["url"], "http://x/fhir/Patient?_count=2&_offset=2");
/// ```
pub fn to_bundle(query: &Query, page: &SearchPage, index: &dyn SearchIndex, base: &str) -> Value {
    let r = &query.result;
    let mut links = vec![
        json!({"relation": "self", "url": link(base, query, (page.offset > 0).then_some(page.offset))}),
    ];
    if page.has_more {
        links.push(
            json!({"relation": "next", "url": link(base, query, Some(page.offset + page.count))}),
        );
    }
    if page.offset > 0 && page.count > 0 {
        links.push(json!({"relation": "previous", "url": link(base, query, Some(page.offset.saturating_sub(page.count)))}));
    }
    let full_url = |res: &Value| {
        let ty = res["resourceType"].as_str().unwrap_or_default();
        let id = res["id"].as_str().unwrap_or_default();
        if base.is_empty() {
            format!("{ty}/{id}")
        } else {
            format!("{}/{ty}/{id}", base.trim_end_matches('/'))
        }
    };
    let mut entries = Vec::new();
    for &d in &page.matches {
        if let Some(res) = index.resource(d) {
            let shown = subset(&res, r.summary, r.elements.as_deref());
            entries.push(
                json!({"fullUrl": full_url(&res), "resource": shown, "search": {"mode": "match"}}),
            );
        }
    }
    for &d in &page.included {
        if let Some(res) = index.resource(d) {
            // _elements is not applied to included resources; _summary is.
            let shown = subset(&res, r.summary, None);
            entries.push(json!({"fullUrl": full_url(&res), "resource": shown, "search": {"mode": "include"}}));
        }
    }
    if !query.ignored.is_empty() {
        entries.push(
            json!({"resource": query.ignored_outcome().to_json(), "search": {"mode": "outcome"}}),
        );
    }
    let mut b = Map::new();
    b.insert("resourceType".into(), json!("Bundle"));
    b.insert("type".into(), json!("searchset"));
    if let Some(t) = page.total {
        b.insert("total".into(), json!(t));
    }
    b.insert("link".into(), Value::Array(links));
    if !entries.is_empty() {
        b.insert("entry".into(), Value::Array(entries));
    }
    Value::Object(b)
}
