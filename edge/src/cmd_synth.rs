//! `firn synth`: deterministic synthetic FHIR data.

use clap::{Args, ValueEnum};
use firn_edge::synth::{Format, SynthOptions, generate};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// One Type.ndjson file per resource type.
    Ndjson,
    /// Transaction Bundles (bundle-NNNNNN.json, ≤ 500 entries) with urn:uuid references.
    Bundle,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Number of patients (each brings 5-40 encounters, conditions, observations, ...).
    #[arg(long, default_value_t = 100)]
    patients: usize,
    /// Seed: the same seed and patient count always give the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output layout.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: FormatArg,
    /// Output directory (created when missing).
    #[arg(long, default_value = "./firn-sample")]
    out: PathBuf,
}

pub fn run(args: SynthArgs) -> ExitCode {
    let opts = SynthOptions {
        patients: args.patients,
        seed: args.seed,
        format: match args.format {
            FormatArg::Ndjson => Format::Ndjson,
            FormatArg::Bundle => Format::Bundle,
        },
        out: args.out,
    };
    match generate(&opts) {
        Ok(report) => {
            for (ty, n) in &report.counts {
                println!("{n:9}  {ty}");
            }
            println!(
                "{:9}  resources in {} file(s) under {}",
                report.total(),
                report.files.len(),
                opts.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", opts.out.display());
            ExitCode::from(1)
        }
    }
}
