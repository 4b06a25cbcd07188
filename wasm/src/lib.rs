//! # firn-wasm
//!
//! The npm package's Rust side: wasm-bindgen bindings over [`firn_core`].
//!
//! The boundary is deliberately thin: every function takes its FHIR inputs as either a JS object or
//! a JSON string ([`input`]), calls one firn-core function, and returns JSON text that the JS facade
//! (`wasm/js/`) parses. Failures become a thrown JS `Error` whose `outcome` property carries the
//! FHIR OperationOutcome ([`throw_outcome`]). Keeping conversion rules in one place means every
//! exported function behaves the same way at the edge.

use firn_core::outcome::{Issue, IssueType, OperationOutcome};
use serde_json::Value;
use wasm_bindgen::prelude::*;

/// A FHIR input given as a JSON string (the fast path: one parse inside wasm, no JS object walk)
/// or as a JS object (converted with serde-wasm-bindgen).
pub fn input(value: &JsValue, what: &str) -> Result<Value, OperationOutcome> {
    if let Some(text) = value.as_string() {
        return serde_json::from_str(&text).map_err(|e| {
            OperationOutcome::single(
                Issue::error(
                    IssueType::Structure,
                    format!("{what} is not valid JSON: {e}"),
                )
                .with_line_col(e.line() as u64, e.column() as u64),
            )
        });
    }
    if value.is_undefined() || value.is_null() {
        return Err(OperationOutcome::single(Issue::error(
            IssueType::Required,
            format!("{what} is missing"),
        )));
    }
    serde_wasm_bindgen::from_value(value.clone()).map_err(|e| {
        OperationOutcome::single(Issue::error(
            IssueType::Structure,
            format!("{what} cannot be read as JSON: {e}"),
        ))
    })
}

/// A thrown JS `Error` carrying the OperationOutcome as `error.outcome` (a plain object).
pub fn throw_outcome(outcome: OperationOutcome) -> JsValue {
    let message = outcome
        .issues
        .first()
        .map(|i| i.diagnostics.clone())
        .unwrap_or_else(|| "error".into());
    let error = js_sys::Error::new(&message);
    let json = outcome.to_json().to_string();
    let parsed = js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("outcome"), &parsed);
    error.into()
}

/// The FHIR version of the embedded definitions (`4.0.1`).
#[wasm_bindgen(js_name = fhirVersion)]
pub fn fhir_version() -> String {
    firn_core::definitions::Definitions::r4()
        .fhir_version()
        .to_string()
}

/// The element tree of a type (`Patient`) or one element's definition (`Observation.value[x]`), as text.
#[wasm_bindgen(js_name = describe)]
pub fn describe(target: &str) -> Result<String, JsValue> {
    let d = firn_core::definitions::Definitions::r4();
    d.render_tree(target)
        .filter(|_| d.type_def(target).is_some() || d.children(target).next().is_some())
        .or_else(|| d.render_element(target))
        .ok_or_else(|| {
            throw_outcome(OperationOutcome::single(Issue::error(
                IssueType::NotFound,
                format!("`{target}` is not a FHIR R4 type or element path"),
            )))
        })
}
