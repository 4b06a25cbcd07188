//! `firn`: the command line over firn-core (and, later, the edge FHIR server).
//!
//! Each subcommand lives in its own `cmd_*.rs` module exposing an `Args` struct and a `run`
//! function; this file only dispatches.

mod cmd_defs;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Defs(args) => cmd_defs::run(args),
    }
}
