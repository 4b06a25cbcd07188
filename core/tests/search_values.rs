//! Normalization of hand-made values: dates by precision and zone, decimals by precision,
//! string folding, UCUM canonical units, reference forms, and the search-expression subset.

use firn_core::search::path::PathExpr;
use firn_core::search::value::*;
use serde_json::json;

fn ms(s: &str) -> i64 {
    parse_date(s).unwrap().low
}

#[test]
fn date_precision_widths() {
    let cases = [
        ("2013", 365 * 86_400_000i64),
        ("2012", 366 * 86_400_000),
        ("2013-02", 28 * 86_400_000),
        ("2012-02", 29 * 86_400_000),
        ("2013-01", 31 * 86_400_000),
        ("2013-04", 30 * 86_400_000),
        ("2013-01-14", 86_400_000),
        ("2013-01-14T10:00", 60_000),
        ("2013-01-14T10:00:00Z", 1000),
        ("2013-01-14T10:00:00.1Z", 100),
        ("2013-01-14T10:00:00.12Z", 10),
        ("2013-01-14T10:00:00.123Z", 1),
        ("2013-01-14T10:00:00.123456Z", 1),
    ];
    for (s, width) in cases {
        let r = parse_date(s).unwrap();
        assert_eq!(r.high - r.low, width, "{s}");
    }
}

#[test]
fn date_epoch_and_known_instants() {
    assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
    assert_eq!(ms("1970"), 0);
    assert_eq!(ms("2000-03-01"), 951_868_800_000);
    assert_eq!(ms("1969-12-31"), -86_400_000);
    assert_eq!(
        format_instant(ms("2024-02-29T23:59:59.999Z")),
        "2024-02-29T23:59:59.999Z"
    );
    assert_eq!(format_instant(ms("1600-01-01")), "1600-01-01T00:00:00.000Z");
}

#[test]
fn date_time_zones_normalize_to_utc() {
    assert_eq!(ms("2013-01-14T10:00:00+10:00"), ms("2013-01-14T00:00:00Z"));
    assert_eq!(ms("2013-01-14T10:00:00-05:30"), ms("2013-01-14T15:30:00Z"));
    assert_eq!(ms("2013-01-14T23:30:00-05:00"), ms("2013-01-15T04:30:00Z"));
    // no zone: taken as UTC
    assert_eq!(ms("2013-01-14T10:00:00"), ms("2013-01-14T10:00:00Z"));
}

#[test]
fn date_rejects_malformed() {
    for s in [
        "",
        "13",
        "2013-13",
        "2013-02-30",
        "2013-1-1",
        "2013-01-14T25:00",
        "2013T10:00",
        "abcd",
        "2013-01-14T10:00:00.Z",
        "2013-01-14T10:61",
    ] {
        assert!(parse_date(s).is_none(), "{s} should be rejected");
    }
}

#[test]
fn date_range_relations() {
    let year = parse_date("2013").unwrap();
    let day = parse_date("2013-06-01").unwrap();
    let next = parse_date("2014-01-01").unwrap();
    assert!(year.contains(&day) && !day.contains(&year));
    assert!(year.overlaps(&day));
    assert!(
        !year.overlaps(&next),
        "half-open ranges touch but do not overlap"
    );
    assert_eq!(year.high, next.low);
}

#[test]
fn decimal_precision_ranges() {
    let cases = [
        ("100", 99.5, 100.5),
        ("100.00", 99.995, 100.005),
        ("1e2", 50.0, 150.0),
        ("0.1", 0.05, 0.15),
        ("-5", -5.5, -4.5),
        ("1.5e-3", 0.00145, 0.00155),
    ];
    for (s, lo, hi) in cases {
        let d = parse_decimal(s).unwrap();
        assert!(
            (d.low - lo).abs() < 1e-12 && (d.high - hi).abs() < 1e-12,
            "{s}: {d:?}"
        );
    }
    for s in ["", "abc", "1,5", "NaN", "inf", "1e"] {
        assert!(parse_decimal(s).is_none(), "{s}");
    }
}

#[test]
fn folding() {
    let cases = [
        ("Chalmers", "chalmers"),
        ("MÜLLER", "muller"),
        ("Émilie", "emilie"),
        ("Straße", "strasse"),
        ("Łódź", "lodz"),
        ("  Jan   van der\tBerg ", "jan van der berg"),
        ("Ærø", "aero"),
        ("Ελλάδα", "ελλάδα"),
    ];
    for (a, b) in cases {
        assert_eq!(fold(a), b, "{a}");
    }
}

#[test]
fn ucum_canonical_units() {
    let conv = |v: f64, u: &str| {
        let c = ucum_canonical(u).unwrap();
        (v * c.factor + c.offset, c.unit)
    };
    let close = |a: (f64, String), b: (f64, String)| {
        (a.0 - b.0).abs() < 1e-9 * a.0.abs().max(1.0) && a.1 == b.1
    };
    assert!(close(conv(1.0, "kg"), conv(1000.0, "g")));
    assert!(close(conv(1.0, "[lb_av]"), conv(453.59237, "g")));
    assert!(close(conv(100.0, "mg/dL"), conv(1.0, "g/L")));
    assert!(close(conv(1.0, "h"), conv(60.0, "min")));
    assert!(close(conv(1.0, "a"), conv(12.0, "mo")));
    assert!(close(conv(37.0, "Cel"), conv(98.6, "[degF]")));
    assert!(close(conv(60.0, "/min"), conv(1.0, "/s")));
    assert!(close(conv(72.0, "{beats}/min"), conv(72.0, "/min")));
    assert!(close(conv(1.0, "L"), conv(1000.0, "mL")));
    assert!(close(conv(50.0, "%"), conv(0.5, "1")));
    assert_ne!(
        ucum_canonical("kg").unwrap().unit,
        ucum_canonical("m").unwrap().unit
    );
    assert!(ucum_canonical("furlong").is_none());
}

#[test]
fn quantity_value_gets_canonical_only_for_ucum() {
    let q = QuantityValue::new(
        Decimal::exact(2.0),
        Some(UCUM.into()),
        Some("kg".into()),
        None,
    );
    assert_eq!(
        q.canonical.as_ref().map(|(d, u)| (d.value, u.as_str())),
        Some((2000.0, "g"))
    );
    let other = QuantityValue::new(
        Decimal::exact(2.0),
        Some("http://example.org".into()),
        Some("kg".into()),
        None,
    );
    assert!(other.canonical.is_none());
}

#[test]
fn reference_forms() {
    let r = parse_reference("Patient/123");
    assert_eq!(
        (
            r.resource_type.as_deref(),
            r.id.as_deref(),
            r.base.as_deref()
        ),
        (Some("Patient"), Some("123"), None)
    );
    let r = parse_reference("Patient/123/_history/4");
    assert_eq!(
        (r.id.as_deref(), r.version.as_deref()),
        (Some("123"), Some("4"))
    );
    let r = parse_reference("https://x.org/fhir/r4/Observation/o-1");
    assert_eq!(
        (r.base.as_deref(), r.resource_type.as_deref()),
        (Some("https://x.org/fhir/r4"), Some("Observation"))
    );
    let r = parse_reference("urn:uuid:4b3c");
    assert_eq!(
        (r.resource_type, r.url.as_deref()),
        (None, Some("urn:uuid:4b3c"))
    );
    let r = parse_reference("http://hl7.org/fhir/ValueSet/x|4.0.1");
    assert_eq!(
        (r.url.as_deref(), r.version.as_deref()),
        (Some("http://hl7.org/fhir/ValueSet/x"), Some("4.0.1"))
    );
    let r = parse_reference("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99");
    assert_eq!(r.resource_type.as_deref(), Some("Practitioner"));
    assert_eq!(
        r.identifier,
        Some((Some("http://hl7.org/fhir/sid/us-npi".into()), "99".into()))
    );
    let r = parse_reference("#contained1");
    assert!(r.resource_type.is_none() && r.id.is_none());
}

#[test]
fn path_subset_choice_as_union_where() {
    let obs = json!({"resourceType": "Observation", "valueQuantity": {"value": 1}, "subject": {"reference": "Group/g"},
                     "component": [{"valueString": "a"}, {"valueQuantity": {"value": 2}}]});
    assert_eq!(
        PathExpr::compile("(Observation.value as Quantity)")
            .unwrap()
            .evaluate(&obs)
            .len(),
        1
    );
    assert_eq!(
        PathExpr::compile("Observation.value.as(string)")
            .unwrap()
            .evaluate(&obs)
            .len(),
        0
    );
    assert_eq!(
        PathExpr::compile("Observation.component.value.ofType(Quantity)")
            .unwrap()
            .evaluate(&obs)
            .len(),
        1
    );
    assert_eq!(
        PathExpr::compile("Observation.subject.where(resolve() is Patient)")
            .unwrap()
            .evaluate(&obs)
            .len(),
        0
    );
    assert_eq!(
        PathExpr::compile("Observation.subject.where(resolve() is Group)")
            .unwrap()
            .evaluate(&obs)
            .len(),
        1
    );
    assert_eq!(
        PathExpr::compile("Observation.component.value | Observation.value")
            .unwrap()
            .evaluate(&obs)
            .len(),
        3
    );
    assert_eq!(
        PathExpr::compile("Patient.name | Observation.component[1].value")
            .unwrap()
            .evaluate(&obs)
            .len(),
        1
    );
    let p = json!({"resourceType": "Patient", "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "e"}]});
    assert_eq!(
        PathExpr::compile("Patient.telecom.where(system='email')")
            .unwrap()
            .evaluate(&p)
            .len(),
        1
    );
    assert!(PathExpr::compile("Patient.name.select(given)").is_err());
    assert!(PathExpr::compile("Patient.name.where(").is_err());
}
