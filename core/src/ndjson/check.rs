//! Line checks: the structural rules a bulk line must pass before anything stores it.
//!
//! These are the failures Azure and HealthLake report per line during `$import` — invalid JSON, a
//! resource of the wrong type in a per-type file, a missing or malformed id, a conditional
//! reference, the same id twice in one job — and that Firn reports the same way: the line becomes
//! an error record (an OperationOutcome naming file, line and byte offset) and processing goes on.
//! Full profile validation is the `validate` module's job; nothing here looks past the structure.

use super::lines::Line;
use super::scan::{Field, ScanError, find_conditional_reference, scan_route};
use crate::definitions::Definitions;
use crate::outcome::{Issue, IssueType, OperationOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

/// Which ids are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IdRule {
    /// FHIR R4 `id`: `[A-Za-z0-9\-\.]{1,64}`.
    #[default]
    Fhir,
    /// HealthLake's import rule: `[A-Za-z0-9-]{1,64}` (no `.`).
    HealthLake,
}

impl IdRule {
    pub fn accepts(self, id: &str) -> bool {
        (1..=64).contains(&id.len())
            && id.bytes().all(|c| {
                c.is_ascii_alphanumeric() || c == b'-' || (c == b'.' && self == IdRule::Fhir)
            })
    }

    pub fn pattern(self) -> &'static str {
        match self {
            IdRule::Fhir => "[A-Za-z0-9\\-\\.]{1,64}",
            IdRule::HealthLake => "[A-Za-z0-9-]{1,64}",
        }
    }
}

/// How much of each line to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ParseLevel {
    /// Only the routing scan (`resourceType`, `id`): fastest, checks only what it walks.
    Route,
    /// Syntax-check the whole line (no tree is built), then route.
    #[default]
    Syntax,
    /// Parse into a `serde_json::Value` (handed out in [`Resource::value`]).
    Full,
}

/// What [`LineChecker`] checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOptions {
    /// The resource type every line must have (a per-type import file), if any.
    pub expected_type: Option<String>,
    pub id_rule: IdRule,
    pub parse: ParseLevel,
    /// Reject `Type?query` references (Azure and HealthLake import do).
    pub reject_conditional_references: bool,
    /// Reject a second resource with the same type and id within the job.
    pub reject_duplicate_ids: bool,
    /// Reject resource types that FHIR R4 does not define.
    pub known_types_only: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            expected_type: None,
            id_rule: IdRule::Fhir,
            parse: ParseLevel::Syntax,
            reject_conditional_references: true,
            reject_duplicate_ids: true,
            known_types_only: true,
        }
    }
}

/// Where a record came from: file, 1-based line number, byte offset of the line's first byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: u64,
    pub offset: u64,
}

impl Location {
    pub fn of(file: &str, line: &Line<'_>) -> Location {
        Location {
            file: file.to_string(),
            line: line.number,
            offset: line.offset,
        }
    }
}

/// A line that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource<'a> {
    pub resource_type: Cow<'a, str>,
    pub id: Cow<'a, str>,
    /// The line's bytes, exactly as read.
    pub raw: &'a [u8],
    /// The parsed resource, with [`ParseLevel::Full`].
    pub value: Option<Value>,
}

/// Why a line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is {len} bytes long, over the {max}-byte limit")]
    TooLong { len: u64, max: usize },
    #[error("invalid JSON: {message}")]
    InvalidJson {
        message: String,
        /// 1-based column of the problem in the line, when known.
        column: Option<u64>,
    },
    #[error("the line is not a JSON object ({0})")]
    NotAnObject(String),
    #[error("missing resourceType")]
    MissingResourceType,
    #[error("resourceType must be a string")]
    ResourceTypeNotString,
    #[error("unknown resourceType '{0}'")]
    UnknownResourceType(String),
    #[error("resourceType '{found}' does not match the file's type '{expected}'")]
    WrongResourceType { expected: String, found: String },
    #[error("missing required id")]
    MissingId,
    #[error("id must be a string")]
    IdNotString,
    #[error("id '{id}' does not match {pattern}")]
    InvalidId { id: String, pattern: &'static str },
    #[error("conditional reference '{0}' is not supported in bulk data")]
    ConditionalReference(String),
    #[error("duplicate resource {0}: the same type and id already appeared in this job")]
    DuplicateId(String),
}

impl LineError {
    /// The issue for this error at `loc`; the diagnostics name file, line and offset.
    pub fn to_issue(&self, loc: &Location, resource_type: Option<&str>) -> Issue {
        let code = match self {
            LineError::TooLong { .. } => IssueType::TooLong,
            LineError::InvalidJson { .. } | LineError::NotAnObject(_) => IssueType::Structure,
            LineError::MissingResourceType | LineError::MissingId => IssueType::Required,
            LineError::ConditionalReference(_) => IssueType::NotSupported,
            LineError::DuplicateId(_) => IssueType::Duplicate,
            _ => IssueType::Invalid,
        };
        let diagnostics = format!(
            "{} line {} (byte offset {}): {self}",
            loc.file, loc.line, loc.offset
        );
        let column = match self {
            LineError::InvalidJson {
                column: Some(c), ..
            } => *c,
            _ => 1,
        };
        let mut issue = Issue::error(code, diagnostics).with_line_col(loc.line, column);
        let ty = resource_type.unwrap_or("Resource");
        match self {
            LineError::MissingId | LineError::IdNotString | LineError::InvalidId { .. } => {
                issue = issue.at(format!("{ty}.id"));
            }
            LineError::ResourceTypeNotString
            | LineError::UnknownResourceType(_)
            | LineError::WrongResourceType { .. } => issue = issue.at("Resource.resourceType"),
            LineError::MissingResourceType => issue = issue.at("resourceType"),
            _ => {}
        }
        issue
    }
}

/// A rejected line: where, why, and (when it could be read) its resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRecord {
    pub location: Location,
    pub error: LineError,
    pub resource_type: Option<String>,
}

impl ErrorRecord {
    pub fn outcome(&self) -> OperationOutcome {
        OperationOutcome::single(
            self.error
                .to_issue(&self.location, self.resource_type.as_deref()),
        )
    }

    /// The error-file line: the OperationOutcome as compact JSON, no newline.
    pub fn to_ndjson(&self) -> String {
        self.outcome().to_json().to_string()
    }
}

/// Applies [`CheckOptions`] to lines; remembers the ids of the job for duplicate detection.
///
/// ```
/// use firn_core::ndjson::{LineChecker, CheckOptions, LineReader, LineError};
/// let data = b"{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{\"resourceType\":\"Patient\",\"id\":\"a\"}\n";
/// let mut checker = LineChecker::new(CheckOptions::default());
/// let mut lines = LineReader::new(&data[..]);
/// let first = lines.next_line().unwrap().unwrap();
/// assert_eq!(checker.check(&first).unwrap().id, "a");
/// let second = lines.next_line().unwrap().unwrap();
/// assert!(matches!(checker.check(&second), Err((LineError::DuplicateId(_), _))));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineChecker {
    pub options: CheckOptions,
    seen: HashSet<String>,
    max_line_len: usize,
}

impl LineChecker {
    pub fn new(options: CheckOptions) -> Self {
        LineChecker {
            options,
            seen: HashSet::new(),
            max_line_len: super::lines::DEFAULT_MAX_LINE_LEN,
        }
    }

    /// The max line length to name in `TooLong` diagnostics (match the reader's).
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.max_line_len = max;
        self
    }

    /// The `Type/id` keys seen so far (saved in job checkpoints so a resumed job still detects
    /// duplicates).
    pub fn seen_ids(&self) -> impl Iterator<Item = &str> {
        self.seen.iter().map(String::as_str)
    }

    pub fn restore_seen_ids(&mut self, ids: impl IntoIterator<Item = String>) {
        self.seen.extend(ids);
    }

    /// Checks one line. On failure returns the error and the resource type when it was readable.
    pub fn check<'a>(
        &mut self,
        line: &Line<'a>,
    ) -> Result<Resource<'a>, (LineError, Option<String>)> {
        if let Some(len) = line.too_long {
            return Err((
                LineError::TooLong {
                    len,
                    max: self.max_line_len,
                },
                None,
            ));
        }
        let bytes = line.bytes;
        let mut value = None;
        let (resource_type, id): (Cow<'a, str>, Field<'a>) = match self.options.parse {
            ParseLevel::Full => {
                let v: Value = serde_json::from_slice(bytes).map_err(|e| (json_error(&e), None))?;
                let Value::Object(map) = &v else {
                    return Err((
                        LineError::NotAnObject(crate::validate::json_kind(&v).into()),
                        None,
                    ));
                };
                let rt = match map.get("resourceType") {
                    None => return Err((LineError::MissingResourceType, None)),
                    Some(Value::String(s)) => Cow::Owned(s.clone()),
                    Some(_) => return Err((LineError::ResourceTypeNotString, None)),
                };
                let id = match map.get("id") {
                    None => Field::Missing,
                    Some(Value::String(s)) => Field::Str(Cow::Owned(s.clone())),
                    Some(_) => Field::NotString,
                };
                value = Some(v);
                (rt, id)
            }
            level => {
                if level == ParseLevel::Syntax {
                    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                        .map_err(|e| (json_error(&e), None))?;
                }
                let route = scan_route(bytes).map_err(|e| match e {
                    ScanError::NotAnObject { found, .. } => (LineError::NotAnObject(found), None),
                    ScanError::Malformed { at, reason } => (
                        LineError::InvalidJson {
                            message: reason.to_string(),
                            column: Some(at as u64 + 1),
                        },
                        None,
                    ),
                })?;
                let rt = match route.resource_type {
                    Field::Str(s) => s,
                    Field::Missing => return Err((LineError::MissingResourceType, None)),
                    Field::NotString => return Err((LineError::ResourceTypeNotString, None)),
                };
                (rt, route.id)
            }
        };
        let rt_owned = || Some(resource_type.to_string());
        if self.options.known_types_only && !Definitions::r4().is_resource_type(&resource_type) {
            return Err((
                LineError::UnknownResourceType(resource_type.to_string()),
                None,
            ));
        }
        if let Some(expected) = &self.options.expected_type
            && expected != resource_type.as_ref()
        {
            return Err((
                LineError::WrongResourceType {
                    expected: expected.clone(),
                    found: resource_type.to_string(),
                },
                rt_owned(),
            ));
        }
        let id = match id {
            Field::Str(id) => id,
            Field::Missing => return Err((LineError::MissingId, rt_owned())),
            Field::NotString => return Err((LineError::IdNotString, rt_owned())),
        };
        if !self.options.id_rule.accepts(&id) {
            return Err((
                LineError::InvalidId {
                    id: id.to_string(),
                    pattern: self.options.id_rule.pattern(),
                },
                rt_owned(),
            ));
        }
        if self.options.reject_conditional_references
            && let Some(r) = find_conditional_reference(bytes)
        {
            return Err((LineError::ConditionalReference(r), rt_owned()));
        }
        if self.options.reject_duplicate_ids {
            let key = format!("{resource_type}/{id}");
            if self.seen.contains(&key) {
                return Err((LineError::DuplicateId(key), rt_owned()));
            }
            self.seen.insert(key);
        }
        Ok(Resource {
            resource_type,
            id,
            raw: bytes,
            value,
        })
    }

    /// [`check`](Self::check), with a failure turned into an [`ErrorRecord`] located in `file`.
    pub fn check_in<'a>(
        &mut self,
        file: &str,
        line: &Line<'a>,
    ) -> Result<Resource<'a>, ErrorRecord> {
        self.check(line)
            .map_err(|(error, resource_type)| ErrorRecord {
                location: Location::of(file, line),
                error,
                resource_type,
            })
    }
}

/// serde_json's message without its "at line 1 column N" suffix (the line is ours to name).
fn json_error(e: &serde_json::Error) -> LineError {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    LineError::InvalidJson {
        message,
        column: Some(e.column() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(b: &[u8]) -> Line<'_> {
        Line {
            bytes: b,
            number: 7,
            offset: 100,
            too_long: None,
        }
    }

    fn err(opts: CheckOptions, b: &[u8]) -> LineError {
        LineChecker::new(opts).check(&line(b)).unwrap_err().0
    }

    #[test]
    fn each_rule_at_each_parse_level() {
        for parse in [ParseLevel::Route, ParseLevel::Syntax, ParseLevel::Full] {
            let o = CheckOptions {
                parse,
                ..CheckOptions::default()
            };
            assert_eq!(
                err(o.clone(), br#"{"id":"a"}"#),
                LineError::MissingResourceType
            );
            assert_eq!(
                err(o.clone(), br#"{"resourceType":"Patient"}"#),
                LineError::MissingId
            );
            assert_eq!(
                err(o.clone(), br#"{"resourceType":"Patient","id":5}"#),
                LineError::IdNotString
            );
            assert!(matches!(
                err(o.clone(), br#"{"resourceType":"Patient","id":"a_b"}"#),
                LineError::InvalidId { .. }
            ));
            assert_eq!(
                err(o.clone(), br#"{"resourceType":"Patientx","id":"a"}"#),
                LineError::UnknownResourceType("Patientx".into())
            );
            assert!(matches!(err(o.clone(), b"[1]"), LineError::NotAnObject(_)));
            let ok = LineChecker::new(o)
                .check(&line(br#"{"resourceType":"Patient","id":"a.b"}"#))
                .unwrap();
            assert_eq!(
                (ok.resource_type.as_ref(), ok.id.as_ref()),
                ("Patient", "a.b")
            );
        }
        let hl = CheckOptions {
            id_rule: IdRule::HealthLake,
            ..CheckOptions::default()
        };
        assert!(matches!(
            err(hl, br#"{"resourceType":"Patient","id":"a.b"}"#),
            LineError::InvalidId { .. }
        ));
        assert!(matches!(
            err(
                CheckOptions::default(),
                br#"{"resourceType":"Patient","id":"a"#
            ),
            LineError::InvalidJson { .. }
        ));
    }

    #[test]
    fn id_rule_bounds() {
        assert!(IdRule::Fhir.accepts(&"a".repeat(64)));
        assert!(!IdRule::Fhir.accepts(&"a".repeat(65)));
        assert!(!IdRule::Fhir.accepts(""));
    }

    #[test]
    fn diagnostics_name_line_and_offset() {
        let rec = LineChecker::new(CheckOptions {
            expected_type: Some("Patient".into()),
            ..CheckOptions::default()
        })
        .check_in(
            "Patient.ndjson",
            &line(br#"{"resourceType":"Observation","id":"o"}"#),
        )
        .unwrap_err();
        let oo = rec.outcome().to_json();
        assert_eq!(
            oo["issue"][0]["diagnostics"],
            "Patient.ndjson line 7 (byte offset 100): resourceType 'Observation' does not match the file's type 'Patient'"
        );
        assert_eq!(oo["issue"][0]["code"], "invalid");
    }
}
