//! FHIR search on one resource: `matches(resourceType, query, resource)` and `extract(resource)`
//! (the index entries every search parameter of the type gives the resource).

use crate::{input, throw_outcome, to_text};
use firn_core::search::{NoResolver, Query, SearchConfig};
use wasm_bindgen::prelude::*;

/// True when the resource matches the search (`query` is a URL query string such as
/// `name=peter&birthdate=ge1970`, with or without the leading `?`). Unknown or malformed
/// parameters throw, naming the parameter. Chained parameters and `_has` cannot be resolved
/// offline and never match.
#[wasm_bindgen]
pub fn matches(resource_type: &str, query: &str, resource: &JsValue) -> Result<bool, JsValue> {
    let q = Query::parse(resource_type, query, &SearchConfig::default()).map_err(throw_outcome)?;
    let r = input(resource, "resource").map_err(throw_outcome)?;
    firn_core::search::matches(&q, &r, &NoResolver).map_err(throw_outcome)
}

/// The resource's search index entries as JSON text: `{resource_type, id, params: [[code, values]]}`.
#[wasm_bindgen]
pub fn extract(resource: &JsValue) -> Result<String, JsValue> {
    let r = input(resource, "resource").map_err(throw_outcome)?;
    let entries = firn_core::search::extract(&r).map_err(throw_outcome)?;
    to_text(&entries)
}
