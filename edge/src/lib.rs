//! # firn-edge
//!
//! The `firn` command line's library half: the FHIR REST server and its pieces, named after what
//! they are in FHIR terms.
//!
//! - [`api`]: the host-agnostic FHIR handler (request in, response out), generic over a store.
//! - [`store`]: storage traits and the embedded SQLite store.
//! - [`serve`]: the native host (`firn serve`): HTTP, logs, graceful shutdown, start-up loading.
//! - [`synth`]: deterministic synthetic patient data (`firn synth`).

pub mod api;
pub mod load;
pub mod serve;
pub mod store;
pub mod synth;
