//! `firn patch` / `firn diff` end to end: both formats, round trip, errors as OperationOutcome.

use std::path::PathBuf;
mod support;
use support::firn;

fn temp(name: &str, v: &serde_json::Value) -> PathBuf {
    support::temp_file("cli-patch", name, &v.to_string())
}

#[test]
fn diff_then_patch_round_trips_in_both_formats() {
    let a = serde_json::json!({"resourceType": "Patient", "id": "p", "active": true,
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}]});
    let b = serde_json::json!({"resourceType": "Patient", "id": "p",
        "name": [{"family": "Chalmers", "given": ["James"]}], "gender": "male"});
    let (pa, pb) = (temp("a.json", &a), temp("b.json", &b));
    for format in ["fhirpath", "json"] {
        let (code, patch, err) = firn(&[
            "diff",
            pa.to_str().unwrap(),
            pb.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(code, 0, "{err}");
        let patch: serde_json::Value = serde_json::from_str(&patch).unwrap();
        if format == "fhirpath" {
            assert_eq!(patch["resourceType"], "Parameters");
        } else {
            assert!(patch.is_array());
        }
        let pp = temp(&format!("patch-{format}.json"), &patch);
        let (code, out, err) = firn(&["patch", pa.to_str().unwrap(), pp.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let patched: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(patched, b, "{format}");
    }
}

#[test]
fn failing_patch_prints_operation_outcome() {
    let a = serde_json::json!({"resourceType": "Patient", "id": "p"});
    let patch = serde_json::json!({"resourceType": "Parameters", "parameter": [{"name": "operation",
        "part": [{"name": "type", "valueCode": "replace"},
                 {"name": "path", "valueString": "Patient.birthDate"},
                 {"name": "value", "valueDate": "2000-01-01"}]}]});
    let (pa, pp) = (temp("x.json", &a), temp("bad-patch.json", &patch));
    let (code, _, err) = firn(&[
        "patch",
        pa.to_str().unwrap(),
        pp.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let outcome: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(outcome["issue"][0]["code"], "processing");
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "Parameters.parameter[0]"
    );
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("No content found at Patient.birthDate when replacing")
    );
}
