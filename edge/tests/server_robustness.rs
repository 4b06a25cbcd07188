//! Hostile and malformed input: the server answers every one with a 4xx OperationOutcome
//! (severity, code, diagnostics) and keeps serving — it never panics on input.

mod support;

use support::Server;

#[test]
fn malformed_requests_get_operation_outcomes() {
    let s = Server::start("robust");
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_obj = format!(
        "{{\"resourceType\":\"Patient\",\"extension\":{}1{}}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    let cases: Vec<(&str, String, &str, Vec<u8>)> = vec![
        ("POST", "/Patient".into(), "application/fhir+json", b"\xff\xfe\x00garbage".to_vec()),
        ("POST", "/Patient".into(), "application/fhir+json", deep.clone().into_bytes()),
        ("POST", "/Patient".into(), "application/fhir+json", deep_obj.into_bytes()),
        ("POST", "/Patient".into(), "application/fhir+json", b"[]".to_vec()),
        ("POST", "/Patient".into(), "application/fhir+json", b"{\"resourceType\": 42}".to_vec()),
        ("POST", "/Patient".into(), "application/fhir+json", b"{\"resourceType\":\"Patient\",\"name\":\"x\"}".to_vec()),
        ("POST", "/Patient".into(), "text/plain", b"hello".to_vec()),
        ("POST", "/".into(), "application/fhir+json", b"{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[1,\"x\",null,{}]}".to_vec()),
        ("POST", "/".into(), "application/fhir+json", b"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"method\":\"FROB\",\"url\":\"Patient\"}}]}".to_vec()),
        ("POST", "/".into(), "application/fhir+json", b"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"method\":\"GET\",\"url\":\"http://elsewhere.example/Patient/1\"}}]}".to_vec()),
        ("POST", "/".into(), "application/fhir+json", b"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}".to_vec()),
        ("POST", "/".into(), "application/fhir+json", b"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"method\":\"POST\",\"url\":\"/\"},\"resource\":{\"resourceType\":\"Bundle\",\"type\":\"batch\"}}]}".to_vec()),
        ("POST", "/".into(), "application/fhir+json", b"{\"resourceType\":\"Bundle\",\"type\":\"batch\"}".to_vec()),
        ("PATCH", "/Patient/x".into(), "application/fhir+json", b"{\"resourceType\":\"Binary\",\"data\":\"%%%not base64\"}".to_vec()),
        ("PATCH", "/Patient/x".into(), "application/fhir+json", b"{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"operation\"}]}".to_vec()),
        ("PATCH", "/Patient/x".into(), "application/octet-stream", b"[]".to_vec()),
        ("GET", "/Patient?birthdate=notadate".into(), "", vec![]),
        ("GET", "/Patient?_count=-1".into(), "", vec![]),
        ("GET", "/Patient?_count=100000".into(), "", vec![]),
        ("GET", "/Patient?name:frob=x".into(), "", vec![]),
        ("GET", "/Patient?_sort=nonsense".into(), "", vec![]),
        ("GET", "/Patient?%zz=%zz".into(), "", vec![]),
        ("GET", "/Patient?general-practitioner.general-practitioner.general-practitioner.name=x".into(), "", vec![]),
        ("GET", "/Patient/x/_history/abc".into(), "", vec![]),
        ("GET", "/_history?_at=yesterday".into(), "", vec![]),
        ("GET", "/_history?_since=2020-13-45".into(), "", vec![]),
        ("PUT", "/Patient/..".into(), "application/fhir+json", b"{\"resourceType\":\"Patient\",\"id\":\"..\"}".to_vec()),
        ("DELETE", "/Patient?".into(), "", vec![]),
        ("POST", "/Patient/$validate".into(), "application/fhir+json", b"{\"resourceType\":\"Parameters\",\"parameter\":[]}".to_vec()),
        ("POST", "/Patient/_search".into(), "application/json", b"family=x".to_vec()),
        ("HEAD", "/Patient".into(), "", vec![]),
        ("OPTIONS", "/Patient/1".into(), "", vec![]),
    ];
    for (method, path, ct, body) in cases {
        let mut req = s.req(method, &path);
        if !ct.is_empty() {
            req = req.raw(ct, body);
        }
        let r = req.send();
        if method == "HEAD" {
            assert!(r.status < 500, "{method} {path}: {}", r.status);
            continue;
        }
        assert!(
            (400..500).contains(&r.status) || (method == "POST" && path == "/" && r.status == 200),
            "{method} {}: status {} {}",
            &path[..path.len().min(200)],
            r.status,
            &r.text()[..r.text().len().min(500)]
        );
        if r.status >= 400 {
            r.outcome();
        } else {
            // a batch answers 200 with per-entry outcomes
            for e in r.json()["entry"].as_array().into_iter().flatten() {
                assert!(
                    e["response"]["status"].as_str().unwrap().starts_with('4'),
                    "{e}"
                );
                assert_eq!(e["response"]["outcome"]["resourceType"], "OperationOutcome");
            }
        }
    }
    // a 20 kB search value is just a search that matches nothing
    let r = s.get(&format!("/Patient?name={}", "a".repeat(20_000)));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 0);
    // still alive and consistent
    assert_eq!(s.get("/metadata").status, 200);
    assert_eq!(s.get("/Patient?_summary=count").json()["total"], 0);
}
