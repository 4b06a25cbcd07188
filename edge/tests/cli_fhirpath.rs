//! `firn fhirpath` end to end: typed results with locations, variables, and the caret error.

mod support;
use serde_json::{Value, json};
use support::firn;

fn patient() -> std::path::PathBuf {
    let p = json!({"resourceType": "Patient", "id": "p1", "birthDate": "1974-12-25",
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
                 {"use": "usual", "given": ["Jim"]}]});
    support::temp_file("cli-fhirpath", "patient.json", &p.to_string())
}

#[test]
fn results_carry_type_value_and_location() {
    let p = patient();
    let (code, out, err) = firn(&[
        "fhirpath",
        "Patient.name.where(use = 'official').given",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!([
            {"type": "string", "value": "Peter", "location": "Patient.name[0].given[0]"},
            {"type": "string", "value": "James", "location": "Patient.name[0].given[1]"}
        ])
    );
    // Computed values are System types without a location.
    let (_, out, _) = firn(&["fhirpath", "birthDate < @2000-01-01", p.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!([{"type": "System.Boolean", "value": true}]));
}

#[test]
fn variables_are_json_or_strings() {
    let p = patient();
    let (code, out, err) = firn(&[
        "fhirpath",
        "name.given.where($this = %who).count() + %n",
        p.to_str().unwrap(),
        "--var",
        "who=Jim",
        "--var",
        "n=10",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["value"], json!(11));
}

#[test]
fn syntax_errors_point_at_the_position() {
    let p = patient();
    let (code, out, err) = firn(&["fhirpath", "name.where(use = )", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("error: syntax error at line 1, column"),
        "{err}"
    );
    assert_eq!(lines[1], "  name.where(use = )");
    assert_eq!(lines[2], format!("  {}^", " ".repeat(17)), "{err}");
    // Unknown functions are reported too, and a missing file is a clear error.
    let (code, _, err) = firn(&["fhirpath", "name.frobnicate()", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("frobnicate"), "{err}");
    let (code, _, err) = firn(&["fhirpath", "name", "/nonexistent/x.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/x.json"), "{err}");
}
