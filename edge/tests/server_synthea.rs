//! The Synthea sample through the server: loaded with transaction Bundles (conditional
//! references such as `Practitioner?identifier=...` resolved by the server), then a differential
//! test — every search's full result list (all pages, in order) and `_include` set must equal
//! `firn-core`'s in-memory evaluation of the same query over the same resources.

mod support;

use firn_core::search::{MemoryIndex, Query, SearchConfig, SearchIndex, search};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::Server;

const ORDER: &[&str] = &[
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
];

fn rank(ty: &str) -> usize {
    ORDER.iter().position(|t| *t == ty).unwrap_or(ORDER.len())
}

fn load(s: &Server, resources: &[Value]) {
    let mut sorted: Vec<&Value> = resources.iter().collect();
    sorted.sort_by_key(|r| rank(r["resourceType"].as_str().unwrap()));
    // Bundles never mix a referenced tier with its referrers, so conditional references resolve.
    let mut chunks: Vec<Vec<&Value>> = Vec::new();
    for r in sorted {
        let tier = rank(r["resourceType"].as_str().unwrap());
        match chunks.last_mut() {
            Some(c)
                if c.len() < 500
                    && rank(c[0]["resourceType"].as_str().unwrap()).max(ORDER.len() - 1)
                        == tier.max(ORDER.len() - 1)
                    && (tier >= ORDER.len() - 1
                        || rank(c[0]["resourceType"].as_str().unwrap()) == tier) =>
            {
                c.push(r)
            }
            _ => chunks.push(vec![r]),
        }
    }
    for c in chunks {
        let entries: Vec<Value> = c
            .iter()
            .map(|r| {
                let ty = r["resourceType"].as_str().unwrap();
                let id = r["id"].as_str().unwrap();
                json!({"fullUrl": format!("{ty}/{id}"), "resource": r,
                       "request": {"method": "PUT", "url": format!("{ty}/{id}")}})
            })
            .collect();
        let n = entries.len();
        let r = s.post(
            "/",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        );
        assert_eq!(r.status, 200, "{}", &r.text()[..r.text().len().min(2000)]);
        let b = r.json();
        assert_eq!(b["entry"].as_array().unwrap().len(), n);
        for e in b["entry"].as_array().unwrap() {
            assert_eq!(e["response"]["status"], "201 Created", "{e}");
        }
    }
}

/// Every stored resource, oldest first (system history, all version 1).
fn read_back(s: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = "/_history?_count=100".to_string();
    loop {
        let b = s.get(&url).json();
        for e in b["entry"].as_array().into_iter().flatten() {
            out.push(e["resource"].clone());
        }
        match s.next_page(&b) {
            Some(next) => url = next,
            None => break,
        }
    }
    out.reverse();
    out
}

fn key(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    )
}

/// All matches (following next links) and the includes of the pages.
type ServerResult = Result<(Vec<String>, BTreeSet<String>, Option<u64>, usize), String>;

fn server_search(s: &Server, ty: &str, q: &str) -> ServerResult {
    let mut matches = Vec::new();
    let mut included = BTreeSet::new();
    let mut url = format!("/{ty}?{q}");
    let mut total = None;
    let mut pages = 0;
    loop {
        let r = s.get(&url);
        if r.status == 400 && pages == 0 {
            return Err(r.outcome()["diagnostics"].as_str().unwrap().to_string());
        }
        assert_eq!(r.status, 200, "{ty}?{q}: {}", r.text());
        let b = r.json();
        pages += 1;
        if pages == 1 {
            total = b["total"].as_u64();
        }
        for e in b["entry"].as_array().into_iter().flatten() {
            match e["search"]["mode"].as_str() {
                Some("match") => matches.push(key(&e["resource"])),
                Some("include") => {
                    included.insert(key(&e["resource"]));
                }
                _ => {}
            }
        }
        match s.next_page(&b) {
            Some(next) => url = next,
            None => break,
        }
        assert!(pages < 1000, "paging does not end");
    }
    Ok((matches, included, total, pages))
}

type MemoryResult = Result<(Vec<String>, BTreeSet<String>, usize), String>;

fn memory_search(idx: &MemoryIndex, ty: &str, q: &str) -> MemoryResult {
    let mut query = Query::parse(ty, q, &SearchConfig::default()).map_err(|e| e.to_string())?;
    query.result.count = Some(1_000_000);
    query.result.offset = 0;
    let page = search(idx, &query).map_err(|e| e.to_string())?;
    let m = page
        .matches
        .iter()
        .map(|&d| idx.key_of(d).unwrap())
        .collect();
    let inc = page
        .included
        .iter()
        .map(|&d| idx.key_of(d).unwrap())
        .collect();
    let _ = idx.docs(ty);
    Ok((m, inc, page.total.unwrap_or(0)))
}

fn first<'a>(rs: &'a [Value], ty: &str, nth: usize) -> &'a Value {
    rs.iter()
        .filter(|r| r["resourceType"] == ty)
        .nth(nth)
        .unwrap()
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

#[test]
fn synthea_loads_through_transactions_and_searches_match_core() {
    let Some(shared) = support::shared() else {
        return;
    };
    let original = support::synthea(&shared);
    let server = Server::start("synthea");
    let started = std::time::Instant::now();
    load(&server, &original);
    let load_secs = started.elapsed().as_secs_f64();
    let stored = read_back(&server);
    assert_eq!(stored.len(), original.len(), "every resource stored");
    println!(
        "suite: server loaded {} Synthea resources through transaction Bundles in {load_secs:.1} s",
        stored.len()
    );
    // conditional references were resolved to local ones
    let enc = first(&stored, "Encounter", 0);
    assert!(s(&enc["participant"][0]["individual"]["reference"]).starts_with("Practitioner/"));

    let mut idx = MemoryIndex::new();
    for r in &stored {
        idx.insert(r.clone()).unwrap();
    }

    let pat = first(&stored, "Patient", 0);
    let pat2 = first(&stored, "Patient", 3);
    let pid = s(&pat["id"]);
    let family = s(&pat["name"][0]["family"]);
    let cond = first(&stored, "Condition", 10);
    let cond_code = s(&cond["code"]["coding"][0]["code"]);
    let cond2_code = s(&first(&stored, "Condition", 200)["code"]["coding"][0]["code"]);
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for c in stored.iter().filter(|r| r["resourceType"] == "Condition") {
        *counts
            .entry(s(&c["code"]["coding"][0]["code"]))
            .or_default() += 1;
    }
    let rare_code = counts
        .iter()
        .find(|(_, n)| (3..=30).contains(*n))
        .unwrap()
        .0
        .clone();
    let enc_type = s(&enc["type"][0]["coding"][0]["code"]);
    let enc_id = s(&first(&stored, "Encounter", 30)["id"]);
    let prac = first(&stored, "Practitioner", 2);
    let prac_npi = s(&prac["identifier"][0]["value"]);
    let prac_family = s(&prac["name"][0]["family"]);
    let med = first(&stored, "MedicationRequest", 5);
    let med_code = s(&med["medicationCodeableConcept"]["coding"][0]["code"]);
    let proc_code = s(&first(&stored, "Procedure", 7)["code"]["coding"][0]["code"]);
    let imm_code = s(&first(&stored, "Immunization", 3)["vaccineCode"]["coding"][0]["code"]);
    let org = first(&stored, "Organization", 1);
    let org_name_word = s(&org["name"]).split(' ').next().unwrap().to_lowercase();
    let loc_city = s(&first(&stored, "Location", 0)["address"]["city"]);
    let doc_type = s(&first(&stored, "DocumentReference", 0)["type"]["coding"][0]["code"]);
    let mrn = pat["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"]["coding"][0]["code"] == "MR")
        .map(|i| format!("{}|{}", s(&i["system"]), s(&i["value"])))
        .unwrap();

    let queries: Vec<(&str, String)> = vec![
        ("Patient", "gender=male".into()),
        ("Patient", "gender=female&_count=3".into()),
        ("Patient", "birthdate=ge1960".into()),
        ("Patient", "birthdate=lt1950-01-01".into()),
        ("Patient", "birthdate=eq1997".into()),
        ("Patient", format!("family={family}")),
        ("Patient", format!("family:exact={family}")),
        ("Patient", "name=a".into()),
        ("Patient", "address-state=Massachusetts".into()),
        ("Patient", format!("_id={pid},{}", s(&pat2["id"]))),
        ("Patient", format!("identifier={mrn}")),
        ("Patient", "_sort=birthdate".into()),
        ("Patient", "_sort=-family,given&_count=4".into()),
        ("Patient", "deceased=true".into()),
        ("Patient", "gender:not=male".into()),
        (
            "Patient",
            format!("_has:Condition:patient:code={cond_code}"),
        ),
        (
            "Patient",
            format!("_has:Condition:patient:code={rare_code}"),
        ),
        ("Condition", "clinical-status=active".into()),
        ("Condition", "clinical-status=resolved&_count=50".into()),
        (
            "Condition",
            format!("code=http://snomed.info/sct|{cond_code}"),
        ),
        ("Condition", format!("code={cond_code},{cond2_code}")),
        (
            "Condition",
            "category=encounter-diagnosis&_count=100".into(),
        ),
        ("Condition", "onset-date=ge2010-01-01".into()),
        ("Condition", "onset-date=lt1980".into()),
        ("Condition", format!("subject=Patient/{pid}")),
        (
            "Condition",
            format!("patient={pid}&_include=Condition:subject"),
        ),
        ("Condition", "subject:Patient.gender=female".into()),
        (
            "Condition",
            format!("code={cond_code}&_include=Condition:encounter"),
        ),
        (
            "Condition",
            "verification-status=confirmed&_sort=-onset-date&_count=25".into(),
        ),
        ("Encounter", "class=AMB&_count=100".into()),
        ("Encounter", "status=finished&_summary=count".into()),
        ("Encounter", "date=ge2020-01-01".into()),
        ("Encounter", "date=lt1990".into()),
        ("Encounter", format!("type={enc_type}")),
        ("Encounter", format!("subject=Patient/{pid}&_sort=date")),
        (
            "Encounter",
            format!("participant=Practitioner/{}", s(&prac["id"])),
        ),
        (
            "Encounter",
            format!("participant.identifier=http://hl7.org/fhir/sid/us-npi|{prac_npi}"),
        ),
        (
            "Encounter",
            format!("_id={enc_id}&_revinclude=Condition:encounter"),
        ),
        ("Encounter", "reason-code:missing=false".into()),
        ("MedicationRequest", "status=active".into()),
        ("MedicationRequest", "status=stopped&intent=order".into()),
        ("MedicationRequest", "authoredon=ge2015".into()),
        ("MedicationRequest", format!("code={med_code}")),
        (
            "MedicationRequest",
            format!("patient={pid}&status=active,stopped"),
        ),
        ("Procedure", "date=ge2015-06-01".into()),
        ("Procedure", format!("code={proc_code}")),
        (
            "Procedure",
            "status=completed&_count=100&_total=accurate".into(),
        ),
        ("Immunization", format!("vaccine-code={imm_code}")),
        ("Immunization", "date=ge2018".into()),
        (
            "Immunization",
            format!("patient=Patient/{}", s(&pat2["id"])),
        ),
        ("DocumentReference", format!("type={doc_type}&date=ge2019")),
        ("DocumentReference", "status=current&_count=100".into()),
        ("Practitioner", format!("name={prac_family}")),
        ("Practitioner", format!("identifier={prac_npi}")),
        (
            "PractitionerRole",
            format!("practitioner=Practitioner/{}", s(&prac["id"])),
        ),
        ("Organization", format!("name={org_name_word}")),
        ("Location", format!("address-city={loc_city}")),
        ("AllergyIntolerance", "clinical-status=active".into()),
        ("AllergyIntolerance", "criticality=low".into()),
        ("Device", "_lastUpdated=ge2000-01-01".into()),
        ("Observation", "code=8867-4".into()),
    ];
    assert!(queries.len() >= 50, "{} queries", queries.len());
    let mut nonempty = 0;
    let mut errors = 0;
    for (ty, q) in &queries {
        let (sm, si, stotal, pages, mm, mi, mtotal) =
            match (server_search(&server, ty, q), memory_search(&idx, ty, q)) {
                (Ok((sm, si, st, p)), Ok((mm, mi, mt))) => (sm, si, st, p, mm, mi, mt),
                (Err(se), Err(me)) => {
                    assert_eq!(se, me, "{ty}?{q}: same error");
                    errors += 1;
                    continue;
                }
                (s, m) => panic!("{ty}?{q}: server {s:?} vs core {m:?}"),
            };
        if q.contains("_summary=count") {
            assert_eq!(stotal, Some(mtotal as u64), "{ty}?{q}: total");
            continue;
        }
        assert_eq!(sm, mm, "{ty}?{q}: matches differ");
        assert_eq!(stotal, Some(mm.len() as u64), "{ty}?{q}: total");
        if pages == 1 {
            assert_eq!(si, mi, "{ty}?{q}: includes differ");
        }
        if !mm.is_empty() {
            nonempty += 1;
        }
    }
    println!(
        "suite: server differential: {} queries, {nonempty} with results, {errors} refused identically, all equal to firn-core",
        queries.len()
    );
    assert!(
        nonempty >= 45,
        "too many empty queries ({nonempty} non-empty) — the test would prove little"
    );

    // system-level search: the union of the per-type answers
    let by_id = format!("_id={},{enc_id}", s(&cond["id"]));
    for (types, q) in [
        ("Patient,Practitioner", "_lastUpdated=ge2000-01-01"),
        ("Condition,Encounter,Procedure", by_id.as_str()),
    ] {
        let mut want: BTreeSet<String> = BTreeSet::new();
        for ty in types.split(',') {
            want.extend(memory_search(&idx, ty, q).unwrap().0);
        }
        let mut got: BTreeSet<String> = BTreeSet::new();
        let mut url = format!("/?_type={types}&{q}&_count=100");
        loop {
            let b = server.get(&url).json();
            for e in b["entry"].as_array().into_iter().flatten() {
                got.insert(key(&e["resource"]));
            }
            assert_eq!(
                b["total"].as_u64().unwrap() as usize,
                want.len(),
                "?_type={types}&{q}"
            );
            match server.next_page(&b) {
                Some(next) => url = next,
                None => break,
            }
        }
        assert_eq!(got, want, "?_type={types}&{q}");
        assert!(!got.is_empty());
    }
}
