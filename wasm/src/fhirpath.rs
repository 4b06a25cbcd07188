//! FHIRPath: `compile(expression)` → a reusable [`FhirPath`], and one-shot `evaluate`.
//!
//! Results come back as JSON text of an array: plain values (`evaluate`, what fhirpath.js returns)
//! or items with their FHIR type and FHIRPath location (`evaluateItems`, what the playground shows).

use crate::{input, parse_text, throw_issue, throw_outcome, to_text};
use firn_core::fhirpath::datetime::DateTime;
use firn_core::fhirpath::{Env, Expression, Item, PathStep};
use firn_core::outcome::IssueType;
use serde_json::{Map, Value};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// A compiled FHIRPath expression: compile once, evaluate against many resources.
#[wasm_bindgen]
pub struct FhirPath {
    expr: Arc<Expression>,
    clock: bool,
}

/// A resource parsed once and kept inside wasm, for evaluating many expressions against it
/// without converting it again.
#[wasm_bindgen]
pub struct ParsedResource {
    value: Value,
}

#[wasm_bindgen]
impl ParsedResource {
    /// Parses a resource (JS object or JSON text).
    #[wasm_bindgen(constructor)]
    pub fn new(resource: &JsValue) -> Result<ParsedResource, JsValue> {
        Ok(ParsedResource {
            value: input(resource, "resource").map_err(throw_outcome)?,
        })
    }

    /// The resource's `resourceType`, if it has one.
    #[wasm_bindgen(getter, js_name = resourceType)]
    pub fn resource_type(&self) -> Option<String> {
        self.value
            .get("resourceType")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The resource as JSON text.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.value.to_string()
    }
}

impl ParsedResource {
    pub(crate) fn value(&self) -> &Value {
        &self.value
    }
}

/// Compiles an expression; a syntax error throws with its line and column in the outcome.
#[wasm_bindgen]
pub fn compile(expression: &str) -> Result<FhirPath, JsValue> {
    let expr = Expression::cached(expression).map_err(throw_outcome)?;
    Ok(FhirPath {
        clock: uses_clock(expression),
        expr,
    })
}

#[wasm_bindgen]
impl FhirPath {
    /// The expression text.
    #[wasm_bindgen(getter)]
    pub fn expression(&self) -> String {
        self.expr.source().to_string()
    }

    /// Evaluates against a resource (JS object or JSON text): JSON text of the result values.
    pub fn evaluate(&self, resource: &JsValue, variables: &JsValue) -> Result<String, JsValue> {
        let r = input(resource, "resource").map_err(throw_outcome)?;
        self.run(&r, variables, false)
    }

    /// Evaluates against a [`ParsedResource`].
    #[wasm_bindgen(js_name = evaluateParsed)]
    pub fn evaluate_parsed(
        &self,
        resource: &ParsedResource,
        variables: &JsValue,
    ) -> Result<String, JsValue> {
        self.run(resource.value(), variables, false)
    }

    /// Evaluates and returns items `{value, type, path, pointer}` as JSON text: the FHIR or System
    /// type, the FHIRPath location and the JSON pointer of nodes of the input (`null` for computed
    /// values).
    #[wasm_bindgen(js_name = evaluateItems)]
    pub fn evaluate_items(
        &self,
        resource: &JsValue,
        variables: &JsValue,
    ) -> Result<String, JsValue> {
        let r = input(resource, "resource").map_err(throw_outcome)?;
        self.run(&r, variables, true)
    }

    /// [`Self::evaluate_items`] against a [`ParsedResource`].
    #[wasm_bindgen(js_name = evaluateItemsParsed)]
    pub fn evaluate_items_parsed(
        &self,
        resource: &ParsedResource,
        variables: &JsValue,
    ) -> Result<String, JsValue> {
        self.run(resource.value(), variables, true)
    }
}

impl FhirPath {
    fn run(&self, resource: &Value, variables: &JsValue, items: bool) -> Result<String, JsValue> {
        let mut env = env(variables)?;
        if self.clock {
            env = env.now(now());
        }
        let out = self.expr.evaluate(resource, &env).map_err(throw_outcome)?;
        if items {
            let v: Vec<Value> = out.iter().map(item_json).collect();
            to_text(&v)
        } else {
            let v: Vec<Value> = out.iter().map(Item::to_json).collect();
            to_text(&v)
        }
    }
}

/// One-shot evaluation (the expression is compiled through a cache, so repeating it is cheap).
#[wasm_bindgen]
pub fn evaluate(
    expression: &str,
    resource: &JsValue,
    variables: &JsValue,
) -> Result<String, JsValue> {
    compile(expression)?.evaluate(resource, variables)
}

/// One-shot [`FhirPath::evaluate_items`].
#[wasm_bindgen(js_name = evaluateItems)]
pub fn evaluate_items(
    expression: &str,
    resource: &JsValue,
    variables: &JsValue,
) -> Result<String, JsValue> {
    compile(expression)?.evaluate_items(resource, variables)
}

/// `%name` variables from a JS object (or JSON text of one).
fn env(variables: &JsValue) -> Result<Env<'static>, JsValue> {
    let mut env = Env::new();
    if variables.is_undefined() || variables.is_null() {
        return Ok(env);
    }
    let vars = match variables.as_string() {
        Some(t) => parse_text(&t, "variables").map_err(throw_outcome)?,
        None => input(variables, "variables").map_err(throw_outcome)?,
    };
    let Value::Object(map) = vars else {
        return Err(throw_issue(
            IssueType::Invalid,
            "variables must be an object of name → value",
        ));
    };
    for (k, v) in map {
        env = env.var(k, v);
    }
    Ok(env)
}

fn uses_clock(src: &str) -> bool {
    src.contains("now(") || src.contains("today(") || src.contains("timeOfDay(")
}

/// The host clock (wasm32-unknown-unknown has none of its own).
fn now() -> DateTime {
    let iso = String::from(js_sys::Date::new_0().to_iso_string());
    DateTime::parse(&iso)
        .map(|(d, _)| d)
        .unwrap_or_else(firn_core::fhirpath::datetime::now_utc)
}

fn item_json(item: &Item<'_>) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), item.to_json());
    m.insert("type".into(), Value::String(item.type_name().to_string()));
    match item.location() {
        Some(l) => {
            m.insert("path".into(), Value::String(l));
            m.insert("pointer".into(), Value::String(pointer(&item.json_path())));
        }
        None => {
            m.insert("path".into(), Value::Null);
            m.insert("pointer".into(), Value::Null);
        }
    }
    Value::Object(m)
}

/// An RFC 6901 JSON pointer from JSON steps.
pub(crate) fn pointer(steps: &[PathStep]) -> String {
    let mut s = String::new();
    for step in steps {
        s.push('/');
        match step {
            PathStep::Key(k) => s.push_str(&k.replace('~', "~0").replace('/', "~1")),
            PathStep::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}
