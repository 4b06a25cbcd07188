//! What a finished (or running) bulk job reports, in each dialect's shape.
//!
//! - [`Manifest`]: the Bulk Data completion manifest (`transactionTime`, `request`,
//!   `requiresAccessToken`, `output`, `deleted`, `error`).
//! - [`HealthLakeExportJob`]: HealthLake's `$export` kick-off, describe and cancel bodies.
//! - [`ImportStatus`]: Azure's `$import` status body (`output[type,count,inputUrl]`,
//!   `error[type,count,inputUrl,url]`).
//!
//! Error *files* are NDJSON of OperationOutcomes, one per bad line
//! ([`ErrorRecord::to_ndjson`](crate::ndjson::ErrorRecord::to_ndjson)).

use super::job::JobStatus;
use super::request::S3Output;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One `output`/`deleted`/`error` entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// The Bulk Data completion manifest.
///
/// ```
/// use firn_core::bulk::{Manifest, ManifestEntry};
/// let mut m = Manifest::new("2024-01-01T00:00:00Z", "https://x/fhir/$export?_type=Patient", true);
/// m.output.push(ManifestEntry { resource_type: "Patient".into(), url: "https://x/files/Patient-1.ndjson".into(), count: Some(3) });
/// let j = m.to_json();
/// assert_eq!(j["output"][0]["type"], "Patient");
/// assert_eq!(j["requiresAccessToken"], true);
/// assert_eq!(j["error"], serde_json::json!([]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub transaction_time: String,
    pub request: String,
    pub requires_access_token: bool,
    /// Bulk Data v3 `organizeOutputBy` echo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_organized_by: Option<String>,
    pub output: Vec<ManifestEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub deleted: Vec<ManifestEntry>,
    pub error: Vec<ManifestEntry>,
}

impl Manifest {
    pub fn new(transaction_time: &str, request: &str, requires_access_token: bool) -> Self {
        Manifest {
            transaction_time: transaction_time.into(),
            request: request.into(),
            requires_access_token,
            output_organized_by: None,
            output: Vec::new(),
            deleted: Vec::new(),
            error: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A HealthLake export job, as its REST API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthLakeExportJob {
    pub job_id: String,
    pub datastore_id: String,
    pub status: JobStatus,
    pub submit_time: String,
    pub end_time: Option<String>,
    pub output: S3Output,
}

impl HealthLakeExportJob {
    /// The kick-off response: `{datastoreId, jobStatus, jobId}`.
    pub fn kickoff_json(&self) -> Value {
        json!({"datastoreId": self.datastore_id, "jobStatus": self.status.as_str(), "jobId": self.job_id})
    }

    /// The describe (`GET .../r4/export/{jobId}`) response, with HealthLake's key spellings.
    ///
    /// ```
    /// use firn_core::bulk::{HealthLakeExportJob, JobStatus, S3Output};
    /// let job = HealthLakeExportJob { job_id: "j1".into(), datastore_id: "ds".into(), status: JobStatus::Completed,
    ///     submit_time: "2024-11-20T11:31:46Z".into(), end_time: Some("2024-11-20T11:34:01Z".into()),
    ///     output: S3Output { job_name: Some("nightly".into()), s3_uri: "s3://b/p/".into(), kms_key_id: "arn:k".into(), data_access_role_arn: "arn:r".into() } };
    /// let j = job.describe_json();
    /// assert_eq!(j["exportJobProperties"]["jobStatus"], "COMPLETED");
    /// assert_eq!(j["exportJobProperties"]["outputDataConfig"]["s3Configuration"]["S3Uri"], "s3://b/p/");
    /// ```
    pub fn describe_json(&self) -> Value {
        let mut p = json!({
            "jobId": self.job_id,
            "jobStatus": self.status.as_str(),
            "submitTime": self.submit_time,
            "datastoreId": self.datastore_id,
            "outputDataConfig": {"s3Configuration": {"S3Uri": self.output.s3_uri, "KmsKeyId": self.output.kms_key_id}},
            "DataAccessRoleArn": self.output.data_access_role_arn,
        });
        if let Some(name) = &self.output.job_name {
            p["JobName"] = json!(name);
        }
        if let Some(end) = &self.end_time {
            p["endTime"] = json!(end);
        }
        json!({ "exportJobProperties": p })
    }

    /// The cancel (`DELETE`) response.
    pub fn cancel_json(&self) -> Value {
        json!({"exportJobProperties": {"jobId": self.job_id, "jobStatus": self.status.as_str(), "datastoreId": self.datastore_id}})
    }
}

/// One `output` entry of Azure's import status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutput {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub count: u64,
    pub input_url: String,
}

/// One `error` entry of Azure's import status (`type` is always `OperationOutcome`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportError {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub count: u64,
    pub input_url: String,
    pub url: String,
}

/// Azure's `$import` status body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportStatus {
    pub transaction_time: String,
    pub request: String,
    pub output: Vec<ImportOutput>,
    pub error: Vec<ImportError>,
}

impl ImportStatus {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
