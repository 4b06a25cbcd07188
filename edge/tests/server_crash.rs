//! `kill -9` in the middle of a write storm leaves a consistent store: after a restart every
//! resource's current version equals its history length, every committed write is readable, and
//! the search index agrees with the stored resources.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use support::Server;

#[test]
fn kill_nine_during_writes_leaves_a_consistent_store() {
    let server = Server::start("crash");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let json_headers = vec![(
        "content-type".to_string(),
        "application/fhir+json".to_string(),
    )];
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (addr, stop, acked) = (server.addr.clone(), stop.clone(), acked.clone());
            let headers = json_headers.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = format!("w{w}-{}", n % 5);
                    let body = json!({"resourceType": "Patient", "id": id, "gender": "female",
                                      "identifier": [{"system": "urn:crash", "value": format!("{w}-{n}")}]});
                    // transactions too: two resources that must appear together
                    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
                         "resource": {"resourceType": "Patient", "gender": "male",
                                      "identifier": [{"system": "urn:pair", "value": format!("{w}-{n}")}]},
                         "request": {"method": "POST", "url": "Patient"}},
                        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "pair"},
                                      "identifier": [{"system": "urn:pair", "value": format!("{w}-{n}")}],
                                      "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"}},
                         "request": {"method": "POST", "url": "Observation"}}]});
                    let (method, path, payload, want) = if n % 3 == 0 {
                        ("POST", "/".to_string(), tx, 200)
                    } else {
                        ("PUT", format!("/Patient/{id}"), body, 201)
                    };
                    let bytes = serde_json::to_vec(&payload).unwrap();
                    // After the kill the connection fails, which ends this worker.
                    match support::try_send(&addr, method, &path, &headers, &bytes) {
                        Some(r) if r.status == want || (want == 201 && r.status == 200) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(r) => panic!("{method} {path}: {} {}", r.status, r.text()),
                        None => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // kill -9 while the workers are mid-request
    let data = server.kill();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let acked = acked.load(Ordering::Relaxed);
    assert!(acked > 20, "only {acked} writes before the kill");
    let s = Server::start_on(data, &[]);
    // every resource: current version == number of history entries
    let all = s.get("/Patient?_count=100&_total=accurate").json();
    let total = all["total"].as_u64().unwrap();
    assert!(total > 0);
    let mut url = "/Patient?_count=100".to_string();
    let mut checked = 0;
    loop {
        let b = s.get(&url).json();
        for e in b["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            let id = r["id"].as_str().unwrap();
            let v: u64 = r["meta"]["versionId"].as_str().unwrap().parse().unwrap();
            let h = s.get(&format!("/Patient/{id}/_history?_count=1")).json();
            assert_eq!(h["total"].as_u64().unwrap(), v, "Patient/{id}");
            // the index agrees with the body
            if let Some(ident) = r["identifier"][0]["value"].as_str() {
                let sys = r["identifier"][0]["system"].as_str().unwrap();
                let found = s
                    .get(&format!("/Patient?identifier={sys}|{ident}&_count=100"))
                    .json();
                let ids: Vec<&str> = found["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["resource"]["id"].as_str().unwrap())
                    .collect();
                assert!(
                    ids.contains(&id),
                    "Patient/{id} not found by its identifier"
                );
            }
            checked += 1;
        }
        match s.next_page(&b) {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(checked as u64, total);
    // transaction pairs are all-or-nothing
    let obs = s.get("/Observation?_count=100").json();
    for e in obs["entry"].as_array().into_iter().flatten() {
        let subject = e["resource"]["subject"]["reference"].as_str().unwrap();
        assert_eq!(
            s.get(&format!("/{subject}")).status,
            200,
            "an Observation without its Patient"
        );
    }
    println!(
        "suite: server {acked} acknowledged writes before kill -9; {checked} resources consistent after restart"
    );
}
