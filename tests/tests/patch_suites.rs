//! Runs the official JSON Patch conformance cases from the shared reference data.

use firn_core::patch::apply_json_patch;
use serde_json::Value;

#[test]
fn json_patch_suite() {
    let shared = firn_tests::require_shared!();
    let text =
        std::fs::read_to_string(shared.join("conformance/patch/json-patch-tests.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let mut doc = case["doc"].clone();
        let before = doc.clone();
        let result = apply_json_patch(&mut doc, &case["patch"]);
        let ok = if case.get("error").is_some() {
            result.is_err() && doc == before
        } else {
            result.is_ok() && Some(&doc) == case.get("expected")
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
            eprintln!("FAILED: {} -> {:?}", case["comment"], result);
        }
    }
    println!("JSON Patch suite: {passed} passed, {failed} failed");
    assert_eq!(failed, 0);
    assert_eq!(passed, cases.len());
}

/// Diff every pair of neighbouring Synthea resources of the same type, plus an edited copy of each,
/// and check that applying the diff reproduces the target exactly.
#[test]
fn json_patch_diff_roundtrips_on_synthea() {
    use firn_core::patch::diff_json_patch;
    let shared = firn_tests::require_shared!();
    let dir = shared.join("data/synthea-10");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("ndjson") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let res: Vec<Value> = text
            .lines()
            .take(50)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r.get("resourceType").is_some())
            .collect();
        for pair in res.windows(2) {
            let (a, mut b) = (pair[0].clone(), pair[1].clone());
            b["id"] = a["id"].clone();
            b["resourceType"] = a["resourceType"].clone();
            b["x/~key"] = serde_json::json!([1, {"y": null}]);
            let mut x = a.clone();
            let d = diff_json_patch(&a, &b);
            apply_json_patch(&mut x, &d).unwrap_or_else(|e| panic!("{e} {d}"));
            assert_eq!(x, b);
            checked += 1;
        }
    }
    assert!(checked > 0);
    println!("JSON Patch diff round-trips: {checked}");
}

/// XHTML compared as markup, not as text layout: entity spellings and whitespace between tags
/// differ between the suite's attribute-encoded patch values and its element-encoded outputs.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if s.starts_with("<div") => {
                            let s = s
                                .replace("&quot;", "\"")
                                .replace("&apos;", "'")
                                .replace('\r', "");
                            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
                            Value::String(
                                s.replace("> <", "><").replace(" <", "<").replace("> ", ">"),
                            )
                        }
                        v => normalize(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        v => v.clone(),
    }
}

/// The official FHIRPath Patch cases (XML, converted with the definitions-aware reader): apply
/// each patch; for `mode="both"` also generate the patch with the diff and compare.
#[test]
fn fhirpath_patch_suite() {
    use firn_core::patch::{apply_fhirpath_patch, diff_fhirpath_patch};
    let shared = firn_tests::require_shared!();
    let xml =
        std::fs::read_to_string(shared.join("conformance/patch/fhir-patch-tests.xml")).unwrap();
    let cases = firn_tests::fhir_xml::cases(&xml, "case").unwrap();
    assert_eq!(cases.len(), 33);
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let name = case.attr("name").unwrap_or("?");
        let input = case.resource("input").expect("input");
        let patch = case.resource("diff").expect("diff");
        let mut problems = Vec::new();
        let mut doc = input.clone();
        let result = apply_fhirpath_patch(&mut doc, patch);
        match (case.part_attr("error", "msg"), case.resource("output")) {
            (Some(msg), _) => match &result {
                Err(e) if e.to_string().contains(msg) && doc == *input => {}
                other => problems.push(format!("expected error `{msg}`, got {other:?}")),
            },
            (None, Some(output)) => {
                if let Err(e) = &result {
                    problems.push(format!("apply failed: {e}"));
                } else if normalize(&doc) != normalize(output) {
                    problems.push(format!("apply gave {doc}\n   expected {output}"));
                }
                if case.attr("mode") == Some("both") {
                    let generated = diff_fhirpath_patch(input, output);
                    if normalize(&generated) != normalize(patch) {
                        problems.push(format!("diff gave {generated}\n   expected {patch}"));
                    }
                }
            }
            (None, None) => problems.push("case has neither output nor error".into()),
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            eprintln!("FAILED: {name}\n  {}", problems.join("\n  "));
        }
    }
    println!("FHIRPath Patch suite: {passed} passed, {failed} failed");
    assert_eq!(failed, 0);
}

mod roundtrip {
    //! diff → apply round trips for both patch formats over Synthea resources with random edits.
    use firn_core::patch::{
        apply_fhirpath_patch, apply_json_patch, diff_fhirpath_patch, diff_json_patch,
    };
    use proptest::prelude::*;
    use serde_json::Value;
    use std::sync::OnceLock;

    fn corpus() -> Option<&'static [Value]> {
        static CORPUS: OnceLock<Option<Vec<Value>>> = OnceLock::new();
        CORPUS
            .get_or_init(|| {
                let shared = firn_tests::shared_dir()?;
                Some(firn_tests::synthea_resources(&shared))
            })
            .as_deref()
    }

    /// JSON pointers of every node below the root, except `resourceType` and `id`.
    fn nodes(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    if at.is_empty() && (k == "resourceType" || k == "id") {
                        continue;
                    }
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    nodes(c, p, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    nodes(c, p, out);
                }
            }
            _ => {}
        }
    }

    fn parent(p: &str) -> (&str, &str) {
        p.rsplit_once('/').unwrap_or(("", p))
    }

    /// One random, FHIR-shaped edit chosen by `seed`: change a string, drop an element, drop,
    /// duplicate or reorder list items.
    fn edit(r: &mut Value, seed: u64) {
        let mut all = Vec::new();
        nodes(r, String::new(), &mut all);
        if all.is_empty() {
            return;
        }
        let p = all[(seed as usize / 7) % all.len()].clone();
        let (par, last) = parent(&p);
        let in_array = r.pointer(par).is_some_and(Value::is_array);
        match seed % 5 {
            0 => {
                if let Some(Value::String(s)) = r.pointer_mut(&p) {
                    s.push_str("-edited");
                }
            }
            1 if !in_array => {
                if let Some(Value::Object(m)) = r.pointer_mut(par) {
                    m.shift_remove(last);
                    // A primitive and its companion go together.
                    m.shift_remove(&format!("_{last}"));
                }
            }
            2..=4 if in_array => {
                let companion = format!("{}/_{}", parent(par).0, parent(par).1);
                if r.pointer(&companion).is_some() {
                    return; // keep primitive lists and their `_x` aligned: not edited here
                }
                let Some(Value::Array(a)) = r.pointer_mut(par) else {
                    return;
                };
                let i: usize = last.parse().unwrap_or(0);
                match seed % 5 {
                    2 if a.len() > 1 => {
                        a.remove(i);
                    }
                    3 => {
                        let item = a[i].clone();
                        a.insert((seed as usize / 3) % (a.len() + 1), item);
                    }
                    _ => a.reverse(),
                }
            }
            _ => {}
        }
    }

    /// FHIR JSON has no empty objects or arrays: drop those an edit left behind.
    fn prune(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.values_mut().for_each(prune);
                m.retain(|_, c| {
                    !matches!(c, Value::Object(o) if o.is_empty())
                        && !matches!(c, Value::Array(a) if a.is_empty())
                });
            }
            Value::Array(a) => {
                a.iter_mut().for_each(prune);
                a.retain(|c| !matches!(c, Value::Object(o) if o.is_empty()));
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn diffs_apply_back_exactly(pick in any::<usize>(), seeds in prop::collection::vec(any::<u64>(), 1..5)) {
            let Some(corpus) = corpus() else { return Ok(()); };
            let a = corpus[pick % corpus.len()].clone();
            let mut b = a.clone();
            for s in &seeds {
                edit(&mut b, *s);
                prune(&mut b);
            }
            let fp = diff_fhirpath_patch(&a, &b);
            let mut x = a.clone();
            apply_fhirpath_patch(&mut x, &fp).map_err(|e| TestCaseError::fail(format!("{e}\n{fp}")))?;
            prop_assert_eq!(&x, &b, "FHIRPath Patch {}", fp);
            let jp = diff_json_patch(&a, &b);
            let mut y = a.clone();
            apply_json_patch(&mut y, &jp).map_err(|e| TestCaseError::fail(format!("{e}\n{jp}")))?;
            prop_assert_eq!(&y, &b, "JSON Patch {}", jp);
        }
    }
}
