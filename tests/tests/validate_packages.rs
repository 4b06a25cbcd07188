//! A hand-made FHIR package (built here as a real `.tgz`) exercising what US Core does not:
//! closed and ordered slicing, the `exists` discriminator, maxLength, minValue/maxValue, narrowed
//! choice types, and a type profile from a missing dependency.

use firn_core::validate::Validator;
use serde_json::{Value, json};

const URL: &str = "http://example.org/StructureDefinition/strict-patient";

fn el(id: &str, min: u32, max: &str, extra: Value) -> Value {
    let mut e = json!({"id": id, "path": id.split(':').next().unwrap(), "min": min, "max": max});
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn profile() -> Value {
    let elements = vec![
        el("Patient", 0, "*", json!({})),
        el(
            "Patient.extension",
            0,
            "*",
            json!({"slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}}),
        ),
        el(
            "Patient.extension:eyeColor",
            0,
            "1",
            json!({"type": [{"code": "Extension", "profile": ["http://example.org/deps/eye-color"]}]}),
        ),
        el(
            "Patient.identifier",
            1,
            "*",
            json!({"slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed", "ordered": true}}),
        ),
        el("Patient.identifier:mrn", 1, "1", json!({})),
        el(
            "Patient.identifier:mrn.system",
            1,
            "1",
            json!({"fixedUri": "http://x.org/mrn"}),
        ),
        el("Patient.identifier:ssn", 0, "1", json!({})),
        el(
            "Patient.identifier:ssn.system",
            1,
            "1",
            json!({"fixedUri": "http://x.org/ssn"}),
        ),
        el(
            "Patient.name",
            0,
            "*",
            json!({"slicing": {"discriminator": [{"type": "exists", "path": "family"}], "rules": "open"}}),
        ),
        el("Patient.name.family", 0, "1", json!({"maxLength": 10})),
        el("Patient.name:withFamily", 1, "*", json!({})),
        el("Patient.name:withFamily.family", 1, "1", json!({})),
        el("Patient.communication", 0, "*", json!({})),
        el(
            "Patient.communication.language",
            1,
            "1",
            json!({"binding": {"strength": "extensible", "valueSet": "http://example.org/ValueSet/status|1.0"}}),
        ),
        el(
            "Patient.multipleBirth[x]",
            0,
            "1",
            json!({"type": [{"code": "integer"}], "minValueInteger": 1, "maxValueInteger": 5}),
        ),
    ];
    json!({"resourceType": "StructureDefinition", "url": URL, "name": "StrictPatient", "type": "Patient",
           "derivation": "constraint", "kind": "resource", "abstract": false, "status": "draft",
           "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
           "snapshot": {"element": elements}})
}

/// A Bundle profile slicing its entries by the profile of their resource.
fn bundle_profile() -> Value {
    let elements = vec![
        el("Bundle", 0, "*", json!({})),
        el(
            "Bundle.entry",
            0,
            "*",
            json!({"slicing": {"discriminator": [{"type": "profile", "path": "resource"}], "rules": "open"}}),
        ),
        el("Bundle.entry:patient", 1, "1", json!({})),
        el(
            "Bundle.entry:patient.resource",
            1,
            "1",
            json!({"type": [{"code": "Patient", "profile": [URL]}]}),
        ),
    ];
    json!({"resourceType": "StructureDefinition", "url": BUNDLE_URL, "name": "PatientBundle", "type": "Bundle",
           "derivation": "constraint", "kind": "resource", "abstract": false, "status": "draft",
           "snapshot": {"element": elements}})
}

const BUNDLE_URL: &str = "http://example.org/StructureDefinition/patient-bundle";

/// A ustar archive with the given files, gzip-wrapped.
fn tgz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, data) in files {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    gz.extend(miniz_oxide::deflate::compress_to_vec(&tar, 6));
    gz.extend(crc32(&tar).to_le_bytes());
    gz.extend((tar.len() as u32).to_le_bytes());
    gz
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn package() -> Vec<u8> {
    let manifest = json!({"name": "example.strict", "version": "0.1.0", "dependencies": {"hl7.fhir.r4.core": "4.0.1", "example.deps": "1.0.0"}});
    tgz(&[
        ("package/package.json", manifest.to_string().into_bytes()),
        (
            "package/StructureDefinition-strict-patient.json",
            profile().to_string().into_bytes(),
        ),
        (
            "package/StructureDefinition-patient-bundle.json",
            bundle_profile().to_string().into_bytes(),
        ),
        (
            "package/ValueSet-status.json",
            json!({"resourceType": "ValueSet", "url": "http://example.org/ValueSet/status", "status": "draft",
                   "compose": {"include": [{"system": "http://example.org/cs", "concept": [{"code": "single"}, {"code": "wed"}]}]}})
            .to_string()
            .into_bytes(),
        ),
    ])
}

fn validator() -> Validator {
    Validator::builder()
        .package(package())
        .profile(URL)
        .build()
        .unwrap()
}

fn patient() -> Value {
    json!({"resourceType": "Patient",
           "identifier": [{"system": "http://x.org/mrn", "value": "1"}, {"system": "http://x.org/ssn", "value": "2"}],
           "name": [{"family": "Doe"}], "multipleBirthInteger": 2})
}

/// Issues as `severity location: diagnostics`, without the dom-6 best-practice warning.
fn issues(v: &Validator, r: &Value) -> Vec<String> {
    v.validate(r)
        .outcome
        .issues
        .iter()
        // dom-6 (no narrative) is a best-practice warning these hand-made resources all earn.
        .filter(|i| i.details_code.as_deref() != Some("dom-6"))
        .map(|i| {
            format!(
                "{} {}: {}",
                i.severity,
                i.expression.join(","),
                i.diagnostics
            )
        })
        .collect()
}

#[test]
fn hand_made_package_profile() {
    let v = validator();
    assert_eq!(issues(&v, &patient()), Vec::<String>::new());
    // A package value set (core binds `language` as preferred only): members and explained codes pass.
    let mut p = patient();
    p["communication"] =
        json!([{"language": {"coding": [{"system": "http://example.org/cs", "code": "wed"}]}}]);
    assert_eq!(issues(&v, &p), Vec::<String>::new());
    p["communication"] = json!([{"language": {"coding": [{"system": "http://example.org/cs", "code": "other"}], "text": "it's complicated"}}]);
    assert_eq!(issues(&v, &p), Vec::<String>::new());
    let cases: Vec<(&str, Value)> = vec![
        ("closed_slicing_unknown_system", {
            let mut p = patient();
            p["identifier"][1]["system"] = json!("http://x.org/other");
            p
        }),
        ("ordered_slicing_out_of_order", {
            let mut p = patient();
            p["identifier"].as_array_mut().unwrap().reverse();
            p
        }),
        ("required_slice_missing", {
            let mut p = patient();
            p["identifier"].as_array_mut().unwrap().remove(0);
            p
        }),
        ("exists_discriminator_no_match", {
            let mut p = patient();
            p["name"] = json!([{"given": ["A"]}]);
            p
        }),
        ("max_length", {
            let mut p = patient();
            p["name"][0]["family"] = json!("Doe-Smith-Jones");
            p
        }),
        ("max_value", {
            let mut p = patient();
            p["multipleBirthInteger"] = json!(7);
            p
        }),
        ("min_value", {
            let mut p = patient();
            p["multipleBirthInteger"] = json!(0);
            p
        }),
        ("narrowed_choice_type", {
            let mut p = patient();
            p.as_object_mut().unwrap().remove("multipleBirthInteger");
            p["multipleBirthBoolean"] = json!(true);
            p
        }),
        ("extensible_binding_outside_package_value_set", {
            let mut p = patient();
            p["communication"] = json!([{"language": {"coding": [{"system": "http://example.org/cs", "code": "other"}]}}]);
            p
        }),
        ("type_profile_from_missing_dependency", {
            let mut p = patient();
            p["extension"] =
                json!([{"url": "http://example.org/deps/eye-color", "valueString": "blue"}]);
            p
        }),
    ];
    let mut report = String::new();
    for (name, r) in &cases {
        let got = issues(&v, r);
        assert!(!got.is_empty(), "{name}");
        report.push_str(&format!("## {name}\n{}\n", got.join("\n")));
    }
    insta::assert_snapshot!("strict_patient", report);
}

#[test]
fn profile_discriminator_on_inline_resources() {
    let v = Validator::builder().package(package()).build().unwrap();
    let bundle = |entries: Value| json!({"resourceType": "Bundle", "type": "collection", "meta": {"profile": [BUNDLE_URL]}, "entry": entries});
    let org = json!({"resource": {"resourceType": "Organization", "name": "x"}});
    let pat = json!({"resource": patient()});
    assert_eq!(
        issues(&v, &bundle(json!([org.clone(), pat]))),
        Vec::<String>::new()
    );
    let got = issues(&v, &bundle(json!([org])));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("Bundle.entry:patient: minimum required = 1, but only found 0"),
        "{got:?}"
    );
}
