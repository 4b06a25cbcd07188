//! `firn synth` is deterministic and its output loads into `firn serve --load` without a single
//! rejected resource, in both layouts (NDJSON and transaction Bundles).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use support::{Server, temp_dir};

fn synth(out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["synth", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = support::firn(&args);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// `count  Type` lines of the synth summary.
fn counts(summary: &str) -> BTreeMap<String, u64> {
    summary
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let n = it.next()?.parse().ok()?;
            let ty = it.next()?;
            (it.next().is_none()).then(|| (ty.to_string(), n))
        })
        .collect()
}

#[test]
fn synth_is_deterministic() {
    let a = temp_dir("synth-a");
    let b = temp_dir("synth-b");
    let c = temp_dir("synth-c");
    synth(&a, &["--patients", "25"]);
    synth(&b, &["--patients", "25"]);
    synth(&c, &["--patients", "25", "--seed", "7"]);
    assert_eq!(files(&a), files(&b), "same seed, same bytes");
    assert_ne!(files(&a), files(&c), "another seed, other data");
    let names: Vec<String> = files(&a).into_keys().collect();
    assert_eq!(
        names,
        [
            "Condition.ndjson",
            "Encounter.ndjson",
            "Immunization.ndjson",
            "MedicationRequest.ndjson",
            "Observation.ndjson",
            "Organization.ndjson",
            "Patient.ndjson",
            "Practitioner.ndjson"
        ]
    );
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn synth_ndjson_and_bundles_load_into_serve() {
    for format in ["ndjson", "bundle"] {
        let dir = temp_dir(&format!("synth-{format}"));
        let summary = synth(&dir, &["--patients", "30", "--format", format]);
        let want = counts(&summary);
        assert_eq!(want["Patient"], 30);
        let s = Server::start_with(
            &format!("load-{format}"),
            &["--load", dir.to_str().unwrap()],
        );
        for (ty, n) in &want {
            let total = s.get(&format!("/{ty}?_summary=count")).json()["total"]
                .as_u64()
                .unwrap();
            assert_eq!(total, *n, "{format}: {ty}");
        }
        // references are consistent: every Encounter's subject resolves
        let b = s
            .get("/Encounter?_count=100&_include=Encounter:subject")
            .json();
        let entries = b["entry"].as_array().unwrap();
        let patients = entries
            .iter()
            .filter(|e| e["search"]["mode"] == "include")
            .count();
        assert!(
            patients > 0 && patients <= 30,
            "{format}: {patients} included patients"
        );
        // chained search over generated data works
        let r = s.get("/Observation?code=http://loinc.org|8867-4&subject:Patient.gender=female&_summary=count");
        assert_eq!(r.status, 200, "{}", r.text());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
