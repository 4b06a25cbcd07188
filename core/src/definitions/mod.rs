//! Embedded FHIR R4 definitions (work in progress: lands with the foundation issue).
