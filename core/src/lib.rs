//! # firn-core
//!
//! The pure-Rust heart of Firn, an HL7 FHIR R4 toolkit. This crate does no I/O and has no async
//! runtime, so the same code runs natively, in the browser (`wasm32-unknown-unknown`) and in
//! WASI components (`wasm32-wasip2`).
//!
//! Modules are named after the FHIR concepts they implement:
//! - [`definitions`]: the embedded FHIR R4 definitions (StructureDefinitions, SearchParameters,
//!   value sets, the Patient compartment) that every other module asks about types and elements.
//! - [`outcome`]: OperationOutcome, the one shape every error takes at the edges.

pub mod definitions;
pub mod outcome;
