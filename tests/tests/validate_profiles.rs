//! Profile validation with the US Core packages: cardinality, fixed/pattern values, slicing
//! (value, pattern and type discriminators), nested slicing on complex extensions, requested
//! profiles and package errors.

use firn_core::validate::{ValidateError, Validator};
use serde_json::{Value, json};
use std::path::Path;

fn us_core(shared: &Path) -> Validator {
    let pkg = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-6.1.0.tgz")).unwrap();
    Validator::builder().package(pkg).build().unwrap()
}

const PATIENT: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient";
const BP: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure";

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "meta": {"profile": [PATIENT]},
        "identifier": [{"system": "http://x.org/mrn", "value": "1"}],
        "name": [{"family": "Doe"}],
        "gender": "female",
        "extension": [{
            "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
            "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}},
                {"url": "text", "valueString": "White"}
            ]
        }]
    })
}

fn bp() -> Value {
    let comp = |code: &str| {
        json!({
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
        })
    };
    json!({
        "resourceType": "Observation",
        "meta": {"profile": [BP]},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/1"},
        "effectiveDateTime": "2020-01-01T10:00:00Z",
        "component": [comp("8480-6"), comp("8462-4")]
    })
}

/// Error issues as "location: diagnostics".
fn errors(v: &Validator, r: &Value) -> Vec<String> {
    v.validate(r)
        .outcome
        .issues
        .iter()
        .filter(|i| i.severity.is_error())
        .map(|i| format!("{}: {}", i.expression.join(","), i.diagnostics))
        .collect()
}

#[test]
fn valid_instances_have_no_errors() {
    let shared = firn_tests::require_shared!();
    let v = us_core(&shared);
    assert_eq!(errors(&v, &patient()), Vec::<String>::new());
    assert_eq!(errors(&v, &bp()), Vec::<String>::new());
}

#[test]
fn profile_violations() {
    let shared = firn_tests::require_shared!();
    let v = us_core(&shared);
    let mut report = String::new();
    let cases: Vec<(&str, Value)> = vec![
        ("patient_missing_identifier", {
            let mut p = patient();
            p.as_object_mut().unwrap().remove("identifier");
            p
        }),
        ("patient_missing_gender_and_name", {
            let mut p = patient();
            let o = p.as_object_mut().unwrap();
            o.remove("gender");
            o.remove("name");
            p
        }),
        ("identifier_missing_system", {
            let mut p = patient();
            p["identifier"][0].as_object_mut().unwrap().remove("system");
            p
        }),
        ("race_missing_text", {
            let mut p = patient();
            p["extension"][0]["extension"].as_array_mut().unwrap().pop();
            p
        }),
        ("race_six_omb_categories", {
            let mut p = patient();
            let subs = p["extension"][0]["extension"].as_array_mut().unwrap();
            let c = subs[0].clone();
            for _ in 0..5 {
                subs.insert(0, c.clone());
            }
            p
        }),
        (
            "smoking_status_package_value_set",
            json!({
                "resourceType": "Observation", "status": "preliminary",
                "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-smokingstatus"]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "social-history"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
                "subject": {"reference": "Patient/1"}, "effectiveDateTime": "2020-01-01T10:00:00Z",
                "valueCodeableConcept": {"text": "never"}
            }),
        ),
        ("bp_wrong_code_pattern", {
            let mut o = bp();
            o["code"]["coding"][0]["code"] = json!("1234-5");
            o
        }),
        ("bp_missing_systolic", {
            let mut o = bp();
            o["component"].as_array_mut().unwrap().remove(0);
            o
        }),
        ("bp_wrong_unit_fixed", {
            let mut o = bp();
            o["component"][0]["valueQuantity"]["code"] = json!("kPa");
            o
        }),
        ("bp_missing_vital_signs_category", {
            let mut o = bp();
            o["category"][0]["coding"][0]["code"] = json!("laboratory");
            o
        }),
        ("bp_subject_not_a_patient", {
            let mut o = bp();
            o["subject"]["reference"] = json!("Group/1");
            o
        }),
        ("bp_value_type_not_allowed", {
            let mut o = bp();
            o["component"][0]
                .as_object_mut()
                .unwrap()
                .remove("valueQuantity");
            o["component"][0]["valueString"] = json!("120");
            o
        }),
        (
            "profile_for_other_type",
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "meta": {"profile": [PATIENT]}}),
        ),
    ];
    for (name, r) in &cases {
        let errs = errors(&v, r);
        assert!(!errs.is_empty(), "{name} must produce errors");
        report.push_str(&format!("## {name}\n{}\n", errs.join("\n")));
    }
    insta::assert_snapshot!("us_core_violations", report);
}

#[test]
fn requested_profile_applies_without_meta_profile() {
    let shared = firn_tests::require_shared!();
    let pkg = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-6.1.0.tgz")).unwrap();
    let v = Validator::builder()
        .package(pkg)
        .profile(PATIENT)
        .build()
        .unwrap();
    let r = v.validate(&json!({"resourceType": "Patient", "gender": "male"}));
    let errs: Vec<_> = r
        .outcome
        .issues
        .iter()
        .filter(|i| i.severity.is_error())
        .collect();
    assert_eq!(errs.len(), 2, "{}", r.outcome); // identifier and name are required
}

#[test]
fn package_and_profile_errors() {
    let shared = firn_tests::require_shared!();
    assert!(matches!(
        Validator::builder().package(b"not a tgz".to_vec()).build(),
        Err(ValidateError::Package(_))
    ));
    assert!(matches!(
        Validator::builder().profile(PATIENT).build(),
        Err(ValidateError::UnknownProfile(_))
    ));
    // Both US Core versions load side by side (3.1.1 is STU3-era but still R4).
    let old = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-3.1.1.tgz")).unwrap();
    let pkg = firn_core::validate::Package::from_tgz(&old).unwrap();
    assert_eq!(
        (pkg.name.as_str(), pkg.version.as_str()),
        ("hl7.fhir.us.core", "3.1.1")
    );
    assert!(pkg.resources.len() > 100);
    let v = Validator::builder().package(old).build().unwrap();
    // A profile that is not loaded is reported, not failed.
    let r =
        v.validate(&json!({"resourceType": "Patient", "meta": {"profile": ["http://x.org/p"]}}));
    assert!(r.accepted());
    let not_dom6: Vec<_> = r
        .outcome
        .issues
        .iter()
        .filter(|i| i.details_code.as_deref() != Some("dom-6"))
        .collect();
    assert_eq!(not_dom6.len(), 1, "{}", r.outcome);
    assert!(not_dom6[0].diagnostics.contains("http://x.org/p"));
}

#[test]
fn bundle_entries_and_contained_resources_are_checked_against_their_profiles() {
    let shared = firn_tests::require_shared!();
    let v = us_core(&shared);
    let mut bad = patient();
    bad.as_object_mut().unwrap().remove("identifier");
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient()}, {"resource": bad.clone()}]});
    let errs = errors(&v, &bundle);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "Bundle.entry[1].resource.identifier: Patient.identifier: minimum required = 1"
        ),
        "{errs:?}"
    );
    bad["id"] = json!("p1");
    let mut obs = bp();
    obs["contained"] = json!([bad]);
    obs["subject"] = json!({"reference": "#p1"});
    let errs = errors(&v, &obs);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("Observation.contained[0].identifier:"),
        "{errs:?}"
    );
}
