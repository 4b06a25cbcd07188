//! NDJSON throughput over the Synthea sample, replicated in memory to ~100 MB.
//! Targets (native): line splitting ≥ 1 GB/s, routing by type ≥ 500 MB/s, full parse ≥ 200 MB/s.
//!
//! The data is found through `FIRN_SHARED` or `../shared` beside the workspace; without it the
//! bench prints a skip line and measures nothing.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firn_core::ndjson::scan::scan_route;
use firn_core::ndjson::{CheckOptions, LineChecker, LineReader, ParseLevel};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

const TARGET_BYTES: usize = 100_000_000;

fn synthea() -> Option<Vec<u8>> {
    let shared = match std::env::var_os("FIRN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()?
            .parent()?
            .join("shared"),
    };
    let dir = shared.join("data/synthea-10");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".000.ndjson"))
        .collect();
    names.sort();
    let mut one = Vec::new();
    for n in names {
        let mut bytes = std::fs::read(n).ok()?;
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        one.extend_from_slice(&bytes);
    }
    if one.is_empty() {
        return None;
    }
    let mut data = Vec::with_capacity(TARGET_BYTES + one.len());
    while data.len() < TARGET_BYTES {
        data.extend_from_slice(&one);
    }
    Some(data)
}

fn bench(c: &mut Criterion) {
    let Some(data) = synthea() else {
        println!("skipped: reference data not found (synthea-10)");
        return;
    };
    let mut g = c.benchmark_group("ndjson");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("split lines", |b| {
        b.iter(|| {
            let mut r = LineReader::new(black_box(&data[..]));
            let mut n = 0u64;
            while let Ok(Some(l)) = r.next_line() {
                n += l.bytes.len() as u64 & 1;
            }
            n
        })
    });
    g.bench_function("route by type", |b| {
        b.iter(|| {
            let mut counts: HashMap<String, u64> = HashMap::new();
            let mut r = LineReader::new(black_box(&data[..]));
            while let Ok(Some(l)) = r.next_line() {
                if let Ok(route) = scan_route(l.bytes)
                    && let Some(rt) = route.resource_type.as_str()
                {
                    match counts.get_mut(rt) {
                        Some(n) => *n += 1,
                        None => {
                            counts.insert(rt.to_string(), 1);
                        }
                    }
                }
            }
            counts
        })
    });
    g.bench_function("check lines (syntax + ids)", |b| {
        b.iter(|| {
            let mut checker = LineChecker::new(CheckOptions {
                reject_duplicate_ids: false,
                reject_conditional_references: false,
                ..CheckOptions::default()
            });
            let mut r = LineReader::new(black_box(&data[..]));
            let mut ok = 0u64;
            while let Ok(Some(l)) = r.next_line() {
                ok += u64::from(checker.check(&l).is_ok());
            }
            ok
        })
    });
    g.bench_function("full parse (serde_json::Value)", |b| {
        b.iter(|| {
            let mut checker = LineChecker::new(CheckOptions {
                parse: ParseLevel::Full,
                reject_duplicate_ids: false,
                reject_conditional_references: false,
                ..CheckOptions::default()
            });
            let mut r = LineReader::new(black_box(&data[..]));
            let mut ok = 0u64;
            while let Ok(Some(l)) = r.next_line() {
                ok += u64::from(checker.check(&l).is_ok());
            }
            ok
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
