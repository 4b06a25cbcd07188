//! `firn search` end to end: files in, results / Bundle / OperationOutcome out.

mod support;
use support::firn;

fn data() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("firn-cli-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("data.ndjson");
    std::fs::write(
        &f,
        [
            r#"{"resourceType":"Patient","id":"a","name":[{"family":"Chalmers"}],"gender":"male"}"#,
            r#"{"resourceType":"Patient","id":"b","name":[{"family":"Müller"}],"gender":"female"}"#,
            r#"{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/b"}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    f
}

#[test]
fn text_output_lists_matches_and_includes() {
    let f = data();
    let (code, out, err) = firn(&[
        "search",
        "Observation",
        "subject.family=muller&_include=Observation:subject",
        f.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Observation/o\nPatient/b (include)\n");
    assert!(err.contains("1 match(es) in 3 resources"), "{err}");
}

#[test]
fn json_output_is_a_searchset_bundle() {
    let f = data();
    let (code, out, _) = firn(&[
        "search",
        "Patient",
        "gender=female",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--base",
        "http://x/fhir",
    ]);
    assert_eq!(code, 0);
    let b: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(b["type"], "searchset");
    assert_eq!(b["total"], 1);
    assert_eq!(b["entry"][0]["fullUrl"], "http://x/fhir/Patient/b");
}

#[test]
fn errors_name_the_parameter() {
    let f = data();
    let (code, _, err) = firn(&["search", "Patient", "colour=red", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("colour"), "{err}");
    let (code, out, _) = firn(&[
        "search",
        "Patient",
        "colour=red",
        f.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 2);
    let oo: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let (code, out, err) = firn(&[
        "search",
        "Patient",
        "colour=red&gender=male",
        f.to_str().unwrap(),
        "--lenient",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "Patient/a\n");
    assert!(err.contains("ignored `colour`"), "{err}");
}
