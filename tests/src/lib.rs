//! Shared helpers for Firn's cross-crate tests.
//!
//! The reference material (official FHIR definitions, conformance suites, Synthea data) is not ours
//! to commit; it lives in `../shared` beside the repository or wherever `FIRN_SHARED` points.
//! [`shared_dir`] is the one place that finds it. Tests that need it call [`require_shared!`]: when
//! the data is absent they print `skipped: reference data not found` and pass, except under
//! `CI=true`, where absence is a failure.

pub mod fhir_xml;

use std::path::{Path, PathBuf};

/// The reference-data directory: `$FIRN_SHARED`, else `../shared` beside the workspace root.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FIRN_SHARED") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let dir = root.parent()?.join("shared");
    dir.is_dir().then_some(dir)
}

/// True when running under CI (`CI=true`), where missing reference data is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// The reference-data directory, or `None` after printing the skip line. Panics under CI.
pub fn shared_or_skip(what: &str) -> Option<PathBuf> {
    match shared_dir() {
        Some(dir) => Some(dir),
        None if in_ci() => panic!("reference data not found (needed by {what}); set FIRN_SHARED"),
        None => {
            println!("skipped: reference data not found ({what})");
            None
        }
    }
}

/// `let shared = require_shared!();` — returns from the test (passing) when the reference data is absent.
#[macro_export]
macro_rules! require_shared {
    () => {
        match $crate::shared_or_skip(module_path!()) {
            Some(dir) => dir,
            None => return,
        }
    };
}

/// Every resource of the Synthea sample (`data/synthea-10/<Type>.*.ndjson`, in file-name order;
/// `log.ndjson`, the export's job log, is not data), parsed.
/// The one loader the cross-crate tests share.
pub fn synthea_resources(shared: &std::path::Path) -> Vec<serde_json::Value> {
    let dir = shared.join("data/synthea-10");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with("log"))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            out.push(
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}:{}: {e}", f.display(), n + 1)),
            );
        }
    }
    out
}
