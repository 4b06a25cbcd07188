//! Loading a directory of FHIR data into a store at start-up (`firn serve --load DIR`):
//! `*.ndjson` files (one resource per line, stored under its own id, update-as-create) and
//! `*.json` files holding a batch or transaction Bundle (processed as if POSTed to the base).
//! Files are taken in name order, so shared resources can come first (`firn synth` names them so).

use crate::api::{Api, Request};
use crate::store::Store;
use serde_json::Value;
use std::path::Path;

/// What a load did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    pub files: usize,
    pub stored: usize,
    pub failed: usize,
    /// The first few failures, `file:line: reason`.
    pub errors: Vec<String>,
}

/// Resources stored per write transaction when loading NDJSON.
const CHUNK: usize = 2000;

/// Loads every `.ndjson` and `.json` file of `dir` (not recursive), in name order.
pub fn load_dir<S: Store>(api: &Api<S>, dir: &Path) -> std::io::Result<LoadReport> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson" || x == "json"))
        .collect();
    files.sort();
    let mut report = LoadReport::default();
    for f in files {
        report.files += 1;
        let name = f.display().to_string();
        if f.extension().is_some_and(|x| x == "ndjson") {
            // Streamed line by line: files of any size load in constant memory.
            let reader = std::io::BufReader::new(std::fs::File::open(&f)?);
            let mut chunk: Vec<(usize, Value)> = Vec::with_capacity(CHUNK);
            for (n, line) in std::io::BufRead::lines(reader).enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => chunk.push((n + 1, v)),
                    Err(e) => note(&mut report, format!("{name}:{}: {e}", n + 1)),
                }
                if chunk.len() == CHUNK {
                    store_chunk(api, &name, std::mem::take(&mut chunk), &mut report);
                }
            }
            store_chunk(api, &name, chunk, &mut report);
        } else {
            let text = std::fs::read_to_string(&f)?;
            let req = Request::new("POST", "/")
                .header("content-type", "application/fhir+json")
                .body(text.into_bytes());
            let resp = api.handle_blocking(&req);
            if resp.status != 200 {
                let msg = String::from_utf8_lossy(&resp.body).into_owned();
                note(&mut report, format!("{name}: HTTP {}: {msg}", resp.status));
                continue;
            }
            let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            for (i, e) in body["entry"].as_array().into_iter().flatten().enumerate() {
                let status = e["response"]["status"].as_str().unwrap_or("");
                if status.starts_with('2') {
                    report.stored += 1;
                } else {
                    note(&mut report, format!("{name}: entry {i}: {status}"));
                }
            }
        }
    }
    Ok(report)
}

fn note(report: &mut LoadReport, msg: String) {
    report.failed += 1;
    if report.errors.len() < 20 {
        report.errors.push(msg);
    }
}

fn store_chunk<S: Store>(
    api: &Api<S>,
    name: &str,
    chunk: Vec<(usize, Value)>,
    report: &mut LoadReport,
) {
    if chunk.is_empty() {
        return;
    }
    match api.put_many(chunk.into_iter().map(|(n, v)| (format!("{name}:{n}"), v))) {
        Ok((stored, errors)) => {
            report.stored += stored;
            for e in errors {
                note(report, e);
            }
        }
        Err(e) => note(report, format!("{name}: {e}")),
    }
}
