//! `firn ndjson split|validate|stats <files…>`: the bulk NDJSON engine from the command line.
//!
//! This file is the host for `firn_core::ndjson` and `firn_core::bulk`: it opens files, implements
//! the engine's [`InputSource`] and [`OutputStore`] over the file system, and shows progress on
//! stderr (bytes and lines per second, redrawn at most four times a second when stderr is a
//! terminal). All checking and writing logic lives in firn-core.

use firn_core::bulk::{InputSource, InputSpec, JobRunner, JobSpec};
use firn_core::definitions::Definitions;
use firn_core::ndjson::{
    CheckOptions, IdRule, LineChecker, LineReader, OutputStore, ParseLevel, WriterOptions,
    scan::scan_route,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const READ_BUFFER: usize = 1 << 20;

#[derive(clap::Args)]
pub struct NdjsonArgs {
    #[command(subcommand)]
    pub command: NdjsonCommand,
}

#[derive(clap::Subcommand)]
pub enum NdjsonCommand {
    /// Check every line (JSON, resourceType, id syntax, conditional references, duplicate ids).
    Validate(CommonArgs),
    /// Count resources per type, bytes, lines and bad lines (routing scan only: fast).
    Stats(CommonArgs),
    /// Re-split into per-type rolling files in --out.
    Split(SplitArgs),
}

#[derive(clap::Args)]
pub struct CommonArgs {
    /// NDJSON files. A file named after a resource type (`Patient.ndjson`, `Patient.000.ndjson`,
    /// `Patient-1.ndjson`) must hold only that type, unless --mixed.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write one OperationOutcome per bad line to this NDJSON file.
    #[arg(long)]
    pub errors: Option<PathBuf>,
    /// Do not infer a per-file resource type from file names.
    #[arg(long)]
    pub mixed: bool,
    /// Id syntax: `fhir` ([A-Za-z0-9-.]{1,64}) or `healthlake` ([A-Za-z0-9-]{1,64}).
    #[arg(long, default_value = "fhir")]
    pub id_rule: String,
    /// Longest accepted line, in bytes.
    #[arg(long, default_value_t = firn_core::ndjson::DEFAULT_MAX_LINE_LEN)]
    pub max_line_len: usize,
    /// Accept conditional references (`Patient?identifier=...`), which Azure and HealthLake import
    /// reject (Synthea's bulk exports contain them).
    #[arg(long)]
    pub allow_conditional_refs: bool,
    /// Output format of the summary: `text` or `json`.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args)]
pub struct SplitArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Resources per output file.
    #[arg(long, default_value_t = 5_000)]
    pub max_resources: u64,
    /// Uncompressed bytes per output file.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub max_bytes: u64,
    /// Gzip the output files (`.ndjson.gz`).
    #[arg(long)]
    pub gzip: bool,
    /// Output file name template (`{type}`, `{n}`).
    #[arg(long, default_value = "{type}-{n}.ndjson")]
    pub naming: String,
    /// `_elements` projection, e.g. `id,status,Patient.name`.
    #[arg(long)]
    pub elements: Option<String>,
}

pub fn run(args: NdjsonArgs) -> ExitCode {
    let result = match args.command {
        NdjsonCommand::Validate(c) => scan_files(&c, true),
        NdjsonCommand::Stats(c) => scan_files(&c, false),
        NdjsonCommand::Split(s) => split(&s),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn options(c: &CommonArgs, parse: ParseLevel) -> Result<CheckOptions, String> {
    let id_rule = match c.id_rule.as_str() {
        "fhir" => IdRule::Fhir,
        "healthlake" => IdRule::HealthLake,
        other => {
            return Err(format!(
                "--id-rule must be fhir or healthlake, not '{other}'"
            ));
        }
    };
    if !matches!(c.format.as_str(), "text" | "json") {
        return Err(format!("--format must be text or json, not '{}'", c.format));
    }
    Ok(CheckOptions {
        id_rule,
        parse,
        reject_conditional_references: !c.allow_conditional_refs,
        ..CheckOptions::default()
    })
}

/// `Patient.000.ndjson` → `Patient` when that is a resource type.
fn type_from_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let first = name.split(['.', '-', '_']).next()?;
    Definitions::r4()
        .is_resource_type(first)
        .then(|| first.to_string())
}

/// Throttled progress on stderr.
struct Progress {
    enabled: bool,
    start: Instant,
    last: Instant,
    total_bytes: u64,
}

impl Progress {
    fn new(quiet: bool, total_bytes: u64) -> Self {
        let now = Instant::now();
        Progress {
            enabled: !quiet && io::stderr().is_terminal(),
            start: now,
            last: now,
            total_bytes,
        }
    }

    fn tick(&mut self, bytes: u64, lines: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\r{:.1}/{:.1} MB  {} lines  {:.0} lines/s  {:.0} MB/s   ",
            bytes as f64 / 1e6,
            self.total_bytes as f64 / 1e6,
            lines,
            lines as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }

    fn done(&self) {
        if self.enabled {
            eprint!("\r{:60}\r", "");
        }
    }
}

#[derive(Default)]
struct Totals {
    bytes: u64,
    lines: u64,
    resources: u64,
    errors: u64,
    per_type: BTreeMap<String, u64>,
}

fn scan_files(c: &CommonArgs, validate: bool) -> Result<ExitCode, String> {
    let opts = options(
        c,
        if validate {
            ParseLevel::Syntax
        } else {
            ParseLevel::Route
        },
    )?;
    let mut errors_out = match &c.errors {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let total: u64 = c
        .files
        .iter()
        .map(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut progress = Progress::new(c.quiet, total);
    let mut t = Totals::default();
    let mut checker = LineChecker::new(opts).with_max_line_len(c.max_line_len);
    let mut shown = 0;
    for path in &c.files {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
        checker.options.expected_type = if c.mixed { None } else { type_from_name(path) };
        let mut lines = LineReader::new(BufReader::with_capacity(READ_BUFFER, file))
            .with_max_line_len(c.max_line_len);
        let base = t.bytes;
        while let Some(line) = lines.next_line().map_err(|e| format!("{name}: {e}"))? {
            t.lines += 1;
            let outcome = if validate {
                checker
                    .check_in(&name, &line)
                    .map(|r| r.resource_type.into_owned())
            } else {
                // stats: routing only, no id bookkeeping
                match scan_route(line.bytes) {
                    Ok(r) => match r.resource_type.as_str() {
                        Some(rt) => Ok(rt.to_string()),
                        None => checker
                            .check_in(&name, &line)
                            .map(|r| r.resource_type.into_owned()),
                    },
                    Err(_) => checker
                        .check_in(&name, &line)
                        .map(|r| r.resource_type.into_owned()),
                }
            };
            match outcome {
                Ok(rt) => {
                    t.resources += 1;
                    *t.per_type.entry(rt).or_default() += 1;
                }
                Err(rec) => {
                    t.errors += 1;
                    if let Some(w) = errors_out.as_mut() {
                        writeln!(w, "{}", rec.to_ndjson()).map_err(|e| e.to_string())?;
                    }
                    if validate && shown < 20 && c.format == "text" {
                        progress.done();
                        eprintln!("{}", rec.outcome());
                        shown += 1;
                    }
                }
            }
            if t.lines % 4096 == 0 {
                progress.tick(base + lines.position(), t.lines);
            }
        }
        t.bytes = base + lines.position();
    }
    progress.done();
    if let Some(mut w) = errors_out {
        w.flush().map_err(|e| e.to_string())?;
    }
    let secs = progress.start.elapsed().as_secs_f64();
    if c.format == "json" {
        let out = json!({
            "files": c.files.len(), "bytes": t.bytes, "lines": t.lines,
            "resources": t.resources, "errors": t.errors, "types": t.per_type,
        });
        println!("{out}");
    } else {
        for (ty, n) in &t.per_type {
            println!("{ty:<28} {n:>10}");
        }
        println!(
            "{} files, {} bytes, {} lines, {} resources, {} errors ({:.0} MB/s)",
            c.files.len(),
            t.bytes,
            t.lines,
            t.resources,
            t.errors,
            t.bytes as f64 / 1e6 / secs.max(1e-9)
        );
        if t.errors > 20 && validate {
            eprintln!(
                "({} more errors not shown; use --errors FILE)",
                t.errors - 20
            );
        }
    }
    Ok(if validate && t.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Files in a directory, as the engine's output store.
#[derive(Clone)]
struct DirStore {
    dir: PathBuf,
}

impl OutputStore for DirStore {
    type Writer = BufWriter<File>;
    fn open(&mut self, name: &str, keep: u64) -> io::Result<Self::Writer> {
        let path = self.dir.join(name);
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        f.set_len(keep)?;
        f.seek(SeekFrom::Start(keep))?;
        Ok(BufWriter::with_capacity(READ_BUFFER, f))
    }
}

/// Files on disk, as the engine's input source.
struct FileInputs;

impl InputSource for FileInputs {
    type Reader = BufReader<File>;
    fn open(&mut self, input: &InputSpec, from: u64) -> io::Result<Self::Reader> {
        let mut f = File::open(&input.name)?;
        f.seek(SeekFrom::Start(from))?;
        Ok(BufReader::with_capacity(READ_BUFFER, f))
    }
}

fn split(s: &SplitArgs) -> Result<ExitCode, String> {
    let c = &s.common;
    let check = options(c, ParseLevel::Syntax)?;
    fs::create_dir_all(&s.out).map_err(|e| format!("{}: {e}", s.out.display()))?;
    let mut inputs = Vec::new();
    for path in &c.files {
        let size = fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        inputs.push(InputSpec {
            name: path.display().to_string(),
            size,
            resource_type: if c.mixed { None } else { type_from_name(path) },
        });
    }
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let mut spec = JobSpec::new(inputs);
    spec.check = check;
    spec.max_line_len = c.max_line_len;
    spec.output = WriterOptions {
        max_resources: s.max_resources,
        max_bytes: s.max_bytes,
        naming: firn_core::ndjson::FileNaming {
            template: s.naming.clone(),
        },
        gzip: s.gzip,
    };
    spec.elements = s
        .elements
        .iter()
        .flat_map(|e| e.split(','))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    let store = DirStore { dir: s.out.clone() };
    let mut job = JobRunner::start(spec.clone(), store).map_err(|e| e.to_string())?;
    let mut progress = Progress::new(c.quiet, total);
    let mut src = FileInputs;
    while job.step(&mut src).map_err(|e| e.to_string())? {
        let cp = job.checkpoint();
        let done: u64 = cp.inputs.iter().map(|p| p.bytes_done).sum();
        let lines: u64 = cp.inputs.iter().map(|p| p.lines).sum();
        progress.tick(done, lines);
    }
    progress.done();
    let outcome = job.finish().map_err(|e| e.to_string())?;
    if let Some(path) = &c.errors {
        // One combined error file on request, besides the per-input ones in --out.
        let mut w =
            BufWriter::new(File::create(path).map_err(|e| format!("{}: {e}", path.display()))?);
        for (_, f) in &outcome.error_files {
            let mut r = File::open(s.out.join(&f.name)).map_err(|e| e.to_string())?;
            io::copy(&mut r, &mut w).map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())?;
    }
    let errors: u64 = outcome.inputs.iter().map(|p| p.errors).sum();
    if c.format == "json" {
        let manifest = outcome.manifest("", "firn ndjson split", false, |name| {
            s.out.join(name).display().to_string()
        });
        println!("{}", manifest.to_json());
    } else {
        for f in &outcome.outputs {
            println!(
                "{:<40} {:>8} resources {:>12} bytes",
                f.name, f.count, f.bytes
            );
        }
        for (i, f) in &outcome.error_files {
            println!(
                "{:<40} {:>8} errors from {}",
                f.name, f.count, spec.inputs[*i].name
            );
        }
        println!(
            "{}: {} files written to {}, {} bad lines",
            outcome.status,
            outcome.outputs.len(),
            s.out.display(),
            errors
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
