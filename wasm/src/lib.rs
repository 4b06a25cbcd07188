//! # firn-wasm
//!
//! The npm package's Rust side: wasm-bindgen bindings over [`firn_core`].
//!
//! The boundary is deliberately thin: every function takes its FHIR inputs as either a JS object or
//! a JSON string ([`input`]), calls one firn-core function, and returns JSON text that the JS facade
//! (`wasm/js/api.js`) parses. Failures become a thrown JS `Error` whose `outcome` property carries
//! the FHIR OperationOutcome ([`throw_outcome`]). Keeping conversion rules in one place means every
//! exported function behaves the same way at the edge.
//!
//! One module per FHIR concept: [`validation`], [`fhirpath`], [`patch`], [`search`], [`ndjson`],
//! and [`collection`] for running them over many resources in one call.

pub mod collection;
pub mod fhirpath;
#[cfg(target_arch = "wasm32")]
pub mod memory;
pub mod ndjson;
pub mod patch;
pub mod search;
pub mod validation;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: memory::GrowInSteps = memory::GrowInSteps;

use firn_core::outcome::{IntoOutcome, Issue, IssueType, OperationOutcome};
use serde_json::Value;
use wasm_bindgen::prelude::*;

/// A FHIR input given as a JSON string (the fast path: one parse inside wasm, no JS object walk)
/// or as a JS object (converted with serde-wasm-bindgen).
pub fn input(value: &JsValue, what: &str) -> Result<Value, OperationOutcome> {
    if let Some(text) = value.as_string() {
        return parse_text(&text, what);
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

thread_local! {
    /// Text the facade encoded straight into wasm memory (see [`input_buffer`]).
    static INPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Makes the input buffer at least `capacity` bytes long (keeping what it holds) and returns its
/// address in wasm memory. The facade (`api.js`) encodes JS strings straight into it with
/// `TextEncoder.encodeInto` and then passes only the length: wasm-bindgen's own string passing
/// copies ASCII one character at a time in JS, ~10× slower (measured on Synthea resources:
/// 2.6 µs against 0.25 µs for 1.6 KB).
/// Text too large for wasm memory throws a FirnError (`too-long`) instead of aborting the module.
#[wasm_bindgen(js_name = inputBuffer)]
pub fn input_buffer(capacity: usize) -> Result<usize, JsValue> {
    INPUT.with(|b| {
        let mut b = b.borrow_mut();
        let len = b.len();
        if len < capacity {
            b.try_reserve_exact(capacity - len).map_err(|_| {
                throw_issue(
                    IssueType::TooLong,
                    format!("input of {capacity} bytes does not fit in wasm memory"),
                )
            })?;
            b.resize(capacity, 0);
        }
        Ok(b.as_mut_ptr() as usize)
    })
}

/// The wasm memory, for the facade's view of the input buffer.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Calls `f` with the first `len` bytes of the input buffer.
pub(crate) fn with_input<T>(len: usize, f: impl FnOnce(&[u8]) -> T) -> T {
    let buf = INPUT.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let out = f(&buf[..len.min(buf.len())]);
    INPUT.with(|b| *b.borrow_mut() = buf);
    out
}

/// Parses the input buffer's first `len` bytes as JSON.
pub fn parse_input(len: usize, what: &str) -> Result<Value, OperationOutcome> {
    with_input(len, |bytes| parse_bytes(bytes, what))
}

/// Parses JSON text, reporting line and column of a syntax error.
pub fn parse_text(text: &str, what: &str) -> Result<Value, OperationOutcome> {
    parse_bytes(text.as_bytes(), what)
}

/// Parses JSON bytes (UTF-8 is checked), reporting line and column of a syntax error.
pub fn parse_bytes(text: &[u8], what: &str) -> Result<Value, OperationOutcome> {
    serde_json::from_slice(text).map_err(|e| {
        invalid_json(
            format!("{what} is not valid JSON: {e}"),
            e.line() as u64,
            e.column() as u64,
        )
    })
}

/// The outcome for invalid JSON: one `structure` error at its line and column.
pub(crate) fn invalid_json(diagnostics: String, line: u64, column: u64) -> OperationOutcome {
    OperationOutcome::single(
        Issue::error(IssueType::Structure, diagnostics).with_line_col(line, column),
    )
}

/// An optional input: `undefined`/`null` give `None`.
pub fn optional_input(value: &JsValue, what: &str) -> Result<Option<Value>, OperationOutcome> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        input(value, what).map(Some)
    }
}

/// Options objects: a JS object whose keys must all be in `allowed` (serde-wasm-bindgen reads only
/// the fields it knows, so a misspelt option would otherwise be ignored silently).
pub fn options<T: serde::de::DeserializeOwned + Default>(
    value: &JsValue,
    allowed: &[&str],
    what: &str,
) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    if !value.is_object() {
        return Err(throw_issue(
            IssueType::Invalid,
            format!("{what} must be an object"),
        ));
    }
    for key in js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(throw_issue(
                IssueType::Invalid,
                format!("unknown {what} `{key}` (known: {})", allowed.join(", ")),
            ));
        }
    }
    serde_wasm_bindgen::from_value(value.clone())
        .map_err(|e| throw_issue(IssueType::Invalid, format!("{what}: {e}")))
}

/// A thrown JS `Error` carrying the OperationOutcome as `error.outcome` (a plain object).
pub fn throw_outcome(outcome: impl IntoOutcome) -> JsValue {
    let outcome = outcome.into_outcome();
    let message = outcome
        .issues
        .first()
        .map(|i| i.diagnostics.clone())
        .unwrap_or_else(|| "error".into());
    let error = js_sys::Error::new(&message);
    error.set_name("FirnError");
    let json = outcome.to_json().to_string();
    let parsed = js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("outcome"), &parsed);
    error.into()
}

/// A thrown error with one issue.
pub fn throw_issue(code: IssueType, message: impl Into<String>) -> JsValue {
    throw_outcome(Issue::error(code, message))
}

/// JSON text of a value (the facade parses it: one `JSON.parse` beats building JS objects field by
/// field through the boundary).
pub fn to_text(value: &impl serde::Serialize) -> Result<String, JsValue> {
    serde_json::to_string(value).map_err(|e| throw_issue(IssueType::Exception, e.to_string()))
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
            throw_issue(
                IssueType::NotFound,
                format!("`{target}` is not a FHIR R4 type or element path"),
            )
        })
}
