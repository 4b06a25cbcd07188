//! Query parsing: strict errors naming the parameter (HTTP 400 semantics), HealthLake's limits,
//! mutual exclusions, lenient mode, escaping and the typed model.

use firn_core::outcome::IntoOutcome;
use firn_core::search::query::{FilterKind, TokenSystem, ValuePred};
use firn_core::search::{Modifier, Prefix, Query, SearchConfig, SearchError, Summary, Total};

fn strict(ty: &str, q: &str) -> Result<Query, SearchError> {
    Query::parse(ty, q, &SearchConfig::default())
}

/// Every rejected query, with the parameter the error must name.
const REJECTED: &[(&str, &str, &str)] = &[
    ("Patient", "colour=red", "colour"),
    ("Patient", "birthdate=yesterday", "birthdate"),
    ("Patient", "birthdate=2013-13", "birthdate"),
    ("Patient", "family:below=x", "family"),
    ("Patient", "gender:exact=male", "gender"),
    ("Patient", "gender:missing=maybe", "gender:missing"),
    ("Patient", "birthdate:contains=2013", "birthdate"),
    ("Patient", "_count=101", "_count"),
    ("Patient", "_count=0", "_count"),
    ("Patient", "_count=ten", "_count"),
    ("Patient", "_sort=a,b,c,d,e,f", "_sort"),
    ("Patient", "_sort=colour", "_sort"),
    ("Patient", "_sort=name", "_sort"),
    ("Patient", "_sort=-address", "_sort"),
    ("Practitioner", "_sort=name", "_sort"),
    (
        "Patient",
        "_sort=birthdate,_id,gender,family,given,identifier",
        "_sort",
    ),
    ("Patient", "_summary=yes", "_summary"),
    ("Patient", "_total=exact", "_total"),
    (
        "Patient",
        "_summary=text&_include=Patient:organization",
        "_summary",
    ),
    ("Patient", "_elements=gender&_summary=true", "_elements"),
    ("Patient", "_include=Patient", "_include"),
    ("Patient", "_include=Patient:gender", "_include"),
    ("Patient", "_include=Observation:subject", "_include"),
    (
        "Patient",
        "_include=Patient:organization:Nonsense",
        "_include",
    ),
    ("Patient", "_revinclude=Nope:subject", "_revinclude"),
    ("Patient", "_filter=name eq x", "_filter"),
    ("Patient", "_query=everything", "_query"),
    (
        "Patient",
        "_has:Observation:patient",
        "_has:Observation:patient",
    ),
    (
        "Patient",
        "_has:Observation:code:status=final",
        "_has:Observation:code:status",
    ),
    (
        "Patient",
        "_has:Nope:patient:code=x",
        "_has:Nope:patient:code",
    ),
    ("Patient", "_has:Observation:patient:colour=x", "colour"),
    ("Patient", "gender.name=x", "gender.name"),
    (
        "Observation",
        "subject:Nonsense.name=x",
        "subject:Nonsense.name",
    ),
    ("Observation", "subject:Patient.colour=x", "colour"),
    ("Observation", "value-quantity=abc", "value-quantity"),
    ("Observation", "value-quantity=1|2|3|4", "value-quantity"),
    (
        "Observation",
        "code-value-quantity=http://loinc.org|8480-6",
        "code-value-quantity",
    ),
    ("Observation", "code=a|b|c", "code"),
    ("Observation", "identifier:of-type=x|y", "identifier"),
    ("RiskAssessment", "probability=high", "probability"),
    ("Patient", "gender=", "gender"),
    ("Nonsense", "name=x", "Nonsense"),
];

#[test]
fn rejected_queries_name_their_parameter() {
    for (ty, q, name) in REJECTED {
        let err = strict(ty, q).expect_err(q);
        let text = err.to_string();
        assert!(
            text.contains(name),
            "{ty}?{q}: `{text}` should name `{name}`"
        );
        let oo = err.into_outcome().to_json();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["severity"], "error", "{q}");
    }
}

#[test]
fn accepted_result_parameters() {
    let q = strict(
        "Observation",
        "_count=100&_sort=status,-date,_id&_include=Observation:subject&_include:iterate=Patient:general-practitioner&_revinclude=Provenance:target&_total=accurate&_elements=status,code",
    )
    .unwrap();
    assert_eq!(q.result.count, Some(100));
    let sort: Vec<_> = q
        .result
        .sort
        .iter()
        .map(|k| (k.param.code.as_str(), k.descending))
        .collect();
    assert_eq!(sort, [("status", false), ("date", true), ("_id", false)]);
    assert_eq!(q.result.include.len(), 2);
    assert!(q.result.include[1].iterate);
    assert_eq!(q.result.include[0].param, Some("subject"));
    assert_eq!(q.result.revinclude[0].source_type, "Provenance");
    assert_eq!(q.result.total, Some(Total::Accurate));
    assert_eq!(
        q.result.elements.as_deref(),
        Some(&["status".to_string(), "code".to_string()][..])
    );
    for (v, s) in [
        ("true", Summary::True),
        ("text", Summary::Text),
        ("data", Summary::Data),
        ("count", Summary::Count),
        ("false", Summary::False),
    ] {
        assert_eq!(
            strict("Patient", &format!("_summary={v}"))
                .unwrap()
                .result
                .summary,
            Some(s)
        );
    }
    assert_eq!(
        strict("Patient", "_total=estimate").unwrap().result.total,
        Some(Total::Estimate)
    );
    assert_eq!(
        strict("Patient", "_include=*").unwrap().result.include[0].param,
        None
    );
    assert!(
        strict("Patient", "_format=json&_pretty=true")
            .unwrap()
            .filters
            .is_empty()
    );
}

#[test]
fn limits_are_configuration() {
    let cfg = SearchConfig {
        max_count: 500,
        max_sort_keys: 6,
        ..SearchConfig::default()
    };
    assert_eq!(
        Query::parse("Patient", "_count=500", &cfg)
            .unwrap()
            .result
            .count,
        Some(500)
    );
    assert!(
        Query::parse(
            "Patient",
            "_sort=birthdate,_id,gender,family,given,identifier",
            &cfg
        )
        .is_ok()
    );
    assert!(Query::parse("Patient", "_count=501", &cfg).is_err());
}

#[test]
fn prefixes_parse_for_ordered_types() {
    for (p, want) in [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ] {
        let q = strict("Patient", &format!("birthdate={p}2013-01-14")).unwrap();
        let FilterKind::Values { any_of, .. } = &q.filters[0].kind else {
            panic!()
        };
        assert!(
            matches!(any_of[0], ValuePred::Date(x, _) if x == want),
            "{p}"
        );
        let q = strict("RiskAssessment", &format!("probability={p}0.5")).unwrap();
        let FilterKind::Values { any_of, .. } = &q.filters[0].kind else {
            panic!()
        };
        assert!(
            matches!(any_of[0], ValuePred::Number(x, _) if x == want),
            "{p}"
        );
    }
    // a string value starting with a prefix is just a string
    let q = strict("Patient", "family=gtx").unwrap();
    let FilterKind::Values { any_of, .. } = &q.filters[0].kind else {
        panic!()
    };
    assert!(matches!(&any_of[0], ValuePred::String { exact, .. } if exact == "gtx"));
}

#[test]
fn or_and_and_escaping() {
    let q = strict(
        "Patient",
        "gender=male,female&gender:not=other&identifier=a\\,b%2Cc",
    )
    .unwrap();
    assert_eq!(q.filters.len(), 3);
    let FilterKind::Values { any_of, .. } = &q.filters[0].kind else {
        panic!()
    };
    assert_eq!(any_of.len(), 2);
    let FilterKind::Values { modifier, .. } = &q.filters[1].kind else {
        panic!()
    };
    assert_eq!(modifier, &Some(Modifier::Not));
    // `\,` is a literal comma; `%2C` decodes to an unescaped comma, so it separates values.
    let FilterKind::Values { any_of, .. } = &q.filters[2].kind else {
        panic!()
    };
    assert_eq!(
        any_of,
        &vec![
            ValuePred::Token {
                system: TokenSystem::Any,
                code: Some("a,b".into())
            },
            ValuePred::Token {
                system: TokenSystem::Any,
                code: Some("c".into())
            },
        ]
    );
    let q = strict("Patient", "identifier=http://x\\|y|v\\$1").unwrap();
    let FilterKind::Values { any_of, .. } = &q.filters[0].kind else {
        panic!()
    };
    assert_eq!(
        any_of[0],
        ValuePred::Token {
            system: TokenSystem::Is("http://x|y".into()),
            code: Some("v$1".into())
        }
    );
}

#[test]
fn form_encoding_and_question_mark() {
    let q = strict("Patient", "?name=peter+james&family=M%C3%BCller").unwrap();
    let FilterKind::Values { any_of, .. } = &q.filters[0].kind else {
        panic!()
    };
    assert!(matches!(&any_of[0], ValuePred::String { exact, .. } if exact == "peter james"));
    let FilterKind::Values { any_of, .. } = &q.filters[1].kind else {
        panic!()
    };
    assert!(matches!(&any_of[0], ValuePred::String { folded, .. } if folded == "muller"));
}

#[test]
fn chains_and_has_parse_into_nested_filters() {
    let q = strict("Observation", "subject:Patient.organization.name=acme").unwrap();
    let FilterKind::Chain { param, targets } = &q.filters[0].kind else {
        panic!()
    };
    assert_eq!(param.code, "subject");
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].0, "Patient");
    assert!(
        matches!(&targets[0].1.kind, FilterKind::Chain { targets, .. } if targets[0].0 == "Organization")
    );
    // untyped chain: every target type where the rest parses
    let q = strict("Observation", "subject.name=x").unwrap();
    let FilterKind::Chain { targets, .. } = &q.filters[0].kind else {
        panic!()
    };
    let types: Vec<&str> = targets.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["Patient", "Location"],
        "only targets with a `name` parameter"
    );
    let q = strict(
        "Patient",
        "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/1",
    )
    .unwrap();
    let FilterKind::Has {
        source_type, inner, ..
    } = &q.filters[0].kind
    else {
        panic!()
    };
    assert_eq!(source_type, "Observation");
    assert!(
        matches!(&inner.kind, FilterKind::Has { source_type, .. } if source_type == "Provenance")
    );
}

#[test]
fn lenient_mode_ignores_and_reports() {
    let q = Query::parse(
        "Patient",
        "colour=red&gender=male&birthdate=soon&_count=500&_sort=nope",
        &SearchConfig::lenient(),
    )
    .unwrap();
    assert_eq!(q.filters.len(), 1, "only gender survives");
    let names: Vec<&str> = q.ignored.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["colour", "birthdate", "_count", "_sort"]);
    assert_eq!(
        q.result.count,
        Some(100),
        "lenient clamps _count to the maximum"
    );
    let oo = q.ignored_outcome().to_json();
    assert_eq!(oo["issue"].as_array().unwrap().len(), 4);
    assert_eq!(oo["issue"][0]["severity"], "warning");
}

#[test]
fn outcome_snapshots() {
    let unknown = strict("Patient", "colour=red")
        .unwrap_err()
        .into_outcome()
        .to_json();
    insta::assert_json_snapshot!("unknown_parameter", unknown);
    let bad_date = strict("Observation", "date=ge2021-02-30")
        .unwrap_err()
        .into_outcome()
        .to_json();
    insta::assert_json_snapshot!("invalid_date", bad_date);
    let modifier = strict("Patient", "birthdate:exact=2000")
        .unwrap_err()
        .into_outcome()
        .to_json();
    insta::assert_json_snapshot!("unsupported_modifier", modifier);
    let count = strict("Patient", "_count=101")
        .unwrap_err()
        .into_outcome()
        .to_json();
    insta::assert_json_snapshot!("count_limit", count);
    let lenient = Query::parse(
        "Patient",
        "colour=red&gender=male",
        &SearchConfig::lenient(),
    )
    .unwrap()
    .ignored_outcome()
    .to_json();
    insta::assert_json_snapshot!("lenient_ignored", lenient);
}
