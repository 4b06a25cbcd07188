//! Set evaluation over an index: what a server runs for `GET [type]?...`.
//!
//! The evaluator asks a [`SearchIndex`] for postings (token, reference and id lookups) to find
//! candidates cheaply, then verifies the remaining filters on the stored [`Entries`] with the
//! same comparisons as the one-resource matcher. Chains and `_has` are evaluated inner-first into
//! sets of ids (each level limited by [`SearchConfig::max_chain_results`]), sorting uses the
//! entries, and paging is an offset cursor. A server implements the trait over its store;
//! [`MemoryIndex`] is the in-core implementation used by the browser, tests and benches.

use super::extract::{Entries, SearchRegistry};
use super::matching::{Resolver, list_items, ref_target, simple_filter_matches};
use super::query::{
    Filter, FilterKind, Include, Modifier, Prefix, Query, Summary, TokenSystem, Total, ValuePred,
};
use super::value::{DateRange, IndexValue, SortValue};
use super::{SearchConfig, SearchError};
use crate::definitions::SearchParamType;
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A stored resource's handle.
pub type DocId = u64;

/// A posting-list lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostingKey<'a> {
    /// A token with this system and code.
    Token { system: &'a str, code: &'a str },
    /// A token with this code, any system.
    Code(&'a str),
    /// A reference to a local resource, `Type/id`.
    Reference(&'a str),
}

/// What the set evaluator needs from a store.
pub trait SearchIndex {
    /// Every live document of a type, ascending.
    fn docs(&self, resource_type: &str) -> Vec<DocId>;
    /// The stored index entries of a document.
    fn entries(&self, doc: DocId) -> Option<Cow<'_, Entries>>;
    /// The stored resource.
    fn resource(&self, doc: DocId) -> Option<Cow<'_, Value>>;
    /// Documents of `resource_type` with value `key` for parameter `param`, ascending; `None`
    /// when the store keeps no postings for it (the evaluator then scans entries).
    fn postings(&self, resource_type: &str, param: &str, key: PostingKey<'_>)
    -> Option<Vec<DocId>>;
    /// The document with this type and id.
    fn lookup(&self, resource_type: &str, id: &str) -> Option<DocId>;
    /// Documents of `resource_type` with a `param` date value overlapping `range` (`value.high >
    /// range.low && value.low < range.high`), ascending — exactly those: the evaluator answers
    /// `gt`/`lt` (and the sure part of `ge`/`le`) from this set without re-reading entries.
    /// `None` when dates are not indexed.
    fn date_overlapping(
        &self,
        resource_type: &str,
        param: &str,
        range: DateRange,
    ) -> Option<Vec<DocId>> {
        let _ = (resource_type, param, range);
        None
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The matches on this page, in order.
    pub matches: Vec<DocId>,
    /// `_include` / `_revinclude` results (not counted in `total`).
    pub included: Vec<DocId>,
    /// Number of matches, unless `_total=none`.
    pub total: Option<usize>,
    pub offset: usize,
    pub count: usize,
    /// True when matches follow this page.
    pub has_more: bool,
}

/// Runs a query over an index.
///
/// ```
/// use firn_core::search::{MemoryIndex, Query, SearchConfig, search};
/// let mut idx = MemoryIndex::new();
/// idx.insert(serde_json::json!({"resourceType": "Patient", "id": "a", "gender": "female"})).unwrap();
/// idx.insert(serde_json::json!({"resourceType": "Patient", "id": "b", "gender": "male"})).unwrap();
/// let q = Query::parse("Patient", "gender=female", &SearchConfig::default()).unwrap();
/// let page = search(&idx, &q).unwrap();
/// assert_eq!(page.total, Some(1));
/// ```
pub fn search(index: &dyn SearchIndex, query: &Query) -> Result<SearchPage, SearchError> {
    let cfg = &query.config;
    let mut all = matching_docs(index, &query.resource_type, &query.filters, cfg)?;
    if !query.result.sort.is_empty() {
        sort_docs(index, &mut all, query);
    }
    let total = match query.result.total {
        Some(Total::None) => None,
        _ => Some(all.len()),
    };
    let count = if query.result.summary == Some(Summary::Count) {
        0
    } else {
        query.result.count.unwrap_or(cfg.default_count)
    };
    let offset = query.result.offset;
    let matches: Vec<DocId> = all.iter().skip(offset).take(count).copied().collect();
    let has_more = count > 0 && offset + matches.len() < all.len();
    let included = includes(index, query, &matches)?;
    Ok(SearchPage {
        matches,
        included,
        total,
        offset,
        count,
        has_more,
    })
}

/// A filter answered by a set: candidate docs (when postings allow) and the test on entries.
enum Plan {
    /// Verified on entries only.
    Verify,
    /// Answered exactly by this candidate set.
    Exact(Vec<DocId>),
    /// Narrowed by a candidate set, still verified.
    Narrow(Vec<DocId>),
    /// Narrowed by a candidate set; docs in the second (sorted) set are known to match, the rest
    /// are verified.
    NarrowSure(Vec<DocId>, Vec<DocId>),
    /// Chain: the resource references one of these local targets.
    RefSet(HashSet<String>, Option<Vec<DocId>>),
    /// `_has` / `_list`: the resource is one of these ids.
    IdSet(HashSet<String>),
}

/// What remains to check on a candidate's entries for one filter.
enum Check {
    /// The filter's own predicate.
    Entries,
    /// Docs in this sorted set are known to match; the others are checked on their entries.
    UnlessSure(Vec<DocId>),
    /// Chain: the resource references one of these local targets.
    References(HashSet<String>),
}

fn too_costly(f: &Filter, n: usize, cfg: &SearchConfig) -> SearchError {
    SearchError::TooCostly {
        name: f.name.clone(),
        reason: format!(
            "a chained level matched {n} resources (limit {})",
            cfg.max_chain_results
        ),
    }
}

fn union_sorted(mut sets: Vec<Vec<DocId>>) -> Vec<DocId> {
    if sets.len() == 1 {
        return sets.pop().unwrap_or_default();
    }
    let mut all: Vec<DocId> = sets.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn intersect(a: &[DocId], b: &[DocId]) -> Vec<DocId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn plan(
    index: &dyn SearchIndex,
    ty: &str,
    f: &Filter,
    cfg: &SearchConfig,
) -> Result<Plan, SearchError> {
    match &f.kind {
        FilterKind::Values {
            param,
            modifier: None,
            any_of,
        } if param.kind == SearchParamType::Token => {
            let mut sets = Vec::new();
            for p in any_of {
                let key = match p {
                    ValuePred::Token {
                        system: TokenSystem::Any,
                        code: Some(c),
                    } => PostingKey::Code(c),
                    ValuePred::Token {
                        system: TokenSystem::Is(s),
                        code: Some(c),
                    } => PostingKey::Token { system: s, code: c },
                    _ => return Ok(Plan::Verify),
                };
                if param.code == "_id"
                    && let PostingKey::Code(c) = key
                {
                    sets.push(index.lookup(ty, c).into_iter().collect());
                    continue;
                }
                match index.postings(ty, &param.code, key) {
                    Some(s) => sets.push(s),
                    None => return Ok(Plan::Verify),
                }
            }
            Ok(Plan::Exact(union_sorted(sets)))
        }
        FilterKind::Values {
            param,
            modifier: None | Some(Modifier::Type(_)),
            any_of,
        } if param.kind == SearchParamType::Reference && cfg.base_url.is_none() => {
            // Postings hold relative references only; with a base URL absolute ones may match too.
            let mut sets = Vec::new();
            for p in any_of {
                match p {
                    ValuePred::Reference(r) if r.base.is_none() && r.version.is_none() => match r
                        .local_key()
                    {
                        Some(k) => match index.postings(ty, &param.code, PostingKey::Reference(&k))
                        {
                            Some(s) => sets.push(s),
                            None => return Ok(Plan::Verify),
                        },
                        None => return Ok(Plan::Verify),
                    },
                    _ => return Ok(Plan::Verify),
                }
            }
            Ok(Plan::Narrow(union_sorted(sets)))
        }
        FilterKind::Values {
            param,
            modifier: None,
            any_of,
        } if param.kind == SearchParamType::Date => {
            let mut sets = Vec::new();
            let mut sure_sets = Vec::new();
            for p in any_of {
                let ValuePred::Date(prefix, s) = p else {
                    return Ok(Plan::Verify);
                };
                // The targets a prefix can accept all overlap the first window; those overlapping
                // the second are sure matches (`gt`: t.high > s.high; `lt`: t.low < s.low; `ge`
                // and `le` accept those too, and verify only targets inside the search range).
                let (window, sure) = match prefix {
                    Prefix::Eq => ((s.low, s.high), None),
                    Prefix::Gt => ((s.high, i64::MAX), Some((s.high, i64::MAX))),
                    Prefix::Sa => ((s.high, i64::MAX), None),
                    Prefix::Ge => ((s.low, i64::MAX), Some((s.high, i64::MAX))),
                    Prefix::Lt => ((i64::MIN, s.low), Some((i64::MIN, s.low))),
                    Prefix::Eb => ((i64::MIN, s.low), None),
                    Prefix::Le => ((i64::MIN, s.high), Some((i64::MIN, s.low))),
                    Prefix::Ne | Prefix::Ap => return Ok(Plan::Verify),
                };
                let overlapping =
                    |(low, high)| index.date_overlapping(ty, &param.code, DateRange { low, high });
                let Some(c) = overlapping(window) else {
                    return Ok(Plan::Verify);
                };
                if let Some(w) = sure {
                    if w == window {
                        sure_sets.push(c.clone());
                    } else if let Some(sc) = overlapping(w) {
                        sure_sets.push(sc);
                    }
                }
                sets.push(c);
            }
            let candidates = union_sorted(sets);
            let sure = union_sorted(sure_sets);
            Ok(if sure.len() == candidates.len() {
                Plan::Exact(candidates)
            } else {
                Plan::NarrowSure(candidates, sure)
            })
        }
        FilterKind::Chain { param, targets } => {
            let mut keys = HashSet::new();
            for (tt, inner) in targets {
                let docs = matching_docs(index, tt, std::slice::from_ref(inner), cfg)?;
                if docs.len() > cfg.max_chain_results {
                    return Err(too_costly(f, docs.len(), cfg));
                }
                for d in docs {
                    if let Some(e) = index.entries(d)
                        && let Some(k) = e.key()
                    {
                        keys.insert(k);
                    }
                }
                if keys.len() > cfg.max_chain_results {
                    return Err(too_costly(f, keys.len(), cfg));
                }
            }
            let mut sets = Vec::new();
            for k in &keys {
                match index.postings(ty, &param.code, PostingKey::Reference(k)) {
                    Some(s) => sets.push(s),
                    None => return Ok(Plan::RefSet(keys, None)),
                }
            }
            let cand = union_sorted(sets);
            Ok(Plan::RefSet(keys, Some(cand)))
        }
        FilterKind::Has {
            source_type,
            ref_param,
            inner,
        } => {
            let docs = matching_docs(index, source_type, std::slice::from_ref(inner), cfg)?;
            if docs.len() > cfg.max_chain_results {
                return Err(too_costly(f, docs.len(), cfg));
            }
            let mut ids = HashSet::new();
            for d in docs {
                let Some(e) = index.entries(d) else { continue };
                for v in e.get(&ref_param.code) {
                    if let IndexValue::Reference(r) = v
                        && r.resource_type.as_deref() == Some(ty)
                        && ref_target(r, cfg).is_some_and(|t| !t.contains("://"))
                        && let Some(id) = &r.id
                    {
                        ids.insert(id.clone());
                    }
                }
            }
            Ok(Plan::IdSet(ids))
        }
        FilterKind::List(list_ids) => {
            let mut ids = HashSet::new();
            for lid in list_ids {
                let Some(d) = index.lookup("List", lid) else {
                    continue;
                };
                let Some(list) = index.resource(d) else {
                    continue;
                };
                for r in list_items(&list) {
                    if let Some((t, id)) = r.split_once('/')
                        && t == ty
                    {
                        ids.insert(id.to_string());
                    }
                }
            }
            Ok(Plan::IdSet(ids))
        }
        _ => Ok(Plan::Verify),
    }
}

/// All docs of `ty` matching every filter, ascending.
fn matching_docs(
    index: &dyn SearchIndex,
    ty: &str,
    filters: &[Filter],
    cfg: &SearchConfig,
) -> Result<Vec<DocId>, SearchError> {
    let mut candidates: Option<Vec<DocId>> = None;
    let mut verify: Vec<(&Filter, Check)> = Vec::new();
    let narrow = |c: Vec<DocId>, candidates: &mut Option<Vec<DocId>>| {
        *candidates = Some(match candidates.take() {
            Some(prev) => intersect(&prev, &c),
            None => c,
        });
    };
    for f in filters {
        match plan(index, ty, f, cfg)? {
            Plan::Exact(c) => narrow(c, &mut candidates),
            Plan::Narrow(c) => {
                narrow(c, &mut candidates);
                verify.push((f, Check::Entries));
            }
            Plan::NarrowSure(c, sure) => {
                narrow(c, &mut candidates);
                verify.push((f, Check::UnlessSure(sure)));
            }
            Plan::IdSet(ids) => {
                let mut c: Vec<DocId> = ids.iter().filter_map(|id| index.lookup(ty, id)).collect();
                c.sort_unstable();
                narrow(c, &mut candidates);
            }
            Plan::RefSet(keys, cand) => {
                if let Some(c) = cand {
                    narrow(c, &mut candidates);
                }
                verify.push((f, Check::References(keys)));
            }
            Plan::Verify => verify.push((f, Check::Entries)),
        }
    }
    let candidates = match candidates {
        Some(c) => c,
        None => index.docs(ty),
    };
    if verify.is_empty() {
        return Ok(candidates);
    }
    let mut out = Vec::with_capacity(candidates.len().min(1024));
    'doc: for d in candidates {
        // Filters this doc is already known to satisfy need no entries.
        let sure =
            |c: &Check| matches!(c, Check::UnlessSure(sure) if sure.binary_search(&d).is_ok());
        if verify.iter().all(|(_, p)| sure(p)) {
            out.push(d);
            continue;
        }
        let Some(e) = index.entries(d) else { continue };
        for (f, p) in &verify {
            if sure(p) {
                continue;
            }
            let ok = match p {
                Check::References(keys) => {
                    let FilterKind::Chain { param, .. } = &f.kind else {
                        continue;
                    };
                    e.get(&param.code).iter().any(|v| match v {
                        IndexValue::Reference(r) => {
                            ref_target(r, cfg).is_some_and(|k| keys.contains(&k))
                        }
                        _ => false,
                    })
                }
                _ => simple_filter_matches(&f.kind, &e, cfg).unwrap_or(false),
            };
            if !ok {
                continue 'doc;
            }
        }
        out.push(d);
    }
    Ok(out)
}

fn sort_docs(index: &dyn SearchIndex, docs: &mut Vec<DocId>, query: &Query) {
    let keys = &query.result.sort;
    let mut keyed: Vec<(Vec<Option<SortValue>>, DocId)> = docs
        .iter()
        .map(|&d| {
            let e = index.entries(d);
            let ks = keys
                .iter()
                .map(|k| {
                    let vals = e.as_ref().map(|e| e.get(&k.param.code)).unwrap_or(&[]);
                    let mut best: Option<SortValue> = None;
                    for v in vals {
                        if let Some(sv) = v.sort_value(k.descending) {
                            let better = match &best {
                                None => true,
                                Some(b) if k.descending => sv.cmp(b) == Ordering::Greater,
                                Some(b) => sv.cmp(b) == Ordering::Less,
                            };
                            if better {
                                best = Some(sv);
                            }
                        }
                    }
                    best
                })
                .collect();
            (ks, d)
        })
        .collect();
    keyed.sort_by(|(a, da), (b, db)| {
        for (i, k) in keys.iter().enumerate() {
            // Missing values sort last in both directions.
            let o = match (&a[i], &b[i]) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) if k.descending => y.cmp(x),
                (Some(x), Some(y)) => x.cmp(y),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        da.cmp(db)
    });
    *docs = keyed.into_iter().map(|(_, d)| d).collect();
}

fn include_refs(e: &Entries, inc: &Include, cfg: &SearchConfig, out: &mut Vec<String>) {
    if inc.source_type != "*" && inc.source_type != e.resource_type {
        return;
    }
    let params = SearchRegistry::r4().params(&e.resource_type);
    for cp in params {
        if cp.param.kind != SearchParamType::Reference
            || inc.param.is_some_and(|p| p != cp.param.code)
        {
            continue;
        }
        for v in e.get(&cp.param.code) {
            if let IndexValue::Reference(r) = v
                && inc
                    .target_type
                    .as_ref()
                    .is_none_or(|t| r.resource_type.as_ref() == Some(t))
                && let Some(k) = ref_target(r, cfg)
            {
                out.push(k);
            }
        }
    }
}

fn includes(
    index: &dyn SearchIndex,
    query: &Query,
    matches: &[DocId],
) -> Result<Vec<DocId>, SearchError> {
    let r = &query.result;
    if r.include.is_empty() && r.revinclude.is_empty() {
        return Ok(Vec::new());
    }
    let cfg = &query.config;
    let mut seen: HashSet<DocId> = matches.iter().copied().collect();
    let mut out = Vec::new();
    let mut frontier: Vec<DocId> = matches.to_vec();
    for round in 0..=cfg.max_include_iterations {
        let mut next = Vec::new();
        for &d in &frontier {
            let Some(e) = index.entries(d) else { continue };
            let mut refs = Vec::new();
            for inc in r.include.iter().filter(|i| round == 0 || i.iterate) {
                include_refs(&e, inc, cfg, &mut refs);
            }
            for k in refs {
                if let Some((t, id)) = k.split_once('/')
                    && !k.contains("://")
                    && let Some(x) = index.lookup(t, id)
                    && seen.insert(x)
                {
                    next.push(x);
                }
            }
            let Some(key) = e.key() else { continue };
            for inc in r.revinclude.iter().filter(|i| round == 0 || i.iterate) {
                let sources: Vec<String> = if inc.source_type == "*" {
                    Vec::new()
                } else {
                    vec![inc.source_type.clone()]
                };
                for st in sources {
                    let params: Vec<&str> = match inc.param {
                        Some(p) => vec![p],
                        None => SearchRegistry::r4()
                            .params(&st)
                            .iter()
                            .filter(|c| c.param.kind == SearchParamType::Reference)
                            .map(|c| c.param.code.as_str())
                            .collect(),
                    };
                    for p in params {
                        let docs = match index.postings(&st, p, PostingKey::Reference(&key)) {
                            Some(ds) => ds,
                            None => index
                                .docs(&st)
                                .into_iter()
                                .filter(|&sd| {
                                    index.entries(sd).is_some_and(|se| {
                                        se.get(p).iter().any(|v| match v {
                                            IndexValue::Reference(rv) => {
                                                ref_target(rv, cfg).as_deref() == Some(key.as_str())
                                            }
                                            _ => false,
                                        })
                                    })
                                })
                                .collect(),
                        };
                        for x in docs {
                            if seen.insert(x) {
                                next.push(x);
                            }
                        }
                    }
                }
            }
        }
        out.extend_from_slice(&next);
        if next.is_empty() || !(r.include.iter().chain(&r.revinclude).any(|i| i.iterate)) {
            break;
        }
        frontier = next;
    }
    Ok(out)
}

struct Doc {
    resource: Value,
    entries: Entries,
}

/// An in-memory [`SearchIndex`] and [`Resolver`]: token and reference postings per parameter,
/// entries and resources per document. Re-inserting a `Type/id` replaces the old version.
#[derive(Default)]
pub struct MemoryIndex {
    docs: Vec<Option<Doc>>,
    by_type: HashMap<String, Vec<DocId>>,
    by_key: HashMap<String, DocId>,
    postings: HashMap<String, Vec<DocId>>,
    /// Date values per `type\u{1}param`, ordered by (low, doc): value `high`.
    dates: HashMap<String, BTreeMap<(i64, DocId), i64>>,
    live_changed: bool,
}

fn posting_key(ty: &str, param: &str, key: PostingKey<'_>) -> String {
    match key {
        PostingKey::Token { system, code } => format!("{ty}\u{1}{param}\u{1}t{system}|{code}"),
        PostingKey::Code(code) => format!("{ty}\u{1}{param}\u{1}c{code}"),
        PostingKey::Reference(r) => format!("{ty}\u{1}{param}\u{1}r{r}"),
    }
}

impl MemoryIndex {
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Extracts and indexes a resource (which needs `resourceType` and `id`).
    pub fn insert(&mut self, resource: Value) -> Result<DocId, SearchError> {
        let entries = SearchRegistry::r4().extract(&resource)?;
        let key = entries.key().ok_or_else(|| SearchError::InvalidValue {
            name: "id".into(),
            value: String::new(),
            reason: "an indexed resource needs an id".into(),
        })?;
        let doc = self.docs.len() as DocId;
        if let Some(old) = self.by_key.insert(key, doc) {
            self.docs[old as usize] = None;
            self.live_changed = true;
            if let Some(v) = self.by_type.get_mut(&entries.resource_type) {
                v.retain(|&d| d != old);
            }
        }
        let ty = entries.resource_type.clone();
        for (code, vals) in &entries.params {
            for v in vals {
                match v {
                    IndexValue::Token(t) => {
                        if let Some(c) = &t.code {
                            self.add_posting(posting_key(&ty, code, PostingKey::Code(c)), doc);
                            if let Some(s) = &t.system {
                                self.add_posting(
                                    posting_key(
                                        &ty,
                                        code,
                                        PostingKey::Token { system: s, code: c },
                                    ),
                                    doc,
                                );
                            }
                        }
                    }
                    IndexValue::Date(r) => {
                        let slot = self
                            .dates
                            .entry(format!("{ty}\u{1}{code}"))
                            .or_default()
                            .entry((r.low, doc))
                            .or_insert(r.high);
                        *slot = (*slot).max(r.high);
                    }
                    IndexValue::Reference(r) => {
                        if r.base.is_none()
                            && let Some(k) = r.local_key()
                        {
                            self.add_posting(
                                posting_key(&ty, code, PostingKey::Reference(&k)),
                                doc,
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        self.by_type.entry(ty).or_default().push(doc);
        self.docs.push(Some(Doc { resource, entries }));
        Ok(doc)
    }

    fn add_posting(&mut self, key: String, doc: DocId) {
        let v = self.postings.entry(key).or_default();
        if v.last() != Some(&doc) {
            v.push(doc);
        }
    }

    /// The `Type/id` of a document.
    pub fn key_of(&self, doc: DocId) -> Option<String> {
        self.docs.get(doc as usize)?.as_ref()?.entries.key()
    }
}

impl SearchIndex for MemoryIndex {
    fn docs(&self, resource_type: &str) -> Vec<DocId> {
        self.by_type.get(resource_type).cloned().unwrap_or_default()
    }
    fn entries(&self, doc: DocId) -> Option<Cow<'_, Entries>> {
        Some(Cow::Borrowed(
            &self.docs.get(doc as usize)?.as_ref()?.entries,
        ))
    }
    fn resource(&self, doc: DocId) -> Option<Cow<'_, Value>> {
        Some(Cow::Borrowed(
            &self.docs.get(doc as usize)?.as_ref()?.resource,
        ))
    }
    fn postings(
        &self,
        resource_type: &str,
        param: &str,
        key: PostingKey<'_>,
    ) -> Option<Vec<DocId>> {
        let v = self.postings.get(&posting_key(resource_type, param, key));
        Some(match v {
            None => Vec::new(),
            Some(v) if self.live_changed => v
                .iter()
                .copied()
                .filter(|&d| self.docs[d as usize].is_some())
                .collect(),
            Some(v) => v.clone(),
        })
    }
    fn date_overlapping(
        &self,
        resource_type: &str,
        param: &str,
        range: DateRange,
    ) -> Option<Vec<DocId>> {
        let Some(map) = self.dates.get(&format!("{resource_type}\u{1}{param}")) else {
            return Some(Vec::new());
        };
        let mut out: Vec<DocId> = map
            .range(..(range.high, 0))
            .filter(|&(&(_, d), &high)| high > range.low && self.docs[d as usize].is_some())
            .map(|(&(_, d), _)| d)
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
    fn lookup(&self, resource_type: &str, id: &str) -> Option<DocId> {
        self.by_key.get(&format!("{resource_type}/{id}")).copied()
    }
}

impl Resolver for MemoryIndex {
    fn resolve(&self, reference: &str) -> Option<Cow<'_, Value>> {
        let (t, id) = reference.split_once('/')?;
        self.resource(self.lookup(t, id)?)
    }
    fn referencing(&self, source_type: &str, param: &str, target: &str) -> Vec<Cow<'_, Value>> {
        self.postings(source_type, param, PostingKey::Reference(target))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| self.resource(d))
            .collect()
    }
}
