//! FHIRPath speed: the three targets (plain path ≤ 1 µs, `where` filter ≤ 3 µs, compile
//! of a typical invariant ≤ 20 µs) and ~20 representative expressions evaluated over every
//! Synthea resource of their type (paths, `where` filters, choice types, dates, extensions,
//! quantities, the invariants ele-1, dom-3 and dom-6), and `fhirpath_collection`: a few
//! expressions over all 7,160 Synthea resources held as `Value`s vs as one `Document` (the
//! memory-bound case the Document exists for). Needs ../shared; skips otherwise.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use firn_core::fhirpath::{Document, Env, Expression};
use serde_json::Value;
use std::hint::black_box;
use std::path::PathBuf;

fn shared() -> PathBuf {
    std::env::var_os("FIRN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// The Synthea resources of one type.
fn resources(ty: &str) -> Vec<Value> {
    let p = shared().join(format!("data/synthea-10/{ty}.000.ndjson"));
    std::fs::read_to_string(p)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

const ELE_1: &str = "hasValue() or (children().count() > id.count())";
const DOM_6: &str = "text.`div`.exists()";
const DOM_3: &str = "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()";

/// (resource type, expression): what validation, search and patch evaluate all day.
const CORPUS: &[(&str, &str)] = &[
    ("Patient", "Patient.birthDate"),
    ("Patient", "Patient.name.where(use = 'official').family"),
    ("Patient", "Patient.name.given.first()"),
    ("Patient", "Patient.telecom.where(system = 'phone').value"),
    ("Patient", "Patient.birthDate < @2000-01-01"),
    ("Patient", "Patient.address.city.distinct().count()"),
    (
        "Patient",
        "Patient.extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex').value",
    ),
    (
        "Patient",
        "Patient.identifier.where(type.coding.code = 'MR').value",
    ),
    (
        "Patient",
        "Patient.deceased.exists() and Patient.deceased is dateTime",
    ),
    (
        "Condition",
        "Condition.code.coding.where(system = 'http://snomed.info/sct').code",
    ),
    ("Condition", "Condition.onset.toString().substring(0, 4)"),
    (
        "Condition",
        "Condition.clinicalStatus.coding.code = 'active'",
    ),
    (
        "Encounter",
        "Encounter.period.end - Encounter.period.start > 1 'h'",
    ),
    (
        "Encounter",
        "Encounter.participant.individual.reference.startsWith('Practitioner')",
    ),
    (
        "Encounter",
        "Encounter.type.coding.select(system + '|' + code)",
    ),
    (
        "MedicationRequest",
        "MedicationRequest.medication.ofType(CodeableConcept).coding.code",
    ),
    (
        "MedicationRequest",
        "MedicationRequest.authoredOn >= @2015-01-01T00:00:00Z",
    ),
    (
        "Procedure",
        "Procedure.performed.start.exists() implies Procedure.status = 'completed'",
    ),
    ("Immunization", "Immunization.occurrence as dateTime"),
    ("Procedure", ELE_1),
    ("Encounter", DOM_6),
    ("Patient", DOM_3),
];

fn bench(c: &mut Criterion) {
    let patients = resources("Patient");
    let Some(patient) = patients.first() else {
        println!("skipped: reference data not found");
        return;
    };
    let env = Env::default().lenient_as(true);

    let mut g = c.benchmark_group("fhirpath_targets");
    let plain = Expression::compile("Patient.birthDate").unwrap();
    g.bench_function("plain_path", |b| {
        b.iter(|| black_box(plain.evaluate(black_box(patient), &env).unwrap().len()))
    });
    let filter = Expression::compile("Patient.name.where(use = 'official').family").unwrap();
    g.bench_function("where_official_family", |b| {
        b.iter(|| black_box(filter.evaluate(black_box(patient), &env).unwrap().len()))
    });
    // The same two without location tracking (values only, as the npm package's evaluate()).
    let values_only = Env::default().lenient_as(true).locations(false);
    g.bench_function("plain_path_values_only", |b| {
        b.iter(|| {
            black_box(
                plain
                    .evaluate(black_box(patient), &values_only)
                    .unwrap()
                    .len(),
            )
        })
    });
    g.bench_function("where_official_family_values_only", |b| {
        b.iter(|| {
            black_box(
                filter
                    .evaluate(black_box(patient), &values_only)
                    .unwrap()
                    .len(),
            )
        })
    });
    for (name, src) in [("ele-1", ELE_1), ("dom-6", DOM_6), ("dom-3", DOM_3)] {
        g.bench_function(BenchmarkId::new("compile", name), |b| {
            b.iter(|| black_box(Expression::compile(black_box(src)).unwrap()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("fhirpath_corpus");
    g.sample_size(20);
    for (i, (ty, src)) in CORPUS.iter().enumerate() {
        let rs = if *ty == "Patient" {
            patients.clone()
        } else {
            resources(ty)
        };
        let expr = Expression::compile(src).unwrap();
        g.throughput(Throughput::Elements(rs.len() as u64));
        g.bench_function(BenchmarkId::new(format!("{i:02}_{ty}"), src), |b| {
            b.iter(|| {
                rs.iter()
                    .map(|r| expr.evaluate(r, &env).map_or(0, |v| v.len()))
                    .sum::<usize>()
            })
        });
    }
    g.finish();

    // Every Synthea resource, as Values and as one Document; values only, as in the npm
    // package's collection.evaluate().
    let mut all = Vec::new();
    for ty in [
        "AllergyIntolerance",
        "Condition",
        "Device",
        "DocumentReference",
        "Encounter",
        "Immunization",
        "Location",
        "MedicationRequest",
        "Organization",
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Procedure",
    ] {
        all.extend(resources(ty));
    }
    let mut doc = Document::new();
    let roots: Vec<_> = all.iter().map(|r| doc.push(r).unwrap()).collect();
    let mut g = c.benchmark_group("fhirpath_collection");
    g.sample_size(10);
    g.throughput(Throughput::Elements(all.len() as u64));
    for src in [
        "id",
        "meta.profile",
        "identifier.where(system = 'https://github.com/synthetichealth/synthea').value",
        "descendants().count()",
    ] {
        let expr = Expression::compile(src).unwrap();
        g.bench_function(BenchmarkId::new("value", src), |b| {
            b.iter(|| {
                all.iter()
                    .map(|r| expr.evaluate(r, &values_only).map_or(0, |v| v.len()))
                    .sum::<usize>()
            })
        });
        g.bench_function(BenchmarkId::new("document", src), |b| {
            b.iter(|| {
                roots
                    .iter()
                    .map(|r| {
                        expr.evaluate_in(&doc, *r, &values_only)
                            .map_or(0, |v| v.len())
                    })
                    .sum::<usize>()
            })
        });
    }
    g.bench_function("build_document", |b| {
        b.iter(|| {
            let mut d = Document::new();
            for r in &all {
                d.push(r).unwrap();
            }
            d.node_count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
