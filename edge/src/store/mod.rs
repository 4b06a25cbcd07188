//! Storage: versioned resource bodies, the current pointer and the search index, behind one trait.
//!
//! The FHIR handler ([`crate::api`]) only talks to a [`Store`] through [`Session`]s: a read session
//! sees one consistent snapshot, a write session is one atomic transaction (dropped without
//! [`Session::commit`] it rolls back). The embedded implementation is [`sqlite::SqliteStore`]; its
//! statements are plain SQL (no SQLite-only syntax in the queries the handler depends on) so a
//! Spin SQLite, libSQL or PostgreSQL implementation can run the same ones.
//!
//! What is indexed is decided by `firn-core`: [`firn_core::search::extract`] computes a resource's
//! [`Entries`]; [`index_rows`] turns them into posting keys and date ranges (the same keys as
//! `firn_core::search::MemoryIndex`), and [`SessionIndex`] answers `firn-core`'s
//! [`SearchIndex`] from a session, so the set evaluator is the same code in-memory and on disk.

pub mod sqlite;

use firn_core::search::value::{DateRange, IndexValue};
use firn_core::search::{DocId, Entries, PostingKey, Resolver, SearchIndex};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;

/// A storage failure. The handler renders it as a 500 (or 503 when busy) OperationOutcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage is busy, retry later")]
    Busy,
}

/// One stored version of a resource (a delete is a version without a body).
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub resource_type: String,
    pub id: String,
    /// `meta.versionId`, 1, 2, ...
    pub version: u64,
    /// `meta.lastUpdated`, milliseconds since the epoch.
    pub last_updated: i64,
    /// The interaction that made it: `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The resource JSON text; `None` for a delete.
    pub body: Option<String>,
}

impl Version {
    pub fn deleted(&self) -> bool {
        self.body.is_none()
    }
}

/// The current state of a `Type/id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    pub doc: DocId,
    pub version: Version,
}

/// Which versions a `_history` request wants.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub resource_type: Option<String>,
    pub id: Option<String>,
    /// Only versions written after this instant (ms).
    pub since: Option<i64>,
    /// Only versions current at some point of this period `[low, high)` (ms).
    pub at: Option<(i64, i64)>,
    /// Paging snapshot: only versions with a sequence number ≤ this (stable pages).
    pub snapshot: Option<i64>,
    pub offset: usize,
    pub count: usize,
}

/// One page of history, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    pub versions: Vec<Version>,
    pub total: usize,
    /// The sequence number the page was cut at (for the next link).
    pub snapshot: i64,
}

/// The index rows of one resource: token / reference posting keys and date ranges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexRows {
    /// `(parameter code, key)`; keys are `c<code>`, `t<system>|<code>` or `r<Type/id>`.
    pub postings: Vec<(&'static str, String)>,
    /// `(parameter code, low, high)` in ms, `[low, high)`.
    pub dates: Vec<(&'static str, i64, i64)>,
}

/// The posting key text of a lookup (shared by writers and readers).
pub fn posting_key(key: PostingKey<'_>) -> String {
    match key {
        PostingKey::Token { system, code } => format!("t{system}|{code}"),
        PostingKey::Code(code) => format!("c{code}"),
        PostingKey::Reference(r) => format!("r{r}"),
    }
}

/// What a store indexes for a resource: exactly what `MemoryIndex` posts.
pub fn index_rows(entries: &Entries) -> IndexRows {
    let mut rows = IndexRows::default();
    for (code, vals) in &entries.params {
        for v in vals {
            match v {
                IndexValue::Token(t) => {
                    if let Some(c) = &t.code {
                        rows.postings.push((code, posting_key(PostingKey::Code(c))));
                        if let Some(s) = &t.system {
                            rows.postings.push((
                                code,
                                posting_key(PostingKey::Token { system: s, code: c }),
                            ));
                        }
                    }
                }
                IndexValue::Date(r) => rows.dates.push((code, r.low, r.high)),
                IndexValue::Reference(r) => {
                    if r.base.is_none()
                        && let Some(k) = r.local_key()
                    {
                        rows.postings
                            .push((code, posting_key(PostingKey::Reference(&k))));
                    }
                }
                _ => {}
            }
        }
    }
    rows.postings.sort();
    rows.postings.dedup();
    rows
}

/// A snapshot (read) or a transaction (write) over a store.
pub trait Session {
    /// The current version of `Type/id` (possibly a delete), if it was ever written.
    fn current(&self, resource_type: &str, id: &str) -> Result<Option<Current>, StoreError>;
    /// One version.
    fn version(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Version>, StoreError>;
    /// History, newest first.
    fn history(&self, q: &HistoryQuery) -> Result<HistoryPage, StoreError>;
    /// Appends a version and makes it current; replaces the index rows (`None` for a delete).
    /// Write sessions only.
    fn write(&mut self, v: &Version, entries: Option<&Entries>) -> Result<DocId, StoreError>;
    /// The `Type/id` created under an idempotency key.
    fn idempotency(&self, key: &str) -> Result<Option<(String, String)>, StoreError>;
    /// Remembers an idempotency key. Write sessions only.
    fn remember(
        &mut self,
        key: &str,
        resource_type: &str,
        id: &str,
        at: i64,
    ) -> Result<(), StoreError>;

    /// Live documents of a type, ascending.
    fn docs(&self, resource_type: &str) -> Result<Vec<DocId>, StoreError>;
    /// A live document's stored index entries.
    fn entries(&self, doc: DocId) -> Result<Option<Entries>, StoreError>;
    /// A live document's current resource.
    fn resource(&self, doc: DocId) -> Result<Option<Value>, StoreError>;
    /// Live documents of a type with this posting, ascending.
    fn postings(
        &self,
        resource_type: &str,
        param: &str,
        key: &str,
    ) -> Result<Vec<DocId>, StoreError>;
    /// The live document with this type and id.
    fn lookup(&self, resource_type: &str, id: &str) -> Result<Option<DocId>, StoreError>;
    /// Live documents with a date value of `param` overlapping `[low, high)`, ascending.
    fn dates(
        &self,
        resource_type: &str,
        param: &str,
        low: i64,
        high: i64,
    ) -> Result<Vec<DocId>, StoreError>;

    /// Makes a write session's changes durable (a no-op for read sessions).
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A store: hands out sessions. Shared across threads by the host.
pub trait Store: Send + Sync + 'static {
    /// A consistent read snapshot.
    fn reader(&self) -> Result<Box<dyn Session + '_>, StoreError>;
    /// An exclusive write transaction (writers are serialized).
    fn writer(&self) -> Result<Box<dyn Session + '_>, StoreError>;
}

/// `firn-core`'s [`SearchIndex`] (and [`Resolver`]) over a session. The trait is infallible, so
/// the first storage error is kept and reported by [`SessionIndex::check`] after the search.
pub struct SessionIndex<'a> {
    session: &'a dyn Session,
    error: RefCell<Option<StoreError>>,
}

impl<'a> SessionIndex<'a> {
    pub fn new(session: &'a dyn Session) -> Self {
        SessionIndex {
            session,
            error: RefCell::new(None),
        }
    }

    fn keep<T>(&self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    /// The first storage error met, if any.
    pub fn check(&self) -> Result<(), StoreError> {
        match self.error.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl SearchIndex for SessionIndex<'_> {
    fn docs(&self, resource_type: &str) -> Vec<DocId> {
        self.keep(self.session.docs(resource_type))
            .unwrap_or_default()
    }
    fn entries(&self, doc: DocId) -> Option<Cow<'_, Entries>> {
        self.keep(self.session.entries(doc))
            .flatten()
            .map(Cow::Owned)
    }
    fn resource(&self, doc: DocId) -> Option<Cow<'_, Value>> {
        self.keep(self.session.resource(doc))
            .flatten()
            .map(Cow::Owned)
    }
    fn postings(
        &self,
        resource_type: &str,
        param: &str,
        key: PostingKey<'_>,
    ) -> Option<Vec<DocId>> {
        Some(
            self.keep(
                self.session
                    .postings(resource_type, param, &posting_key(key)),
            )
            .unwrap_or_default(),
        )
    }
    fn lookup(&self, resource_type: &str, id: &str) -> Option<DocId> {
        self.keep(self.session.lookup(resource_type, id)).flatten()
    }
    fn date_overlapping(
        &self,
        resource_type: &str,
        param: &str,
        range: DateRange,
    ) -> Option<Vec<DocId>> {
        Some(
            self.keep(
                self.session
                    .dates(resource_type, param, range.low, range.high),
            )
            .unwrap_or_default(),
        )
    }
}

impl Resolver for SessionIndex<'_> {
    fn resolve(&self, reference: &str) -> Option<Cow<'_, Value>> {
        let (t, id) = reference.split_once('/')?;
        let doc = self.lookup(t, id)?;
        self.resource(doc)
    }
    fn referencing(&self, source_type: &str, param: &str, target: &str) -> Vec<Cow<'_, Value>> {
        SearchIndex::postings(self, source_type, param, PostingKey::Reference(target))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| self.resource(d))
            .collect()
    }
}
