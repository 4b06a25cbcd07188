//! FHIRPath Patch and JSON Patch: `applyPatch(resource, patch, contentType)` and
//! `diff(a, b, format)`.

use crate::{input, throw_issue, throw_outcome, to_text};
use firn_core::outcome::IssueType;
use firn_core::patch::{PatchDocument, diff_fhirpath_patch, diff_json_patch};
use wasm_bindgen::prelude::*;

/// JSON Patch's media type.
const JSON_PATCH: &str = "application/json-patch+json";
/// FHIRPath Patch (a `Parameters` resource) travels as FHIR JSON.
const FHIR_JSON: &str = "application/fhir+json";

/// Applies a patch (JS value or JSON text) to a resource and returns the patched resource as JSON
/// text. `contentType` picks the patch kind (`application/json-patch+json` for JSON Patch,
/// `application/fhir+json` for FHIRPath Patch `Parameters` or a `Binary` carrying a JSON Patch);
/// when omitted, an array is JSON Patch and an object FHIR JSON. Atomic: a failing operation
/// throws and nothing is applied.
#[wasm_bindgen(js_name = applyPatch)]
pub fn apply_patch(
    resource: &JsValue,
    patch: &JsValue,
    content_type: Option<String>,
) -> Result<String, JsValue> {
    let mut r = input(resource, "resource").map_err(throw_outcome)?;
    let body = match patch.as_string() {
        Some(text) => text,
        None => input(patch, "patch").map_err(throw_outcome)?.to_string(),
    };
    let ct = content_type.unwrap_or_else(|| {
        if body.trim_start().starts_with('[') {
            JSON_PATCH.into()
        } else {
            FHIR_JSON.into()
        }
    });
    let doc = PatchDocument::parse(&ct, body.as_bytes()).map_err(throw_outcome)?;
    doc.apply(&mut r).map_err(throw_outcome)?;
    to_text(&r)
}

/// The patch that turns `a` into `b`, as JSON text: a FHIRPath Patch `Parameters` resource
/// (`format` `"fhirpath"`, the default) or a JSON Patch array (`"json"`).
#[wasm_bindgen]
pub fn diff(a: &JsValue, b: &JsValue, format: Option<String>) -> Result<String, JsValue> {
    let a = input(a, "a").map_err(throw_outcome)?;
    let b = input(b, "b").map_err(throw_outcome)?;
    match format.as_deref().unwrap_or("fhirpath") {
        "fhirpath" => to_text(&diff_fhirpath_patch(&a, &b)),
        "json" => to_text(&diff_json_patch(&a, &b)),
        other => Err(throw_issue(
            IssueType::Invalid,
            format!("unknown diff format '{other}' (fhirpath, json)"),
        )),
    }
}
