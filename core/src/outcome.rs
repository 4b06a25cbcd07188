//! OperationOutcome: how every Firn failure reaches a user.
//!
//! Inside the crate, errors are typed (`thiserror` enums per module). At the edges — the CLI, the
//! npm package, the server — they are rendered as a FHIR `OperationOutcome`, so a client always gets
//! severity, an IssueType code, human diagnostics and, where one exists, the FHIRPath location of the
//! problem. Modules convert their errors with [`IntoOutcome`].

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::fmt;

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// Parses the FHIR code (`error`, `warning`, ...).
    pub fn parse(code: &str) -> Option<Severity> {
        Some(match code {
            "fatal" => Severity::Fatal,
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            "information" => Severity::Information,
            _ => return None,
        })
    }

    /// True for `fatal` and `error`: the severities that reject a resource.
    pub fn is_error(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OperationOutcome.issue.code` (the IssueType value set, http://hl7.org/fhir/issue-type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    Security,
    Login,
    Unknown,
    Expired,
    Forbidden,
    Suppressed,
    Processing,
    NotSupported,
    Duplicate,
    MultipleMatches,
    NotFound,
    Deleted,
    TooLong,
    CodeInvalid,
    Extension,
    TooCostly,
    BusinessRule,
    Conflict,
    Transient,
    LockError,
    NoStore,
    Exception,
    Timeout,
    Incomplete,
    Throttled,
    Informational,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        use IssueType::*;
        match self {
            Invalid => "invalid",
            Structure => "structure",
            Required => "required",
            Value => "value",
            Invariant => "invariant",
            Security => "security",
            Login => "login",
            Unknown => "unknown",
            Expired => "expired",
            Forbidden => "forbidden",
            Suppressed => "suppressed",
            Processing => "processing",
            NotSupported => "not-supported",
            Duplicate => "duplicate",
            MultipleMatches => "multiple-matches",
            NotFound => "not-found",
            Deleted => "deleted",
            TooLong => "too-long",
            CodeInvalid => "code-invalid",
            Extension => "extension",
            TooCostly => "too-costly",
            BusinessRule => "business-rule",
            Conflict => "conflict",
            Transient => "transient",
            LockError => "lock-error",
            NoStore => "no-store",
            Exception => "exception",
            Timeout => "timeout",
            Incomplete => "incomplete",
            Throttled => "throttled",
            Informational => "informational",
        }
    }
}

impl fmt::Display for IssueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    pub code: IssueType,
    pub diagnostics: String,
    /// FHIRPath locations (`Patient.name[0].given[1]`) of the problem, when known.
    pub expression: Vec<String>,
    /// Optional `details.coding` code (e.g. a constraint key such as `ele-1`), for machine matching.
    pub details_code: Option<String>,
    /// 1-based line and column in the source text, when the input was text.
    pub line_col: Option<(u64, u64)>,
}

impl Issue {
    pub fn new(severity: Severity, code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
            details_code: None,
            line_col: None,
        }
    }

    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue::new(Severity::Error, code, diagnostics)
    }

    pub fn warning(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue::new(Severity::Warning, code, diagnostics)
    }

    pub fn information(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue::new(Severity::Information, code, diagnostics)
    }

    /// Adds a FHIRPath location.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression.push(expression.into());
        self
    }

    pub fn with_details_code(mut self, code: impl Into<String>) -> Self {
        self.details_code = Some(code.into());
        self
    }

    pub fn with_line_col(mut self, line: u64, column: u64) -> Self {
        self.line_col = Some((line, column));
        self
    }

    /// The issue as FHIR JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `details.coding` of an issue with a details code.
#[derive(serde::Serialize)]
struct Details<'a> {
    coding: [Coding<'a>; 1],
}

#[derive(serde::Serialize)]
struct Coding<'a> {
    system: &'static str,
    code: &'a str,
}

/// The line/column extensions of an issue found in text.
#[derive(serde::Serialize)]
struct Position {
    url: &'static str,
    #[serde(rename = "valueInteger")]
    value_integer: u64,
}

/// The FHIR JSON of an issue, written directly (no intermediate `Value`: outcomes are produced
/// for every validated resource).
impl Serialize for Issue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("severity", self.severity.as_str())?;
        m.serialize_entry("code", self.code.as_str())?;
        if let Some(code) = &self.details_code {
            let coding = Coding {
                system: "https://firn.dev/fhir/CodeSystem/issue",
                code,
            };
            m.serialize_entry("details", &Details { coding: [coding] })?;
        }
        m.serialize_entry("diagnostics", &self.diagnostics)?;
        if let Some((line, col)) = self.line_col {
            let at = |url, value_integer| Position { url, value_integer };
            m.serialize_entry(
                "extension",
                &[
                    at(
                        "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line",
                        line,
                    ),
                    at(
                        "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col",
                        col,
                    ),
                ],
            )?;
        }
        if !self.expression.is_empty() {
            m.serialize_entry("expression", &self.expression)?;
        }
        m.end()
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.severity, self.code)?;
        if !self.expression.is_empty() {
            write!(f, " at {}", self.expression.join(", "))?;
        }
        if let Some((l, c)) = self.line_col {
            write!(f, " (line {l}, col {c})")?;
        }
        write!(f, ": {}", self.diagnostics)
    }
}

/// A FHIR `OperationOutcome`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OperationOutcome {
    pub issues: Vec<Issue>,
}

impl OperationOutcome {
    pub fn new(issues: Vec<Issue>) -> Self {
        OperationOutcome { issues }
    }

    /// An outcome with a single issue.
    pub fn single(issue: Issue) -> Self {
        OperationOutcome {
            issues: vec![issue],
        }
    }

    /// True when any issue is `error` or `fatal`.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity.is_error())
    }

    /// The outcome as FHIR JSON. An empty outcome carries the informational "All OK" issue the spec
    /// requires (an OperationOutcome must have at least one issue).
    ///
    /// ```
    /// use firn_core::outcome::{Issue, IssueType, OperationOutcome};
    /// let oo = OperationOutcome::single(Issue::error(IssueType::Invalid, "bad").at("Patient.id"));
    /// assert_eq!(oo.to_json()["issue"][0]["expression"][0], "Patient.id");
    /// ```
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The FHIR JSON of the outcome (an "All OK" information issue when there are none), as
/// [`OperationOutcome::to_json`] gives it, written without building a `Value`.
impl Serialize for OperationOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("resourceType", "OperationOutcome")?;
        if self.issues.is_empty() {
            let ok = [Issue::information(IssueType::Informational, "All OK")];
            m.serialize_entry("issue", &ok)?;
        } else {
            m.serialize_entry("issue", &self.issues)?;
        }
        m.end()
    }
}

impl fmt::Display for OperationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OperationOutcome {}

/// Conversion of a module's typed error into an OperationOutcome, done at the edges.
pub trait IntoOutcome {
    fn into_outcome(self) -> OperationOutcome;
}

impl IntoOutcome for OperationOutcome {
    fn into_outcome(self) -> OperationOutcome {
        self
    }
}

impl IntoOutcome for Issue {
    fn into_outcome(self) -> OperationOutcome {
        OperationOutcome::single(self)
    }
}
