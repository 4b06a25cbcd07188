//! The validation catalogue: hand-made invalid resources, each with the exact issues it must
//! produce (severity, IssueType code, FHIRPath location), and valid edge cases that must produce
//! none. The full diagnostics of every case are pinned by one insta snapshot.

use firn_core::outcome::Severity;
use firn_core::validate::{Level, Validator};

include!("common/catalogue.rs");

/// dom-6 ("a resource should have narrative") is a best-practice warning on every resource
/// without `text`, which is nearly every catalogue case; `validate_invariants` covers it.
fn counted(i: &&firn_core::outcome::Issue) -> bool {
    i.details_code.as_deref() != Some("dom-6")
}

fn render(r: &firn_core::validate::Validation) -> Vec<String> {
    r.outcome
        .issues
        .iter()
        .filter(counted)
        .map(|i| {
            let s = match i.severity {
                Severity::Fatal | Severity::Error => "E",
                Severity::Warning => "W",
                Severity::Information => "I",
            };
            format!(
                "{s} {} {}",
                i.code,
                i.expression.first().map_or("", String::as_str)
            )
        })
        .collect()
}

#[test]
fn catalogue() {
    let v = Validator::new();
    assert!(CASES.len() >= 120, "catalogue has {} cases", CASES.len());
    let mut failures = Vec::new();
    let mut snapshot = String::new();
    for (name, json, expected) in CASES {
        let r = v.validate_str(json);
        let mut got = render(&r);
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        if got != want {
            failures.push(format!(
                "{name}:\n   want {want:?}\n   got  {got:?}\n   {}",
                r.outcome
            ));
        }
        if expected.iter().any(|e| e.starts_with('E')) && r.accepted() {
            failures.push(format!("{name} must be rejected"));
        }
        snapshot.push_str(&format!("## {name}\n"));
        for i in r.outcome.issues.iter().filter(counted) {
            snapshot.push_str(&format!("{i}\n"));
        }
    }
    println!(
        "suite: validate catalogue: {} cases, {} as expected",
        CASES.len(),
        CASES.len() - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    insta::assert_snapshot!("catalogue", snapshot);
}

#[test]
fn syntax_error_has_line_and_column() {
    let r =
        Validator::new().validate_str("{\n  \"resourceType\": \"Patient\",\n  \"active\": x\n}");
    assert_eq!(r.outcome.issues.len(), 1);
    assert_eq!(r.outcome.issues[0].severity, Severity::Fatal);
    assert_eq!(r.outcome.issues[0].line_col, Some((3, 13)));
}

#[test]
fn issues_carry_line_and_column() {
    let text = "{\n  \"resourceType\": \"Patient\",\n  \"name\": [\n    {\"given\": [\"a\", 1]}\n  ],\n  \"gender\": \"m\"\n}";
    let r = Validator::new().validate_str(text);
    let at: Vec<_> = r
        .outcome
        .issues
        .iter()
        .filter(counted)
        .map(|i| (i.expression[0].as_str(), i.line_col))
        .collect();
    assert_eq!(
        at,
        [
            ("Patient.name[0].given[1]", Some((4, 21))),
            ("Patient.gender", Some((6, 3)))
        ]
    );
}

#[test]
fn levels() {
    let bad_code = r#"{"resourceType":"Patient","gender":"m"}"#;
    let bad_date = r#"{"resourceType":"Patient","birthDate":"2020-02-30"}"#;
    let structure = Validator::builder()
        .level(Level::StructureOnly)
        .build()
        .unwrap();
    // Structure-only skips terminology but still checks primitive values.
    assert!(structure.validate_str(bad_code).outcome.issues.is_empty());
    assert!(!structure.validate_str(bad_date).accepted());
    let minimal = Validator::builder().level(Level::Minimal).build().unwrap();
    let r = minimal.validate_str(bad_date);
    assert_eq!(r.error_count(), 1);
    assert!(r.accepted(), "minimal never rejects");
    assert!(!Validator::new().validate_str(bad_code).accepted());
}

#[test]
fn validator_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Validator>();
}

#[test]
fn outcome_json_has_expression_and_position() {
    let r = Validator::new().validate_str(r#"{"resourceType":"Patient","active":"yes"}"#);
    let j = r.outcome.to_json();
    assert_eq!(j["issue"][0]["expression"][0], "Patient.active");
    assert_eq!(j["issue"][0]["code"], "value");
    assert_eq!(j["issue"][0]["extension"][0]["valueInteger"], 1);
}
