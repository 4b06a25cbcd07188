//! Validation throughput over the Synthea sample (resources per second). `synthea_values` is the
//! default validator, every R4 invariant evaluated by the FHIRPath engine; the variants isolate
//! the cost of invariants (`_no_invariants`, `_invariant_plumbing`), of parsing text, and of a
//! profile package. Needs the reference data in ../shared; skips otherwise.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firn_core::validate::{CompiledInvariant, InvariantEngine, Validator};
use std::sync::Arc;

/// Compiles every expression to "holds": measures the cost of recording and dispatching invariant
/// sites, i.e. everything but the FHIRPath evaluation itself.
struct AlwaysHolds;
impl CompiledInvariant for AlwaysHolds {
    fn holds(&self, _: &Value, _: &Value, _: &str) -> Result<bool, String> {
        Ok(true)
    }
}
impl InvariantEngine for AlwaysHolds {
    fn compile(&self, _: &str) -> Result<Box<dyn CompiledInvariant>, String> {
        Ok(Box::new(AlwaysHolds))
    }
}
use serde_json::Value;
use std::path::PathBuf;

fn shared() -> PathBuf {
    std::env::var_os("FIRN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn corpus() -> Option<Vec<String>> {
    let dir = shared().join("data/synthea-10");
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.extension().is_some_and(|x| x == "ndjson") && !p.ends_with("log.ndjson") {
            lines.extend(std::fs::read_to_string(p).ok()?.lines().map(str::to_string));
        }
    }
    Some(lines)
}

fn bench(c: &mut Criterion) {
    let Some(lines) = corpus() else {
        println!("skipped: reference data not found");
        return;
    };
    let values: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let v = Validator::new();
    let mut g = c.benchmark_group("validate");
    g.sample_size(10);
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("synthea_values", |b| {
        b.iter(|| {
            values
                .iter()
                .filter(|r| !v.validate(r).outcome.has_errors())
                .count()
        })
    });
    if let Ok(pkg) = std::fs::read(shared().join("data/packages/hl7.fhir.us.core-6.1.0.tgz")) {
        let us = Validator::builder().package(pkg).build().unwrap();
        g.bench_function("synthea_values_us_core_6_1_0", |b| {
            b.iter(|| {
                values
                    .iter()
                    .filter(|r| !us.validate(r).outcome.has_errors())
                    .count()
            })
        });
    }
    let plumbing = Validator::builder()
        .invariants(Arc::new(AlwaysHolds))
        .build()
        .unwrap();
    g.bench_function("synthea_values_invariant_plumbing", |b| {
        b.iter(|| {
            values
                .iter()
                .filter(|r| !plumbing.validate(r).outcome.has_errors())
                .count()
        })
    });
    let bare = Validator::builder().without_invariants().build().unwrap();
    g.bench_function("synthea_values_no_invariants", |b| {
        b.iter(|| {
            values
                .iter()
                .filter(|r| !bare.validate(r).outcome.has_errors())
                .count()
        })
    });
    g.bench_function("synthea_text", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| !v.validate_str(l).outcome.has_errors())
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
