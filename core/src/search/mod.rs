//! FHIR search: one evaluator for a browser, an edge server and a bulk job.
//!
//! Four callers need the same answer to "does this resource match this search?": the server
//! (search, conditional create/update/delete, `_include`), bulk export (`_typeFilter`),
//! subscriptions (criteria) and the npm package (offline matching). So the module is layered:
//!
//! - [`query`] parses a URL query string or form body into a typed [`Query`] checked against the
//!   embedded SearchParameter registry, strict by default (an unknown or malformed parameter is an
//!   error naming it) or lenient (`Prefer: handling=lenient`: ignored and reported).
//! - [`value`] normalizes values; [`extract()`] turns a resource into its index [`Entries`] — the
//!   single source of truth for what a resource matches, which a server stores as-is.
//! - [`matches()`] decides one resource (chains and `_has` go through a [`Resolver`]).
//! - [`index`] evaluates a query over a set through the [`SearchIndex`] trait (postings, stored
//!   entries, paging); [`MemoryIndex`] is the in-core implementation and a server implements the
//!   trait over its store. [`bundle`] renders the searchset Bundle, `_summary` and `_elements`.
//!
//! Limits are configuration ([`SearchConfig`]) with AWS HealthLake's as defaults.

pub mod bundle;
pub mod extract;
pub mod index;
pub mod matching;
pub mod path;
pub mod query;
pub mod value;

pub use bundle::{SUBSETTED_SYSTEM, subset, to_bundle};
pub use extract::{Entries, SearchRegistry, extract};
pub use index::{DocId, MemoryIndex, PostingKey, SearchIndex, SearchPage, search};
pub use matching::{NoResolver, Resolver, TypeFilterSearch, matches, matches_entries};
pub use query::{
    Filter, FilterKind, Include, Modifier, Prefix, Query, ResultParams, SortKey, Summary, Total,
    ValuePred,
};

use crate::outcome::{Issue, IssueType, OperationOutcome};

/// Limits and environment of a search. Defaults are AWS HealthLake's documented limits.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Largest `_count` accepted; larger values are an error (HealthLake: 100).
    pub max_count: usize,
    /// Page size when `_count` is absent.
    pub default_count: usize,
    /// Most `_sort` keys (HealthLake: 5).
    pub max_sort_keys: usize,
    /// A chain or `_has` level matching more resources than this is an error (HealthLake: 100).
    pub max_chain_results: usize,
    /// How many rounds `_include:iterate` / `_revinclude:iterate` follow (HealthLake: 2).
    pub max_include_iterations: usize,
    /// `Prefer: handling=lenient`: unknown or malformed parameters are ignored and reported.
    pub lenient: bool,
    /// This server's base URL: absolute references under it are treated as local.
    pub base_url: Option<String>,
    /// "Now" in milliseconds since the epoch, for `ap` on dates (10 % of the distance to now).
    /// Core does no I/O, so the caller supplies the clock; `None` uses 10 % of the value's range.
    pub now: Option<i64>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_count: 100,
            default_count: 100,
            max_sort_keys: 5,
            max_chain_results: 100,
            max_include_iterations: 2,
            lenient: false,
            base_url: None,
            now: None,
        }
    }
}

impl SearchConfig {
    /// The defaults with `Prefer: handling=lenient`.
    pub fn lenient() -> Self {
        SearchConfig {
            lenient: true,
            ..SearchConfig::default()
        }
    }
}

/// Everything that can make a search fail. Each becomes an OperationOutcome (HTTP 400 semantics,
/// except [`SearchError::TooCostly`] which servers usually map to 400 or 403 as well).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("unknown resource type `{0}`")]
    UnknownResourceType(String),
    #[error("unknown search parameter `{name}` for {resource_type}")]
    UnknownParameter { resource_type: String, name: String },
    #[error("invalid value `{value}` for search parameter `{name}`: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("modifier `:{modifier}` is not supported on search parameter `{name}`")]
    UnsupportedModifier { name: String, modifier: String },
    #[error("search parameter `{name}` is not supported: {reason}")]
    NotSupported { name: String, reason: String },
    #[error("search parameter `{name}` is too costly: {reason}")]
    TooCostly { name: String, reason: String },
}

impl SearchError {
    /// The parameter the error is about, when there is one.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            SearchError::UnknownResourceType(_) => None,
            SearchError::UnknownParameter { name, .. }
            | SearchError::InvalidValue { name, .. }
            | SearchError::UnsupportedModifier { name, .. }
            | SearchError::NotSupported { name, .. }
            | SearchError::TooCostly { name, .. } => Some(name),
        }
    }

    /// The issue this error reports.
    pub fn to_issue(&self) -> Issue {
        let code = match self {
            SearchError::UnknownResourceType(_) => IssueType::NotSupported,
            SearchError::UnknownParameter { .. } => IssueType::NotSupported,
            SearchError::InvalidValue { .. } => IssueType::Invalid,
            SearchError::UnsupportedModifier { .. } => IssueType::NotSupported,
            SearchError::NotSupported { .. } => IssueType::NotSupported,
            SearchError::TooCostly { .. } => IssueType::TooCostly,
        };
        Issue::error(code, self.to_string())
    }
}

impl crate::outcome::IntoOutcome for SearchError {
    fn into_outcome(self) -> OperationOutcome {
        OperationOutcome::single(self.to_issue())
    }
}
