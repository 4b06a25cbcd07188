//! Export scoping: which resources an `$export` includes.
//!
//! The level decides the universe — everything (system), the Patient compartments of all
//! patients (`Patient/$export`) or of a Group's members (`Group/[id]/$export`) — and the
//! parameters narrow it: `_type`, `_since`/`_until` on `meta.lastUpdated`, `patient`, and
//! `_typeFilter`.
//!
//! Compartment membership comes from the definitions: [`Definitions::compartment_params`] names the
//! search parameters that put a resource type in a Patient compartment, and the search index
//! values of those parameters ([`crate::search::extract`]) say which patients the references
//! point to — the same reading the server's `Patient/[id]/*` compartment search uses.
//!
//! `_typeFilter` *matching* is search's job. This module parses and structurally validates each
//! filter into a [`TypeFilter`] and asks a [`TypeFilterMatcher`] — implemented by the `search`
//! module — whether a resource matches; without a matcher, an export with `_typeFilter` is refused
//! rather than silently exporting too much.

use super::instant::Instant;
use super::request::{ExportLevel, ExportRequest, RequestError, percent_decode};
use crate::definitions::Definitions;
use crate::outcome::{Issue, IssueType, OperationOutcome};
use crate::search::value::IndexValue;
use crate::search::{Query, SearchConfig, SearchRegistry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

/// One `_typeFilter` entry: `Type?query`, split and decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeFilter {
    pub resource_type: String,
    /// The query as given (still percent-encoded), e.g. `status=active&code=x`.
    pub query: String,
    /// Decoded `(name[:modifier], value)` pairs.
    pub params: Vec<(String, String)>,
}

/// Search result parameters that make no sense inside a filter.
const RESULT_PARAMS: [&str; 10] = [
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_elements",
    "_summary",
    "_total",
    "_contained",
    "_containedType",
    "_format",
];

impl TypeFilter {
    /// Parses and structurally validates `Type?name=value&...`: the type exists, every parameter
    /// is a search parameter of that type (chains and `_has` checked on their first step), no
    /// result parameters.
    ///
    /// ```
    /// use firn_core::bulk::TypeFilter;
    /// use firn_core::definitions::Definitions;
    /// let f = TypeFilter::parse("Observation?code:text=a%20b&subject.name=x", Definitions::r4()).unwrap();
    /// assert_eq!(f.params[0], ("code:text".to_string(), "a b".to_string()));
    /// assert!(TypeFilter::parse("Observation?colour=red", Definitions::r4()).is_err());
    /// ```
    pub fn parse(text: &str, defs: &Definitions) -> Result<TypeFilter, String> {
        let Some((ty, query)) = text.split_once('?') else {
            return Err("expected ResourceType?query".into());
        };
        if !defs.is_resource_type(ty) {
            return Err(format!("'{ty}' is not a FHIR R4 resource type"));
        }
        if query.is_empty() {
            return Err("the query is empty".into());
        }
        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(format!("'{pair}' is not name=value"));
            };
            let name = percent_decode(name);
            let value = percent_decode(value);
            if value.is_empty() {
                return Err(format!("'{name}' has no value"));
            }
            let base = name.split([':', '.']).next().unwrap_or("");
            if RESULT_PARAMS.contains(&base) {
                return Err(format!(
                    "'{base}' is a result parameter, not allowed in _typeFilter"
                ));
            }
            params.push((name, value));
        }
        // Parameters, modifiers, chains and values are checked by the search parser itself, so a
        // filter accepted here is one the matcher can evaluate.
        Query::parse(ty, query, &SearchConfig::default()).map_err(|e| e.to_string())?;
        Ok(TypeFilter {
            resource_type: ty.to_string(),
            query: query.to_string(),
            params,
        })
    }
}

/// Decides whether a resource matches a `_typeFilter`. The `search` module implements it; the
/// bulk engine only calls it.
pub trait TypeFilterMatcher {
    fn matches(&self, filter: &TypeFilter, resource: &Value) -> Result<bool, OperationOutcome>;
}

/// The ids of the patients whose compartment `resource` is in (for a Patient, its own id).
///
/// ```
/// use firn_core::bulk::patient_compartment_ids;
/// use firn_core::definitions::Definitions;
/// let obs = serde_json::json!({"resourceType":"Observation","subject":{"reference":"Patient/p1"},
///     "performer":[{"reference":"https://x/fhir/Patient/p2/_history/1"}, {"reference":"Practitioner/d"}]});
/// let ids = patient_compartment_ids(&obs, Definitions::r4());
/// assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["p1", "p2"]);
/// ```
pub fn patient_compartment_ids(resource: &Value, defs: &Definitions) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
        return out;
    };
    if rt == "Patient"
        && let Some(id) = resource.get("id").and_then(Value::as_str)
    {
        out.insert(id.to_string());
    }
    let Some(params) = defs.compartment_params(rt) else {
        return out;
    };
    // The search index values are the one reading of a parameter's expression: use them.
    let Ok(entries) = SearchRegistry::r4().extract(resource) else {
        return out;
    };
    for code in params.iter().filter(|c| *c != "{def}") {
        for value in entries.get(code) {
            if let IndexValue::Reference(r) = value
                && r.resource_type.as_deref() == Some("Patient")
                && let Some(id) = &r.id
            {
                out.insert(id.clone());
            }
        }
    }
    out
}

/// `Patient/123`, `https://x/fhir/Patient/123/_history/2` → `123`.
pub fn patient_id_of_reference(reference: &str) -> Option<&str> {
    id_of_reference(reference, "Patient")
}

/// The id in a reference to a resource of type `ty` (relative, absolute or versioned).
fn id_of_reference<'r>(reference: &'r str, ty: &str) -> Option<&'r str> {
    let mut parts = reference.split('/');
    while let Some(p) = parts.next() {
        if p == ty {
            return parts.next().filter(|id| !id.is_empty());
        }
    }
    None
}

/// The patient ids of a Group's active members (`member.entity` references to Patients, skipping
/// `inactive: true` members).
pub fn group_patient_ids(group: &Value) -> BTreeSet<String> {
    group
        .get("member")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|m| m.get("inactive").and_then(Value::as_bool) != Some(true))
        .filter_map(|m| m.pointer("/entity/reference").and_then(Value::as_str))
        .filter_map(patient_id_of_reference)
        .map(str::to_string)
        .collect()
}

/// Levels of Groups expanded, the exported Group included; deeper ones are not expanded (a guard against pathological data; FHIR sets no
/// limit, real member hierarchies are a few levels deep).
const MAX_GROUP_DEPTH: usize = 16;

/// A Group whose members are the Patients of `group` and of every Group nested in it, so that a
/// Group-level export of nested Groups scopes like a flat one: pass the result to
/// [`ExportFilter::new`]. `resolve` fetches a member Group by id (the host's store); Groups it cannot
/// find, cycles, inactive members (at every level) and Groups more than 16 levels down are skipped.
///
/// ```
/// use firn_core::bulk::{flatten_group, group_patient_ids};
/// use serde_json::json;
/// let inner = json!({"resourceType": "Group", "id": "ward", "member": [
///     {"entity": {"reference": "Patient/b"}}, {"entity": {"reference": "Group/top"}}]});
/// let top = json!({"resourceType": "Group", "id": "top", "member": [
///     {"entity": {"reference": "Patient/a"}}, {"entity": {"reference": "Group/ward"}}]});
/// let flat = flatten_group(&top, &|id| (id == "ward").then(|| inner.clone()));
/// assert_eq!(group_patient_ids(&flat).into_iter().collect::<Vec<_>>(), ["a", "b"]);
/// ```
pub fn flatten_group(group: &Value, resolve: &dyn Fn(&str) -> Option<Value>) -> Value {
    let mut patients = BTreeSet::new();
    let mut seen = HashSet::new();
    if let Some(id) = group.get("id").and_then(Value::as_str) {
        seen.insert(id.to_string());
    }
    let mut level = vec![group.clone()];
    for _ in 0..MAX_GROUP_DEPTH {
        let mut next = Vec::new();
        for g in &level {
            patients.extend(group_patient_ids(g));
            let members = g.get("member").and_then(Value::as_array);
            for m in members.map(Vec::as_slice).unwrap_or_default() {
                if m.get("inactive").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let Some(id) = m
                    .pointer("/entity/reference")
                    .and_then(Value::as_str)
                    .and_then(|r| id_of_reference(r, "Group"))
                else {
                    continue;
                };
                if seen.insert(id.to_string())
                    && let Some(inner) = resolve(id)
                {
                    next.push(inner);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    let member: Vec<Value> = patients
        .into_iter()
        .map(|id| serde_json::json!({"entity": {"reference": format!("Patient/{id}")}}))
        .collect();
    let mut flat = serde_json::json!({"resourceType": "Group", "member": member});
    if let Some(id) = group.get("id") {
        flat["id"] = id.clone();
    }
    flat
}

/// An export's inclusion rules, ready to apply to resources one by one.
pub struct ExportFilter<'a> {
    defs: &'a Definitions,
    level: ExportLevel,
    types: Option<HashSet<String>>,
    since: Option<Instant>,
    until: Option<Instant>,
    /// Patient ids the export is limited to (from `patient` or the Group's members).
    patients: Option<HashSet<String>>,
    filters: HashMap<String, Vec<TypeFilter>>,
    matcher: Option<&'a dyn TypeFilterMatcher>,
}

impl<'a> ExportFilter<'a> {
    /// Builds the filter. A Group-level export needs the Group resource; `_typeFilter` needs a
    /// matcher.
    ///
    /// ```
    /// use firn_core::bulk::{ExportFilter, ExportRequest, ExportLevel, parse_query};
    /// let req = ExportRequest::parse(ExportLevel::Patient, &parse_query("_since=2024-01-01T00:00:00Z"), None, false).unwrap();
    /// let f = ExportFilter::new(&req, None, None).unwrap();
    /// let old = serde_json::json!({"resourceType":"Condition","subject":{"reference":"Patient/a"},
    ///                              "meta":{"lastUpdated":"2023-12-31T23:59:59Z"}});
    /// let org = serde_json::json!({"resourceType":"Organization","id":"o"});
    /// assert!(!f.includes(&old).unwrap());
    /// assert!(!f.type_included("Organization") && !f.includes(&org).unwrap()); // not in a Patient compartment
    /// ```
    pub fn new(
        req: &ExportRequest,
        group: Option<&Value>,
        matcher: Option<&'a dyn TypeFilterMatcher>,
    ) -> Result<ExportFilter<'a>, RequestError> {
        let defs = Definitions::r4();
        let mut patients: Option<HashSet<String>> = None;
        if let ExportLevel::Group(id) = &req.level {
            let Some(group) = group else {
                return Err(RequestError(vec![Issue::error(
                    IssueType::NotFound,
                    format!("Group/{id} is needed to export its members"),
                )]));
            };
            patients = Some(group_patient_ids(group).into_iter().collect());
        }
        if !req.patients.is_empty() {
            let wanted: HashSet<String> = req
                .patients
                .iter()
                .filter_map(|r| patient_id_of_reference(r))
                .map(str::to_string)
                .collect();
            patients = Some(match patients {
                Some(members) => members.intersection(&wanted).cloned().collect(),
                None => wanted,
            });
        }
        if !req.type_filters.is_empty() && matcher.is_none() {
            return Err(RequestError(vec![Issue::error(
                IssueType::NotSupported,
                "_typeFilter needs the search engine, which this host did not provide",
            )]));
        }
        let mut filters: HashMap<String, Vec<TypeFilter>> = HashMap::new();
        for f in &req.type_filters {
            filters
                .entry(f.resource_type.clone())
                .or_default()
                .push(f.clone());
        }
        Ok(ExportFilter {
            defs,
            level: req.level.clone(),
            types: (!req.types.is_empty()).then(|| req.types.iter().cloned().collect()),
            since: req.since.clone(),
            until: req.until.clone(),
            patients,
            filters,
            matcher,
        })
    }

    /// Whether resources of this type can be in the export at all (check before reading them).
    pub fn type_included(&self, resource_type: &str) -> bool {
        if let Some(types) = &self.types
            && !types.contains(resource_type)
        {
            return false;
        }
        match self.level {
            ExportLevel::System => true,
            _ => {
                resource_type == "Patient" || self.defs.compartment_params(resource_type).is_some()
            }
        }
    }

    /// Whether `resource` belongs in the export.
    pub fn includes(&self, resource: &Value) -> Result<bool, OperationOutcome> {
        let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
            return Ok(false);
        };
        if !self.type_included(rt) {
            return Ok(false);
        }
        // No lastUpdated: included (HealthLake's documented behaviour for _since).
        if let Some(updated) = resource
            .pointer("/meta/lastUpdated")
            .and_then(Value::as_str)
            .and_then(Instant::parse)
        {
            if self.since.as_ref().is_some_and(|s| &updated < s) {
                return Ok(false);
            }
            if self.until.as_ref().is_some_and(|u| &updated > u) {
                return Ok(false);
            }
        }
        if self.level != ExportLevel::System || self.patients.is_some() {
            let ids = patient_compartment_ids(resource, self.defs);
            let ok = match &self.patients {
                Some(wanted) => ids.iter().any(|id| wanted.contains(id)),
                None => !ids.is_empty(),
            };
            if !ok {
                return Ok(false);
            }
        }
        if let Some(filters) = self.filters.get(rt)
            && let Some(m) = self.matcher
        {
            for f in filters {
                if m.matches(f, resource)? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::request::parse_query;
    use serde_json::json;

    #[test]
    fn nested_groups_flatten_skipping_inactive_missing_and_deep() {
        let groups: Vec<Value> = (0..20)
            .map(|i| {
                json!({"resourceType": "Group", "id": format!("g{i}"), "member": [
                    {"entity": {"reference": format!("Patient/p{i}")}},
                    {"entity": {"reference": format!("https://x/fhir/Group/g{}", i + 1)}},
                    {"entity": {"reference": "Group/missing"}},
                    {"entity": {"reference": format!("Patient/inactive{i}")}, "inactive": true},
                    {"entity": {"reference": format!("Group/inactive-g{i}")}, "inactive": true}
                ]})
            })
            .collect();
        let resolve = |id: &str| groups.iter().find(|g| g["id"] == id).cloned();
        let flat = flatten_group(&groups[0], &resolve);
        let ids = group_patient_ids(&flat);
        // 16 levels of Groups, g0 included: p0..p15; nothing inactive, nothing from missing Groups.
        assert_eq!(ids.len(), 16, "{ids:?}");
        assert!(ids.contains("p15") && !ids.contains("p16"));
        assert!(ids.iter().all(|id| !id.starts_with("inactive")));
        assert_eq!(flat["id"], "g0");
    }

    struct StatusIs;
    impl TypeFilterMatcher for StatusIs {
        fn matches(&self, f: &TypeFilter, r: &Value) -> Result<bool, OperationOutcome> {
            Ok(f.params
                .iter()
                .all(|(n, v)| n == "status" && r["status"] == v.as_str()))
        }
    }

    #[test]
    fn group_members_since_until_and_type_filters() {
        let group = json!({"resourceType":"Group","member":[
            {"entity":{"reference":"Patient/a"}},{"entity":{"reference":"Patient/b"},"inactive":true}]});
        let q =
            parse_query("_typeFilter=Encounter%3Fstatus%3Dfinished&_until=2024-06-01T00:00:00Z");
        let req = ExportRequest::parse(ExportLevel::Group("g".into()), &q, None, false).unwrap();
        assert!(ExportFilter::new(&req, Some(&group), None).is_err()); // no matcher
        assert!(ExportFilter::new(&req, None, Some(&StatusIs)).is_err()); // no group
        let f = ExportFilter::new(&req, Some(&group), Some(&StatusIs)).unwrap();
        let enc = |p: &str, status: &str, updated: &str| {
            json!({"resourceType":"Encounter",
            "subject":{"reference":format!("Patient/{p}")},"status":status,"meta":{"lastUpdated":updated}})
        };
        assert!(
            f.includes(&enc("a", "finished", "2024-01-01T00:00:00Z"))
                .unwrap()
        );
        assert!(
            !f.includes(&enc("b", "finished", "2024-01-01T00:00:00Z"))
                .unwrap()
        ); // inactive member
        assert!(
            !f.includes(&enc("a", "planned", "2024-01-01T00:00:00Z"))
                .unwrap()
        ); // filter
        assert!(
            !f.includes(&enc("a", "finished", "2024-07-01T00:00:00Z"))
                .unwrap()
        ); // _until
        assert!(
            f.includes(&json!({"resourceType":"Patient","id":"a"}))
                .unwrap()
        );
    }

    #[test]
    fn type_filter_structure() {
        let d = Definitions::r4();
        for bad in [
            "Observation",
            "Nope?x=1",
            "Observation?",
            "Observation?code",
            "Observation?_count=1",
            "Observation?_has:x=1",
        ] {
            assert!(TypeFilter::parse(bad, d).is_err(), "{bad}");
        }
        assert!(TypeFilter::parse("Patient?_has:Observation:patient:code=1234", d).is_ok());
        assert!(TypeFilter::parse("Observation?_lastUpdated=gt2024-01-01", d).is_ok());
    }
}
