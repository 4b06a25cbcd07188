//! FHIRPath never panics on input: random token soups, structurally plausible random expressions
//! (most compile) and random bytes are compiled and, when they compile, evaluated against a small
//! Patient and an Observation, loose and strict. Every outcome must be `Ok` or a typed
//! `FhirPathError`.

use firn_core::fhirpath::{Env, Expression};
use proptest::prelude::*;
use serde_json::json;

/// Tokens beyond the structured generator's atoms, members, functions and operators: calls left
/// open, odd literals, comments, escapes.
const EXTRA_TOKENS: &[&str] = &[
    "where(",
    "select(",
    "exists(",
    "ofType(",
    "iif(",
    "aggregate(",
    "substring(",
    "toQuantity(",
    "matches('[a-",
    "replaceMatches(",
    "trace('t')",
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "'é名'",
    "@2020-02-30",
    "$total",
    "%ucum",
    "%vs-administrative-gender",
    "%unknown",
    "`div`",
    "\\u00e9",
    "//c",
    "/*",
    "Quantity",
    "string",
    "given",
    "family",
];

const ATOMS: &[&str] = &[
    "name",
    "given",
    "birthDate",
    "value",
    "Patient",
    "Observation",
    "'a'",
    "''",
    "1",
    "0",
    "2.50",
    "@2020",
    "@2020-01-01T10:00Z",
    "@T12:00",
    "1 'mg'",
    "3 days",
    "true",
    "{}",
    "%resource",
    "%context",
    "$this",
    "$index",
    "extension",
    "code",
    "status",
];
const MEMBERS: &[&str] = &[
    "name",
    "given",
    "family",
    "value",
    "extension",
    "url",
    "code",
    "unit",
];
const FUNCS0: &[&str] = &[
    "first",
    "last",
    "count",
    "exists",
    "empty",
    "not",
    "single",
    "distinct",
    "children",
    "descendants",
    "toString",
    "toInteger",
    "toDecimal",
    "toQuantity",
    "toDate",
    "toDateTime",
    "hasValue",
    "getValue",
    "length",
    "upper",
    "abs",
    "ceiling",
    "sqrt",
    "resolve",
    "allTrue",
    "isDistinct",
    "convertsToInteger",
    "tail",
    "now",
    "today",
];
const FUNCS1: &[&str] = &[
    "where",
    "select",
    "exists",
    "all",
    "repeat",
    "skip",
    "take",
    "combine",
    "union",
    "intersect",
    "exclude",
    "subsetOf",
    "contains",
    "startsWith",
    "substring",
    "indexOf",
    "matches",
    "split",
    "join",
    "round",
    "power",
    "log",
    "ofType",
    "is",
    "as",
    "extension",
    "memberOf",
    "aggregate",
    "iif",
    "trace",
    "toQuantity",
    "conformsTo",
    "encode",
    "decode",
];
const BINOPS: &[&str] = &[
    " = ",
    " != ",
    " ~ ",
    " !~ ",
    " < ",
    " <= ",
    " > ",
    " >= ",
    " and ",
    " or ",
    " xor ",
    " implies ",
    " + ",
    " - ",
    " * ",
    " / ",
    " div ",
    " mod ",
    " & ",
    " | ",
    " in ",
    " contains ",
    " is ",
    " as ",
];

/// Structurally plausible expressions: most of them compile, so the evaluator is exercised.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(ATOMS).prop_map(str::to_string);
    leaf.prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(BINOPS), inner.clone())
                .prop_map(|(a, o, b)| format!("{a}{o}{b}")),
            (inner.clone(), prop::sample::select(MEMBERS)).prop_map(|(a, m)| format!("{a}.{m}")),
            (inner.clone(), prop::sample::select(FUNCS0)).prop_map(|(a, f)| format!("{a}.{f}()")),
            (inner.clone(), prop::sample::select(FUNCS1), inner.clone())
                .prop_map(|(a, f, b)| format!("{a}.{f}({b})")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
            inner.prop_map(|a| format!("-{a}")),
        ]
    })
}

fn soup() -> impl Strategy<Value = String> {
    let tokens: Vec<&str> = [EXTRA_TOKENS, ATOMS, MEMBERS, BINOPS].concat();
    prop::collection::vec(prop::sample::select(tokens), 1..14).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn random_expressions_never_panic(
        src in prop_oneof![soup(), expression()],
        bytes in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let patient = json!({"resourceType": "Patient", "id": "p", "birthDate": "1974-12-25",
            "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
            "_birthDate": {"extension": [{"url": "x", "valueDateTime": "1974-12-25T14:35:45-05:00"}]}});
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "t"},
            "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}});
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for text in [src.as_str(), lossy.as_str()] {
            if let Ok(e) = Expression::compile(text) {
                for r in [&patient, &obs] {
                    let _ = e.evaluate(r, &Env::default());
                    let _ = e.evaluate(r, &Env::default().strict(true));
                }
            }
        }
    }
}

#[test]
fn random_expressions_reach_the_evaluator() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut count = |strategy: &dyn Fn() -> proptest::strategy::BoxedStrategy<String>| {
        (0..2000)
            .filter(|_| {
                let src = strategy().new_tree(&mut runner).unwrap().current();
                Expression::compile(&src).is_ok()
            })
            .count()
    };
    let structured = count(&|| expression().boxed());
    let soups = count(&|| soup().boxed());
    println!(
        "suite: FHIRPath robustness: {structured} of 2000 structured and {soups} of 2000 token-soup expressions compile"
    );
    assert!(
        structured > 1000,
        "only {structured} of 2000 structured expressions compile"
    );
    assert!(soups > 0, "no token soup compiles");
}
