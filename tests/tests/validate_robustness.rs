//! Validation never panics on input: every node of real resources replaced by values of every JSON
//! kind, truncated texts, and corrupted packages all give issues or errors, never a crash.

use firn_core::validate::{Package, Validator};
use serde_json::{Value, json};

/// Every JSON pointer of a value.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn mutated_synthea_resources_never_panic() {
    let shared = firn_tests::require_shared!();
    let pkg = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-6.1.0.tgz")).unwrap();
    let v = Validator::builder().package(pkg).build().unwrap();
    let replacements = [
        json!(null),
        json!(""),
        json!([]),
        json!({}),
        json!(-1),
        json!(true),
        json!("x y"),
        json!([null]),
    ];
    let mut validations = 0;
    let mut rejected = 0;
    for e in std::fs::read_dir(shared.join("data/synthea-10")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|f| f == "log.ndjson") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let mut ptrs = Vec::new();
        pointers(&first, String::new(), &mut ptrs);
        for ptr in ptrs.iter().take(150) {
            for r in &replacements {
                let mut m = first.clone();
                *m.pointer_mut(ptr).unwrap() = r.clone();
                let result = v.validate(&m);
                validations += 1;
                rejected += usize::from(!result.accepted());
            }
        }
    }
    println!(
        "suite: validate robustness: {validations} mutated resources, {rejected} rejected, no panic"
    );
    assert!(validations > 4000);
    // Nearly every mutation breaks something (a few, such as a "x y" display, are still valid).
    assert!(rejected * 10 > validations * 8, "{rejected}/{validations}");
}

#[test]
fn truncated_texts_never_panic() {
    let shared = firn_tests::require_shared!();
    let text = std::fs::read_to_string(shared.join("data/synthea-10/Patient.000.ndjson")).unwrap();
    let line = text.lines().next().unwrap();
    let v = Validator::new();
    for cut in (0..line.len())
        .filter(|c| line.is_char_boundary(*c))
        .step_by(7)
    {
        let r = v.validate_str(&line[..cut]);
        assert!(!r.accepted());
        assert!(r.outcome.issues[0].line_col.is_some());
    }
}

#[test]
fn corrupted_packages_are_errors() {
    let shared = firn_tests::require_shared!();
    let pkg = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-3.1.1.tgz")).unwrap();
    for cut in [0, 10, 11, 18, 100, 5000, pkg.len() / 2] {
        assert!(Package::from_tgz(&pkg[..cut]).is_err(), "cut at {cut}");
    }
    let mut flipped = pkg.clone();
    for i in (20..flipped.len()).step_by(997) {
        flipped[i] ^= 0x5a;
    }
    assert!(Package::from_tgz(&flipped).is_err());
}
