//! Prefix boundaries for every date precision, through the whole stack (query parsing, Period
//! extraction, matching). For a query value with implicit range `s = [low, high)`, six targets sit
//! on its edges; the expected truth table is R4's (search.html §3.1.1.4.3), written out by hand.

use firn_core::search::value::{format_instant, parse_date};
use firn_core::search::{MemoryIndex, NoResolver, Query, SearchConfig, matches, search};
use serde_json::json;

/// Targets relative to the query range, as `[low, high)` in ms offsets from `s.low` / `s.high`.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// `[low-1, low)`: ends exactly where the range starts.
    Before,
    /// `[low, low+1)`: the first millisecond.
    First,
    /// `[high-1, high)`: the last millisecond.
    Last,
    /// `[high, high+1)`: starts exactly where the range ends.
    After,
    /// `[low-1, high+1)`: wider on both sides.
    Wider,
    /// `[low, high)`: the same range.
    Same,
}

const TARGETS: [Target; 6] = [
    Target::Before,
    Target::First,
    Target::Last,
    Target::After,
    Target::Wider,
    Target::Same,
];

/// Expected result per prefix, in `TARGETS` order.
const TABLE: &[(&str, [bool; 6])] = &[
    ("eq", [false, true, true, false, false, true]),
    ("ne", [true, false, false, true, true, false]),
    ("gt", [false, false, false, true, true, false]),
    ("lt", [true, false, false, false, true, false]),
    ("ge", [false, true, true, true, true, true]),
    ("le", [true, true, true, false, true, true]),
    ("sa", [false, false, false, true, false, false]),
    ("eb", [true, false, false, false, false, false]),
    ("ap", [true, true, true, true, true, true]),
];

fn observation(low: i64, high: i64) -> serde_json::Value {
    observation_with_id("x", low, high)
}

fn observation_with_id(id: &str, low: i64, high: i64) -> serde_json::Value {
    // A Period's end is inclusive at its own precision: end = high - 1 ms gives [low, high).
    json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "t"},
           "effectivePeriod": {"start": format_instant(low), "end": format_instant(high - 1)}})
}

fn check(query_value: &str) {
    let s = parse_date(query_value).unwrap();
    let ranges = |t: &Target| match t {
        Target::Before => (s.low - 1, s.low),
        Target::First => (s.low, s.low + 1),
        Target::Last => (s.high - 1, s.high),
        Target::After => (s.high, s.high + 1),
        Target::Wider => (s.low - 1, s.high + 1),
        Target::Same => (s.low, s.high),
    };
    // The same table through the set evaluator: the date index answers gt/lt (and most of
    // ge/le) without re-reading entries, so it must agree with `matches` exactly.
    let mut index = MemoryIndex::new();
    let docs: Vec<_> = TARGETS
        .iter()
        .map(|t| {
            let (lo, hi) = ranges(t);
            index
                .insert(observation_with_id(&format!("{t:?}"), lo, hi))
                .unwrap()
        })
        .collect();
    let mut checked = 0;
    for (prefix, expected) in TABLE {
        let q = Query::parse(
            "Observation",
            &format!("date={prefix}{}", query_value.replace('+', "%2B")),
            &SearchConfig::default(),
        )
        .unwrap();
        for (t, want) in TARGETS.iter().zip(expected) {
            let (lo, hi) = ranges(t);
            let got = matches(&q, &observation(lo, hi), &NoResolver).unwrap();
            assert_eq!(got, *want, "date={prefix}{query_value} against {t:?}");
            checked += 1;
        }
        let mut found = search(&index, &q).unwrap().matches;
        found.sort_unstable();
        let want: Vec<_> = docs
            .iter()
            .zip(expected)
            .filter(|(_, w)| **w)
            .map(|(d, _)| *d)
            .collect();
        assert_eq!(found, want, "index search date={prefix}{query_value}");
    }
    assert_eq!(checked, 54);
}

#[test]
fn year_precision() {
    check("2013");
}

#[test]
fn month_precision() {
    check("2013-02");
}

#[test]
fn day_precision() {
    check("2012-02-29");
}

#[test]
fn minute_precision() {
    check("2013-06-15T10:30");
}

#[test]
fn second_precision_with_zone() {
    check("2013-06-15T10:30:45+05:30");
}

#[test]
fn unencoded_plus_in_zone_is_accepted() {
    let a = Query::parse(
        "Observation",
        "date=2013-06-15T10:30:45+05:30",
        &SearchConfig::default(),
    )
    .unwrap();
    let b = Query::parse(
        "Observation",
        "date=2013-06-15T10:30:45%2B05:30",
        &SearchConfig::default(),
    )
    .unwrap();
    assert_eq!(
        format!("{:?}", a.filters[0].kind),
        format!("{:?}", b.filters[0].kind)
    );
}

#[test]
fn millisecond_precision() {
    check("2013-12-31T23:59:59.999Z");
}
