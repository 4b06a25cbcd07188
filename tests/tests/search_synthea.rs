//! Search over the Synthea sample (10 patients, ~7,000 resources): every resource extracts, and
//! query results agree with answers computed independently from the raw JSON.

use firn_core::search::value::parse_date;
use firn_core::search::{MemoryIndex, Query, SearchConfig, SearchIndex, matches, search};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

fn load(shared: &std::path::Path) -> Vec<Value> {
    firn_tests::synthea_resources(shared)
}

/// Chain levels here may exceed HealthLake's 100 (that limit is asserted separately).
fn wide() -> SearchConfig {
    SearchConfig {
        max_chain_results: 100_000,
        ..SearchConfig::default()
    }
}

fn total(idx: &MemoryIndex, ty: &str, q: &str) -> usize {
    let query = Query::parse(ty, q, &wide()).unwrap_or_else(|e| panic!("{ty}?{q}: {e}"));
    search(idx, &query)
        .unwrap_or_else(|e| panic!("{ty}?{q}: {e}"))
        .total
        .unwrap()
}

fn subject(r: &Value) -> Option<&str> {
    r.pointer("/subject/reference")
        .or_else(|| r.pointer("/patient/reference"))
        .and_then(Value::as_str)
}

#[test]
fn synthea_search_agrees_with_raw_json() {
    let shared = firn_tests::require_shared!();
    let all = load(&shared);
    assert!(all.len() > 7000, "{}", all.len());
    let mut idx = MemoryIndex::new();
    for r in &all {
        idx.insert(r.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", r["id"]));
    }
    assert_eq!(idx.len(), all.len());

    let patients: Vec<&Value> = all
        .iter()
        .filter(|r| r["resourceType"] == "Patient")
        .collect();
    assert_eq!(total(&idx, "Patient", "_count=100"), patients.len());

    // Encounters per patient, by reference and by chain on gender.
    let mut female_encounters = 0;
    for p in &patients {
        let key = format!("Patient/{}", p["id"].as_str().unwrap());
        let raw = all
            .iter()
            .filter(|r| r["resourceType"] == "Encounter" && subject(r) == Some(key.as_str()))
            .count();
        assert_eq!(
            total(&idx, "Encounter", &format!("patient={key}")),
            raw,
            "{key}"
        );
        assert_eq!(
            total(
                &idx,
                "Encounter",
                &format!("subject:Patient={}", p["id"].as_str().unwrap())
            ),
            raw
        );
        if p["gender"] == "female" {
            female_encounters += raw;
        }
    }
    assert_eq!(
        total(&idx, "Encounter", "subject:Patient.gender=female"),
        female_encounters
    );

    // Condition codes: token search equals a raw count, for every distinct code.
    let mut by_code: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for c in all.iter().filter(|r| r["resourceType"] == "Condition") {
        for coding in c.pointer("/code/coding").and_then(Value::as_array).unwrap() {
            by_code
                .entry((
                    coding["system"].as_str().unwrap().into(),
                    coding["code"].as_str().unwrap().into(),
                ))
                .or_default()
                .insert(subject(c).unwrap().to_string());
        }
    }
    assert!(by_code.len() > 20);
    let strict = Query::parse(
        "Patient",
        "_has:Encounter:subject:status=finished",
        &SearchConfig::default(),
    )
    .unwrap();
    assert!(
        search(&idx, &strict).is_err(),
        "more than 100 encounters at the _has level is too costly by default"
    );
    for ((system, code), pats) in &by_code {
        let raw = all
            .iter()
            .filter(|r| {
                r["resourceType"] == "Condition"
                    && r.pointer("/code/coding/0/code").and_then(Value::as_str) == Some(code)
            })
            .count();
        assert_eq!(
            total(&idx, "Condition", &format!("code={system}|{code}")),
            raw,
            "{code}"
        );
        assert_eq!(
            total(&idx, "Condition", &format!("code={code}")),
            raw,
            "{code}"
        );
        // Reverse chain: the patients having such a condition.
        assert_eq!(
            total(
                &idx,
                "Patient",
                &format!("_has:Condition:subject:code={code}")
            ),
            pats.len(),
            "{code}"
        );
    }

    // Dates: encounters starting in or after 2015 (period start), compared with the raw strings.
    let day = parse_date("2015-01-01").unwrap();
    let raw_2015 = all
        .iter()
        .filter(|r| r["resourceType"] == "Encounter")
        .filter(|r| {
            let start =
                parse_date(r.pointer("/period/start").and_then(Value::as_str).unwrap()).unwrap();
            let end =
                parse_date(r.pointer("/period/end").and_then(Value::as_str).unwrap()).unwrap();
            let contained = start.low >= day.low && end.high <= day.high;
            end.high > day.high || contained
        })
        .count();
    assert_eq!(total(&idx, "Encounter", "date=ge2015-01-01"), raw_2015);
    assert_eq!(
        total(&idx, "Encounter", "date=lt2015-01-01")
            + total(&idx, "Encounter", "date=sa2014-12-31"),
        all.iter()
            .filter(|r| r["resourceType"] == "Encounter")
            .count()
    );

    // Conditional references (Practitioner?identifier=...) are searchable by identifier.
    let npi = all
        .iter()
        .find_map(|r| {
            r.pointer("/participant/0/individual/reference")
                .and_then(Value::as_str)
        })
        .unwrap();
    let ident = npi.split_once("identifier=").unwrap().1;
    assert!(
        total(
            &idx,
            "Encounter",
            &format!("practitioner:identifier={ident}")
        ) > 0
    );

    // Sorting: a descending date page is ordered.
    let q = Query::parse(
        "Encounter",
        "_sort=-date&_count=50",
        &SearchConfig::default(),
    )
    .unwrap();
    let page = search(&idx, &q).unwrap();
    let starts: Vec<String> = page
        .matches
        .iter()
        .map(|&d| {
            idx.resource(d)
                .unwrap()
                .pointer("/period/end")
                .and_then(Value::as_str)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(starts.len(), 50);
    assert!(page.has_more);

    // The one-resource matcher agrees with the set evaluator on a sample of queries.
    for (ty, q) in [
        ("Encounter", "status=finished&class=AMB"),
        ("MedicationRequest", "status=stopped,active&intent=order"),
        ("Procedure", "date=ge2010&code:text=assessment"),
        ("Patient", "gender=female&birthdate=lt1980"),
        (
            "Immunization",
            "vaccine-code=http://hl7.org/fhir/sid/cvx|140",
        ),
        ("DocumentReference", "type:text=history"),
    ] {
        let query = Query::parse(ty, q, &SearchConfig::default()).unwrap();
        let set = search(&idx, &query).unwrap().total.unwrap();
        let one = all
            .iter()
            .filter(|r| r["resourceType"] == ty && matches(&query, r, &idx).unwrap())
            .count();
        assert_eq!(set, one, "{ty}?{q}");
    }

    // _include over the real references.
    let enc = all
        .iter()
        .find(|r| r["resourceType"] == "Encounter")
        .unwrap();
    let q = Query::parse(
        "Encounter",
        &format!(
            "_id={}&_include=Encounter:subject",
            enc["id"].as_str().unwrap()
        ),
        &SearchConfig::default(),
    )
    .unwrap();
    let page = search(&idx, &q).unwrap();
    assert_eq!(page.included.len(), 1);
    assert_eq!(
        format!(
            "Patient/{}",
            idx.resource(page.included[0]).unwrap()["id"]
                .as_str()
                .unwrap()
        ),
        subject(enc).unwrap()
    );
}
