//! Invariant plumbing: which constraints are in play, where they are evaluated, with which
//! severity, and how expressions an engine cannot compile are reported (once, as information).
//!
//! The FHIRPath engine is plugged in through `InvariantEngine`; this test uses a small engine
//! that understands exactly three R4 expressions (pat-1, per-1, dom-2) and refuses the rest.

use firn_core::outcome::{IssueType, Severity};
use firn_core::validate::{CompiledInvariant, InvariantEngine, Validator};
use serde_json::{Value, json};
use std::sync::Arc;

struct ThreeExpressions;

enum Known {
    AnyOf(Vec<&'static str>),
    PeriodOrder,
    NoNestedContained,
}

impl CompiledInvariant for Known {
    fn holds(&self, _resource: &Value, focus: &Value, _context: &str) -> Result<bool, String> {
        Ok(match self {
            Known::AnyOf(keys) => keys.iter().any(|k| focus.get(k).is_some()),
            Known::PeriodOrder => match (focus["start"].as_str(), focus["end"].as_str()) {
                (Some(s), Some(e)) => s <= e,
                _ => true,
            },
            Known::NoNestedContained => !focus["contained"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c.get("contained").is_some()),
        })
    }
}

impl InvariantEngine for ThreeExpressions {
    fn compile(&self, expression: &str) -> Result<Box<dyn CompiledInvariant>, String> {
        Ok(Box::new(match expression {
            "name.exists() or telecom.exists() or address.exists() or organization.exists()" => {
                Known::AnyOf(vec!["name", "telecom", "address", "organization"])
            }
            "start.hasValue().not() or end.hasValue().not() or (start <= end)" => {
                Known::PeriodOrder
            }
            "contained.contained.empty()" => Known::NoNestedContained,
            _ => return Err("not supported by this engine".into()),
        }))
    }
}

fn validator() -> Validator {
    Validator::builder()
        .invariants(Arc::new(ThreeExpressions))
        .build()
        .unwrap()
}

fn invariant_errors(v: &Validator, r: &Value) -> Vec<(String, String)> {
    v.validate(r)
        .outcome
        .issues
        .iter()
        .filter(|i| i.code == IssueType::Invariant)
        .map(|i| {
            (
                i.details_code.clone().unwrap_or_default(),
                i.expression.join(","),
            )
        })
        .collect()
}

#[test]
fn compiles_each_expression_once() {
    let v = validator();
    // Every distinct core expression except the natively checked ele-1/ext-1.
    assert!(v.invariant_count() > 150, "{}", v.invariant_count());
    assert_eq!(
        Validator::builder()
            .without_invariants()
            .build()
            .unwrap()
            .invariant_count(),
        0
    );
}

#[test]
fn violations_are_located_with_their_severity() {
    let v = validator();
    let r = json!({"resourceType": "Patient", "contact": [{"name": {"family": "a"}}, {"gender": "male"}],
                   "name": [{"family": "x", "period": {"start": "2020-01-02", "end": "2020-01-01"}}]});
    let mut got = invariant_errors(&v, &r);
    got.sort();
    assert_eq!(
        got,
        [
            ("pat-1".to_string(), "Patient.contact[1]".to_string()),
            ("per-1".to_string(), "Patient.name[0].period".to_string()),
        ]
    );
    let out = v.validate(&r).outcome;
    let pat1 = out
        .issues
        .iter()
        .find(|i| i.details_code.as_deref() == Some("pat-1"))
        .unwrap();
    assert_eq!(pat1.severity, Severity::Error);
    assert!(pat1.diagnostics.contains("contact's details"));
}

#[test]
fn contained_resources_get_resource_invariants() {
    let v = validator();
    let r = json!({"resourceType": "Patient", "contained": [
        {"resourceType": "Patient", "id": "a", "contained": [{"resourceType": "Patient", "id": "b"}]}]});
    // dom-2 is a DomainResource rule evaluated on the container: its contained have contained.
    let got = invariant_errors(&v, &r);
    assert_eq!(got, [("dom-2".to_string(), "Patient".to_string())]);
}

#[test]
fn unsupported_expressions_are_one_information_each() {
    let v = validator();
    let r = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "referenceRange": [{"low": {"value": 1}}, {"low": {"value": 2}}]});
    let out = v.validate(&r).outcome;
    assert!(!out.has_errors(), "{out}");
    let infos: Vec<&str> = out
        .issues
        .iter()
        .filter(|i| i.code == IssueType::NotSupported)
        .filter_map(|i| i.details_code.as_deref())
        .collect();
    // obs-3 sits on each referenceRange: reported once; obs-6/obs-7 and dom-6 on the root
    // (dom-2..5, about contained resources, are not recorded for a resource without any).
    assert!(
        infos.contains(&"obs-3")
            && infos.contains(&"obs-6")
            && infos.contains(&"dom-6")
            && !infos.contains(&"dom-3"),
        "{infos:?}"
    );
    let mut dedup = infos.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), infos.len(), "one issue per constraint key");
}

#[test]
fn structure_only_skips_invariants() {
    let v = Validator::builder()
        .level(firn_core::validate::Level::StructureOnly)
        .invariants(Arc::new(ThreeExpressions))
        .build()
        .unwrap();
    let r = json!({"resourceType": "Patient", "contact": [{"gender": "male"}]});
    assert!(v.validate(&r).outcome.issues.is_empty());
}
