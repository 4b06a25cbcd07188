//! Bulk Data: `$export` and `$import` as a pure model — requests, scoping, jobs, manifests.
//!
//! Firn speaks three dialects of bulk FHIR: the HL7 Bulk Data Access IG (v2, and v3's
//! `_until`/`organizeOutputBy`/`allowPartialManifests`), Azure's extensions (`_till`,
//! `_container`, the `$import` Parameters body and its status JSON) and HealthLake's (the JSON
//! kick-off bodies naming S3 locations, KMS keys and roles, and its job descriptions). This
//! module turns each into one model and back, and runs jobs over NDJSON through the [`ndjson`]
//! engine. Like the rest of the crate it does no I/O: the host stores checkpoints, opens inputs
//! ([`InputSource`]) and provides output ([`OutputStore`]).
//!
//! - [`request`]: kick-off parsing and validation ([`ExportRequest`], [`ImportRequest`]).
//! - [`scope`]: which resources an export includes ([`ExportFilter`]); `_typeFilter` matching is
//!   delegated to a [`TypeFilterMatcher`] the `search` module implements.
//! - [`job`]: the status state machine and the resumable [`JobRunner`] with its [`Checkpoint`].
//! - [`manifest`]: the Bulk Data manifest, HealthLake's job JSON, Azure's import status.
//!
//! [`ndjson`]: crate::ndjson
//! [`OutputStore`]: crate::ndjson::OutputStore

pub mod instant;
pub mod job;
pub mod manifest;
pub mod request;
pub mod scope;

pub use instant::Instant;
pub use job::{
    Checkpoint, InputProgress, InputSource, InputSpec, JobError, JobOutcome, JobRunner, JobSpec,
    JobStatus, MemoryInputs,
};
pub use manifest::{
    HealthLakeExportJob, ImportError, ImportOutput, ImportStatus, Manifest, ManifestEntry,
};
pub use request::{
    ExportLevel, ExportRequest, HealthLakeImport, ImportInput, ImportMode, ImportRequest, Param,
    RequestError, S3Output, parameters_body, parse_query, percent_decode,
};
pub use scope::{
    ExportFilter, TypeFilter, TypeFilterMatcher, flatten_group, group_patient_ids,
    patient_compartment_ids, patient_id_of_reference,
};
