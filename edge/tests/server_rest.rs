//! `firn serve` end to end: every REST interaction and its error paths, over real HTTP against
//! the real binary. Snapshots hold bundles and OperationOutcomes with volatile fields redacted.

mod support;

use serde_json::{Value, json};
use support::{Server, redact};

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family, "given": ["Ana"]}],
           "gender": "female", "birthDate": "1992-02-10",
           "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": family}]})
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn metadata_lists_what_is_implemented() {
    let s = Server::start("metadata");
    let r = s.get("/metadata");
    assert_eq!(r.status, 200);
    let cs = r.json();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    let rest = &cs["rest"][0];
    let patient = rest["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    let params: Vec<&str> = patient["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"birthdate") && params.contains(&"identifier"));
    let interactions: Vec<&str> = rest["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(interactions, ["transaction", "batch", "history-system"]);
    assert_eq!(s.req("POST", "/metadata").send().status, 405);
}

#[test]
fn create_read_vread_update_delete_history() {
    let s = Server::start("crud");
    // create
    let r = s.post("/Patient", &patient("Silva"));
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let id = id_of(&created);
    assert_eq!(created["meta"]["versionId"], "1");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Patient/{id}/_history/1", s.base)
    );
    // read
    let r = s.get(&format!("/Patient/{id}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), created);
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    // conditional read
    let r = s
        .req("GET", &format!("/Patient/{id}"))
        .header("If-None-Match", "W/\"1\"")
        .send();
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = s
        .req("GET", &format!("/Patient/{id}"))
        .header("If-None-Match", "W/\"0\"")
        .send();
    assert_eq!(r.status, 200);
    // update
    let mut next = created.clone();
    next["gender"] = json!("other");
    let r = s.put(&format!("/Patient/{id}"), &next);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["meta"]["versionId"], "2");
    // vread both
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/1")).json()["gender"],
        "female"
    );
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/2")).json()["gender"],
        "other"
    );
    assert_eq!(s.get(&format!("/Patient/{id}/_history/9")).status, 404);
    // update-as-create with a client id
    let mut own = patient("Own");
    own["id"] = json!("my-id.1");
    let r = s.put("/Patient/my-id.1", &own);
    assert_eq!(r.status, 201);
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    // delete, then read → 410, history keeps it
    let r = s.delete(&format!("/Patient/{id}"));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = s.get(&format!("/Patient/{id}"));
    assert_eq!(r.status, 410);
    assert_eq!(r.outcome()["code"], "deleted");
    assert_eq!(
        s.delete(&format!("/Patient/{id}")).status,
        204,
        "repeat delete"
    );
    assert_eq!(s.delete("/Patient/never-was").status, 404);
    let h = s.get(&format!("/Patient/{id}/_history")).json();
    assert_eq!(h["type"], "history");
    assert_eq!(h["total"], 3);
    let methods: Vec<&str> = h["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"], "newest first");
    insta::assert_json_snapshot!("instance_history", redact(&h, &s.base));
    // recreate after delete continues the version numbers
    let mut again = created.clone();
    again["gender"] = json!("male");
    let r = s.put(&format!("/Patient/{id}"), &again);
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["meta"]["versionId"], "4");
    // type and system history
    let th = s.get("/Patient/_history?_count=2").json();
    assert_eq!(th["total"], 5);
    assert_eq!(th["entry"].as_array().unwrap().len(), 2);
    let next_url = s.next_page(&th).unwrap();
    // the next page stays stable even after another write
    s.post("/Patient", &patient("Later"));
    let page2 = s.get(&next_url).json();
    assert_eq!(page2["total"], 5);
    assert_eq!(page2["entry"].as_array().unwrap().len(), 2);
    let sh = s.get("/_history").json();
    assert_eq!(sh["total"], 6);
    assert_eq!(
        s.get("/_history?_since=2999-01-01T00:00:00Z").json()["total"],
        0
    );
    let at = s.get("/Patient/_history?_at=2000-01-01").json();
    assert_eq!(at["total"], 0);
    // every version of this resource was current at some point this year
    let year = &created["meta"]["lastUpdated"].as_str().unwrap()[..4];
    let at = s.get(&format!("/Patient/{id}/_history?_at={year}")).json();
    assert_eq!(at["total"], 4);
    let at = s.get("/Patient/_history?_at=2999").json();
    assert_eq!(
        at["total"], 3,
        "the current version of each of the 3 patients"
    );
    let bad = s.get("/_history?_count=abc");
    assert_eq!(bad.status, 400);
    assert_eq!(s.get("/_history?colour=red").status, 400);
    assert_eq!(s.get("/Patient/nope/_history").status, 404);
}

#[test]
fn summary_elements_and_pretty_on_read() {
    let s = Server::start("shape");
    let id = id_of(&s.post("/Patient", &patient("Shape")).json());
    let r = s.get(&format!("/Patient/{id}?_elements=gender"));
    let v = r.json();
    assert_eq!(v["gender"], "female");
    assert!(v.get("name").is_none());
    assert_eq!(v["meta"]["tag"][0]["code"], "SUBSETTED");
    let v = s.get(&format!("/Patient/{id}?_summary=true")).json();
    assert!(v.get("name").is_some());
    let r = s.get(&format!("/Patient/{id}?_pretty=true"));
    assert!(r.text().contains("\n  \"resourceType\""));
    assert_eq!(s.get(&format!("/Patient/{id}?_summary=bogus")).status, 400);
}

#[test]
fn prefer_return_variants() {
    let s = Server::start("prefer");
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Min"))
        .header("Prefer", "return=minimal")
        .send();
    assert_eq!(r.status, 201);
    assert!(r.body.is_empty());
    assert!(r.header("location").is_some());
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Oo"))
        .header("Prefer", "return=OperationOutcome")
        .send();
    assert_eq!(r.status, 201);
    let v = r.json();
    assert_eq!(v["resourceType"], "OperationOutcome");
    assert_eq!(v["issue"][0]["severity"], "information");
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Rep"))
        .header("Prefer", "return=representation")
        .send();
    assert_eq!(r.json()["resourceType"], "Patient");
}

#[test]
fn etags_if_match_and_if_none_match() {
    let s = Server::start("etag");
    let created = s.post("/Patient", &patient("Etag")).json();
    let id = id_of(&created);
    let path = format!("/Patient/{id}");
    let r = s
        .req("PUT", &path)
        .json(&created)
        .header("If-Match", "W/\"2\"")
        .send();
    assert_eq!(r.status, 412);
    insta::assert_json_snapshot!("if_match_mismatch", redact(&r.json(), &s.base));
    let r = s
        .req("PUT", &path)
        .json(&created)
        .header("If-Match", "W/\"1\"")
        .send();
    assert_eq!(r.status, 200);
    let r = s
        .req("PUT", &path)
        .json(&created)
        .header("If-None-Match", "*")
        .send();
    assert_eq!(r.status, 412);
    let mut fresh = patient("Fresh");
    fresh["id"] = json!("fresh");
    let r = s
        .req("PUT", "/Patient/fresh")
        .json(&fresh)
        .header("If-None-Match", "*")
        .send();
    assert_eq!(r.status, 201);
    assert_eq!(
        s.req("DELETE", &path)
            .header("If-Match", "W/\"1\"")
            .send()
            .status,
        412
    );
    assert_eq!(
        s.req("PUT", &path)
            .json(&created)
            .header("If-Match", "garbage")
            .send()
            .status,
        400
    );
    assert_eq!(
        s.req("DELETE", &path)
            .header("If-Match", "W/\"2\"")
            .send()
            .status,
        204
    );
}

#[test]
fn conditional_create_update_delete() {
    let s = Server::start("cond");
    let a = s.post("/Patient", &patient("Cond")).json();
    // If-None-Exist: one match → 200 with it, nothing created
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Cond"))
        .header(
            "If-None-Exist",
            "identifier=urn:oid:1.2.36.146.595.217.0.1|Cond",
        )
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(id_of(&r.json()), id_of(&a));
    // no match → 201
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Other"))
        .header("If-None-Exist", "identifier=Other")
        .send();
    assert_eq!(r.status, 201);
    s.post("/Patient", &patient("Other"));
    // several → 412
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Other"))
        .header("If-None-Exist", "identifier=Other")
        .send();
    assert_eq!(r.status, 412);
    assert_eq!(r.outcome()["code"], "multiple-matches");
    // conditional update: 1 match, no body id → 200 on the match
    let mut upd = patient("Cond");
    upd["gender"] = json!("other");
    let r = s.put("/Patient?identifier=Cond", &upd);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(id_of(&r.json()), id_of(&a));
    // 1 match, different body id → 409
    upd["id"] = json!("someone-else");
    assert_eq!(s.put("/Patient?identifier=Cond", &upd).status, 409);
    // 0 matches, no id → 201 create
    let r = s.put("/Patient?identifier=Nobody", &patient("Nobody"));
    assert_eq!(r.status, 201);
    // 0 matches, body id exists → 409
    let mut clash = patient("Clash");
    clash["id"] = json!(id_of(&a));
    assert_eq!(s.put("/Patient?identifier=Clash", &clash).status, 409);
    // 0 matches, new body id → 201 with that id
    clash["id"] = json!("clash-1");
    let r = s.put("/Patient?identifier=Clash", &clash);
    assert_eq!(r.status, 201);
    assert_eq!(id_of(&r.json()), "clash-1");
    // several → 412
    assert_eq!(
        s.put("/Patient?identifier=Other", &patient("Other")).status,
        412
    );
    // empty criteria → 400
    assert_eq!(s.put("/Patient", &patient("X")).status, 400);
    // conditional delete
    assert_eq!(s.delete("/Patient?identifier=Other").status, 412);
    assert_eq!(s.delete("/Patient?identifier=Nobody").status, 204);
    assert_eq!(s.delete("/Patient?identifier=Nobody").status, 404);
    assert_eq!(
        s.delete(&format!("/Patient?_id={}&gender=male", id_of(&a)))
            .status,
        409
    );
    assert_eq!(s.delete("/Patient?_id=not-there").status, 404);
    assert_eq!(s.delete(&format!("/Patient?_id={}", id_of(&a))).status, 204);
    assert_eq!(
        s.delete(&format!("/Patient?_id={}", id_of(&a))).status,
        204,
        "already deleted"
    );
}

#[test]
fn patch_json_patch_and_fhirpath_patch() {
    let s = Server::start("patch");
    let id = id_of(&s.post("/Patient", &patient("Patch")).json());
    let path = format!("/Patient/{id}");
    let r = s
        .req("PATCH", &path)
        .raw(
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/gender","value":"male"}]"#,
        )
        .header("If-Match", "W/\"1\"")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["gender"], "male");
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let fp = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
        {"name": "name", "valueString": "active"}, {"name": "value", "valueBoolean": true}]}]});
    let r = s.req("PATCH", &path).json(&fp).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["meta"]["versionId"], "3");
    // stale If-Match → 412
    let r = s
        .req("PATCH", &path)
        .raw("application/json-patch+json", "[]")
        .header("If-Match", "W/\"1\"")
        .send();
    assert_eq!(r.status, 412);
    // failing test op → 422, nothing changed
    let r = s
        .req("PATCH", &path)
        .raw(
            "application/json-patch+json",
            r#"[{"op":"test","path":"/gender","value":"female"}]"#,
        )
        .send();
    assert_eq!(r.status, 422, "{}", r.text());
    r.outcome();
    assert_eq!(s.get(&path).json()["meta"]["versionId"], "3");
    // malformed patch → 400; missing → 404; invalid result → 422
    let r = s
        .req("PATCH", &path)
        .raw("application/json-patch+json", "{not json")
        .send();
    assert_eq!(r.status, 400);
    r.outcome();
    let r = s
        .req("PATCH", "/Patient/nope")
        .raw("application/json-patch+json", "[]")
        .send();
    assert_eq!(r.status, 404);
    let r = s
        .req("PATCH", &path)
        .raw(
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/gender","value":"robot"}]"#,
        )
        .send();
    assert_eq!(r.status, 422, "{}", r.text());
    let r = s
        .req("PATCH", &path)
        .raw(
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/id","value":"other"}]"#,
        )
        .send();
    assert_eq!(r.status, 422);
    assert_eq!(
        s.req("PATCH", "/Patient?name=x")
            .raw("application/json-patch+json", "[]")
            .send()
            .status,
        400
    );
    assert_eq!(
        s.req("PATCH", &path)
            .raw("application/xml", "<x/>")
            .send()
            .status,
        415
    );
}

#[test]
fn validation_levels_and_validate_operation() {
    let s = Server::start("validate");
    let bad = json!({"resourceType": "Patient", "gender": "robot", "active": "yes"});
    let r = s.post("/Patient", &bad);
    assert_eq!(r.status, 400);
    insta::assert_json_snapshot!("invalid_patient", redact(&r.json(), &s.base));
    let r = s
        .req("POST", "/Patient")
        .json(&bad)
        .header("x-amzn-healthlake-fhir-validation-level", "minimal")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-healthlake-validation-issues"),
        Some("true")
    );
    let stored = r.json();
    assert_eq!(
        stored["extension"][0]["url"],
        "http://healthlake.amazonaws.com/fhir/StructureDefinition/validation-issue"
    );
    let r = s
        .req("POST", "/Patient")
        .json(&bad)
        .header("x-amzn-healthlake-fhir-validation-level", "structure-only")
        .send();
    assert_eq!(r.status, 400);
    let r = s
        .req("POST", "/Patient")
        .json(&patient("V"))
        .header("x-amzn-healthlake-fhir-validation-level", "lenient")
        .send();
    assert_eq!(r.status, 400);
    // $validate: 200 with an outcome, errors included
    let r = s.post("/Patient/$validate", &bad);
    assert_eq!(r.status, 200);
    let oo = r.json();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert!(
        oo["issue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["severity"] == "error")
    );
    let r = s.post("/Patient/$validate", &patient("Ok"));
    assert_eq!(r.status, 200);
    assert!(
        !r.json()["issue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["severity"] == "error")
    );
    let params =
        json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]});
    let r = s.post("/Patient/$validate", &params);
    assert_eq!(r.status, 200);
    let r = s.post(
        "/Patient/$validate?profile=http://example.org/no-such-profile",
        &patient("P"),
    );
    assert_eq!(r.status, 400);
    r.outcome();
    // instance level: the stored resource
    let id = id_of(&s.post("/Patient", &patient("Stored")).json());
    let r = s.req("POST", &format!("/Patient/{id}/$validate")).send();
    assert_eq!(r.status, 200);
    assert_eq!(s.req("POST", "/Patient/nope/$validate").send().status, 404);
}

#[test]
fn idempotency_keys() {
    let s = Server::start("idem");
    let key = "123e4567-e89b-12d3-a456-426614174000";
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Idem"))
        .header("x-amz-fhir-idempotency-key", key)
        .send();
    assert_eq!(r.status, 201);
    let first = r.json();
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Idem"))
        .header("x-amz-fhir-idempotency-key", key)
        .send();
    assert_eq!(r.status, 409);
    assert_eq!(r.json(), first, "the original resource comes back");
    assert_eq!(s.get("/Patient?_summary=count").json()["total"], 1);
    let r = s
        .req("POST", "/Patient")
        .json(&patient("Idem"))
        .header("x-amz-fhir-idempotency-key", "not-a-uuid")
        .send();
    assert_eq!(r.status, 400);
    r.outcome();
}

#[test]
fn input_limits_and_errors_are_operation_outcomes() {
    let s = Server::start("errors");
    // XML → 415
    let r = s
        .req("POST", "/Patient")
        .raw(
            "application/fhir+xml",
            "<Patient xmlns=\"http://hl7.org/fhir\"/>",
        )
        .send();
    assert_eq!(r.status, 415);
    insta::assert_json_snapshot!("xml_body", redact(&r.json(), &s.base));
    assert_eq!(s.get("/Patient?_format=xml").status, 415);
    assert_eq!(
        s.req("GET", "/Patient")
            .header("Accept", "application/fhir+xml")
            .send()
            .status,
        415
    );
    // > 5 MB → 413
    let big = format!(
        "{{\"resourceType\":\"Patient\",\"text\":{{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">{}</div>\"}}}}",
        "x".repeat(5 * 1024 * 1024 + 10)
    );
    let r = s
        .req("POST", "/Patient")
        .raw("application/fhir+json", big)
        .send();
    assert_eq!(r.status, 413);
    assert_eq!(r.outcome()["code"], "too-long");
    // malformed JSON → 400 with line/col
    let r = s
        .req("POST", "/Patient")
        .raw("application/fhir+json", "{\"resourceType\": \"Patient\",,}")
        .send();
    assert_eq!(r.status, 400);
    insta::assert_json_snapshot!("malformed_json", redact(&r.json(), &s.base));
    // wrong type, no resourceType, empty body
    assert_eq!(s.post("/Observation", &patient("x")).status, 400);
    assert_eq!(s.post("/Patient", &json!({"name": []})).status, 400);
    assert_eq!(s.req("POST", "/Patient").send().status, 400);
    // ids
    let mut p = patient("Id");
    p["id"] = json!("bad id!");
    let r = s.put("/Patient/bad%20id!", &p);
    assert_eq!(r.status, 400);
    let long = "a".repeat(65);
    p["id"] = json!(long);
    assert_eq!(s.put(&format!("/Patient/{long}"), &p).status, 400);
    p["id"] = json!("other");
    assert_eq!(s.put("/Patient/mine", &p).status, 400, "body id differs");
    p.as_object_mut().unwrap().remove("id");
    assert_eq!(s.put("/Patient/mine", &p).status, 400, "body id missing");
    // unknown type / endpoint / method
    let r = s.get("/Spaceship/1");
    assert_eq!(r.status, 404);
    insta::assert_json_snapshot!("unknown_type", redact(&r.json(), &s.base));
    assert_eq!(s.get("/Patient/1/2/3/4").status, 404);
    assert_eq!(s.req("DELETE", "/").send().status, 405);
    assert_eq!(s.get("/Patient/none").status, 404);
    assert_eq!(s.get("/?_type=Patient&_sort=_id").status, 400);
    assert_eq!(s.get("/?_type=Spaceship").status, 400);
}

#[test]
fn search_get_post_paging_and_errors() {
    let s = Server::start("search");
    for (i, fam) in ["Alpha", "Beta", "Gamma", "Delta", "Alpha"]
        .iter()
        .enumerate()
    {
        let mut p = patient(fam);
        p["gender"] = json!(if i % 2 == 0 { "female" } else { "male" });
        assert_eq!(s.post("/Patient", &p).status, 201);
    }
    let b = s.get("/Patient?family=alpha").json();
    assert_eq!(b["type"], "searchset");
    assert_eq!(b["total"], 2);
    let b = s.get("/Patient?gender=female&_count=2").json();
    assert_eq!(b["total"], 3);
    assert_eq!(b["entry"].as_array().unwrap().len(), 2);
    let next = s.next_page(&b).unwrap();
    let b2 = s.get(&next).json();
    assert_eq!(b2["entry"].as_array().unwrap().len(), 1);
    let first_ids: Vec<String> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| id_of(&e["resource"]))
        .collect();
    assert!(
        !first_ids.contains(&id_of(&b2["entry"][0]["resource"])),
        "pages do not overlap"
    );
    // POST _search with a form body
    let r = s
        .req("POST", "/Patient/_search")
        .raw("application/x-www-form-urlencoded", "family=beta")
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 1);
    // URL and body together → 400
    let r = s
        .req("POST", "/Patient/_search?gender=male")
        .raw("application/x-www-form-urlencoded", "family=beta")
        .send();
    assert_eq!(r.status, 400);
    // unknown parameter → 400; lenient → ignored with an outcome entry
    let r = s.get("/Patient?colour=red");
    assert_eq!(r.status, 400);
    insta::assert_json_snapshot!("unknown_search_param", redact(&r.json(), &s.base));
    let r = s
        .req("GET", "/Patient?colour=red&family=gamma")
        .header("Prefer", "handling=lenient")
        .send();
    assert_eq!(r.status, 200);
    let b = r.json();
    assert_eq!(b["total"], 1);
    insta::assert_json_snapshot!("lenient_search", redact(&b, &s.base));
    // _summary=count
    assert_eq!(s.get("/Patient?_summary=count").json()["total"], 5);
    // system-level search over several types
    s.post(
        "/Observation",
        &json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
    );
    let b = s.get("/?_type=Patient,Observation&_count=4").json();
    assert_eq!(b["total"], 6);
    assert_eq!(b["entry"].as_array().unwrap().len(), 4);
    let next = s.next_page(&b).unwrap();
    let b2 = s.get(&next).json();
    assert_eq!(b2["entry"].as_array().unwrap().len(), 2);
    assert_eq!(b2["entry"][1]["resource"]["resourceType"], "Observation");
    let id = b["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.get(&format!("/?_id={id}")).json()["total"],
        1,
        "all types"
    );
    assert_eq!(
        s.get("/?_type=Observation&_summary=count").json()["total"],
        1
    );
}

#[test]
fn batch_bundles_report_each_entry() {
    let s = Server::start("batch");
    let existing = s.post("/Patient", &patient("Existing")).json();
    let eid = id_of(&existing);
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient("B1"), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": format!("Patient/{eid}")}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"resource": {"resourceType": "Patient", "gender": "robot"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "DELETE", "url": format!("Patient/{eid}")}},
        {"resource": {"resourceType": "Patient", "id": "b-put"}, "request": {"method": "PUT", "url": "Patient/b-put"}},
        {"resource": patient("B1"), "request": {"method": "PUT", "url": "Patient?identifier=nobody-has-this"}},
        {"request": {"method": "GET", "url": "Patient?family=b1"}},
        {"request": {"url": "Patient"}}
    ]});
    let r = s.post("/", &bundle);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["type"], "batch-response");
    let statuses: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "201 Created",
            "200 OK",
            "404 Not Found",
            "400 Bad Request",
            "204 No Content",
            "201 Created",
            "201 Created",
            "200 OK",
            "400 Bad Request"
        ]
    );
    insta::assert_json_snapshot!("batch_response", redact(&b, &s.base));
}

#[test]
fn transaction_bundles_are_atomic_and_resolve_references() {
    let s = Server::start("transaction");
    let doomed = s.post("/Patient", &patient("Doomed")).json();
    let did = id_of(&doomed);
    s.post("/Practitioner", &json!({"resourceType": "Practitioner", "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "123"}]}));
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient?family=silva"}},
        {"fullUrl": "urn:uuid:4f6a30fb-cd3c-4ab6-8757-532101f72065",
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                      "subject": {"reference": "urn:uuid:9d1e7f1a-1111-4c1b-9a6e-2a2f6c3b0001"},
                      "performer": [{"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|123"}]},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:9d1e7f1a-1111-4c1b-9a6e-2a2f6c3b0001", "resource": patient("Silva"),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "appt-pt", "link": [{"type": "seealso", "other": {"reference": "urn:uuid:9d1e7f1a-1111-4c1b-9a6e-2a2f6c3b0001"}}]},
         "request": {"method": "PUT", "url": "Patient/appt-pt"}},
        {"request": {"method": "DELETE", "url": format!("Patient/{did}")}}
    ]});
    let r = s.post("/", &tx);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["type"], "transaction-response");
    insta::assert_json_snapshot!("transaction_response", redact(&b, &s.base));
    let loc = |i: usize| {
        b["entry"][i]["response"]["location"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let obs_loc = loc(1);
    let pat_loc = loc(2);
    let pat_ref = pat_loc.split("/_history").next().unwrap().to_string();
    let obs = s
        .get(&format!("/{}", obs_loc.split("/_history").next().unwrap()))
        .json();
    assert_eq!(obs["subject"]["reference"], pat_ref);
    assert!(
        obs["performer"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Practitioner/")
    );
    assert_eq!(
        s.get("/Patient/appt-pt").json()["link"][0]["other"]["reference"],
        pat_ref
    );
    // GET runs last: it sees the new Silva
    assert_eq!(b["entry"][0]["resource"]["total"], 1);
    assert_eq!(s.get(&format!("/Patient/{did}")).status, 410);

    // ifNoneExist in a transaction: a match is reused (200) and urn:uuid references point to it
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111", "resource": patient("Silva"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:oid:1.2.36.146.595.217.0.1|Silva"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "height"},
                      "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"}},
         "request": {"method": "POST", "url": "Observation"}}]});
    let r = s.post("/", &tx);
    assert_eq!(r.status, 200, "{}", r.text());
    let b2 = r.json();
    assert_eq!(b2["entry"][0]["response"]["status"], "200 OK");
    let obs2 = b2["entry"][1]["response"]["location"]
        .as_str()
        .unwrap()
        .split("/_history")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        s.get(&format!("/{obs2}")).json()["subject"]["reference"],
        pat_ref
    );
    assert_eq!(
        s.get("/Patient?family=silva&_summary=count").json()["total"],
        1
    );

    // a failing entry rolls back everything
    let before = s.get("/_history?_summary=count").json()["total"].clone();
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient("Never"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "robot"}, "request": {"method": "POST", "url": "Patient"}}
    ]});
    let r = s.post("/", &tx);
    assert_eq!(r.status, 400);
    insta::assert_json_snapshot!("transaction_rollback", redact(&r.json(), &s.base));
    assert_eq!(s.get("/Patient?family=never").json()["total"], 0);
    assert_eq!(s.get("/_history?_summary=count").json()["total"], before);
    // unresolvable conditional reference → fails
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient?identifier=nobody"}},
         "request": {"method": "POST", "url": "Observation"}}]});
    assert_eq!(s.post("/", &tx).status, 404);
    // same resource twice → 400
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/appt-pt"}},
        {"request": {"method": "DELETE", "url": "Patient/appt-pt"}}]});
    assert_eq!(s.post("/", &tx).status, 400);
    // 501 entries → 422
    let entries: Vec<Value> = (0..501)
        .map(|_| json!({"request": {"method": "GET", "url": "Patient"}}))
        .collect();
    let r = s.post(
        "/",
        &json!({"resourceType": "Bundle", "type": "batch", "entry": entries}),
    );
    assert_eq!(r.status, 422);
    // not batch/transaction
    assert_eq!(
        s.post(
            "/",
            &json!({"resourceType": "Bundle", "type": "collection"})
        )
        .status,
        400
    );
    assert_eq!(s.post("/", &patient("x")).status, 400);
}

#[test]
fn data_survives_restart_and_kill() {
    let s = Server::start("restart");
    let id = id_of(&s.post("/Patient", &patient("Durable")).json());
    let data = s.kill();
    let s = Server::start_on(data, &[]);
    let r = s.get(&format!("/Patient/{id}"));
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/Patient?family=durable").json()["total"], 1);
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let s = Server::start("sigterm");
    let id = id_of(&s.post("/Patient", &patient("Graceful")).json());
    let data = s.data.clone();
    assert!(s.terminate(), "firn serve exits 0 on SIGTERM");
    let s = Server::start_on(data, &[]);
    assert_eq!(s.get(&format!("/Patient/{id}")).status, 200);
}
