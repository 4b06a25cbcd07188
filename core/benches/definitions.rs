//! First-use cost of the embedded definitions (budget: ≤ 30 ms natively) and hot lookups.

use criterion::{Criterion, criterion_group, criterion_main};
use firn_core::definitions::Definitions;
use std::hint::black_box;

static ARTIFACT: &[u8] = include_bytes!("../src/definitions/r4.defs");

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("definitions");
    g.sample_size(20);
    g.bench_function("decode+index (first use)", |b| {
        b.iter(|| Definitions::from_artifact_bytes(black_box(ARTIFACT)).unwrap())
    });
    g.finish();
    let d = Definitions::r4();
    c.bench_function("definitions/child choice key", |b| {
        b.iter(|| {
            d.child(black_box("Observation"), black_box("valueQuantity"))
                .unwrap()
        })
    });
    c.bench_function("definitions/is_a", |b| {
        b.iter(|| d.is_a(black_box("Age"), black_box("Quantity")))
    });
    c.bench_function("definitions/value_set_contains", |b| {
        b.iter(|| {
            d.value_set_contains(
                black_box("http://hl7.org/fhir/ValueSet/observation-status"),
                None,
                black_box("final"),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
