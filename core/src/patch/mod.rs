//! # patch
//!
//! The two patch formats FHIR servers accept — FHIRPath Patch (a `Parameters` resource) and JSON
//! Patch (RFC 6902) — applied atomically to a FHIR resource, and diffs that generate either.
//!
//! Every patch is applied to a working copy that replaces the resource only when every operation
//! succeeded, so a failing patch never leaves a half-modified resource behind. A patch may not
//! change `resourceType` or `id`, because those identify the resource being patched.
//! [`PatchDocument::parse`] turns an HTTP body (by content type) into the right kind.

mod diff;
mod fhirpath_patch;
mod json_patch;

pub use diff::{diff_fhirpath_patch, diff_json_patch};
pub use fhirpath_patch::apply_fhirpath_patch;
pub use json_patch::{PatchError, apply_json_patch};
mod document;
pub use document::PatchDocument;
