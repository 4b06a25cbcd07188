//! # firn-core
//!
//! The pure-Rust heart of Firn, an HL7 FHIR R4 toolkit. This crate does no I/O and has no async
//! runtime, so the same code runs natively, in the browser (`wasm32-unknown-unknown`) and in
//! WASI components (`wasm32-wasip2`).
//!
//! Modules are named after the FHIR concepts they implement:
//! - [`definitions`]: the embedded FHIR R4 definitions (StructureDefinitions, SearchParameters,
//!   value sets, the Patient compartment) that every other module asks about types and elements.
//! - [`validate`]: FHIR R4 validation (structure, primitives, terminology, references, profiles).
//! - [`fhirpath`]: the FHIRPath engine (compile once, evaluate over borrowed FHIR JSON).
//! - [`outcome`]: OperationOutcome, the one shape every error takes at the edges.
//! - [`search`]: FHIR search — query parsing, index extraction, matching and set evaluation.
//! - [`ndjson`]: streaming NDJSON reading (byte ranges, line checks) and rolling writers.
//! - [`bulk`]: the Bulk Data model: `$export`/`$import` requests, manifests, jobs and checkpoints.

pub mod bulk;
pub mod calendar;
pub mod definitions;
pub mod fhirpath;
pub mod ndjson;
pub mod outcome;
pub mod patch;
pub mod search;
pub mod validate;
