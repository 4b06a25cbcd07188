//! Kick-off requests: `$export` and `$import`, in every dialect Firn accepts.
//!
//! One [`ExportRequest`] comes out of three ways in: the Bulk Data query string (v2 and v3
//! parameters, plus Azure's `_till` and `_container`), a POST `Parameters` body, and HealthLake's
//! JSON body (output location, KMS key, role). Likewise one [`ImportRequest`] from Azure's
//! `Parameters` body or HealthLake's import-job JSON. Every problem found is reported — not just
//! the first — as one OperationOutcome whose issues name the parameter (and, for bodies, the
//! FHIRPath of the offending `parameter`).

use super::instant::Instant;
use super::scope::TypeFilter;
use crate::definitions::Definitions;
use crate::ndjson::Elements;
use crate::outcome::{IntoOutcome, Issue, IssueType, OperationOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The three accepted spellings of the only output format.
pub const OUTPUT_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];

/// At most this many `input` entries in one `$import` (Azure's limit).
pub const MAX_IMPORT_INPUTS: usize = 10_000;

/// Where an export was kicked off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportLevel {
    /// `[base]/$export`
    System,
    /// `[base]/Patient/$export`
    Patient,
    /// `[base]/Group/[id]/$export`
    Group(String),
}

/// HealthLake's export body: where the files go and with which key and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Output {
    pub job_name: Option<String>,
    pub s3_uri: String,
    pub kms_key_id: String,
    pub data_access_role_arn: String,
}

/// A validated `$export` kick-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRequest {
    pub level: ExportLevel,
    /// Always NDJSON; the spelling the client used.
    pub output_format: String,
    pub since: Option<Instant>,
    /// `_until` (Bulk Data v3) or Azure's `_till`.
    pub until: Option<Instant>,
    /// `_type`: empty = every type the level allows.
    pub types: Vec<String>,
    /// `_elements` entries (`name` or `Type.name`).
    pub elements: Vec<String>,
    /// `patient` references (`Patient/123`), Patient and Group level only.
    pub patients: Vec<String>,
    pub include_associated_data: Vec<String>,
    pub type_filters: Vec<TypeFilter>,
    /// Bulk Data v3 `organizeOutputBy` (a resource type, e.g. `Patient`).
    pub organize_output_by: Option<String>,
    pub allow_partial_manifests: bool,
    /// Azure's `_container`.
    pub container: Option<String>,
    /// HealthLake's body.
    pub s3: Option<S3Output>,
    /// Non-fatal notes (ignored parameters), for the kick-off response.
    #[serde(skip)]
    pub warnings: Vec<Issue>,
}

/// Errors found while reading a kick-off; all of them, in order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.iter().map(|i| i.diagnostics.as_str()).collect::<Vec<_>>().join("; "))]
pub struct RequestError(pub Vec<Issue>);

impl IntoOutcome for RequestError {
    fn into_outcome(self) -> OperationOutcome {
        OperationOutcome::new(self.0)
    }
}

/// One parameter as received: name, string value, and where it came from (for `expression`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: String,
    pub expression: Option<String>,
}

/// Splits a URL query string (`a=1&b=x%2Cy`) into decoded pairs (`+` is a space).
///
/// ```
/// use firn_core::bulk::parse_query;
/// let p = parse_query("_type=Patient%2CObservation&_since=2024-01-01T00%3A00%3A00Z");
/// assert_eq!(p[0].value, "Patient,Observation");
/// assert_eq!(p[1].value, "2024-01-01T00:00:00Z");
/// ```
pub fn parse_query(query: &str) -> Vec<Param> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            Param {
                name: percent_decode(n),
                value: percent_decode(v),
                expression: None,
            }
        })
        .collect()
}

pub use crate::search::query::percent_decode;

/// Reads a POST `Parameters` body into [`Param`]s (`valueString`, `valueInstant`, `valueCode`,
/// `valueBoolean`, `valueReference.reference`, `valueUri`...; `input` parts are handled by
/// [`ImportRequest`]).
pub fn parameters_body(body: &Value) -> Result<Vec<Param>, RequestError> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(RequestError(vec![
            Issue::error(
                IssueType::Invalid,
                "the request body must be a Parameters resource",
            )
            .at("Parameters"),
        ]));
    }
    let mut out = Vec::new();
    let mut issues = Vec::new();
    for (i, p) in body
        .get("parameter")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let expression = format!("Parameters.parameter[{i}]");
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            issues
                .push(Issue::error(IssueType::Required, "a parameter has no name").at(expression));
            continue;
        };
        match scalar_value(p) {
            Some(value) => out.push(Param {
                name: name.to_string(),
                value,
                expression: Some(expression),
            }),
            None if p.get("part").is_some() => {} // import `input`: read elsewhere
            None => issues.push(
                Issue::error(
                    IssueType::Invalid,
                    format!("parameter '{name}' has no value[x] Firn can read"),
                )
                .at(expression),
            ),
        }
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(RequestError(issues))
    }
}

/// The `value[x]` of a Parameters.parameter as a string.
fn scalar_value(p: &Value) -> Option<String> {
    let obj = p.as_object()?;
    for (k, v) in obj {
        if let Some(kind) = k.strip_prefix("value") {
            return match v {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                Value::Object(o) if kind == "Reference" => o
                    .get("reference")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
        }
    }
    None
}

fn issue_for(p: &Param, code: IssueType, msg: String) -> Issue {
    let i = Issue::error(code, msg);
    match &p.expression {
        Some(e) => i.at(e.clone()),
        None => i,
    }
}

impl ExportRequest {
    /// An empty request at `level` (everything, NDJSON).
    pub fn new(level: ExportLevel) -> Self {
        ExportRequest {
            level,
            output_format: OUTPUT_FORMATS[0].into(),
            since: None,
            until: None,
            types: Vec::new(),
            elements: Vec::new(),
            patients: Vec::new(),
            include_associated_data: Vec::new(),
            type_filters: Vec::new(),
            organize_output_by: None,
            allow_partial_manifests: false,
            container: None,
            s3: None,
            warnings: Vec::new(),
        }
    }

    /// Reads a kick-off: the query string's parameters plus an optional body (a `Parameters`
    /// resource or HealthLake's JSON). `strict` (`Prefer: handling=strict`) makes unknown
    /// parameters errors instead of warnings.
    ///
    /// ```
    /// use firn_core::bulk::{ExportRequest, ExportLevel, parse_query};
    /// let q = parse_query("_outputFormat=ndjson&_type=Patient,Observation&_typeFilter=Observation%3Fstatus%3Dfinal&_till=2024-01-01T00:00:00Z");
    /// let r = ExportRequest::parse(ExportLevel::System, &q, None, false).unwrap();
    /// assert_eq!(r.types, ["Patient", "Observation"]);
    /// assert_eq!(r.type_filters[0].query, "status=final");
    /// assert!(r.until.is_some());
    /// let bad = parse_query("_outputFormat=text/csv&_type=Nope");
    /// let err = ExportRequest::parse(ExportLevel::System, &bad, None, false).unwrap_err();
    /// assert_eq!(err.0.len(), 2);
    /// ```
    pub fn parse(
        level: ExportLevel,
        query: &[Param],
        body: Option<&Value>,
        strict: bool,
    ) -> Result<ExportRequest, RequestError> {
        let defs = Definitions::r4();
        let mut req = ExportRequest::new(level);
        let mut issues = Vec::new();
        let mut params: Vec<Param> = query.to_vec();
        if let Some(body) = body {
            if body.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
                match parameters_body(body) {
                    Ok(p) => params.extend(p),
                    Err(e) => issues.extend(e.0),
                }
            } else if body.get("OutputDataConfig").is_some()
                || body.get("DataAccessRoleArn").is_some()
            {
                match s3_output(body) {
                    Ok(s3) => req.s3 = Some(s3),
                    Err(e) => issues.extend(e),
                }
            } else {
                issues.push(Issue::error(
                    IssueType::Invalid,
                    "the body must be a Parameters resource or a HealthLake export request (OutputDataConfig, DataAccessRoleArn)",
                ));
            }
        }
        let mut raw_filters = Vec::new();
        for p in &params {
            let v = p.value.trim();
            match p.name.as_str() {
                "_outputFormat" => {
                    if OUTPUT_FORMATS.contains(&v) {
                        req.output_format = v.to_string();
                    } else {
                        issues.push(issue_for(p, IssueType::NotSupported, format!(
                            "_outputFormat '{v}' is not supported; use application/fhir+ndjson, application/ndjson or ndjson"
                        )));
                    }
                }
                "_since" | "_until" | "_till" => match Instant::parse(v) {
                    Some(t) if p.name == "_since" => req.since = Some(t),
                    Some(t) => {
                        if p.name == "_till" && req.level != ExportLevel::System {
                            issues.push(issue_for(
                                p,
                                IssueType::NotSupported,
                                "_till is supported at system level only (as in Azure)".into(),
                            ));
                        }
                        req.until = Some(t)
                    }
                    None => issues.push(issue_for(
                        p,
                        IssueType::Invalid,
                        format!(
                            "{} '{v}' is not a FHIR instant (YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm))",
                            p.name
                        ),
                    )),
                },
                "_type" => {
                    for t in split_list(v) {
                        if defs.is_resource_type(t) {
                            if !req.types.iter().any(|x| x == t) {
                                req.types.push(t.to_string());
                            }
                        } else {
                            issues.push(issue_for(
                                p,
                                IssueType::NotSupported,
                                format!("_type: '{t}' is not a FHIR R4 resource type"),
                            ));
                        }
                    }
                }
                "_elements" => {
                    for e in split_list(v) {
                        match e.split_once('.') {
                            Some((t, n))
                                if !defs.is_resource_type(t) || n.is_empty() || n.contains('.') =>
                            {
                                issues.push(issue_for(p, IssueType::Invalid, format!(
                                    "_elements: '{e}' must be an element name or ResourceType.elementName"
                                )));
                            }
                            _ if e.is_empty() => {}
                            _ => req.elements.push(e.to_string()),
                        }
                    }
                }
                "patient" => {
                    if req.level == ExportLevel::System {
                        issues.push(issue_for(
                            p,
                            IssueType::NotSupported,
                            "patient is only allowed at Patient or Group level".into(),
                        ));
                    }
                    for r in split_list(v) {
                        match r.strip_prefix("Patient/") {
                            Some(id) if crate::ndjson::IdRule::Fhir.accepts(id) => {
                                req.patients.push(r.to_string())
                            }
                            _ => issues.push(issue_for(
                                p,
                                IssueType::Invalid,
                                format!(
                                    "patient: '{r}' must be a reference of the form Patient/[id]"
                                ),
                            )),
                        }
                    }
                }
                "includeAssociatedData" => {
                    for a in split_list(v) {
                        req.include_associated_data.push(a.to_string());
                    }
                }
                "_typeFilter" => raw_filters.push(p.clone()),
                "organizeOutputBy" => {
                    if defs.is_resource_type(v) {
                        req.organize_output_by = Some(v.to_string());
                    } else {
                        issues.push(issue_for(
                            p,
                            IssueType::Invalid,
                            format!("organizeOutputBy: '{v}' is not a resource type"),
                        ));
                    }
                }
                "allowPartialManifests" => match v {
                    "true" => req.allow_partial_manifests = true,
                    "false" => req.allow_partial_manifests = false,
                    _ => issues.push(issue_for(
                        p,
                        IssueType::Invalid,
                        format!("allowPartialManifests must be true or false, not '{v}'"),
                    )),
                },
                "_container" => req.container = Some(v.to_string()),
                other => {
                    let msg = format!("parameter '{other}' is not supported by $export");
                    if strict {
                        issues.push(issue_for(p, IssueType::NotSupported, msg));
                    } else {
                        req.warnings.push(Issue::warning(
                            IssueType::NotSupported,
                            format!("{msg}; ignored"),
                        ));
                    }
                }
            }
        }
        for p in &raw_filters {
            for f in split_list(&p.value) {
                match TypeFilter::parse(f, defs) {
                    Ok(tf) => {
                        if !req.types.is_empty() && !req.types.contains(&tf.resource_type) {
                            issues.push(issue_for(
                                p,
                                IssueType::Invalid,
                                format!("_typeFilter '{f}': {} is not in _type", tf.resource_type),
                            ));
                        }
                        req.type_filters.push(tf);
                    }
                    Err(msg) => issues.push(issue_for(
                        p,
                        IssueType::Invalid,
                        format!("_typeFilter '{f}': {msg}"),
                    )),
                }
            }
        }
        if let (Some(s), Some(u)) = (&req.since, &req.until)
            && s > u
        {
            issues.push(Issue::error(
                IssueType::Invalid,
                format!("_since ({s}) is after _until ({u})"),
            ));
        }
        if !req.type_filters.is_empty()
            && req
                .include_associated_data
                .iter()
                .any(|a| a == "_history" || a == "_deleted")
        {
            issues.push(Issue::error(IssueType::NotSupported,
                "includeAssociatedData=_history/_deleted cannot be combined with _typeFilter (as in Azure)"));
        }
        if issues.is_empty() {
            Ok(req)
        } else {
            Err(RequestError(issues))
        }
    }

    /// The `_elements` list as an [`Elements`] projection.
    pub fn elements(&self) -> Elements {
        Elements::parse(self.elements.iter().map(String::as_str))
    }
}

/// Splits a comma-separated parameter value; `_typeFilter` values keep their commas inside a
/// query's value only when percent-encoded (as the spec requires).
fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn s3_output(body: &Value) -> Result<S3Output, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut req = |path: &[&str]| -> String {
        let mut v = body;
        for k in path {
            v = match v.get(k) {
                Some(x) => x,
                None => {
                    issues.push(
                        Issue::error(
                            IssueType::Required,
                            format!("{} is required", path.join(".")),
                        )
                        .at(path.join(".")),
                    );
                    return String::new();
                }
            };
        }
        match v.as_str() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => {
                issues.push(
                    Issue::error(
                        IssueType::Invalid,
                        format!("{} must be a non-empty string", path.join(".")),
                    )
                    .at(path.join(".")),
                );
                String::new()
            }
        }
    };
    let s3_uri = req(&["OutputDataConfig", "S3Configuration", "S3Uri"]);
    let kms_key_id = req(&["OutputDataConfig", "S3Configuration", "KmsKeyId"]);
    let data_access_role_arn = req(&["DataAccessRoleArn"]);
    if !s3_uri.is_empty() && !s3_uri.starts_with("s3://") {
        issues.push(
            Issue::error(
                IssueType::Invalid,
                format!("S3Uri '{s3_uri}' must start with s3://"),
            )
            .at("OutputDataConfig.S3Configuration.S3Uri"),
        );
    }
    if issues.is_empty() {
        Ok(S3Output {
            job_name: body
                .get("JobName")
                .and_then(Value::as_str)
                .map(str::to_string),
            s3_uri,
            kms_key_id,
            data_access_role_arn,
        })
    } else {
        Err(issues)
    }
}

/// Azure's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportMode {
    InitialLoad,
    IncrementalLoad,
}

/// One input file of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportInput {
    /// The resource type every line must have (Azure: required; HealthLake: none, mixed files).
    pub resource_type: Option<String>,
    pub url: String,
    pub etag: Option<String>,
}

/// HealthLake's StartFHIRImportJob body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthLakeImport {
    pub job_name: Option<String>,
    pub input_s3_uri: String,
    pub output_s3_uri: String,
    pub kms_key_id: Option<String>,
    pub data_access_role_arn: String,
    pub datastore_id: Option<String>,
}

/// A validated `$import` kick-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub input_format: String,
    pub mode: ImportMode,
    /// Azure's explicit inputs (HealthLake lists its S3 prefix instead; the host expands it).
    pub inputs: Vec<ImportInput>,
    pub healthlake: Option<HealthLakeImport>,
}

impl ImportRequest {
    /// Reads Azure's `Parameters` body or HealthLake's import-job JSON.
    ///
    /// ```
    /// use firn_core::bulk::{ImportRequest, ImportMode};
    /// let body = serde_json::json!({"resourceType":"Parameters","parameter":[
    ///   {"name":"inputFormat","valueString":"application/fhir+ndjson"},
    ///   {"name":"mode","valueString":"InitialLoad"},
    ///   {"name":"input","part":[{"name":"type","valueString":"Patient"},
    ///                           {"name":"url","valueUri":"https://store/Patient.ndjson"}]}]});
    /// let r = ImportRequest::parse(&body).unwrap();
    /// assert_eq!((r.mode, r.inputs[0].resource_type.as_deref()), (ImportMode::InitialLoad, Some("Patient")));
    /// ```
    pub fn parse(body: &Value) -> Result<ImportRequest, RequestError> {
        if body.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
            Self::parse_parameters(body)
        } else if body.get("InputDataConfig").is_some() {
            Self::parse_healthlake(body)
        } else {
            Err(RequestError(vec![Issue::error(
                IssueType::Invalid,
                "the $import body must be a Parameters resource (Azure) or a HealthLake import job (InputDataConfig)",
            )]))
        }
    }

    fn parse_parameters(body: &Value) -> Result<ImportRequest, RequestError> {
        let defs = Definitions::r4();
        let mut issues = Vec::new();
        let mut format = None;
        let mut mode = ImportMode::IncrementalLoad;
        let mut inputs = Vec::new();
        let params = body
            .get("parameter")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, p) in params.iter().enumerate() {
            let at = format!("Parameters.parameter[{i}]");
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            match name {
                "inputFormat" => match scalar_value(p).as_deref() {
                    Some("application/fhir+ndjson") => {
                        format = Some("application/fhir+ndjson".to_string())
                    }
                    other => issues.push(
                        Issue::error(
                            IssueType::NotSupported,
                            format!(
                                "inputFormat '{}' is not supported; use application/fhir+ndjson",
                                other.unwrap_or("")
                            ),
                        )
                        .at(at),
                    ),
                },
                "mode" => match scalar_value(p).as_deref() {
                    Some("InitialLoad") => mode = ImportMode::InitialLoad,
                    Some("IncrementalLoad") => mode = ImportMode::IncrementalLoad,
                    other => issues.push(
                        Issue::error(
                            IssueType::Invalid,
                            format!(
                                "mode '{}' must be InitialLoad or IncrementalLoad",
                                other.unwrap_or("")
                            ),
                        )
                        .at(at),
                    ),
                },
                "input" => {
                    let mut input = ImportInput {
                        resource_type: None,
                        url: String::new(),
                        etag: None,
                    };
                    for (j, part) in p
                        .get("part")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                    {
                        let pat = format!("{at}.part[{j}]");
                        let v = scalar_value(part).unwrap_or_default();
                        match part.get("name").and_then(Value::as_str).unwrap_or("") {
                            "type" if defs.is_resource_type(&v) => input.resource_type = Some(v),
                            "type" => issues.push(
                                Issue::error(
                                    IssueType::Invalid,
                                    format!("input type '{v}' is not a FHIR R4 resource type"),
                                )
                                .at(pat),
                            ),
                            "url" => input.url = v,
                            "etag" => input.etag = Some(v),
                            other => issues.push(
                                Issue::error(
                                    IssueType::NotSupported,
                                    format!("unknown input part '{other}'"),
                                )
                                .at(pat),
                            ),
                        }
                    }
                    if input.resource_type.is_none() {
                        issues.push(
                            Issue::error(IssueType::Required, "input.type is required")
                                .at(at.clone()),
                        );
                    }
                    if input.url.is_empty() {
                        issues.push(
                            Issue::error(IssueType::Required, "input.url is required").at(at),
                        );
                    }
                    inputs.push(input);
                }
                other => issues.push(
                    Issue::error(
                        IssueType::NotSupported,
                        format!("parameter '{other}' is not supported by $import"),
                    )
                    .at(at),
                ),
            }
        }
        if format.is_none()
            && !issues
                .iter()
                .any(|i| i.diagnostics.starts_with("inputFormat"))
        {
            issues.push(Issue::error(
                IssueType::Required,
                "inputFormat is required (application/fhir+ndjson)",
            ));
        }
        if inputs.is_empty() {
            issues.push(Issue::error(
                IssueType::Required,
                "at least one input is required",
            ));
        }
        if inputs.len() > MAX_IMPORT_INPUTS {
            issues.push(Issue::error(
                IssueType::TooCostly,
                format!(
                    "{} inputs given; at most {MAX_IMPORT_INPUTS} are allowed",
                    inputs.len()
                ),
            ));
        }
        if issues.is_empty() {
            Ok(ImportRequest {
                input_format: format.unwrap_or_default(),
                mode,
                inputs,
                healthlake: None,
            })
        } else {
            Err(RequestError(issues))
        }
    }

    fn parse_healthlake(body: &Value) -> Result<ImportRequest, RequestError> {
        let mut issues = Vec::new();
        let mut get = |path: &[&str], required: bool| -> Option<String> {
            let mut v = body;
            for k in path {
                match v.get(k) {
                    Some(x) => v = x,
                    None => {
                        if required {
                            issues.push(
                                Issue::error(
                                    IssueType::Required,
                                    format!("{} is required", path.join(".")),
                                )
                                .at(path.join(".")),
                            );
                        }
                        return None;
                    }
                }
            }
            match v.as_str() {
                Some(s) if !s.is_empty() => Some(s.to_string()),
                _ => {
                    issues.push(
                        Issue::error(
                            IssueType::Invalid,
                            format!("{} must be a non-empty string", path.join(".")),
                        )
                        .at(path.join(".")),
                    );
                    None
                }
            }
        };
        let input = get(&["InputDataConfig", "S3Uri"], true);
        let output = get(&["JobOutputDataConfig", "S3Configuration", "S3Uri"], true);
        let kms = get(
            &["JobOutputDataConfig", "S3Configuration", "KmsKeyId"],
            false,
        );
        let role = get(&["DataAccessRoleArn"], true);
        let job_name = get(&["JobName"], false);
        let datastore_id = get(&["DatastoreId"], false);
        for (uri, at) in [
            (&input, "InputDataConfig.S3Uri"),
            (&output, "JobOutputDataConfig.S3Configuration.S3Uri"),
        ] {
            if let Some(u) = uri
                && !u.starts_with("s3://")
            {
                issues.push(
                    Issue::error(
                        IssueType::Invalid,
                        format!("{at} '{u}' must start with s3://"),
                    )
                    .at(at),
                );
            }
        }
        match (input, output, role) {
            (Some(input_s3_uri), Some(output_s3_uri), Some(data_access_role_arn))
                if issues.is_empty() =>
            {
                Ok(ImportRequest {
                    input_format: "application/fhir+ndjson".into(),
                    mode: ImportMode::IncrementalLoad,
                    inputs: Vec::new(),
                    healthlake: Some(HealthLakeImport {
                        job_name,
                        input_s3_uri,
                        output_s3_uri,
                        kms_key_id: kms,
                        data_access_role_arn,
                        datastore_id,
                    }),
                })
            }
            _ => Err(RequestError(issues)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Cb+c%zz%4"), "a,b c%zz%4");
    }

    #[test]
    fn parameters_body_and_healthlake_body() {
        let body = json!({"resourceType":"Parameters","parameter":[
            {"name":"_since","valueInstant":"2024-01-01T00:00:00Z"},
            {"name":"patient","valueReference":{"reference":"Patient/p1"}},
            {"name":"_type","valueString":"Observation"},
            {"name":"allowPartialManifests","valueBoolean":true}]});
        let r = ExportRequest::parse(ExportLevel::Patient, &[], Some(&body), false).unwrap();
        assert_eq!(r.patients, ["Patient/p1"]);
        assert!(r.allow_partial_manifests && r.since.is_some());

        let bad = json!({"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Group/1"}}]});
        let e = ExportRequest::parse(ExportLevel::System, &[], Some(&bad), false).unwrap_err();
        assert_eq!(e.0.len(), 2); // system level + not a Patient reference
        assert_eq!(e.0[0].expression, ["Parameters.parameter[0]"]);

        let hl = json!({"JobName":"j","OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://b/p/","KmsKeyId":"arn:k"}},"DataAccessRoleArn":"arn:r"});
        let r = ExportRequest::parse(
            ExportLevel::System,
            &parse_query("_type=Patient"),
            Some(&hl),
            false,
        )
        .unwrap();
        assert_eq!(r.s3.unwrap().kms_key_id, "arn:k");
        let hl_bad = json!({"OutputDataConfig":{"S3Configuration":{"S3Uri":"http://x"}}});
        let e = ExportRequest::parse(ExportLevel::System, &[], Some(&hl_bad), false).unwrap_err();
        assert_eq!(e.0.len(), 3); // KmsKeyId, DataAccessRoleArn missing; S3Uri not s3://
    }

    #[test]
    fn cross_parameter_rules() {
        let q = parse_query(
            "_since=2024-02-01T00:00:00Z&_until=2024-01-01T00:00:00Z&_type=Patient&_typeFilter=Observation%3Fcode%3Dx&foo=1",
        );
        let e = ExportRequest::parse(ExportLevel::System, &q, None, true).unwrap_err();
        let d: Vec<_> = e.0.iter().map(|i| i.diagnostics.as_str()).collect();
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d[0].contains("'foo'")
                && d[1].contains("not in _type")
                && d[2].contains("after _until")
        );
        let ok =
            ExportRequest::parse(ExportLevel::System, &parse_query("foo=1"), None, false).unwrap();
        assert_eq!(ok.warnings.len(), 1);
        let e = ExportRequest::parse(
            ExportLevel::Patient,
            &parse_query("_till=2024-01-01T00:00:00Z"),
            None,
            false,
        )
        .unwrap_err();
        assert!(e.0[0].diagnostics.contains("system level"));
    }

    #[test]
    fn import_errors() {
        let body = json!({"resourceType":"Parameters","parameter":[
            {"name":"inputFormat","valueString":"text/csv"},
            {"name":"mode","valueString":"Sometimes"},
            {"name":"input","part":[{"name":"type","valueString":"Nope"}]}]});
        let e = ImportRequest::parse(&body).unwrap_err();
        let d: Vec<_> = e.0.iter().map(|i| i.diagnostics.as_str()).collect();
        assert_eq!(d.len(), 5, "{d:?}"); // format, mode, type, input.type required, url required
        let many: Vec<Value> = (0..10_001)
            .map(|i| {
                json!({"name":"input","part":[
            {"name":"type","valueString":"Patient"},{"name":"url","valueUri":format!("u{i}")}]})
            })
            .collect();
        let mut params =
            vec![json!({"name":"inputFormat","valueString":"application/fhir+ndjson"})];
        params.extend(many);
        let e = ImportRequest::parse(&json!({"resourceType":"Parameters","parameter":params}))
            .unwrap_err();
        assert_eq!(e.0[0].code, IssueType::TooCostly);
        let hl = json!({"JobName":"FHIR-IMPORT","InputDataConfig":{"S3Uri":"s3://in/"},
            "JobOutputDataConfig":{"S3Configuration":{"S3Uri":"s3://out/","KmsKeyId":"arn:k"}},
            "DataAccessRoleArn":"arn:r","DatastoreId":"ds"});
        let r = ImportRequest::parse(&hl).unwrap();
        assert_eq!(r.healthlake.unwrap().datastore_id.as_deref(), Some("ds"));
    }
}
