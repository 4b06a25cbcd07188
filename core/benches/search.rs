//! Search speed: index extraction over Synthea, and a token query with `_count=100` over an
//! in-memory index of 100,000 resources (Synthea replicated with new ids).
//!
//! Needs the shared reference data (`../shared` or `$FIRN_SHARED`); prints a note and measures
//! nothing without it. Besides criterion's estimates it prints a p50 for the query, which is the
//! figure the search design targets (≤ 2 ms).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firn_core::search::{MemoryIndex, Query, SearchConfig, SearchRegistry, search, to_bundle};
use serde_json::Value;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

fn synthea() -> Option<Vec<Value>> {
    let dir = match std::env::var_os("FIRN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
    .join("data/synthea-10");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    files.sort();
    for f in files {
        if f.file_name()?.to_str()?.starts_with("log") {
            continue;
        }
        for line in std::fs::read_to_string(&f)
            .ok()?
            .lines()
            .filter(|l| !l.is_empty())
        {
            out.push(serde_json::from_str(line).ok()?);
        }
    }
    Some(out)
}

fn benches(c: &mut Criterion) {
    let Some(all) = synthea() else {
        eprintln!("skipped: reference data not found (search bench)");
        return;
    };
    let reg = SearchRegistry::r4();
    let mut g = c.benchmark_group("search");
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function("extract_synthea", |b| {
        b.iter(|| {
            for r in &all {
                black_box(reg.extract(r).unwrap());
            }
        })
    });

    // 100,000 resources: Synthea replicated with new ids.
    let mut idx = MemoryIndex::new();
    let t = Instant::now();
    let mut n = 0usize;
    'fill: for copy in 0.. {
        for r in &all {
            if n == 100_000 {
                break 'fill;
            }
            let mut r = r.clone();
            let id = format!("{}-{copy}", r["id"].as_str().unwrap_or_default());
            r["id"] = Value::String(id);
            idx.insert(r).unwrap();
            n += 1;
        }
    }
    eprintln!("indexed {n} resources in {:.2?}", t.elapsed());

    let cfg = SearchConfig::default();
    let queries = [
        (
            "Encounter",
            "class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB&_count=100",
        ),
        ("Procedure", "status=completed&_count=100"),
        (
            "Condition",
            "code=http://snomed.info/sct|160903007&_count=100",
        ),
        ("Encounter", "date=ge2020-01-01&_count=100"),
        ("Encounter", "class=AMB&date=ge2015&_sort=-date&_count=100"),
        ("Patient", "gender=female&birthdate=lt1970&_count=100"),
    ];
    g.throughput(Throughput::Elements(1));
    for (i, (ty, q)) in queries.into_iter().enumerate() {
        let query = Query::parse(ty, q, &cfg).unwrap();
        let name = format!("query_100k/{i}_{ty}");
        g.bench_function(&name, |b| {
            b.iter(|| black_box(search(&idx, &query).unwrap()))
        });
        g.bench_function(format!("{name}+bundle"), |b| {
            b.iter(|| {
                let page = search(&idx, &query).unwrap();
                black_box(to_bundle(&query, &page, &idx, "http://example.org/fhir"))
            })
        });
        // Explicit p50 over 1,000 runs, search + bundle.
        let mut times: Vec<f64> = (0..1000)
            .map(|_| {
                let t = Instant::now();
                let page = search(&idx, &query).unwrap();
                black_box(to_bundle(&query, &page, &idx, ""));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let total = search(&idx, &query).unwrap().total.unwrap_or(0);
        eprintln!(
            "{ty}?{q}: total {total}, p50 {:.3} ms, p99 {:.3} ms",
            times[500], times[990]
        );
    }
    g.finish();
}

criterion_group! {
    name = search_benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(search_benches);
