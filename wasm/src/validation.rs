//! FHIR validation: `validate(resource, {profiles, level})` → OperationOutcome, and `loadPackage`
//! for FHIR NPM packages (`.tgz`) whose profiles `validate` can then check.
//!
//! Validators are built once per (level, profiles) and kept until the next `loadPackage`, so a page
//! that validates thousands of resources pays for the set-up once.

use crate::{input, throw_issue, throw_outcome, to_text};
use firn_core::outcome::IssueType;
use firn_core::validate::{Level, Package, Validator};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// `{profiles, level}` as JS passes them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidateOptions {
    #[serde(default)]
    profiles: Vec<String>,
    #[serde(default)]
    level: Option<String>,
    /// Evaluate FHIRPath invariants (default true).
    #[serde(default)]
    invariants: Option<bool>,
}

/// The loaded packages and the validators built over them.
#[derive(Default)]
struct Registry {
    packages: Vec<(String, String, Vec<u8>)>,
    validators: HashMap<(&'static str, bool, Vec<String>), Rc<Validator>>,
    /// The validator of `validate(resource)` without options: found without parsing options or
    /// hashing a key (the per-call cost that matters when validating thousands of resources).
    default: Option<Rc<Validator>>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// What a validator is built from.
struct Config {
    level: Level,
    invariants: bool,
    profiles: Vec<String>,
}

fn options(value: &JsValue) -> Result<Config, JsValue> {
    let opts: ValidateOptions = crate::options(
        value,
        &["profiles", "level", "invariants"],
        "validate option",
    )?;
    let level = match opts.level.as_deref() {
        None => Level::Strict,
        Some(s) => Level::parse(s).ok_or_else(|| {
            throw_issue(
                IssueType::Invalid,
                format!("unknown validation level '{s}' (strict, structure-only, minimal)"),
            )
        })?,
    };
    Ok(Config {
        level,
        invariants: opts.invariants.unwrap_or(true),
        profiles: opts.profiles,
    })
}

/// The validator for these options, built on first use.
fn validator(config: Config) -> Result<Rc<Validator>, JsValue> {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let key = (config.level.as_str(), config.invariants, config.profiles);
        if let Some(v) = r.validators.get(&key) {
            return Ok(v.clone());
        }
        // Invariants are on by default (firn-core's FHIRPath engine); opting out is faster.
        let mut b = Validator::builder().level(config.level);
        if !config.invariants {
            b = b.without_invariants();
        }
        for (_, _, bytes) in &r.packages {
            b = b.package(bytes.clone());
        }
        for p in &key.2 {
            b = b.profile(p.clone());
        }
        let v = Rc::new(b.build().map_err(throw_outcome)?);
        r.validators.insert(key, v.clone());
        Ok(v)
    })
}

/// The validator for a JS options value.
pub(crate) fn validator_for(options_value: &JsValue) -> Result<Rc<Validator>, JsValue> {
    if options_value.is_undefined() || options_value.is_null() {
        if let Some(v) = REGISTRY.with(|r| r.borrow().default.clone()) {
            return Ok(v);
        }
        let v = validator(options(options_value)?)?;
        REGISTRY.with(|r| r.borrow_mut().default = Some(v.clone()));
        return Ok(v);
    }
    validator(options(options_value)?)
}

/// Validates JSON text in the input buffer (`inputBuffer`) that came from a JS object
/// (`JSON.stringify`): like `validate`, without line/column positions (they would point into text
/// the caller never saw). The facade's path for JS objects.
#[wasm_bindgen(js_name = validateInput)]
pub fn validate_input(len: usize, options_value: &JsValue) -> Result<String, JsValue> {
    let v = validator_for(options_value)?;
    let value = crate::parse_input(len, "resource").map_err(throw_outcome)?;
    to_text(&v.validate(&value).outcome)
}

/// [`validate`] of JSON text in the input buffer (`inputBuffer`), with line and column on
/// each issue: the way in for a string (wasm-bindgen's own string passing cost ~10 % of a
/// whole validation).
#[wasm_bindgen(js_name = validateText)]
pub fn validate_text(len: usize, options_value: &JsValue) -> Result<String, JsValue> {
    let v = validator_for(options_value)?;
    // The buffer is filled by TextEncoder, so it is UTF-8; borrowed as is after the check.
    let validation =
        crate::with_input(len, |bytes| v.validate_str(&String::from_utf8_lossy(bytes)));
    to_text(&validation.outcome)
}

/// Validates a resource (JS object or JSON text) and returns the OperationOutcome as JSON text.
/// Invalid resources are not errors: their problems are the outcome's issues. Bad options (an
/// unknown level or profile) throw.
#[wasm_bindgen(js_name = validate)]
pub fn validate(resource: &JsValue, options_value: &JsValue) -> Result<String, JsValue> {
    let v = validator_for(options_value)?;
    let validation = match resource.as_string() {
        Some(text) => v.validate_str(&text),
        None => v.validate(&input(resource, "resource").map_err(throw_outcome)?),
    };
    to_text(&validation.outcome)
}

/// Loads a FHIR NPM package (`.tgz` bytes); its profiles, extensions and value sets are used by
/// later `validate` calls. Returns `{name, version, resources, dependencies}` as JSON text.
/// Loading the same name and version again replaces it.
#[wasm_bindgen(js_name = loadPackage)]
pub fn load_package(bytes: &[u8]) -> Result<String, JsValue> {
    let p = Package::from_tgz(bytes).map_err(throw_outcome)?;
    let info = serde_json::json!({
        "name": p.name,
        "version": p.version,
        "resources": p.resources.len(),
        "profiles": p.resources.iter()
            .filter(|r| r["resourceType"] == "StructureDefinition")
            .filter_map(|r| r["url"].as_str())
            .collect::<Vec<_>>(),
        "dependencies": p.dependencies.iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>(),
    });
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.packages
            .retain(|(n, v, _)| !(n == &p.name && v == &p.version));
        r.packages.push((p.name, p.version, bytes.to_vec()));
        r.validators.clear();
        r.default = None;
    });
    to_text(&info)
}

/// Forgets every loaded package.
#[wasm_bindgen(js_name = clearPackages)]
pub fn clear_packages() {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.packages.clear();
        r.validators.clear();
        r.default = None;
    });
}

/// `name#version` of the loaded packages.
#[wasm_bindgen(js_name = loadedPackages)]
pub fn loaded_packages() -> Vec<String> {
    REGISTRY.with(|r| {
        r.borrow()
            .packages
            .iter()
            .map(|(n, v, _)| format!("{n}#{v}"))
            .collect()
    })
}
