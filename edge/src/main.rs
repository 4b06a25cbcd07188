//! `firn`: the command line over firn-core and the edge FHIR server (`firn serve`, in the library).
//!
//! Each subcommand lives in its own `cmd_*.rs` module exposing an `Args` struct and a `run`
//! function; this file only dispatches.

mod cmd_defs;
mod cmd_fhirpath;
mod cmd_ndjson;
mod cmd_patch;
mod cmd_search;
mod cmd_serve;
mod cmd_synth;
mod cmd_validate;
mod input;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Firn: an HL7 FHIR R4 toolkit — definitions, FHIRPath, validation, patch, search and bulk NDJSON.
#[derive(Parser)]
#[command(name = "firn", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the embedded FHIR R4 definitions: a type's element tree or one element's definition.
    Defs(cmd_defs::DefsArgs),
    /// Evaluate a FHIRPath expression on a resource: results with types and locations.
    #[command(name = "fhirpath")]
    FhirPath(cmd_fhirpath::FhirPathArgs),
    /// Validate FHIR resources (JSON, NDJSON or a directory) against R4 and loaded profiles.
    Validate(cmd_validate::ValidateArgs),
    /// Apply a patch (FHIRPath Patch `Parameters` or JSON Patch) to a resource.
    Patch(cmd_patch::PatchArgs),
    /// Print a patch (FHIRPath Patch or JSON Patch) that turns A into B.
    Diff(cmd_patch::DiffArgs),
    /// Run a FHIR search offline over NDJSON / JSON files (same evaluator as the server).
    Search(cmd_search::SearchArgs),
    /// Bulk NDJSON files: validate lines, count per type, split into per-type rolling files.
    Ndjson(cmd_ndjson::NdjsonArgs),
    /// Run the FHIR R4 REST server on the embedded SQLite store (`--load DIR` to import data).
    Serve(cmd_serve::ServeArgs),
    /// Generate deterministic synthetic patients (NDJSON or transaction Bundles).
    Synth(cmd_synth::SynthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Defs(args) => cmd_defs::run(args),
        Command::FhirPath(args) => cmd_fhirpath::run(args),
        Command::Validate(args) => cmd_validate::run(args),
        Command::Patch(args) => cmd_patch::run(args),
        Command::Diff(args) => cmd_patch::run_diff(args),
        Command::Search(args) => cmd_search::run(args),
        Command::Ndjson(args) => cmd_ndjson::run(args),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Synth(args) => cmd_synth::run(args),
    }
}
