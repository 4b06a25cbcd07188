//! FHIRPath: the expression language every other Firn engine runs on.
//!
//! Validation invariants, search-parameter extraction, FHIRPath Patch and subscription filters
//! all evaluate FHIRPath over FHIR JSON, so this module is built for two things: conformance with
//! FHIRPath 2.0.0 plus the FHIR R4 additions, and speed on the hot path.
//!
//! **Parse once, evaluate many.** [`Expression::compile`] resolves function names and literals
//! once; the compiled tree is immutable, `Send + Sync`, and can be shared through [`cache`].
//!
//! **Zero-copy.** Evaluation walks the caller's `serde_json::Value` and result [`Item`]s borrow the
//! nodes they stand for. Each item remembers how it was reached, so it can report its FHIRPath
//! [`Item::location`] (`Patient.name[0].given[1]`) and the JSON steps to it ([`Item::json_path`]),
//! which validation messages and FHIRPath Patch need.
//!
//! **Typed.** Item types come from the embedded R4 definitions
//! ([`Definitions::r4`](crate::definitions::Definitions::r4)): `Observation.value` finds
//! `valueQuantity` and knows it is a `Quantity`, `Age` is a `Quantity`, primitives carry their
//! `_x` extension companions. Decimals are exact ([`decimal`]), dates keep their precision and
//! time zone ([`datetime`]), quantities convert through UCUM ([`quantity`]).
//!
//! ```
//! use firn_core::fhirpath::{Env, Expression};
//! use serde_json::json;
//! let patient = json!({"resourceType": "Patient",
//!     "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}]});
//! let expr = Expression::compile("Patient.name.where(use = 'official').given").unwrap();
//! let items = expr.evaluate(&patient, &Env::default()).unwrap();
//! assert_eq!(items[1].to_json(), json!("James"));
//! assert_eq!(items[1].type_name(), "string");
//! assert_eq!(items[1].location().as_deref(), Some("Patient.name[0].given[1]"));
//! ```

pub mod datetime;
pub mod decimal;
mod document;
mod eval;
pub mod invariants;
mod parser;
pub mod quantity;

use crate::outcome::{Issue, IssueType, OperationOutcome};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use document::{Document, DocumentError, Root};
pub use eval::{Item, PathStep};
use parser::Node;

/// Why an expression could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FhirPathError {
    /// The text is not FHIRPath. `offset` is a byte offset; `line`/`column` are 1-based.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        offset: usize,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed but meaningless: unknown function, wrong argument count, a name the type
    /// does not have (strict mode).
    #[error("{message}")]
    Semantic {
        offset: Option<usize>,
        message: String,
    },
    /// Evaluation failed: a singleton was expected, types do not support an operator, ...
    #[error("{message}")]
    Execution {
        message: String,
        location: Option<String>,
    },
}

impl FhirPathError {
    pub(crate) fn syntax(src: &str, offset: usize, message: impl Into<String>) -> FhirPathError {
        let before = &src[..offset.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        FhirPathError::Syntax {
            offset,
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn exec(message: impl Into<String>) -> FhirPathError {
        FhirPathError::Execution {
            message: message.into(),
            location: None,
        }
    }

    /// Byte offset into the expression text, when the error has one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            FhirPathError::Syntax { offset, .. } => Some(*offset),
            FhirPathError::Semantic { offset, .. } => *offset,
            FhirPathError::Execution { .. } => None,
        }
    }

    /// `syntax`, `semantic` or `execution` (the conformance suite's `invalid` kinds).
    pub fn kind(&self) -> &'static str {
        match self {
            FhirPathError::Syntax { .. } => "syntax",
            FhirPathError::Semantic { .. } => "semantic",
            FhirPathError::Execution { .. } => "execution",
        }
    }
}

impl From<FhirPathError> for Issue {
    fn from(e: FhirPathError) -> Issue {
        let code = match e {
            FhirPathError::Syntax { .. } | FhirPathError::Semantic { .. } => IssueType::Invalid,
            FhirPathError::Execution { .. } => IssueType::Processing,
        };
        let mut issue = Issue::error(code, format!("FHIRPath {} error: {e}", e.kind()));
        if let FhirPathError::Syntax { line, column, .. } = &e {
            issue = issue.with_line_col(*line as u64, *column as u64);
        }
        if let FhirPathError::Execution {
            location: Some(l), ..
        } = &e
        {
            issue = issue.at(l.clone());
        }
        issue
    }
}

impl From<FhirPathError> for OperationOutcome {
    fn from(e: FhirPathError) -> OperationOutcome {
        OperationOutcome::single(Issue::from(e))
    }
}

impl crate::outcome::IntoOutcome for FhirPathError {
    fn into_outcome(self) -> OperationOutcome {
        OperationOutcome::from(self)
    }
}

/// Looks up a reference (`Patient/123`, an absolute URL) the engine could not resolve inside the
/// resource itself. The host owns the resources; the engine borrows them.
pub type Resolver<'e> = dyn Fn(&str) -> Option<&'e Value> + Send + Sync + 'e;
/// Receives `trace(name)` output: the name and the traced items as JSON.
pub type TraceSink = dyn Fn(&str, &[Value]) + Send + Sync;
/// Answers `conformsTo(url)` for a resource: `Some(verdict)`, or `None` when the profile is unknown.
pub type ConformsTo = dyn Fn(&Value, &str) -> Option<bool> + Send + Sync;

/// The evaluation environment: caller variables (`%name`) and host hooks.
///
/// ```
/// use firn_core::fhirpath::{Env, Expression};
/// use serde_json::json;
/// let env = Env::new().var("greeting", json!("hello"));
/// let resource = json!({"resourceType": "Patient"});
/// let out = Expression::compile("%greeting & ' world'").unwrap()
///     .evaluate(&resource, &env).unwrap();
/// assert_eq!(out[0].to_json(), json!("hello world"));
/// ```
#[derive(Clone, Default)]
pub struct Env<'e> {
    vars: HashMap<String, Cow<'e, Value>>,
    resolver: Option<Arc<Resolver<'e>>>,
    trace: Option<Arc<TraceSink>>,
    conforms_to: Option<Arc<ConformsTo>>,
    strict: bool,
    check_ordered: bool,
    lenient_as: bool,
    /// Off by default: items remember how they were reached (see [`Env::locations`]).
    no_locations: bool,
    now: Option<datetime::DateTime>,
}

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("vars", &self.vars)
            .field("resolver", &self.resolver.is_some())
            .field("trace", &self.trace.is_some())
            .field("conforms_to", &self.conforms_to.is_some())
            .field("strict", &self.strict)
            .finish()
    }
}

impl<'e> Env<'e> {
    pub fn new() -> Env<'e> {
        Env::default()
    }

    /// Adds a variable, available as `%name`: a JSON primitive, or an array of them (a
    /// collection). Resources and other objects go through [`Env::var_ref`].
    pub fn var(mut self, name: impl Into<String>, value: Value) -> Env<'e> {
        self.vars.insert(name.into(), Cow::Owned(value));
        self
    }

    /// Adds a variable that borrows its value (any JSON; objects with a `resourceType` are
    /// resources, navigable like the focus).
    pub fn var_ref(mut self, name: impl Into<String>, value: &'e Value) -> Env<'e> {
        self.vars.insert(name.into(), Cow::Borrowed(value));
        self
    }

    /// The host callback for `resolve()` when a reference is neither contained nor in the Bundle.
    pub fn resolver(mut self, f: impl Fn(&str) -> Option<&'e Value> + Send + Sync + 'e) -> Env<'e> {
        self.resolver = Some(Arc::new(f));
        self
    }

    /// Where `trace()` output goes (by default it is dropped).
    pub fn trace_sink(mut self, f: impl Fn(&str, &[Value]) + Send + Sync + 'static) -> Env<'e> {
        self.trace = Some(Arc::new(f));
        self
    }

    /// The host hook for `conformsTo(url)` (the validator wires itself in here).
    pub fn conforms_to(
        mut self,
        f: impl Fn(&Value, &str) -> Option<bool> + Send + Sync + 'static,
    ) -> Env<'e> {
        self.conforms_to = Some(Arc::new(f));
        self
    }

    /// Strict mode: names that the focus type does not define, choice-type JSON names
    /// (`valueQuantity`) and non-boolean criteria are errors instead of empty results.
    pub fn strict(mut self, on: bool) -> Env<'e> {
        self.strict = on;
        self
    }

    /// Lets `as(T)` over a collection of several items filter like `ofType(T)` instead of
    /// failing. FHIRPath says several items are an error (and the official suite tests it), but
    /// R4's own invariants rely on the old behaviour — dom-3 applies
    /// `descendants().as(canonical)` — so invariant evaluation turns this on, as the reference
    /// validator does.
    pub fn lenient_as(mut self, on: bool) -> Env<'e> {
        self.lenient_as = on;
        self
    }

    /// Whether result items remember their location (`Item::location`, `Item::json_path`), on by
    /// default. Callers that only want values (the npm package's `evaluate`) turn it off: then
    /// navigation allocates no path nodes, ~10–20 % faster on path-heavy expressions.
    ///
    /// ```
    /// use firn_core::fhirpath::{Env, Expression};
    /// let p = serde_json::json!({"resourceType": "Patient", "active": true});
    /// let e = Expression::compile("active").unwrap();
    /// assert!(e.evaluate(&p, &Env::new()).unwrap()[0].location().is_some());
    /// assert!(e.evaluate(&p, &Env::new().locations(false)).unwrap()[0].location().is_none());
    /// ```
    pub fn locations(mut self, on: bool) -> Env<'e> {
        self.no_locations = !on;
        self
    }

    /// Rejects order-dependent functions (`first`, `skip`, indexers) on unordered collections
    /// (`children()`, `descendants()`).
    pub fn check_ordered_functions(mut self, on: bool) -> Env<'e> {
        self.check_ordered = on;
        self
    }

    /// Fixes `now()`/`today()`/`timeOfDay()` (tests; reproducible runs). The default is the clock.
    pub fn now(mut self, now_utc: datetime::DateTime) -> Env<'e> {
        self.now = Some(now_utc);
        self
    }
}

/// A compiled FHIRPath expression: immutable, `Send + Sync`, evaluate it as often as you like.
///
/// ```
/// use firn_core::fhirpath::{Env, Expression};
/// use serde_json::json;
/// let obs = json!({"resourceType": "Observation", "status": "final",
///     "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}});
/// let e = Expression::compile("Observation.value > 80 'kg'").unwrap();
/// assert_eq!(e.evaluate_bool(&obs, &Env::default()).unwrap(), Some(true));
/// let err = Expression::compile("Observation.value >").unwrap_err();
/// assert_eq!(err.offset(), Some(19));
/// ```
#[derive(Debug, Clone)]
pub struct Expression {
    src: String,
    root: Node,
}

/// Appends `items` as a JSON array, each as [`Item::write_json`] writes it.
pub fn write_items(items: &[Item<'_>], out: &mut String) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item.write_json(out);
    }
    out.push(']');
}

impl Expression {
    /// Parses `src`. Errors name the position and what was expected.
    pub fn compile(src: &str) -> Result<Expression, FhirPathError> {
        Ok(Expression {
            src: src.to_string(),
            root: parser::parse(src)?,
        })
    }

    /// Compiles through the process-wide cache: the same text compiles once.
    pub fn cached(src: &str) -> Result<Arc<Expression>, FhirPathError> {
        cache::get(src)
    }

    /// The expression text.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Evaluates with `resource` as `%resource`, `%context` and the initial focus.
    pub fn evaluate<'a, 'e: 'a>(
        &self,
        resource: &'a Value,
        env: &Env<'e>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        eval::evaluate(&self.root, document::Json::V(resource), None, env)
    }

    /// Evaluates against resource `root` of a [`Document`]: the same results as
    /// [`Expression::evaluate`] on the resource's `Value`, faster when many resources are
    /// evaluated (see [`Document`]). [`Item::as_json`] is `None` for its nodes.
    pub fn evaluate_in<'a, 'e: 'a>(
        &self,
        doc: &'a Document,
        root: Root,
        env: &Env<'e>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        let mut out = Vec::new();
        if self.walk_in(doc, root, env, |at| out.push(Item::typed_node(doc, at))) {
            return Ok(out);
        }
        eval::evaluate(&self.root, doc.json(root), None, env)
    }

    /// Appends the values of [`Expression::evaluate_in`] to `out` as a JSON array (each item as
    /// [`Item::write_json`] writes it). A member path writes its nodes straight from the
    /// records, with no items in between — the fast way to return many results as text.
    ///
    /// ```
    /// use firn_core::fhirpath::{Document, Env, Expression};
    /// let mut doc = Document::new();
    /// let root = doc.push_json(br#"{"resourceType": "Patient", "name": [{"given": ["Ann", "B"]}]}"#).unwrap();
    /// let mut out = String::new();
    /// let env = Env::new().locations(false);
    /// Expression::compile("name.given").unwrap().write_values_in(&doc, root, &env, &mut out).unwrap();
    /// assert_eq!(out, r#"["Ann","B"]"#);
    /// ```
    pub fn write_values_in(
        &self,
        doc: &Document,
        root: Root,
        env: &Env<'_>,
        out: &mut String,
    ) -> Result<(), FhirPathError> {
        let start = out.len();
        out.push('[');
        let mut first = true;
        let walked = self.walk_in(doc, root, env, |at| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            document::Json::D(doc, at).write(out);
        });
        if !walked {
            out.truncate(start);
            let items = eval::evaluate(&self.root, doc.json(root), None, env)?;
            write_items(&items, out);
            return Ok(());
        }
        out.push(']');
        Ok(())
    }

    /// Walks a member-path expression through typed document `doc` from `root`, values only,
    /// passing each node reached to `emit`; false (some nodes may have been passed) when the
    /// general evaluator must run instead.
    fn walk_in(
        &self,
        doc: &Document,
        root: Root,
        env: &Env<'_>,
        mut emit: impl FnMut(u32),
    ) -> bool {
        match &self.root {
            Node::Member { path: Some(p), .. }
                if env.no_locations && !env.strict && doc.is_typed() =>
            {
                doc.walk_path(root.0, p.type_name.as_deref(), &p.names, &mut emit)
                    .is_some()
            }
            _ => false,
        }
    }

    /// Evaluates with `focus` (an element inside `resource`, whose type or inline-group path is
    /// `context`, e.g. `HumanName` or `Patient.contact`) as the initial focus and `%context`,
    /// and `resource` as `%resource`. This is how invariants are evaluated.
    pub fn evaluate_at<'a, 'e: 'a>(
        &self,
        resource: &'a Value,
        focus: &'a Value,
        context: &'a str,
        env: &Env<'e>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        eval::evaluate(
            &self.root,
            document::Json::V(resource),
            Some((document::Json::V(focus), context)),
            env,
        )
    }

    /// Evaluates and converts the result to a single boolean, as invariants need: empty → `None`;
    /// one boolean → its value; any other single item → `true`; more items → an error.
    pub fn evaluate_bool(
        &self,
        resource: &Value,
        env: &Env<'_>,
    ) -> Result<Option<bool>, FhirPathError> {
        let items = self.evaluate(resource, env)?;
        eval::singleton_bool(&items)
    }
}

/// A small process-wide compile cache for hot expressions (invariants, search parameters).
pub mod cache {
    use super::{Expression, FhirPathError};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    /// Entries kept before the cache is cleared (expressions are small; this bounds memory).
    const CAPACITY: usize = 4096;

    fn map() -> &'static Mutex<HashMap<String, Arc<Expression>>> {
        static M: OnceLock<Mutex<HashMap<String, Arc<Expression>>>> = OnceLock::new();
        M.get_or_init(|| Mutex::new(HashMap::new()))
    }

    /// The compiled form of `src`, compiling it on first use. Errors are not cached.
    pub fn get(src: &str) -> Result<Arc<Expression>, FhirPathError> {
        if let Ok(m) = map().lock()
            && let Some(e) = m.get(src)
        {
            return Ok(e.clone());
        }
        let e = Arc::new(Expression::compile(src)?);
        if let Ok(mut m) = map().lock() {
            if m.len() >= CAPACITY {
                m.clear();
            }
            m.insert(src.to_string(), e.clone());
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn expression_is_send_sync() {
        assert_send_sync::<Expression>();
        assert_send_sync::<Env<'static>>();
    }

    #[test]
    fn member_paths_are_recognised() {
        let path = |src: &str| match Expression::compile(src).unwrap().root {
            Node::Member { path, .. } => path.map(|p| (p.type_name, p.names.join("/"))),
            _ => None,
        };
        assert_eq!(path("id"), Some((None, "id".into())));
        assert_eq!(
            path("Encounter.period.start"),
            Some((Some("Encounter".into()), "period/start".into()))
        );
        assert_eq!(
            path("Patient"),
            Some((Some("Patient".into()), String::new()))
        );
        // Anything else is the general evaluator's: choice-type JSON names (an error), type
        // names after the start, functions, `$this`, indexes.
        for src in [
            "valueQuantity",
            "name.Patient",
            "name.first()",
            "$this.id",
            "name[0]",
            "`a-b`",
        ] {
            assert_eq!(path(src), None, "{src}");
        }
    }

    #[test]
    fn syntax_error_names_position() {
        let e = Expression::compile("Patient.name.where(use = )").unwrap_err();
        assert_eq!(e.kind(), "syntax");
        assert_eq!(e.offset(), Some(25));
        let oo = OperationOutcome::from(e);
        assert!(oo.has_errors());
    }

    #[test]
    fn choice_and_extension_navigation() {
        let obs = json!({"resourceType": "Observation",
            "valueQuantity": {"value": 1.50, "unit": "mg"},
            "_status": {"extension": [{"url": "http://x", "valueString": "e"}]}});
        let env = Env::default();
        let v = Expression::compile("Observation.value").unwrap();
        let items = v.evaluate(&obs, &env).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].type_name(), "Quantity");
        assert_eq!(
            items[0].location().as_deref(),
            Some("Observation.valueQuantity")
        );
        let ext = Expression::compile("status.extension('http://x').value").unwrap();
        let items = ext.evaluate(&obs, &env).unwrap();
        assert_eq!(items[0].to_json(), json!("e"));
        assert_eq!(
            items[0].json_path(),
            vec![
                PathStep::Key("_status".into()),
                PathStep::Key("extension".into()),
                PathStep::Index(0),
                PathStep::Key("valueString".into())
            ]
        );
    }
}
