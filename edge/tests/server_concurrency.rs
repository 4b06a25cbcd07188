//! 32 clients updating one resource with `If-Match`: no update is lost — the final version count
//! equals the number of 200s, and every successful client's mark is in the final resource.

mod support;

use serde_json::json;
use std::sync::Arc;
use support::Server;

#[test]
fn thirty_two_clients_with_if_match_lose_no_update() {
    let server = Arc::new(Server::start("concurrency"));
    let r = server.put(
        "/Basic/counter",
        &json!({"resourceType": "Basic", "id": "counter", "code": {"text": "counter"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let clients = 32;
    let attempts = 8;
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let server = server.clone();
            std::thread::spawn(move || {
                let mut ok = Vec::new();
                let mut conflicts = 0;
                for a in 0..attempts {
                    let cur = server.get("/Basic/counter");
                    assert_eq!(cur.status, 200);
                    let etag = cur.header("etag").unwrap().to_string();
                    let mut res = cur.json();
                    let mark = format!("{c}-{a}");
                    res["identifier"]
                        .as_array_mut()
                        .map(|v| v.push(json!({"value": mark})))
                        .unwrap_or_else(|| res["identifier"] = json!([{"value": mark}]));
                    let r = server
                        .req("PUT", "/Basic/counter")
                        .json(&res)
                        .header("If-Match", &etag)
                        .send();
                    match r.status {
                        200 => ok.push(mark),
                        412 => conflicts += 1,
                        s => panic!("unexpected {s}: {}", r.text()),
                    }
                }
                (ok, conflicts)
            })
        })
        .collect();
    let mut marks = Vec::new();
    let mut conflicts = 0;
    for h in handles {
        let (ok, c) = h.join().unwrap();
        marks.extend(ok);
        conflicts += c;
    }
    let final_res = server.get("/Basic/counter").json();
    let version: usize = final_res["meta"]["versionId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    println!(
        "suite: server {clients} clients x {attempts} attempts: {} updates (200), {conflicts} refused (412), final version {version}",
        marks.len()
    );
    assert_eq!(marks.len() + conflicts, clients * attempts);
    assert_eq!(version, 1 + marks.len(), "versions = 1 + number of 200s");
    let mut stored: Vec<String> = final_res["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    marks.sort();
    assert_eq!(
        stored, marks,
        "every successful update is in the final resource"
    );
    let h = server.get("/Basic/counter/_history?_count=1").json();
    assert_eq!(h["total"].as_u64().unwrap() as usize, version);
}
