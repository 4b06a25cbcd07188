//! FHIR R4 validation, offline.
//!
//! Validation runs on every write the server accepts, on every imported NDJSON line, and in the
//! browser through the npm package, so it must be complete enough to trust and fast enough to be
//! always on. A [`Validator`] is built once (levels, FHIR packages, requested profiles), is
//! `Send + Sync`, and validates `serde_json::Value`s or text:
//!
//! 1. **Structure** (`walk.rs`): one pass over the JSON guided by the embedded definitions — JSON
//!    shape, known `resourceType`, unknown/misplaced elements (`_field` companions, choice
//!    suffixes), arrays vs single values, empty objects/strings/arrays, cardinality.
//! 2. **Primitives** (`primitive.rs`): each type's regex (compiled once) plus real-calendar dates,
//!    integer ranges, base64.
//! 3. **Terminology**: required bindings are errors, extensible ones warnings (unless text explains),
//!    value sets that cannot be expanded offline give one informational issue, never a false error.
//! 4. **References, extensions, narrative, Bundles** (`walk.rs`, `xhtml.rs`).
//! 5. **Profiles** (`profile.rs`): StructureDefinitions from FHIR NPM packages given as bytes.
//!
//! The result is an [`OperationOutcome`] whose issues carry FHIRPath locations and, for text input,
//! line/column. [`Level`] decides what runs and whether errors reject.
//!
//! ```
//! use firn_core::validate::{Level, Validator};
//! let v = Validator::builder().level(Level::Strict).build().unwrap();
//! let r = v.validate_str(r#"{"resourceType":"Patient","birthDate":"2023-02-30"}"#);
//! assert!(!r.accepted());
//! assert_eq!(r.outcome.issues[0].expression, ["Patient.birthDate"]);
//! assert_eq!(r.outcome.issues[0].line_col, Some((1, 27)));
//! ```

mod invariant;
mod package;
mod position;
mod primitive;
mod profile;
mod slicing;
mod walk;
mod xhtml;

pub use invariant::{CompiledInvariant, InvariantEngine};
pub use package::Package;

use crate::definitions::{Definitions, ExtensionDef, Membership};
use crate::outcome::{Issue, IssueType, OperationOutcome};
use primitive::Primitives;
pub(crate) use primitive::json_kind;
use profile::Profiles;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How much is checked and whether errors reject (the levels HealthLake offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Everything is checked; any error rejects.
    #[default]
    Strict,
    /// Structure, cardinality and primitive values only; errors reject.
    StructureOnly,
    /// Everything is checked and reported, nothing rejects.
    Minimal,
}

impl Level {
    /// Parses `strict`, `structure-only` or `minimal`.
    ///
    /// ```
    /// use firn_core::validate::Level;
    /// assert_eq!(Level::parse("structure-only"), Some(Level::StructureOnly));
    /// assert_eq!(Level::parse("lenient"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "strict" => Level::Strict,
            "structure-only" => Level::StructureOnly,
            "minimal" => Level::Minimal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::StructureOnly => "structure-only",
            Level::Minimal => "minimal",
        }
    }
}

/// Errors building a validator.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("FHIR package cannot be read: {0}")]
    Package(String),
    #[error("profile {0} is not known (load the package that defines it)")]
    UnknownProfile(String),
}

impl crate::outcome::IntoOutcome for ValidateError {
    fn into_outcome(self) -> OperationOutcome {
        let code = match self {
            ValidateError::Package(_) => IssueType::Invalid,
            ValidateError::UnknownProfile(_) => IssueType::NotFound,
        };
        OperationOutcome::single(Issue::error(code, self.to_string()))
    }
}

/// The result of validating one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub outcome: OperationOutcome,
    pub level: Level,
}

impl Validation {
    /// True when the resource is accepted at this level (always, at [`Level::Minimal`]).
    ///
    /// ```
    /// use firn_core::validate::{Level, Validator};
    /// let bad = serde_json::json!({"resourceType": "Patient", "active": "yes"});
    /// assert!(!Validator::new().validate(&bad).accepted());
    /// let minimal = Validator::builder().level(Level::Minimal).build().unwrap();
    /// let r = minimal.validate(&bad);
    /// assert!(r.accepted() && r.error_count() == 1);
    /// ```
    pub fn accepted(&self) -> bool {
        self.level == Level::Minimal || !self.outcome.has_errors()
    }

    /// Number of issues of error or fatal severity.
    pub fn error_count(&self) -> usize {
        self.outcome
            .issues
            .iter()
            .filter(|i| i.severity.is_error())
            .count()
    }
}

/// Configures a [`Validator`].
#[derive(Default)]
pub struct ValidatorBuilder {
    level: Level,
    packages: Vec<Vec<u8>>,
    profiles: Vec<String>,
    engine: Option<Arc<dyn InvariantEngine>>,
    without_invariants: bool,
}

impl std::fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("level", &self.level)
            .field("packages", &self.packages.len())
            .field("profiles", &self.profiles)
            .field("invariants", &self.engine.is_some())
            .finish()
    }
}

impl ValidatorBuilder {
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Adds a FHIR NPM package (`.tgz` bytes): its profiles, extensions and value sets. Packages
    /// are read by [`build`](Self::build), which fails on bytes that are not a package.
    ///
    /// ```
    /// use firn_core::validate::{ValidateError, Validator};
    /// let r = Validator::builder().package(b"not a package".to_vec()).build();
    /// assert!(matches!(r, Err(ValidateError::Package(_))));
    /// ```
    pub fn package(mut self, tgz: impl Into<Vec<u8>>) -> Self {
        self.packages.push(tgz.into());
        self
    }

    /// Validates every resource against this profile too (besides its `meta.profile`).
    pub fn profile(mut self, url: impl Into<String>) -> Self {
        self.profiles.push(url.into());
        self
    }

    /// Evaluates invariants (`constraint`s) with this FHIRPath engine instead of the built-in
    /// [`FhirPathInvariants`](crate::fhirpath::invariants::FhirPathInvariants). Every distinct
    /// expression is compiled once, when the validator is built.
    pub fn invariants(mut self, engine: Arc<dyn InvariantEngine>) -> Self {
        self.engine = Some(engine);
        self.without_invariants = false;
        self
    }

    /// Skips invariants (`ele-1` and `ext-1`, checked natively by the walk, still apply). For
    /// callers that only need structure, cardinality, values and bindings, faster.
    ///
    /// ```
    /// use firn_core::validate::Validator;
    /// assert!(Validator::new().invariant_count() > 150);
    /// assert_eq!(Validator::builder().without_invariants().build().unwrap().invariant_count(), 0);
    /// ```
    pub fn without_invariants(mut self) -> Self {
        self.engine = None;
        self.without_invariants = true;
        self
    }

    pub fn build(self) -> Result<Validator, ValidateError> {
        let defs = Definitions::r4();
        let mut packages = Vec::new();
        for bytes in &self.packages {
            packages.push(Package::from_tgz(bytes)?);
        }
        let profiles = Profiles::new(defs, &packages);
        for url in &self.profiles {
            if !profiles.has(url) {
                return Err(ValidateError::UnknownProfile(url.clone()));
            }
        }
        let engine = match (self.engine, self.without_invariants) {
            (_, true) => None,
            (Some(e), false) => Some(e),
            (None, false) => Some(Arc::new(crate::fhirpath::invariants::FhirPathInvariants)
                as Arc<dyn InvariantEngine>),
        };
        let invariants =
            engine.map(|e| invariant::Invariants::new(&e, defs, profiles.constraint_expressions()));
        Ok(Validator {
            defs,
            prims: Primitives::new(defs),
            level: self.level,
            profiles,
            requested: self.profiles,
            invariants,
        })
    }
}

/// A configured validator: build once, share across threads.
#[derive(Debug)]
pub struct Validator {
    pub(crate) defs: &'static Definitions,
    prims: Primitives,
    level: Level,
    profiles: Profiles,
    requested: Vec<String>,
    invariants: Option<invariant::Invariants>,
}

impl Default for Validator {
    fn default() -> Self {
        Validator::builder()
            .build()
            .expect("no packages, cannot fail")
    }
}

impl Validator {
    /// A validator at [`Level::Strict`] with R4 core only.
    pub fn new() -> Validator {
        Validator::default()
    }

    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder::default()
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// Number of distinct invariant expressions compiled (0 without an engine).
    pub fn invariant_count(&self) -> usize {
        self.invariants
            .as_ref()
            .map_or(0, invariant::Invariants::len)
    }

    /// Validates a resource already parsed.
    pub fn validate(&self, resource: &Value) -> Validation {
        let mut run = Run {
            v: self,
            issues: Vec::new(),
            contained: Vec::new(),
            unexpanded: HashSet::new(),
            structure_only: self.level == Level::StructureOnly,
            sites: Vec::new(),
            resource_stack: Vec::new(),
            resource_locs: Vec::new(),
            collect_sites: self.invariants.is_some() && self.level != Level::StructureOnly,
            urn_refs: Vec::new(),
            primitive_type: None,
        };
        run.resource(resource, "");
        if !run.structure_only {
            self.profiles.check(&mut run, resource, &self.requested);
            run.evaluate_invariants(resource);
        }
        Validation {
            outcome: OperationOutcome::new(run.issues),
            level: self.level,
        }
    }

    /// Validates JSON text; issues get line/column. Syntax errors give one fatal issue.
    pub fn validate_str(&self, text: &str) -> Validation {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let issue = Issue::new(
                    crate::outcome::Severity::Fatal,
                    IssueType::Structure,
                    format!("invalid JSON: {e}"),
                )
                .with_line_col(e.line() as u64, e.column() as u64);
                return Validation {
                    outcome: OperationOutcome::single(issue),
                    level: self.level,
                };
            }
        };
        let mut result = self.validate(&value);
        if !result.outcome.issues.is_empty() {
            let root = value
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("");
            let wanted: Vec<&str> = result
                .outcome
                .issues
                .iter()
                .filter_map(|i| i.expression.first().map(String::as_str))
                .collect();
            let map = position::positions(text, root, &wanted);
            for issue in &mut result.outcome.issues {
                if let Some(loc) = issue.expression.first() {
                    issue.line_col = position::locate(&map, loc);
                }
            }
        }
        result
    }

    /// A core extension definition, or one from a loaded package.
    pub(crate) fn extension(&self, url: &str) -> Option<&ExtensionDef> {
        self.defs
            .extension(url)
            .or_else(|| self.profiles.extension(url))
    }

    /// Membership in a core value set, else in an enumerable package value set.
    pub(crate) fn value_set_contains(
        &self,
        vs: &str,
        system: Option<&str>,
        code: &str,
    ) -> Membership {
        match self.defs.value_set_contains(vs, system, code) {
            Membership::NotExpanded => match self.profiles.value_set_contains(vs, system, code) {
                Some(true) => Membership::Member,
                Some(false) => Membership::NotMember,
                None => Membership::NotExpanded,
            },
            m => m,
        }
    }
}

/// The state of one validation.
pub(crate) struct Run<'v> {
    pub(crate) v: &'v Validator,
    pub(crate) issues: Vec<Issue>,
    /// (id, resourceType) of contained resources, innermost container last.
    pub(crate) contained: Vec<Vec<(String, String)>>,
    /// Value sets already reported as not expandable.
    pub(crate) unexpanded: HashSet<String>,
    pub(crate) structure_only: bool,
    /// Invariants to evaluate after the walk.
    pub(crate) sites: Vec<invariant::Site>,
    /// Indices (into `resource_locs`) of the enclosing resources, innermost last.
    pub(crate) resource_stack: Vec<usize>,
    /// Locations of every resource met, for invariant sites' `%resource`.
    pub(crate) resource_locs: Vec<String>,
    pub(crate) collect_sites: bool,
    /// `urn:uuid:`/`urn:oid:` references seen: (location, reference, allowed target types).
    pub(crate) urn_refs: Vec<(String, String, Vec<String>)>,
    /// The primitive type whose `_field` companion is being walked.
    pub(crate) primitive_type: Option<&'static str>,
}

impl Run<'_> {
    /// Records the constraints of `el` (and of its type's root) at `location`; `context` is the
    /// focus's FHIRPath type (`HumanName`, or `Patient.contact` for an inline group).
    pub(crate) fn sites_for(
        &mut self,
        el: Option<&'static crate::definitions::ElementDef>,
        ty: Option<&'static crate::definitions::TypeDef>,
        context: &str,
        location: &str,
        skip: &[&str],
    ) {
        let (true, Some(inv)) = (self.collect_sites, &self.v.invariants) else {
            return;
        };
        let defs = self.v.defs;
        let root = ty.and_then(|t| t.elements.first());
        let el = el.filter(|e| inv.evaluates(e));
        let root = root.filter(|e| inv.evaluates(e));
        if el.is_none() && root.is_none() {
            return;
        }
        let resource = self.resource_stack.last().copied().unwrap_or_default();
        let mut seen: Vec<&str> = Vec::new();
        let all = &defs.artifact().constraints;
        for e in el.into_iter().chain(root) {
            for &index in &e.constraints {
                let Some(c) = all.get(index as usize) else {
                    continue;
                };
                if seen.contains(&c.key.as_str()) || skip.contains(&c.key.as_str()) {
                    continue;
                }
                seen.push(&c.key);
                let source = invariant::Source::Core {
                    constraint: c,
                    index,
                };
                if let Some(site) = invariant::Site::new(source, location, context, resource) {
                    self.sites.push(site);
                }
            }
        }
    }

    pub(crate) fn push(&mut self, issue: Issue, location: &str) {
        let issue = if location.is_empty() {
            issue
        } else {
            issue.at(location)
        };
        self.issues.push(issue);
    }
}

/// Issues grouped by a short kind label (quoted values elided), most frequent first — for
/// summaries (`firn validate`, the Synthea report).
///
/// ```
/// use firn_core::outcome::{Issue, IssueType};
/// let issues = [
///     Issue::warning(IssueType::Extension, "unknown extension 'a'"),
///     Issue::warning(IssueType::Extension, "unknown extension 'b'"),
/// ];
/// assert_eq!(firn_core::validate::summarize(&issues), [("warning extension: unknown extension …".to_string(), 2)]);
/// ```
pub fn summarize<'a>(issues: impl IntoIterator<Item = &'a Issue>) -> Vec<(String, usize)> {
    let mut m: HashMap<String, usize> = HashMap::new();
    for i in issues {
        let diag: String = i
            .diagnostics
            .split(['\'', '"'])
            .enumerate()
            .map(|(n, part)| if n % 2 == 1 { "…" } else { part })
            .collect();
        *m.entry(format!("{} {}: {}", i.severity, i.code, diag))
            .or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}
