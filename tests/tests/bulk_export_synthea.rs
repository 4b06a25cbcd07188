//! Bulk export scoping over the Synthea sample: Patient compartments and `_typeFilter` give the
//! same resources as the search engine answering the equivalent searches.

use firn_core::bulk::{ExportFilter, ExportLevel, ExportRequest, parse_query};
use firn_core::search::{MemoryIndex, NoResolver, Query, SearchConfig, TypeFilterSearch, search};
use serde_json::Value;

fn index(all: &[Value]) -> MemoryIndex {
    let mut idx = MemoryIndex::new();
    for r in all {
        idx.insert(r.clone()).unwrap();
    }
    idx
}

fn search_ids(idx: &MemoryIndex, ty: &str, q: &str) -> Vec<String> {
    let cfg = SearchConfig {
        max_chain_results: 100_000,
        max_count: 100_000,
        ..SearchConfig::default()
    };
    let query = Query::parse(ty, &format!("{q}&_count=100000"), &cfg).unwrap();
    let mut ids: Vec<String> = search(idx, &query)
        .unwrap()
        .matches
        .iter()
        .map(|d| {
            idx.key_of(*d)
                .unwrap()
                .split_once('/')
                .unwrap()
                .1
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

fn exported(all: &[Value], query: &str) -> Vec<String> {
    let req = ExportRequest::parse(ExportLevel::Patient, &parse_query(query), None, false).unwrap();
    let matcher = TypeFilterSearch::new(SearchConfig::default(), &NoResolver);
    let filter = ExportFilter::new(&req, None, Some(&matcher)).unwrap();
    let mut ids: Vec<String> = all
        .iter()
        .filter(|r| filter.includes(r).unwrap())
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn patient_export_agrees_with_search() {
    let shared = firn_tests::require_shared!();
    let all = firn_tests::synthea_resources(&shared);
    let idx = index(&all);
    let patient = all.iter().find(|r| r["resourceType"] == "Patient").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // _typeFilter: only ambulatory Encounters (every Synthea Encounter is in a compartment).
    let ambulatory = exported(&all, "_type=Encounter&_typeFilter=Encounter%3Fclass%3DAMB");
    assert!(!ambulatory.is_empty());
    assert_eq!(ambulatory, search_ids(&idx, "Encounter", "class=AMB"));

    // patient=: exactly that patient's compartment, per type.
    for ty in [
        "Encounter",
        "Condition",
        "Procedure",
        "MedicationRequest",
        "Immunization",
    ] {
        let got = exported(&all, &format!("_type={ty}&patient=Patient/{patient}"));
        assert_eq!(
            got,
            search_ids(&idx, ty, &format!("patient={patient}")),
            "{ty}"
        );
    }
    println!(
        "suite: bulk export vs search: {} ambulatory encounters and 5 per-patient types agree",
        ambulatory.len()
    );
}
