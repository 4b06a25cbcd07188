//! Never panic on input: random query strings and type-confused resources go through parsing,
//! extraction, matching and set evaluation, and come out as values or typed errors.

mod common;

use firn_core::outcome::IntoOutcome;
use firn_core::search::{Query, SearchConfig, extract, matches, search};
use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "name",
    "family",
    "birthdate",
    "gender",
    "subject",
    "code",
    "value-quantity",
    "date",
    "_has",
    "_id",
    "_sort",
    "_count",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_total",
    "_list",
    "_text",
    "identifier",
    "component-code-value-quantity",
    ":",
    ".",
    "=",
    "&",
    ",",
    "|",
    "$",
    "\\",
    "%",
    "%2",
    "%ZZ",
    "%C3%",
    "+",
    "-",
    "?",
    "*",
    "Patient",
    "Observation",
    ":missing",
    ":not",
    ":exact",
    ":iterate",
    ":Patient",
    ":of-type",
    "ge",
    "ap",
    "eb",
    "2013",
    "2013-01-14T10:00",
    "-01",
    "1e400",
    "NaN",
    "é",
    "日本",
    "\u{0}",
    "",
    "true",
    "100",
    "0",
    "999999999999999999999",
    "http://loinc.org",
    "urn:uuid:x",
    "#a",
    "Patient/p1",
];

#[test]
fn random_queries_never_panic() {
    let idx = common::index();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..5_000 {
        let n = 1 + rng.next() % 8;
        let q: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        let ty = rng.pick(&["Patient", "Observation", "Encounter"]);
        for cfg in [SearchConfig::default(), SearchConfig::lenient()] {
            match Query::parse(ty, &q, &cfg) {
                Ok(query) => {
                    accepted += 1;
                    match search(idx, &query) {
                        Ok(page) => assert!(page.matches.len() <= page.count),
                        Err(e) => assert!(
                            !e.into_outcome().to_json()["issue"][0]["diagnostics"]
                                .as_str()
                                .unwrap()
                                .is_empty()
                        ),
                    }
                    for r in common::resources()
                        .iter()
                        .filter(|r| r["resourceType"] == ty)
                    {
                        let _ = matches(&query, r, idx);
                    }
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
    assert!(
        accepted > 250,
        "the generator should also produce valid queries ({accepted})"
    );
}

#[test]
fn type_confused_resources_never_panic() {
    let junk = [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!([1, "a", {}, null]),
        json!(true),
        json!({"reference": 5, "start": []}),
    ];
    let mut checked = 0;
    for r in common::resources() {
        let Value::Object(m) = &r else { continue };
        for k in m.keys().filter(|k| *k != "resourceType") {
            for j in &junk {
                let mut bad = r.clone();
                bad[k.as_str()] = j.clone();
                let e = extract(&bad).expect("a known resourceType always extracts");
                assert_eq!(e.resource_type, r["resourceType"]);
                checked += 1;
            }
        }
    }
    assert!(checked > 500);
    assert!(extract(&json!({"resourceType": "NotAType"})).is_err());
    assert!(extract(&json!([1, 2])).is_err());
}
