//! Result parameters: sorting (missing values last), paging with links, _include/_revinclude
//! (with :iterate and *), _total, _summary/_elements subsetting and the searchset Bundle.

mod common;

use common::{ids, index};
use firn_core::search::{MemoryIndex, Query, SearchConfig, SearchError, search, subset, to_bundle};
use firn_core::search::{SearchIndex, Summary};
use serde_json::json;

fn page(ty: &str, q: &str) -> (Vec<String>, Vec<String>, firn_core::search::SearchPage) {
    let idx = index();
    let query = Query::parse(ty, q, &SearchConfig::default()).unwrap();
    let p = search(idx, &query).unwrap();
    (ids(idx, &p.matches), ids(idx, &p.included), p)
}

#[test]
fn sort_date_ascending_missing_last() {
    assert_eq!(
        page("Patient", "_sort=birthdate").0,
        ["p1", "p3", "p2", "p4", "p5"]
    );
}

#[test]
fn sort_date_descending_uses_range_end_missing_last() {
    assert_eq!(
        page("Patient", "_sort=-birthdate").0,
        ["p3", "p2", "p1", "p4", "p5"]
    );
}

#[test]
fn sort_two_string_keys() {
    assert_eq!(
        page("Patient", "_sort=family,given").0,
        ["p3", "p1", "p2", "p4", "p5"]
    );
}

#[test]
fn sort_mixed_directions() {
    assert_eq!(
        page("Patient", "_sort=family,-given").0,
        ["p1", "p3", "p2", "p4", "p5"]
    );
}

#[test]
fn sort_observations_by_date_desc() {
    assert_eq!(
        page("Observation", "_sort=-date").0,
        ["o6", "o7", "o2", "o1", "o8", "o3", "o4", "o5", "o9"]
    );
}

#[test]
fn sort_token_then_date() {
    assert_eq!(
        page("Observation", "_sort=status,-date").0,
        ["o4", "o5", "o6", "o7", "o2", "o1", "o8", "o3", "o9"]
    );
}

#[test]
fn sort_quantity_canonical() {
    // 84 kg (84000 g) < 185 lb (83914 g)? no: 185 lb = 83914.59 g < 84000 g.
    assert_eq!(
        page("Observation", "code=29463-7&_sort=value-quantity").0,
        ["o2", "o3"]
    );
}

#[test]
fn sort_number_descending() {
    assert_eq!(
        page("RiskAssessment", "_sort=-probability").0,
        ["ra2", "ra1", "ra3", "ra4"]
    );
}

#[test]
fn paging_walks_all_matches_once() {
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (m, _, p) = page(
            "Observation",
            &format!("_sort=_id&_count=4&_offset={offset}"),
        );
        assert_eq!(p.total, Some(9));
        seen.extend(m);
        if !p.has_more {
            break;
        }
        offset += 4;
    }
    assert_eq!(seen, ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9"]);
}

#[test]
fn bundle_links_self_next_previous() {
    let idx = index();
    let q = Query::parse(
        "Observation",
        "status=final&_count=2&_offset=2",
        &SearchConfig::default(),
    )
    .unwrap();
    let p = search(idx, &q).unwrap();
    let b = to_bundle(&q, &p, idx, "http://example.org/fhir");
    let links = b["link"].as_array().unwrap();
    let rel = |r: &str| {
        links
            .iter()
            .find(|l| l["relation"] == r)
            .map(|l| l["url"].as_str().unwrap().to_string())
    };
    assert_eq!(
        rel("self").unwrap(),
        "http://example.org/fhir/Observation?status=final&_count=2&_offset=2"
    );
    assert_eq!(
        rel("next").unwrap(),
        "http://example.org/fhir/Observation?status=final&_count=2&_offset=4"
    );
    assert_eq!(
        rel("previous").unwrap(),
        "http://example.org/fhir/Observation?status=final&_count=2&_offset=0"
    );
    assert_eq!(b["total"], 5);
    assert_eq!(b["entry"].as_array().unwrap().len(), 2);
    assert_eq!(b["entry"][0]["search"]["mode"], "match");
}

#[test]
fn last_page_has_no_next() {
    let (m, _, p) = page("Observation", "status=final&_count=2&_offset=4");
    assert_eq!(m.len(), 1);
    assert!(!p.has_more);
}

#[test]
fn total_none_and_summary_count() {
    assert_eq!(page("Patient", "_total=none").2.total, None);
    let (m, _, p) = page("Patient", "gender=female&_summary=count");
    assert!(m.is_empty());
    assert_eq!(p.total, Some(2));
}

#[test]
fn include_subject() {
    let (m, inc, _) = page(
        "Observation",
        "code=8480-6&_include=Observation:subject&_sort=_id",
    );
    assert_eq!(m, ["o1", "o7"]);
    assert_eq!(inc, ["p1", "p3"]);
}

#[test]
fn include_with_target_type() {
    assert_eq!(
        page("Observation", "_id=o1&_include=Observation:subject:Patient").1,
        ["p1"]
    );
    assert!(
        page("Observation", "_id=o1&_include=Observation:subject:Group")
            .1
            .is_empty()
    );
}

#[test]
fn include_wildcard() {
    let mut inc = page("Observation", "_id=o1&_include=*").1;
    inc.sort();
    assert_eq!(inc, ["dr1", "e1", "p1"]);
}

#[test]
fn include_iterate() {
    let inc = page(
        "Observation",
        "_id=o1&_include=Observation:subject&_include:iterate=Patient:general-practitioner",
    )
    .1;
    assert_eq!(inc, ["p1", "dr1"]);
    // without :iterate the second hop is not followed
    let q = Query::parse(
        "Observation",
        "_id=o1&_include=Observation:subject",
        &SearchConfig::default(),
    )
    .unwrap();
    assert_eq!(ids(index(), &search(index(), &q).unwrap().included), ["p1"]);
}

#[test]
fn include_iterate_two_levels_of_organizations() {
    let inc = page(
        "Patient",
        "_id=p4&_include=Patient:organization&_include:iterate=Organization:partof",
    )
    .1;
    assert_eq!(inc, ["org2", "org1"]);
}

#[test]
fn include_not_duplicated_or_repeating_matches() {
    let (m, inc, _) = page("Observation", "subject=p1&_include=Observation:subject");
    assert_eq!(m.len(), 3);
    assert_eq!(inc, ["p1"]);
}

#[test]
fn revinclude() {
    let (m, mut inc, _) = page(
        "Patient",
        "_id=p1&_revinclude=Observation:subject&_revinclude=Encounter:patient",
    );
    assert_eq!(m, ["p1"]);
    inc.sort();
    assert_eq!(inc, ["e1", "o1", "o2", "o8"]);
}

#[test]
fn revinclude_all_reference_params() {
    let mut inc = page("Practitioner", "_id=dr1&_revinclude=Observation:*").1;
    inc.sort();
    assert_eq!(inc, ["o1"]);
}

#[test]
fn bundle_entries_include_mode_and_full_urls() {
    let idx = index();
    let q = Query::parse(
        "Observation",
        "_id=o1&_include=Observation:subject",
        &SearchConfig::default(),
    )
    .unwrap();
    let p = search(idx, &q).unwrap();
    let b = to_bundle(&q, &p, idx, "http://example.org/fhir/");
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(
        entries[0]["fullUrl"],
        "http://example.org/fhir/Observation/o1"
    );
    assert_eq!(entries[1]["fullUrl"], "http://example.org/fhir/Patient/p1");
    assert_eq!(entries[1]["search"]["mode"], "include");
    assert_eq!(b["total"], 1, "included resources are not counted");
}

#[test]
fn lenient_bundle_reports_ignored() {
    let idx = index();
    let q = Query::parse(
        "Patient",
        "gender=male&colour=blue",
        &SearchConfig::lenient(),
    )
    .unwrap();
    let p = search(idx, &q).unwrap();
    let b = to_bundle(&q, &p, idx, "");
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(entries.last().unwrap()["search"]["mode"], "outcome");
    assert_eq!(b["link"][0]["url"], "Patient?gender=male");
}

#[test]
fn chain_fan_out_over_limit_is_too_costly() {
    let mut idx = MemoryIndex::new();
    for i in 0..101 {
        idx.insert(json!({"resourceType": "Patient", "id": format!("p{i}"), "name": [{"family": "Smith"}]})).unwrap();
        idx.insert(json!({"resourceType": "Observation", "id": format!("o{i}"), "status": "final", "code": {"text": "x"},
                          "subject": {"reference": format!("Patient/p{i}")}})).unwrap();
    }
    let q = Query::parse(
        "Observation",
        "subject:Patient.family=smith",
        &SearchConfig::default(),
    )
    .unwrap();
    let err = search(&idx, &q).unwrap_err();
    assert!(
        matches!(&err, SearchError::TooCostly { name, .. } if name == "subject:Patient.family"),
        "{err}"
    );
    let q = Query::parse(
        "Patient",
        "_has:Observation:subject:status=final",
        &SearchConfig::default(),
    )
    .unwrap();
    assert!(matches!(
        search(&idx, &q),
        Err(SearchError::TooCostly { .. })
    ));
    // a narrower chain is fine, and a larger limit is configuration
    let q = Query::parse(
        "Observation",
        "subject:Patient._id=p7",
        &SearchConfig::default(),
    )
    .unwrap();
    assert_eq!(search(&idx, &q).unwrap().total, Some(1));
    let cfg = SearchConfig {
        max_chain_results: 1000,
        ..SearchConfig::default()
    };
    let q = Query::parse("Observation", "subject:Patient.family=smith", &cfg).unwrap();
    assert_eq!(search(&idx, &q).unwrap().total, Some(101));
}

#[test]
fn reinsert_replaces_old_version() {
    let mut idx = MemoryIndex::new();
    idx.insert(json!({"resourceType": "Patient", "id": "a", "gender": "male"}))
        .unwrap();
    idx.insert(json!({"resourceType": "Patient", "id": "a", "gender": "female"}))
        .unwrap();
    let q = |s: &str| {
        search(
            &idx,
            &Query::parse("Patient", s, &SearchConfig::default()).unwrap(),
        )
        .unwrap()
        .total
    };
    assert_eq!(q("gender=male"), Some(0));
    assert_eq!(q("gender=female"), Some(1));
    assert_eq!(idx.len(), 1);
    assert_eq!(idx.docs("Patient").len(), 1);
}

#[test]
fn base_url_makes_absolute_references_local() {
    let cfg = SearchConfig {
        base_url: Some("http://other.org/fhir".into()),
        ..SearchConfig::default()
    };
    let got = common::run_with("Observation", "subject=Patient/p1", &cfg);
    assert_eq!(got, ["o1", "o2", "o8", "o9"]);
}

fn p1() -> serde_json::Value {
    common::resources()
        .into_iter()
        .find(|r| r["id"] == "p1")
        .unwrap()
}

#[test]
fn summary_true_snapshot() {
    insta::assert_json_snapshot!(
        "summary_true_patient",
        subset(&p1(), Some(Summary::True), None)
    );
}

#[test]
fn summary_text_snapshot() {
    insta::assert_json_snapshot!(
        "summary_text_patient",
        subset(&p1(), Some(Summary::Text), None)
    );
}

#[test]
fn summary_data_snapshot() {
    insta::assert_json_snapshot!(
        "summary_data_patient",
        subset(&p1(), Some(Summary::Data), None)
    );
}

#[test]
fn elements_snapshot_keeps_mandatory() {
    let obs = common::resources()
        .into_iter()
        .find(|r| r["id"] == "o1")
        .unwrap();
    let s = subset(
        &obs,
        None,
        Some(&["subject".to_string(), "value".to_string()]),
    );
    // status and code are mandatory (min 1) in Observation
    assert!(
        s.get("status").is_some() && s.get("code").is_some() && s.get("valueQuantity").is_some()
    );
    assert!(s.get("performer").is_none());
    insta::assert_json_snapshot!("elements_observation", s);
}

#[test]
fn summary_false_is_unchanged() {
    assert_eq!(subset(&p1(), Some(Summary::False), None), p1());
    assert_eq!(subset(&p1(), None, None), p1());
}

#[test]
fn bundle_snapshot_with_elements_not_applied_to_includes() {
    let idx = index();
    let q = Query::parse(
        "Observation",
        "_id=o2&_elements=status&_include=Observation:subject",
        &SearchConfig::default(),
    )
    .unwrap();
    let p = search(idx, &q).unwrap();
    let b = to_bundle(&q, &p, idx, "http://example.org/fhir");
    let inc_tags = b["entry"][1]["resource"]["meta"]["tag"].as_array().unwrap();
    assert!(
        inc_tags.iter().all(|t| t["code"] != "SUBSETTED"),
        "include is not subsetted by _elements"
    );
    assert_eq!(
        b["entry"][0]["resource"]["meta"]["tag"][0]["code"],
        "SUBSETTED"
    );
    insta::assert_json_snapshot!("bundle_elements_include", b);
}

#[test]
fn summary_true_is_recursive() {
    let obs = json!({"resourceType": "Observation", "id": "bp", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "referenceRange": [{"low": {"value": 90}}],
        "component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": 120},
                       "interpretation": [{"text": "normal"}], "referenceRange": [{"low": {"value": 90}}]}],
        "note": [{"text": "not in summary"}]});
    let s = subset(&obs, Some(Summary::True), None);
    assert!(s.get("referenceRange").is_none() && s.get("note").is_none());
    assert!(s["component"][0].get("interpretation").is_none());
    assert!(s["component"][0].get("referenceRange").is_none());
    assert_eq!(s["component"][0]["valueQuantity"]["value"], 120);
    insta::assert_json_snapshot!("summary_true_recursive", s);
}

#[test]
fn entries_round_trip_for_storage() {
    for r in common::resources() {
        let e = firn_core::search::extract(&r).unwrap();
        // postcard (compact binary, exact floats) — what the server stores
        let bytes = postcard::to_allocvec(&e).unwrap();
        let back: firn_core::search::Entries = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, e, "{}", r["id"]);
        // JSON works too (floats exact with serde_json's `float_roundtrip`)
        let text = serde_json::to_string(&e).unwrap();
        let back: firn_core::search::Entries = serde_json::from_str(&text).unwrap();
        assert_eq!(back.params.len(), e.params.len(), "{}", r["id"]);
    }
    // unknown codes are dropped on load
    let stored = json!({"resource_type": "Patient", "id": "x", "params": [["colour", []], ["gender", [{"Token": {"system": null, "code": "male", "text": null, "of_type": []}}]]]});
    let e: firn_core::search::Entries = serde_json::from_value(stored).unwrap();
    assert_eq!(e.params.len(), 1);
    assert_eq!(e.get("gender").len(), 1);
}

#[test]
fn revinclude_iterate() {
    let (m, mut inc, _) = page(
        "Organization",
        "_id=org1&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject",
    );
    assert_eq!(m, ["org1"]);
    inc.sort();
    assert_eq!(inc, ["o1", "o2", "o4", "o7", "o8", "p1", "p3"]);
}

#[test]
fn include_iteration_rounds_are_limited() {
    // org2 -> org1 needs one iterate round after Patient -> org2; with 0 rounds it stops.
    let idx = index();
    let cfg = SearchConfig {
        max_include_iterations: 0,
        ..SearchConfig::default()
    };
    let q = Query::parse(
        "Patient",
        "_id=p4&_include=Patient:organization&_include:iterate=Organization:partof",
        &cfg,
    )
    .unwrap();
    assert_eq!(ids(idx, &search(idx, &q).unwrap().included), ["org2"]);
}
