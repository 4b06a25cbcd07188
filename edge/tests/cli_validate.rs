//! `firn validate` end to end: exit codes, locations, NDJSON line numbers, JSON output, levels.

mod support;
use support::firn;

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    support::temp_file("cli-validate", name, text)
}

#[test]
fn json_file_with_errors_exits_1_with_locations() {
    let p = temp(
        "bad.json",
        "{\"resourceType\": \"Patient\",\n  \"birthDate\": \"2023-02-30\"}",
    );
    let (code, out, _) = firn(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad.json:2:3: error [value] Patient.birthDate:"),
        "{out}"
    );
    assert!(out.contains("1 resources in 1 files: 1 errors"), "{out}");
}

#[test]
fn ndjson_reports_line_numbers_and_minimal_never_fails() {
    let p = temp(
        "two.ndjson",
        "{\"resourceType\":\"Patient\"}\n{\"resourceType\":\"Patient\",\"gender\":\"m\"}\n",
    );
    let (code, out, _) = firn(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("two.ndjson:2:27: error [code-invalid] Patient.gender"),
        "{out}"
    );
    let (code, _, _) = firn(&["validate", "--level", "minimal", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _, _) = firn(&["validate", "--level", "structure-only", p.to_str().unwrap()]);
    assert_eq!(code, 0, "structure-only does not check bindings");
}

#[test]
fn json_format_prints_operation_outcomes() {
    // With a narrative, so not even the dom-6 best-practice warning applies.
    let p = temp(
        "ok.json",
        r#"{"resourceType":"Patient","active":true,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">A</div>"}}"#,
    );
    let (code, out, _) = firn(&["validate", "--format", "json", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let oo: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["diagnostics"], "All OK");
}

#[test]
fn unknown_profile_is_a_usage_error() {
    let p = temp("p.json", "{\"resourceType\":\"Patient\"}");
    let (code, _, _) = firn(&[
        "validate",
        "--profile",
        "http://x.org/p",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
}
