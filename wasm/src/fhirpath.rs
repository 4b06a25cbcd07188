//! FHIRPath: `compile(expression)` → a reusable [`FhirPath`], and one-shot `evaluate`.
//!
//! Results come back as JSON text of an array: plain values (`evaluate`, what fhirpath.js returns)
//! or items with their FHIR type and FHIRPath location (`evaluateItems`, what the playground shows).

use crate::{input, throw_issue, throw_outcome, to_text};
use firn_core::fhirpath::datetime::DateTime;
use firn_core::fhirpath::{
    Document, DocumentError, Env, Expression, Item, PathStep, Root, write_items,
};
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
    /// FHIRPath's compact form of the resource, without recorded node types: recording them
    /// costs about seven evaluations' worth of lookups (measured: untyped 2.7–3.0 µs per
    /// evaluation in the benchmark, typed 3.2–3.5), and a parsed resource is evaluated a few
    /// times, not hundreds. Collections record types: they serve query workloads.
    doc: Document,
    root: Root,
}

#[wasm_bindgen]
impl ParsedResource {
    /// Parses a resource (JS object or JSON text).
    #[wasm_bindgen(constructor)]
    pub fn new(resource: &JsValue) -> Result<ParsedResource, JsValue> {
        match resource.as_string() {
            Some(text) => ParsedResource::from_text(text.as_bytes()),
            None => {
                let value = input(resource, "resource").map_err(throw_outcome)?;
                let mut doc = Document::untyped();
                let root = push(&mut doc, &value)?;
                Ok(ParsedResource { doc, root })
            }
        }
    }

    /// Parses the resource in the input buffer (`inputBuffer`).
    #[wasm_bindgen(js_name = fromInput)]
    pub fn from_input(len: usize) -> Result<ParsedResource, JsValue> {
        crate::with_input(len, ParsedResource::from_text)
    }

    /// The resource's `resourceType`, if it has one.
    #[wasm_bindgen(getter, js_name = resourceType)]
    pub fn resource_type(&self) -> Option<String> {
        self.doc.resource_type(self.root).map(str::to_string)
    }

    /// The resource as JSON text.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.doc.to_json_string(self.root)
    }
}

impl ParsedResource {
    /// JSON text parsed straight into the compact form (no `Value` in between).
    fn from_text(text: &[u8]) -> Result<ParsedResource, JsValue> {
        let mut doc = Document::untyped();
        let root = doc
            .push_json(text)
            .map_err(|e| document_error(e, "resource"))?;
        Ok(ParsedResource { doc, root })
    }

    fn target(&self) -> Target<'_> {
        Target::Document(&self.doc, self.root)
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
        if let Some(text) = resource.as_string() {
            return self.run_text(text.as_bytes(), variables, false);
        }
        let r = input(resource, "resource").map_err(throw_outcome)?;
        self.run(Target::Value(&r), variables, false)
    }

    /// Evaluates against the resource in the input buffer (`inputBuffer`).
    #[wasm_bindgen(js_name = evaluateInput)]
    pub fn evaluate_input(&self, len: usize, variables: &JsValue) -> Result<String, JsValue> {
        crate::with_input(len, |bytes| self.run_text(bytes, variables, false))
    }

    /// Evaluates against a [`ParsedResource`].
    #[wasm_bindgen(js_name = evaluateParsed)]
    pub fn evaluate_parsed(
        &self,
        resource: &ParsedResource,
        variables: &JsValue,
    ) -> Result<String, JsValue> {
        self.run(resource.target(), variables, false)
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
        if let Some(text) = resource.as_string() {
            return self.run_text(text.as_bytes(), variables, true);
        }
        let r = input(resource, "resource").map_err(throw_outcome)?;
        self.run(Target::Value(&r), variables, true)
    }

    /// [`Self::evaluate_items`] against the resource in the input buffer (`inputBuffer`).
    #[wasm_bindgen(js_name = evaluateItemsInput)]
    pub fn evaluate_items_input(&self, len: usize, variables: &JsValue) -> Result<String, JsValue> {
        crate::with_input(len, |bytes| self.run_text(bytes, variables, true))
    }

    /// [`Self::evaluate_items`] against a [`ParsedResource`].
    #[wasm_bindgen(js_name = evaluateItemsParsed)]
    pub fn evaluate_items_parsed(
        &self,
        resource: &ParsedResource,
        variables: &JsValue,
    ) -> Result<String, JsValue> {
        self.run(resource.target(), variables, true)
    }
}

impl FhirPath {
    /// The evaluation environment over parsed variables (and the host clock when the expression
    /// needs it): built once per call, shared by every resource of a collection.
    pub(crate) fn env<'v>(&self, vars: &'v Variables) -> Env<'v> {
        let mut env = Env::new();
        for (k, v) in &vars.0 {
            env = env.var_ref(k.clone(), v);
        }
        if self.clock { env.now(now()) } else { env }
    }

    /// Values of one resource given as JSON text: parsed into a Document that is reused from
    /// call to call (no allocation once warm; measured faster than parsing into a `Value`).
    fn run_text(&self, text: &[u8], variables: &JsValue, items: bool) -> Result<String, JsValue> {
        ONE_SHOT.with(|doc| {
            let mut doc = doc.try_borrow_mut().map_err(|_| {
                throw_issue(
                    IssueType::Exception,
                    "evaluate re-entered during evaluation",
                )
            })?;
            doc.clear();
            let root = doc
                .push_json(text)
                .map_err(|e| document_error(e, "resource"));
            let out =
                root.and_then(|root| self.run(Target::Document(&doc, root), variables, items));
            if doc.node_count() > KEEP_NODES {
                // Do not hold on to the memory of an unusually large resource.
                *doc = Document::untyped();
            }
            out
        })
    }

    /// The items of one resource.
    fn items<'a, 'e: 'a>(
        &self,
        target: Target<'a>,
        env: &Env<'e>,
    ) -> Result<Vec<Item<'a>>, JsValue> {
        match target {
            Target::Value(v) => self.expr.evaluate(v, env),
            Target::Document(doc, root) => self.expr.evaluate_in(doc, root, env),
        }
        .map_err(throw_outcome)
    }

    /// Appends the result values of one resource, as JSON text, to `out`.
    pub(crate) fn write_values(
        &self,
        target: Target<'_>,
        env: &Env<'_>,
        out: &mut String,
    ) -> Result<(), JsValue> {
        match target {
            Target::Document(doc, root) => self
                .expr
                .write_values_in(doc, root, env, out)
                .map_err(throw_outcome),
            Target::Value(_) => {
                write_items(&self.items(target, env)?, out);
                Ok(())
            }
        }
    }

    fn run(&self, target: Target<'_>, variables: &JsValue, items: bool) -> Result<String, JsValue> {
        let vars = Variables::parse(variables)?;
        // Values only: no location tracking (no path node per navigation step).
        let env = self.env(&vars).locations(items);
        if items {
            let out = self.items(target, &env)?;
            let v: Vec<Value> = out.iter().map(item_json).collect();
            to_text(&v)
        } else {
            let mut out = String::with_capacity(64);
            self.write_values(target, &env, &mut out)?;
            Ok(out)
        }
    }
}

/// `%name` variables from a JS object (or JSON text of one), parsed once per call.
pub(crate) struct Variables(Map<String, Value>);

impl Variables {
    pub(crate) fn parse(variables: &JsValue) -> Result<Variables, JsValue> {
        if variables.is_undefined() || variables.is_null() {
            return Ok(Variables(Map::new()));
        }
        match input(variables, "variables").map_err(throw_outcome)? {
            Value::Object(map) => Ok(Variables(map)),
            _ => Err(throw_issue(
                IssueType::Invalid,
                "variables must be an object of name → value",
            )),
        }
    }
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

/// The reused one-shot document is dropped after a resource of more nodes than this (~2 MB).
const KEEP_NODES: usize = 1 << 16;

thread_local! {
    /// The document one-shot evaluations parse their resource into (see `run_text`): untyped,
    /// as recording every node's type costs more than one evaluation saves.
    static ONE_SHOT: std::cell::RefCell<Document> = std::cell::RefCell::new(Document::untyped());
}

/// What an expression is evaluated against: a parsed `Value` (one-shot calls) or a resource of a
/// FHIRPath [`Document`] (resources parsed once and evaluated many times).
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Value(&'a Value),
    Document(&'a Document, Root),
}

/// Adds a resource to a document; a resource the compact form cannot hold is a FHIR error.
pub(crate) fn push(doc: &mut Document, value: &Value) -> Result<Root, JsValue> {
    doc.push(value).map_err(|e| document_error(e, "resource"))
}

/// A [`DocumentError`] as a thrown OperationOutcome: invalid JSON is `structure` with its line
/// and column (as for `Value` inputs); a resource beyond the compact form's limits is `too-long`.
pub(crate) fn document_error(e: DocumentError, what: &str) -> JsValue {
    match e {
        DocumentError::Json {
            message,
            line,
            column,
        } => throw_outcome(crate::invalid_json(
            format!("{what} is not valid JSON: {message}"),
            line as u64,
            column as u64,
        )),
        e => throw_issue(IssueType::TooLong, e.to_string()),
    }
}
