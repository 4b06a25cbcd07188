//! `firn search <Type> <query> <files>...`: run a FHIR search offline over NDJSON / JSON files.
//!
//! The files are loaded into firn-core's in-memory index, so the answer is exactly what a Firn
//! server would return for the same data: same parser, same normalization, same limits.

use firn_core::outcome::IntoOutcome;
use firn_core::search::{MemoryIndex, Query, SearchConfig, SearchIndex, search, to_bundle};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Resource type to search (`Patient`, `Observation`).
    pub resource_type: String,
    /// The query string, as after `?` in a search URL (`name=peter&_count=10`). Use `""` for all.
    pub query: String,
    /// NDJSON files (one resource per line), JSON resources or JSON Bundles.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// `Prefer: handling=lenient`: ignore unknown or malformed parameters and report them.
    #[arg(long)]
    pub lenient: bool,
    /// Base URL for links and fullUrls in the Bundle.
    #[arg(long, default_value = "")]
    pub base: String,
    /// `text`: one `Type/id` line per result; `json`: the searchset Bundle (errors as OperationOutcome).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

fn load(idx: &mut MemoryIndex, path: &PathBuf) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut resources = Vec::new();
    let trimmed = text.trim_start();
    let is_single_json = path.extension().is_some_and(|e| e == "json") && trimmed.starts_with('{');
    if is_single_json {
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if v["resourceType"] == "Bundle" {
            for e in v["entry"].as_array().into_iter().flatten() {
                if let Some(r) = e.get("resource") {
                    resources.push(r.clone());
                }
            }
        } else {
            resources.push(v);
        }
    } else {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
            resources.push(v);
        }
    }
    let mut n = 0;
    for r in resources {
        match idx.insert(r) {
            Ok(_) => n += 1,
            Err(e) => eprintln!("warning: {}: skipped a resource: {e}", path.display()),
        }
    }
    Ok(n)
}

pub fn run(args: SearchArgs) -> ExitCode {
    let json = args.format == "json";
    let cfg = SearchConfig {
        lenient: args.lenient,
        base_url: (!args.base.is_empty()).then(|| args.base.clone()),
        ..SearchConfig::default()
    };
    let query = match Query::parse(&args.resource_type, &args.query, &cfg) {
        Ok(q) => q,
        Err(e) => return fail(e, json),
    };
    let mut idx = MemoryIndex::new();
    for f in &args.files {
        if let Err(e) = load(&mut idx, f) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let page = match search(&idx, &query) {
        Ok(p) => p,
        Err(e) => return fail(e, json),
    };
    if json {
        let bundle = to_bundle(&query, &page, &idx, &args.base);
        println!(
            "{}",
            serde_json::to_string_pretty(&bundle).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    for (name, reason) in &query.ignored {
        eprintln!("warning: ignored `{name}`: {reason}");
    }
    let key = |d| {
        idx.resource(d).map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or("?"),
                r["id"].as_str().unwrap_or("?")
            )
        })
    };
    for &d in &page.matches {
        println!("{}", key(d).unwrap_or_default());
    }
    for &d in &page.included {
        println!("{} (include)", key(d).unwrap_or_default());
    }
    if let Some(t) = page.total {
        let more = if page.has_more {
            format!(", next page: _offset={}", page.offset + page.count)
        } else {
            String::new()
        };
        eprintln!("{t} match(es) in {} resources{more}", idx.len());
    }
    ExitCode::SUCCESS
}

fn fail(e: firn_core::search::SearchError, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&e.into_outcome().to_json()).unwrap_or_default()
        );
    } else {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}
