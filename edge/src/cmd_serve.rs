//! `firn serve`: the FHIR R4 REST server on the embedded store.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Directory of the embedded store (created when missing; holds firn.db).
    #[arg(long, default_value = "./firn-data")]
    data: PathBuf,
    /// Load a directory of NDJSON files and batch/transaction Bundles (*.json) before serving.
    #[arg(long, value_name = "DIR")]
    load: Option<PathBuf>,
    /// Public base URL used in Location headers and links (default http://HOST:PORT).
    #[arg(long)]
    base_url: Option<String>,
    /// A FHIR package (.tgz, e.g. US Core) whose profiles validation uses; repeatable.
    #[arg(long = "package", value_name = "TGZ")]
    packages: Vec<PathBuf>,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let opts = firn_edge::serve::ServeOptions {
        host: args.host,
        port: args.port,
        data: args.data,
        load: args.load,
        base_url: args.base_url,
        packages: args.packages,
    };
    match firn_edge::serve::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
