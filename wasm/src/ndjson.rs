//! NDJSON (Bulk Data): split a chunk into records with line numbers, applying the bulk line rules
//! (valid JSON object, known `resourceType`, FHIR `id`, optionally no duplicate ids).

use crate::{throw_issue, to_text};
use firn_core::ndjson::{CheckOptions, LineChecker, LineReader, Location, ParseLevel};
use firn_core::outcome::IssueType;
use serde::Deserialize;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

/// Options of `ndjsonRecords`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RecordOptions {
    /// Line number of the chunk's first line (chunks of a larger file).
    first_line: u64,
    /// Byte offset of the chunk in its file.
    offset: u64,
    /// Parse each line and return it as `resource` (else only `text`).
    parse: bool,
    /// Every line must have this resource type.
    expected_type: Option<String>,
    /// A second resource with the same type and id is an error.
    reject_duplicate_ids: bool,
    /// `Type?query` references are an error (HealthLake and Azure import reject them).
    reject_conditional_references: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            first_line: 1,
            offset: 0,
            parse: true,
            expected_type: None,
            reject_duplicate_ids: false,
            reject_conditional_references: false,
        }
    }
}

/// Splits an NDJSON chunk (string or bytes) into records, as JSON text of an array. Each record has
/// `line` (1-based), `offset` (byte offset of the line) and either `resourceType`, `id`, `text` and
/// (with `parse`) `resource`, or `error`: an OperationOutcome saying why the line was rejected.
/// Blank lines are skipped. A bad line never stops the split.
#[wasm_bindgen(js_name = ndjsonRecords)]
pub fn ndjson_records(chunk: &JsValue, options: &JsValue) -> Result<String, JsValue> {
    let opts: RecordOptions = crate::options(
        options,
        &[
            "firstLine",
            "offset",
            "parse",
            "expectedType",
            "rejectDuplicateIds",
            "rejectConditionalReferences",
        ],
        "ndjson option",
    )?;
    let bytes: Vec<u8> = if let Some(s) = chunk.as_string() {
        s.into_bytes()
    } else if chunk.is_instance_of::<js_sys::Uint8Array>() {
        js_sys::Uint8Array::from(chunk.clone()).to_vec()
    } else {
        return Err(throw_issue(
            IssueType::Invalid,
            "an NDJSON chunk must be a string or a Uint8Array",
        ));
    };
    let mut checker = LineChecker::new(CheckOptions {
        expected_type: opts.expected_type.clone(),
        parse: if opts.parse {
            ParseLevel::Full
        } else {
            ParseLevel::Syntax
        },
        reject_conditional_references: opts.reject_conditional_references,
        reject_duplicate_ids: opts.reject_duplicate_ids,
        ..CheckOptions::default()
    });
    let mut reader = LineReader::new(&bytes[..]).with_first_line(opts.first_line);
    let mut out = Vec::new();
    loop {
        let line = match reader.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => return Err(throw_issue(IssueType::Exception, e.to_string())),
        };
        let mut m = Map::new();
        m.insert("line".into(), line.number.into());
        m.insert("offset".into(), (line.offset + opts.offset).into());
        match checker.check(&line) {
            Ok(r) => {
                m.insert("resourceType".into(), Value::String(r.resource_type.into()));
                m.insert("id".into(), Value::String(r.id.into()));
                m.insert(
                    "text".into(),
                    Value::String(String::from_utf8_lossy(r.raw).into_owned()),
                );
                if let Some(v) = r.value {
                    m.insert("resource".into(), v);
                }
            }
            Err((error, resource_type)) => {
                let loc = Location {
                    offset: line.offset + opts.offset,
                    ..Location::of("", &line)
                };
                let issue = error.to_issue(&loc, resource_type.as_deref());
                m.insert(
                    "error".into(),
                    firn_core::outcome::OperationOutcome::single(issue).to_json(),
                );
            }
        }
        out.push(Value::Object(m));
    }
    to_text(&out)
}
