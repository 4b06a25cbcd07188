//! `firn patch` and `firn diff`: apply a FHIRPath Patch or JSON Patch to a resource file, and
//! generate either format from two versions of a resource.

use firn_core::outcome::IntoOutcome;
use firn_core::patch::{PatchDocument, diff_fhirpath_patch, diff_json_patch};
use serde_json::Value;
use std::process::ExitCode;

/// Apply a patch file to a resource file and print the result.
#[derive(clap::Args)]
pub struct PatchArgs {
    /// The resource (JSON).
    pub resource: std::path::PathBuf,
    /// The patch: a FHIRPath Patch (`Parameters`), a JSON Patch (array), or a Binary carrying one.
    pub patch: std::path::PathBuf,
    /// `text` (default) or `json` (errors as OperationOutcome JSON).
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// Print a patch turning `a` into `b`.
#[derive(clap::Args)]
pub struct DiffArgs {
    pub a: std::path::PathBuf,
    pub b: std::path::PathBuf,
    /// `fhirpath` (a FHIRPath Patch `Parameters`, default) or `json` (RFC 6902 JSON Patch).
    #[arg(long, default_value = "fhirpath")]
    pub format: String,
}

pub fn run(args: PatchArgs) -> ExitCode {
    let result = (|| -> Result<Value, String> {
        let mut resource = crate::input::read_json(&args.resource)?;
        let body = crate::input::read_bytes(&args.patch)?;
        let ct = if body.trim_ascii_start().starts_with(b"[") {
            "application/json-patch+json"
        } else {
            "application/fhir+json"
        };
        let doc = PatchDocument::parse(ct, &body).map_err(|e| fmt(e, &args.format))?;
        doc.apply(&mut resource).map_err(|e| fmt(e, &args.format))?;
        Ok(resource)
    })();
    match result {
        Ok(r) => {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn fmt(e: firn_core::patch::PatchError, format: &str) -> String {
    if format == "json" {
        e.into_outcome().to_json().to_string()
    } else {
        e.to_string()
    }
}

pub fn run_diff(args: DiffArgs) -> ExitCode {
    match (
        crate::input::read_json(&args.a),
        crate::input::read_json(&args.b),
    ) {
        (Ok(a), Ok(b)) => {
            let patch = match args.format.as_str() {
                "fhirpath" => diff_fhirpath_patch(&a, &b),
                "json" => diff_json_patch(&a, &b),
                other => {
                    eprintln!("unknown --format `{other}` (use fhirpath or json)");
                    return ExitCode::from(2);
                }
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&patch).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
