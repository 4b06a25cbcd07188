//! `firn validate <file.json|file.ndjson|dir>`: validate FHIR resources offline.
//!
//! JSON files are one resource each; NDJSON files are one resource per line (issues report the
//! line number); directories are walked for `*.json` and `*.ndjson`. Exit code 1 when any error was
//! found (at `--level minimal` errors are reported but never fail the run).

use firn_core::outcome::OperationOutcome;
use firn_core::validate::{Level, Validator, summarize};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// A `.json` resource, an `.ndjson` file or a directory of them.
    pub path: PathBuf,
    /// Also validate every resource against this profile (canonical URL from a loaded package).
    #[arg(long = "profile", value_name = "URL")]
    pub profiles: Vec<String>,
    /// A FHIR NPM package (`.tgz`) with profiles and extensions; repeatable.
    #[arg(long = "package", value_name = "FILE.tgz")]
    pub packages: Vec<PathBuf>,
    /// strict (errors reject), structure-only (structure, cardinality, primitives), minimal (never rejects).
    #[arg(long, default_value = "strict", value_parser = parse_level)]
    pub level: Level,
    /// `text` (human-readable) or `json` (one OperationOutcome per resource, as NDJSON).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Print information-level issues too (text format).
    #[arg(long)]
    pub verbose: bool,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("unknown level '{s}' (strict, structure-only, minimal)"))
}

pub fn run(args: ValidateArgs) -> ExitCode {
    let mut builder = Validator::builder().level(args.level);
    for p in &args.packages {
        match std::fs::read(p) {
            Ok(bytes) => builder = builder.package(bytes),
            Err(e) => {
                eprintln!("error: cannot read package {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
    }
    for url in &args.profiles {
        builder = builder.profile(url.clone());
    }
    let validator = match builder.build() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let files = match collect(&args.path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", args.path.display());
            return ExitCode::from(2);
        }
    };
    let mut totals = Totals::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                totals.errors += 1;
                continue;
            }
        };
        let ndjson = file.extension().is_some_and(|e| e == "ndjson");
        if ndjson {
            let lines = text.lines().count();
            let progress = lines > 1000 && std::io::stderr().is_terminal();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let r = validator.validate_str(line);
                report(&mut out, &args, file, Some(i + 1), &r.outcome, &mut totals);
                if progress && i % 1000 == 0 {
                    eprint!("\r{}: {}/{} lines", file.display(), i, lines);
                }
            }
            if progress {
                eprintln!("\r{}: {lines}/{lines} lines", file.display());
            }
        } else {
            let r = validator.validate_str(&text);
            report(&mut out, &args, file, None, &r.outcome, &mut totals);
        }
    }
    if args.format == "text" {
        let _ = writeln!(
            out,
            "{} resources in {} files: {} errors, {} warnings, {} information",
            totals.resources,
            files.len(),
            totals.errors,
            totals.warnings,
            totals.infos
        );
        let mut kinds: Vec<(String, usize)> = totals.kinds.into_iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if kinds.len() > 1 {
            for (kind, n) in kinds.into_iter().take(15) {
                let _ = writeln!(out, "  {n:6}  {kind}");
            }
        }
    }
    if totals.errors > 0 && args.level != Level::Minimal {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Default)]
struct Totals {
    resources: usize,
    errors: usize,
    warnings: usize,
    infos: usize,
    /// Issue counts by kind, for the closing summary (constant memory on large NDJSON files).
    kinds: HashMap<String, usize>,
}

fn report(
    out: &mut impl Write,
    args: &ValidateArgs,
    file: &Path,
    line: Option<usize>,
    oo: &OperationOutcome,
    totals: &mut Totals,
) {
    totals.resources += 1;
    for i in &oo.issues {
        match i.severity {
            s if s.is_error() => totals.errors += 1,
            firn_core::outcome::Severity::Warning => totals.warnings += 1,
            _ => totals.infos += 1,
        }
    }
    for (kind, n) in summarize(&oo.issues) {
        *totals.kinds.entry(kind).or_default() += n;
    }
    if args.format == "json" {
        let mut j = oo.to_json();
        if let Some(n) = line {
            j["id"] = serde_json::json!(format!("line-{n}"));
        }
        let _ = writeln!(out, "{j}");
        return;
    }
    for i in &oo.issues {
        if !args.verbose && i.severity == firn_core::outcome::Severity::Information {
            continue;
        }
        let at = match (line, i.line_col) {
            (Some(n), Some((_, c))) => format!("{}:{n}:{c}", file.display()),
            (Some(n), None) => format!("{}:{n}", file.display()),
            (None, Some((l, c))) => format!("{}:{l}:{c}", file.display()),
            (None, None) => file.display().to_string(),
        };
        let loc = i
            .expression
            .first()
            .map(|e| format!(" {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{at}: {} [{}]{loc}: {}",
            i.severity, i.code, i.diagnostics
        );
    }
}

fn collect(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json" || e == "ndjson") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}
