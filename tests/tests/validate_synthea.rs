//! The Synthea sample (bulk-export NDJSON) must validate with zero errors, against R4 core alone and
//! with US Core 6.1.0 loaded (its resources claim US Core profiles in `meta.profile`).

use firn_core::outcome::Issue;
use firn_core::validate::{Level, Validator, summarize};
use std::path::Path;

fn corpus(shared: &Path) -> Vec<(String, String)> {
    let dir = shared.join("data/synthea-10");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        // log.ndjson is the export log, not FHIR.
        .filter(|p| p.file_name().is_some_and(|n| n != "log.ndjson"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            if !line.trim().is_empty() {
                lines.push((format!("{name}:{}", i + 1), line.to_string()));
            }
        }
    }
    lines
}

fn run(v: &Validator, lines: &[(String, String)], label: &str) {
    let mut errors = Vec::new();
    let mut all: Vec<Issue> = Vec::new();
    for (at, line) in lines {
        let r = v.validate_str(line);
        for i in &r.outcome.issues {
            if i.severity.is_error() {
                errors.push(format!("{at}: {i}"));
            }
        }
        all.extend(r.outcome.issues);
    }
    let warnings = all
        .iter()
        .filter(|i| i.severity == firn_core::outcome::Severity::Warning)
        .count();
    println!(
        "suite: validate Synthea vs {label}: {} resources, {} errors, {warnings} warnings, {} information",
        lines.len(),
        errors.len(),
        all.len() - errors.len() - warnings
    );
    for (kind, n) in summarize(&all) {
        println!("  {n:6}  {kind}");
    }
    assert!(lines.len() > 7000, "corpus incomplete");
    assert!(
        errors.is_empty(),
        "{label}: {} errors, first: {:#?}",
        errors.len(),
        &errors[..errors.len().min(20)]
    );
}

#[test]
fn synthea_validates_against_r4_core() {
    let shared = firn_tests::require_shared!();
    let lines = corpus(&shared);
    run(&Validator::new(), &lines, "R4 core");
}

#[test]
fn synthea_validates_against_us_core_6_1_0() {
    let shared = firn_tests::require_shared!();
    let lines = corpus(&shared);
    let pkg = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-6.1.0.tgz")).unwrap();
    let v = Validator::builder()
        .level(Level::Strict)
        .package(pkg)
        .build()
        .unwrap();
    run(&v, &lines, "US Core 6.1.0");
}

#[test]
fn synthea_validates_against_us_core_3_1_1() {
    let shared = firn_tests::require_shared!();
    let lines = corpus(&shared);
    let pkg = std::fs::read(shared.join("data/packages/hl7.fhir.us.core-3.1.1.tgz")).unwrap();
    let v = Validator::builder().package(pkg).build().unwrap();
    run(&v, &lines, "US Core 3.1.1");
}
