//! `firn ndjson` end to end over the bad-lines fixture (one example of each bad-line kind) and a
//! split into rolling files.

use std::path::PathBuf;
mod support;

/// `firn` with stdout and stderr together.
fn firn(args: &[&str]) -> (i32, String) {
    let (code, out, err) = support::firn(args);
    (code, out + &err)
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/ndjson/Patient.bad-lines.ndjson")
}

#[test]
fn every_bad_line_is_reported_with_line_and_offset() {
    let dir = std::env::temp_dir().join(format!("firn-cli-ndjson-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let errors = dir.join("errors.ndjson");
    let f = fixture();
    let (code, out) = firn(&[
        "ndjson",
        "validate",
        "-q",
        f.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{out}");
    for (line, what) in [
        (2, "duplicate resource Patient/ok-1"),
        (3, "invalid JSON"),
        (4, "not a JSON object"),
        (5, "missing resourceType"),
        (6, "does not match the file's type 'Patient'"),
        (7, "missing required id"),
        (8, "'has_underscore' does not match"),
        (9, "id must be a string"),
        (11, "conditional reference"),
        (12, "unknown resourceType 'Patientt'"),
    ] {
        let hit = out
            .lines()
            .any(|l| l.contains(&format!("line {line} (byte offset")) && l.contains(what));
        assert!(hit, "line {line}: {what}\n{out}");
    }
    assert!(out.contains("3 resources, 10 errors"), "{out}");
    // The error file holds one OperationOutcome per bad line.
    let text = std::fs::read_to_string(&errors).unwrap();
    let outcomes: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outcomes.len(), 10);
    assert!(outcomes.iter().all(|o| {
        o["resourceType"] == "OperationOutcome"
            && o["issue"][0]["severity"] == "error"
            && o["issue"][0]["diagnostics"]
                .as_str()
                .is_some_and(|d| d.contains("byte offset"))
    }));
}

#[test]
fn split_rolls_files_by_count() {
    let dir = std::env::temp_dir().join(format!("firn-cli-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let input = dir.join("in.ndjson");
    std::fs::create_dir_all(&dir).unwrap();
    let lines: String = (0..5)
        .map(|i| format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\"}}\n"))
        .chain((0..2).map(|i| format!("{{\"resourceType\":\"Group\",\"id\":\"g{i}\",\"type\":\"person\",\"actual\":true}}\n")))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out_dir = dir.join("out");
    let (code, out) = firn(&[
        "ndjson",
        "split",
        "-q",
        "--mixed",
        input.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--max-resources",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Group-1.ndjson",
            "Patient-1.ndjson",
            "Patient-2.ndjson",
            "Patient-3.ndjson"
        ]
    );
    let last = std::fs::read_to_string(out_dir.join("Patient-3.ndjson")).unwrap();
    assert_eq!(last, "{\"resourceType\":\"Patient\",\"id\":\"p4\"}\n");
}
