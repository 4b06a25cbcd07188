//! Invariants: the `constraint`s of every element in play, evaluated by a FHIRPath engine.
//!
//! The validator does not depend on a particular FHIRPath implementation: an [`InvariantEngine`]
//! compiles expressions, and the validator compiles every distinct constraint expression of the
//! R4 definitions (and of loaded profiles) exactly once, when it is built. During the structural
//! walk each element that has constraints records a *site* (constraint, location, enclosing
//! resource); after the walk the sites are evaluated. An expression the engine cannot compile gives
//! one informational issue per constraint key — never a false error.
//!
//! `ref-1` (a `#id` reference needs that contained resource, checked by the walk's reference
//! rules, which also know the right container), `ele-1` (no empty elements), `ext-1` (value xor
//! extensions) and the narrative rules `txt-1`/
//! `txt-2` (`htmlChecks()`) are checked natively by the walk, which is both faster and gives
//! better messages, so they are not evaluated again here.

use super::Run;
use crate::definitions::{Constraint, Definitions};
use crate::outcome::{Issue, IssueType, Severity};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A FHIRPath engine as the validator needs it.
///
/// ```
/// use firn_core::validate::{CompiledInvariant, InvariantEngine, Validator};
/// use serde_json::{Value, json};
/// use std::sync::Arc;
///
/// /// Understands one expression: pat-1 on Patient.contact.
/// struct Tiny;
/// struct HasDetails;
/// impl CompiledInvariant for HasDetails {
///     fn holds(&self, _resource: &Value, focus: &Value, _context: &str) -> Result<bool, String> {
///         Ok(["name", "telecom", "address", "organization"].iter().any(|k| focus.get(k).is_some()))
///     }
/// }
/// impl InvariantEngine for Tiny {
///     fn compile(&self, e: &str) -> Result<Box<dyn CompiledInvariant>, String> {
///         if e.starts_with("name.exists() or telecom.exists()") { Ok(Box::new(HasDetails)) } else { Err("unsupported".into()) }
///     }
/// }
/// let v = Validator::builder().invariants(Arc::new(Tiny)).build().unwrap();
/// let r = v.validate(&json!({"resourceType": "Patient", "contact": [{"gender": "male"}]}));
/// let issue = r.outcome.issues.iter().find(|i| i.severity.is_error()).unwrap();
/// assert_eq!(issue.details_code.as_deref(), Some("pat-1"));
/// assert_eq!(issue.expression, ["Patient.contact[0]"]);
/// ```
pub trait InvariantEngine: Send + Sync {
    /// Compiles an invariant expression; `Err` carries the reason it is not supported.
    fn compile(&self, expression: &str) -> Result<Box<dyn CompiledInvariant>, String>;
}

/// A compiled invariant expression.
pub trait CompiledInvariant: Send + Sync {
    /// Evaluates the expression with `focus` as its context (and `%resource` = `resource`);
    /// `context` is the focus's type (`HumanName`, or `Patient.contact` for an inline group).
    /// `Ok(true)` when the invariant holds; `Err` when evaluation fails.
    fn holds(&self, resource: &Value, focus: &Value, context: &str) -> Result<bool, String>;
}

/// Keys the walk checks natively.
const NATIVE: &[&str] = &["ele-1", "ext-1", "ref-1", "txt-1", "txt-2"];

/// DomainResource rules about contained resources (`contained.contained.empty()` …): they hold
/// whenever a resource has no `contained`, which is nearly always, so no site is recorded then
/// (four sites per resource saved; the test below evaluates each one to be sure).
pub(crate) const VACUOUS_WITHOUT_CONTAINED: &[&str] = &["dom-2", "dom-3", "dom-4", "dom-5"];

/// Every compiled constraint expression: R4 constraints found by their artifact index (no
/// hashing of long expression texts per site), profile constraints by expression text.
pub(crate) struct Invariants {
    compiled: Vec<Result<Box<dyn CompiledInvariant>, String>>,
    /// Per R4 constraint (artifact index): its slot in `compiled`, or `None` when it is checked
    /// natively or has no expression. Lets the walk skip, without a string comparison, the
    /// elements whose only constraint is ele-1 — nearly all of them.
    core: Vec<Option<u32>>,
    /// Expression text → slot, for profile constraints.
    by_expression: HashMap<String, u32>,
}

impl std::fmt::Debug for Invariants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invariants({} expressions)", self.compiled.len())
    }
}

impl Invariants {
    pub(crate) fn new<'a>(
        engine: &Arc<dyn InvariantEngine>,
        defs: &'a Definitions,
        extra: impl Iterator<Item = &'a str>,
    ) -> Self {
        let mut compiled = Vec::new();
        let mut by_expression: HashMap<String, u32> = HashMap::new();
        let mut slot = |e: &str| -> u32 {
            *by_expression.entry(e.to_string()).or_insert_with(|| {
                compiled.push(engine.compile(e));
                (compiled.len() - 1) as u32
            })
        };
        let core = defs
            .artifact()
            .constraints
            .iter()
            .map(|c| match &c.expression {
                Some(e) if !NATIVE.contains(&c.key.as_str()) => Some(slot(e)),
                _ => None,
            })
            .collect();
        for e in extra {
            slot(e);
        }
        Invariants {
            compiled,
            core,
            by_expression,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.compiled.len()
    }

    /// True when one of the element's R4 constraints is evaluated after the walk.
    pub(crate) fn evaluates(&self, element: &crate::definitions::ElementDef) -> bool {
        element
            .constraints
            .iter()
            .any(|&i| self.core.get(i as usize).is_some_and(Option::is_some))
    }

    /// The compiled expression of a site's constraint.
    fn compiled(&self, source: &Source) -> Option<&Result<Box<dyn CompiledInvariant>, String>> {
        let slot = match source {
            Source::Core { index, .. } => self.core.get(*index as usize).copied().flatten()?,
            Source::Profile(c) => *self.by_expression.get(c.expression.as_deref()?)?,
        };
        self.compiled.get(slot as usize)
    }
}

/// Where a site's constraint lives: the 'static R4 definitions (almost always) or a profile.
pub(crate) enum Source {
    /// An R4 constraint and its index in the artifact.
    Core {
        constraint: &'static Constraint,
        index: u32,
    },
    Profile(Box<Constraint>),
}

/// One constraint to evaluate after the walk.
pub(crate) struct Site {
    pub(crate) constraint: Source,
    pub(crate) location: String,
    /// The focus's FHIRPath type (`HumanName`; `Patient.contact` for inline groups).
    pub(crate) context: String,
    /// Index into `Run::resource_locs`: the enclosing resource, for `%resource`.
    pub(crate) resource: usize,
}

impl Site {
    /// A site, unless the constraint is checked natively or has no expression.
    pub(crate) fn new(
        constraint: Source,
        location: &str,
        context: &str,
        resource: usize,
    ) -> Option<Site> {
        let c: &Constraint = match &constraint {
            Source::Core { constraint, .. } => constraint,
            Source::Profile(c) => c,
        };
        if NATIVE.contains(&c.key.as_str()) || c.expression.is_none() {
            return None;
        }
        Some(Site {
            constraint,
            location: location.to_string(),
            context: context.to_string(),
            resource,
        })
    }

    fn constraint(&self) -> &Constraint {
        match &self.constraint {
            Source::Core { constraint, .. } => constraint,
            Source::Profile(c) => c,
        }
    }
}

impl Run<'_> {
    /// Evaluates the recorded sites against the root value.
    pub(crate) fn evaluate_invariants(&mut self, root: &Value) {
        let Some(inv) = &self.v.invariants else {
            return;
        };
        let sites = std::mem::take(&mut self.sites);
        let root_name = root
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let resource_locs = std::mem::take(&mut self.resource_locs);
        for s in sites {
            let resource_loc = resource_locs.get(s.resource).map_or("", String::as_str);
            let (Some(focus), Some(resource)) = (
                node(root, root_name, &s.location),
                node(root, root_name, resource_loc),
            ) else {
                continue;
            };
            let c = s.constraint();
            match inv.compiled(&s.constraint) {
                Some(Ok(compiled)) => match compiled.holds(resource, focus, &s.context) {
                    Ok(true) => {}
                    Ok(false) => {
                        let severity = if c.severity == "error" {
                            Severity::Error
                        } else {
                            Severity::Warning
                        };
                        let issue = Issue::new(
                            severity,
                            IssueType::Invariant,
                            format!("{}: {}", c.key, c.human),
                        )
                        .with_details_code(c.key.clone());
                        self.push(issue, &s.location);
                    }
                    Err(e) => self.unsupported(&s, &format!("evaluation failed: {e}")),
                },
                Some(Err(e)) => {
                    let e = e.clone();
                    self.unsupported(&s, &e);
                }
                None => self.unsupported(&s, "not compiled"),
            }
        }
    }

    fn unsupported(&mut self, s: &Site, why: &str) {
        let c = s.constraint();
        if self.unexpanded.insert(format!("invariant:{}", c.key)) {
            let expr = c.expression.as_deref().unwrap_or_default();
            let issue = Issue::information(
                IssueType::NotSupported,
                format!("invariant {} ({expr}) was not checked: {why}", c.key),
            )
            .with_details_code(c.key.clone());
            self.push(issue, &s.location);
        }
    }
}

/// The node at a FHIRPath-style location (`Patient.name[0].given[1]`, `_x` companions ignored).
pub(crate) fn node<'a>(root: &'a Value, root_name: &str, location: &str) -> Option<&'a Value> {
    let rest = location.strip_prefix(root_name)?;
    let mut cur = root;
    let mut chars = rest;
    while !chars.is_empty() {
        if let Some(r) = chars.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            chars = &r[end..];
        } else if let Some(r) = chars.strip_prefix('[') {
            let end = r.find(']')?;
            cur = cur.get(r[..end].parse::<usize>().ok()?)?;
            chars = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhirpath::invariants::FhirPathInvariants;
    use serde_json::json;

    #[test]
    fn contained_rules_hold_without_contained() {
        let defs = Definitions::r4();
        let resource = json!({"resourceType": "Patient", "id": "a", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "meta": {"versionId": "1", "security": [{"code": "x"}]}, "name": [{"family": "F"}]});
        for key in VACUOUS_WITHOUT_CONTAINED {
            let c = defs
                .artifact()
                .constraints
                .iter()
                .find(|c| c.key == *key)
                .unwrap_or_else(|| panic!("{key} is an R4 constraint"));
            let expr = c.expression.as_deref().unwrap();
            assert!(expr.starts_with("contained."), "{key}: {expr}");
            let compiled = FhirPathInvariants.compile(expr).unwrap();
            assert_eq!(
                compiled.holds(&resource, &resource, "Patient"),
                Ok(true),
                "{key}"
            );
        }
    }
}
