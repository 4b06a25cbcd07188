//! Cross-check with the official FHIR R4 JSON schema (`fhir.schema.json`, draft-06): over the
//! Synthea corpus and the validation catalogue, the schema's verdict and Firn's structural verdict
//! (level `structure-only`, plus required bindings on `code` elements, which the schema expresses
//! as `enum`) must agree — except for the documented schema gaps listed in [`SCHEMA_GAPS`].

use firn_core::validate::{Level, Validator};
use serde_json::{Value, json};
use std::collections::HashMap;

include!("../../core/tests/common/catalogue.rs");

/// Catalogue cases the JSON schema cannot judge like FHIR does (see docs/validation.md).
const SCHEMA_GAPS: &[(&str, &str)] = &[
    (
        "two_choice_types",
        "the schema cannot say 'only one of value[x]'",
    ),
    (
        "underscore_not_object",
        "`_x` companions: the schema types them via $ref to Element, which has no type:object",
    ),
    (
        "underscore_empty",
        "empty objects are allowed by the schema",
    ),
    (
        "underscore_array_for_single",
        "complex definitions carry no type:object, so an array passes",
    ),
    (
        "array_for_single_complex",
        "complex definitions carry no type:object, so an array passes",
    ),
    ("empty_object", "empty objects are allowed by the schema"),
    ("empty_array", "arrays have no minItems"),
    (
        "whitespace_string",
        "the string regex accepts whitespace-only values",
    ),
    (
        "empty_object_in_array",
        "empty objects are allowed by the schema",
    ),
    (
        "empty_nested_object",
        "empty objects are allowed by the schema",
    ),
    (
        "null_complex_in_array",
        "complex definitions carry no type:object, so null passes",
    ),
    (
        "complex_as_string",
        "complex definitions carry no type:object, so a string passes",
    ),
    (
        "integer_fraction",
        "integer is type:number with a pattern that JSON numbers bypass",
    ),
    ("integer_out_of_range", "no 32-bit range in the schema"),
    ("unsigned_negative", "no range in the schema"),
    ("positive_int_zero", "no range in the schema"),
    (
        "missing_status",
        "the schema omits `required` for primitives (they may appear only as _status)",
    ),
    (
        "extension_missing_url",
        "the schema omits `required` for primitives",
    ),
    (
        "bundle_missing_type",
        "the schema omits `required` for primitives",
    ),
    (
        "narrative_missing_status",
        "the schema omits `required` for primitives",
    ),
    (
        "content_reference_missing",
        "the schema omits `required` for primitives",
    ),
    ("date_feb_30", "regex only: no calendar check"),
    ("date_not_leap", "regex only: no calendar check"),
    ("date_1900_not_leap", "regex only: no calendar check"),
    ("date_april_31", "regex only: no calendar check"),
    ("datetime_feb_30", "regex only: no calendar check"),
    ("datetime_bad_leap_second", "regex only: no calendar check"),
    (
        "base64_bad_length",
        "the base64Binary pattern does not check length/padding",
    ),
    (
        "base64_bad_char",
        "the base64Binary pattern is absent or lenient",
    ),
    (
        "base64_after_padding",
        "the base64Binary pattern does not check padding position",
    ),
    ("xhtml_empty", "xhtml has no pattern in the schema"),
    (
        "extension_empty_url",
        "the uri pattern ^\\S*$ accepts the empty string",
    ),
    (
        "extension_nested_bad_value",
        "regex only: no calendar check",
    ),
    ("bundle_entry_bad_resource", "regex only: no calendar check"),
    (
        "ok_null_with_partner",
        "the schema rejects null array items even when `_given` carries the value (FHIR JSON allows it)",
    ),
];

struct Schemas {
    defs: Value,
    by_type: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn is_valid(&mut self, r: &Value) -> bool {
        let Some(rt) = r.get("resourceType").and_then(Value::as_str) else {
            return false;
        };
        if self.defs.get(rt).is_none() {
            return false;
        }
        let defs = &self.defs;
        let v = self.by_type.entry(rt.to_string()).or_insert_with(|| {
            let schema =
                json!({"definitions": defs, "allOf": [{"$ref": format!("#/definitions/{rt}")}]});
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft6)
                .build(&schema)
                .unwrap()
        });
        v.is_valid(r)
    }
}

fn load() -> Option<Schemas> {
    let shared = firn_tests::shared_or_skip("validate_schema")?;
    let text = std::fs::read_to_string(shared.join("data/fhir-r4/fhir.schema.json")).unwrap();
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    Some(Schemas {
        defs: schema["definitions"].take(),
        by_type: HashMap::new(),
    })
}

/// Firn's structural verdict: structure-only issues, plus required-binding errors on plain codes.
fn firn_valid(structure: &Validator, strict: &Validator, r: &Value) -> bool {
    if structure.validate(r).outcome.has_errors() {
        return false;
    }
    !strict.validate(r).outcome.issues.iter().any(|i| {
        i.severity.is_error()
            && i.code == firn_core::outcome::IssueType::CodeInvalid
            && !i.diagnostics.contains('#')
    })
}

#[test]
fn schema_agrees_on_the_catalogue() {
    let Some(mut schemas) = load() else { return };
    let structure = Validator::builder()
        .level(Level::StructureOnly)
        .build()
        .unwrap();
    let strict = Validator::new();
    let mut disagreements = Vec::new();
    for (name, text, _) in CASES {
        let r: Value = serde_json::from_str(text).unwrap();
        let ours = firn_valid(&structure, &strict, &r);
        let theirs = schemas.is_valid(&r);
        if ours != theirs {
            disagreements.push(format!("{name}: firn {ours}, schema {theirs}"));
        }
    }
    let documented: Vec<&str> = SCHEMA_GAPS.iter().map(|g| g.0).collect();
    let unexplained: Vec<&String> = disagreements
        .iter()
        .filter(|d| !documented.iter().any(|g| d.starts_with(&format!("{g}:"))))
        .collect();
    println!(
        "suite: validate vs fhir.schema.json: {} catalogue cases, {} documented schema gaps",
        CASES.len(),
        disagreements.len()
    );
    assert!(unexplained.is_empty(), "{unexplained:#?}");
    // Every documented gap is still a real disagreement (the list does not rot).
    for (g, _) in SCHEMA_GAPS {
        assert!(
            disagreements
                .iter()
                .any(|d| d.starts_with(&format!("{g}:"))),
            "{g} no longer differs"
        );
    }
}

#[test]
fn schema_agrees_on_synthea() {
    let Some(mut schemas) = load() else { return };
    let shared = firn_tests::shared_dir().unwrap();
    let structure = Validator::builder()
        .level(Level::StructureOnly)
        .build()
        .unwrap();
    let strict = Validator::new();
    let mut n = 0;
    for e in std::fs::read_dir(shared.join("data/synthea-10")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|f| f == "log.ndjson") {
            continue;
        }
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            assert!(firn_valid(&structure, &strict, &r));
            assert!(
                schemas.is_valid(&r),
                "schema rejects {}",
                &line[..line.len().min(200)]
            );
            n += 1;
        }
    }
    println!(
        "suite: validate vs fhir.schema.json: {n} Synthea resources, schema and firn agree (all valid)"
    );
    assert!(n > 7000);
}
