//! `firn serve --package us-core.tgz`: resources claiming US Core profiles are validated against
//! them at `strict` (not at `structure-only`), and `$validate?profile=` uses the package.

mod support;

use serde_json::json;
use support::Server;

const US_CORE_PATIENT: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient";

#[test]
fn packages_drive_profile_validation() {
    let Some(shared) = support::shared() else {
        return;
    };
    let pkg = shared.join("data/packages/hl7.fhir.us.core-6.1.0.tgz");
    let s = Server::start_with("profiles", &["--package", pkg.to_str().unwrap()]);
    // US Core Patient needs identifier, name and gender.
    let bare = json!({"resourceType": "Patient", "meta": {"profile": [US_CORE_PATIENT]}, "birthDate": "1990-01-01"});
    let r = s.post("/Patient", &bare);
    assert_eq!(r.status, 400, "{}", r.text());
    let oo = r.json();
    assert!(
        oo["issue"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |i| i["diagnostics"].as_str().unwrap().contains("identifier")
                    || i["expression"].to_string().contains("identifier")
            ),
        "{oo}"
    );
    let r = s
        .req("POST", "/Patient")
        .json(&bare)
        .header("x-amzn-healthlake-fhir-validation-level", "structure-only")
        .send();
    assert_eq!(
        r.status,
        201,
        "structure-only ignores profiles: {}",
        r.text()
    );
    let good = json!({"resourceType": "Patient", "meta": {"profile": [US_CORE_PATIENT]},
        "identifier": [{"system": "urn:x", "value": "1"}], "name": [{"family": "Ok"}], "gender": "female"});
    assert_eq!(s.post("/Patient", &good).status, 201);
    // $validate against a named profile
    let plain = json!({"resourceType": "Patient", "birthDate": "1990-01-01"});
    let r = s.post(
        &format!("/Patient/$validate?profile={US_CORE_PATIENT}"),
        &plain,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.json()["issue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["severity"] == "error")
    );
    // the same profile without the package is unknown
    let bare_server = Server::start("profiles-none");
    let r = bare_server.post(
        &format!("/Patient/$validate?profile={US_CORE_PATIENT}"),
        &plain,
    );
    assert_eq!(r.status, 400);
    r.outcome();
    // a broken package is a start-up error, not a crash
    let bad = support::temp_dir("badpkg").join("bad.tgz");
    std::fs::write(&bad, b"not a tgz").unwrap();
    let data = support::temp_dir("badpkg-data");
    let (code, _, stderr) = support::firn(&[
        "serve",
        "--port",
        "0",
        "--package",
        bad.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("FHIR packages"), "{stderr}");
}
