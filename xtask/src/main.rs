//! Developer tasks for Firn.
//!
//! `cargo xtask gen-defs <dir>` reads the official FHIR R4 definition files in `<dir>` (laid out like
//! `../shared/data/fhir-r4/`) and writes the compact artifact embedded in firn-core
//! (`core/src/definitions/r4.defs`).

mod gen_defs;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen-defs") => {
            let dir = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("../shared/data/fhir-r4"));
            let out = args
                .get(2)
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("core/src/definitions/r4.defs"));
            match gen_defs::run(&dir, &out) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gen-defs: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: cargo xtask gen-defs [<fhir-r4 definitions dir>] [<output file>]");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
