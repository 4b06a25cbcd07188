//! Apply and diff JSON Patch and FHIRPath Patch on Synthea resources; skips when the reference
//! data is absent.

use criterion::{Criterion, criterion_group, criterion_main};
use firn_core::patch::{
    apply_fhirpath_patch, apply_json_patch, diff_fhirpath_patch, diff_json_patch,
};
use serde_json::Value;

fn bench(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/synthea-10/Patient.000.ndjson"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("skipped: reference data not found");
        return;
    };
    let res: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if res.len() < 2 {
        return;
    }
    let (a, mut b) = (res[0].clone(), res[1].clone());
    b["id"] = a["id"].clone();
    let patch = diff_json_patch(&a, &b);
    c.bench_function("diff_json_patch Patient", |x| {
        x.iter(|| diff_json_patch(&a, &b))
    });
    c.bench_function("apply_json_patch Patient", |x| {
        x.iter(|| {
            let mut r = a.clone();
            apply_json_patch(&mut r, &patch).unwrap();
            r
        })
    });
    c.bench_function("clone Patient (baseline)", |x| x.iter(|| a.clone()));

    // FHIRPath Patch: a typical small edit (one primitive replaced, one list item removed, one
    // element added) and the whole-patient rewrite above.
    let mut edited = a.clone();
    edited["birthDate"] = Value::from("1970-01-01");
    if let Some(names) = edited["name"].as_array_mut() {
        names[0]["family"] = Value::from("Edited");
    }
    if let Some(t) = edited["telecom"].as_array_mut() {
        t.push(serde_json::json!({"system": "email", "value": "x@example.org"}));
    }
    let small = diff_fhirpath_patch(&a, &edited);
    let large = diff_fhirpath_patch(&a, &b);
    c.bench_function("diff_fhirpath_patch Patient (3 edits)", |x| {
        x.iter(|| diff_fhirpath_patch(&a, &edited))
    });
    c.bench_function("diff_fhirpath_patch Patient (other patient)", |x| {
        x.iter(|| diff_fhirpath_patch(&a, &b))
    });
    c.bench_function("apply_fhirpath_patch Patient (3 edits)", |x| {
        x.iter(|| {
            let mut r = a.clone();
            apply_fhirpath_patch(&mut r, &small).unwrap();
            r
        })
    });
    c.bench_function("apply_fhirpath_patch Patient (other patient)", |x| {
        x.iter(|| {
            let mut r = a.clone();
            apply_fhirpath_patch(&mut r, &large).unwrap();
            r
        })
    });
}

criterion_group! { name = benches; config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(1)).warm_up_time(std::time::Duration::from_millis(300)); targets = bench }
criterion_main!(benches);
