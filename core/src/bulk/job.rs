//! Bulk jobs: the status state machine and a resumable NDJSON job runner.
//!
//! A bulk job can run for hours and its host (a Spin component with a time limit, a server that
//! restarts) can die at any moment. So a job is cut into units — one [`ByteRange`] of one input —
//! and after every unit the runner commits its output files and produces a [`Checkpoint`]: plain
//! serde data (input, byte offset, counts, seen ids, output file cursors) the host stores
//! wherever it likes. A job killed at any point resumes from its last checkpoint with nothing
//! lost and nothing duplicated: output files are reopened truncated to their committed length and
//! the interrupted unit is redone. Because units and file names are deterministic, a resumed job's
//! output is byte-for-byte the output of an uninterrupted run (property-tested below).
//!
//! The runner reads inputs through [`InputSource`] and writes through
//! [`OutputStore`](crate::ndjson::OutputStore): no I/O of its own.

use crate::definitions::Definitions;
use crate::ndjson::{
    ByteRange, CheckOptions, DEFAULT_MAX_LINE_LEN, DEFAULT_RANGE_SIZE, Elements, FileNaming,
    LineChecker, LineReader, OutputFile, OutputStore, RollingWriter, WriterCursor, WriterOptions,
};
use crate::outcome::{IntoOutcome, Issue, IssueType, OperationOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};
use std::sync::Arc;

/// Job status, with HealthLake's spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    InProgress,
    Completed,
    CompletedWithErrors,
    Failed,
    CancelSubmitted,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Submitted => "SUBMITTED",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            JobStatus::Failed => "FAILED",
            JobStatus::CancelSubmitted => "CANCEL_SUBMITTED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed
                | JobStatus::CompletedWithErrors
                | JobStatus::Failed
                | JobStatus::Cancelled
        )
    }

    /// Whether `self → to` is a legal transition:
    /// SUBMITTED → IN_PROGRESS → COMPLETED | COMPLETED_WITH_ERRORS | FAILED, and from SUBMITTED or
    /// IN_PROGRESS, CANCEL_SUBMITTED → CANCELLED. SUBMITTED may also fail directly (bad inputs).
    pub fn can_become(self, to: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, to),
            (Submitted, InProgress | Failed | CancelSubmitted)
                | (
                    InProgress,
                    Completed | CompletedWithErrors | Failed | CancelSubmitted
                )
                | (CancelSubmitted, Cancelled | Failed)
        )
    }

    /// The transition, or [`JobError::IllegalTransition`].
    ///
    /// ```
    /// use firn_core::bulk::JobStatus;
    /// let s = JobStatus::Submitted.transition(JobStatus::InProgress).unwrap();
    /// assert!(s.transition(JobStatus::Submitted).is_err());
    /// assert!(JobStatus::Completed.transition(JobStatus::CancelSubmitted).is_err());
    /// ```
    pub fn transition(self, to: JobStatus) -> Result<JobStatus, JobError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(JobError::IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job step failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("illegal job status transition {from} → {to}")]
    IllegalTransition { from: JobStatus, to: JobStatus },
    #[error("I/O error on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("the checkpoint does not fit this job: {0}")]
    BadCheckpoint(String),
}

impl IntoOutcome for JobError {
    fn into_outcome(self) -> OperationOutcome {
        let code = match &self {
            JobError::IllegalTransition { .. } => IssueType::BusinessRule,
            JobError::Io { .. } => IssueType::Exception,
            JobError::BadCheckpoint(_) => IssueType::Invalid,
        };
        OperationOutcome::single(Issue::error(code, self.to_string()))
    }
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> JobError + '_ {
    move |source| JobError::Io {
        what: what.to_string(),
        source,
    }
}

/// One input file of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    /// The file's name or URL (used in diagnostics and status bodies).
    pub name: String,
    pub size: u64,
    /// The type every line must have (a per-type file), if any.
    pub resource_type: Option<String>,
}

/// What a job does: which inputs, how they are checked, where the output goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub inputs: Vec<InputSpec>,
    /// Bytes per unit of work (default 10,000,000).
    pub range_size: u64,
    pub max_line_len: usize,
    pub check: CheckOptions,
    /// Per-type output files.
    pub output: WriterOptions,
    /// Per-input error files (NDJSON of OperationOutcomes); key = the input's file stem.
    pub errors: WriterOptions,
    /// `_elements` projection applied to every output resource.
    pub elements: Vec<String>,
}

impl JobSpec {
    /// Defaults: 10 MB ranges, default checks, output `{type}-{n}.ndjson`, errors
    /// `{input stem}.errors-{n}.ndjson`.
    pub fn new(inputs: Vec<InputSpec>) -> Self {
        JobSpec {
            inputs,
            range_size: DEFAULT_RANGE_SIZE,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            check: CheckOptions::default(),
            output: WriterOptions::default(),
            errors: WriterOptions {
                naming: FileNaming {
                    template: "{key}.errors-{n}.ndjson".into(),
                },
                ..WriterOptions::default()
            },
            elements: Vec::new(),
        }
    }

    /// The error-file key of input `i`: its file stem, made unique.
    pub fn error_key(&self, i: usize) -> String {
        let stem = |name: &str| {
            let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
            let base = base.strip_suffix(".gz").unwrap_or(base);
            base.strip_suffix(".ndjson").unwrap_or(base).to_string()
        };
        let mine = stem(&self.inputs[i].name);
        let clash = self
            .inputs
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && stem(&other.name) == mine);
        if clash {
            format!("{mine}-{}", i + 1)
        } else {
            mine
        }
    }

    /// Total units of work.
    pub fn unit_count(&self) -> u64 {
        self.inputs
            .iter()
            .map(|i| i.size.div_ceil(self.range_size.max(1)))
            .sum()
    }
}

/// Per-input progress and results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputProgress {
    /// Lines consumed so far (blank ones included): the next unit numbers from here + 1.
    pub lines: u64,
    pub resources: u64,
    pub errors: u64,
    /// Bytes of the input fully processed.
    pub bytes_done: u64,
}

/// The serializable state of a job between units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version (1).
    pub version: u32,
    pub status: JobStatus,
    /// The input the next unit reads.
    pub input: usize,
    /// The byte offset in that input where the next unit starts.
    pub offset: u64,
    pub inputs: Vec<InputProgress>,
    /// Resources written per type.
    pub counts: BTreeMap<String, u64>,
    /// `Type/id` of every resource accepted so far (duplicate detection), sorted.
    pub seen_ids: Vec<String>,
    pub output: WriterCursor,
    pub errors: WriterCursor,
}

impl Checkpoint {
    fn new(spec: &JobSpec) -> Self {
        Checkpoint {
            version: 1,
            status: JobStatus::Submitted,
            input: 0,
            offset: 0,
            inputs: vec![InputProgress::default(); spec.inputs.len()],
            counts: BTreeMap::new(),
            seen_ids: Vec::new(),
            output: WriterCursor::default(),
            errors: WriterCursor::default(),
        }
    }
}

/// Where a job's input bytes come from (the host opens files, S3 objects, blobs...).
pub trait InputSource {
    type Reader: BufRead;
    /// The bytes of `input` from offset `from` on.
    fn open(&mut self, input: &InputSpec, from: u64) -> io::Result<Self::Reader>;
}

/// Inputs held in memory, by name.
#[derive(Debug, Clone, Default)]
pub struct MemoryInputs {
    pub files: BTreeMap<String, Arc<[u8]>>,
}

impl MemoryInputs {
    pub fn add(&mut self, name: &str, bytes: impl Into<Arc<[u8]>>) -> InputSpec {
        let bytes = bytes.into();
        let spec = InputSpec {
            name: name.to_string(),
            size: bytes.len() as u64,
            resource_type: None,
        };
        self.files.insert(name.to_string(), bytes);
        spec
    }
}

impl InputSource for MemoryInputs {
    type Reader = io::Cursor<Arc<[u8]>>;
    fn open(&mut self, input: &InputSpec, from: u64) -> io::Result<Self::Reader> {
        let bytes = self
            .files
            .get(&input.name)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, input.name.clone()))?;
        let mut c = io::Cursor::new(bytes);
        c.set_position(from);
        Ok(c)
    }
}

/// The result of a finished job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub status: JobStatus,
    pub outputs: Vec<OutputFile>,
    /// Error files with the index of the input they belong to.
    pub error_files: Vec<(usize, OutputFile)>,
    pub inputs: Vec<InputProgress>,
    pub counts: BTreeMap<String, u64>,
}

/// Runs a [`JobSpec`] unit by unit; see the module docs.
///
/// ```
/// use firn_core::bulk::{JobRunner, JobSpec, MemoryInputs, JobStatus};
/// use firn_core::ndjson::MemoryStore;
/// let mut src = MemoryInputs::default();
/// let input = src.add("mixed.ndjson", &b"{\"resourceType\":\"Patient\",\"id\":\"a\"}\nnot json\n"[..]);
/// let store = MemoryStore::default();
/// let mut job = JobRunner::start(JobSpec::new(vec![input]), store.clone()).unwrap();
/// while job.step(&mut src).unwrap() {
///     let _save_me = serde_json::to_string(job.checkpoint()).unwrap();
/// }
/// let done = job.finish().unwrap();
/// assert_eq!(done.status, JobStatus::CompletedWithErrors);
/// assert_eq!(done.outputs[0].name, "Patient-1.ndjson");
/// assert!(String::from_utf8(store.get("mixed.errors-1.ndjson").unwrap()).unwrap().contains("line 2 (byte offset 36)"));
/// ```
pub struct JobRunner<S: OutputStore + Clone> {
    spec: JobSpec,
    cp: Checkpoint,
    checker: LineChecker,
    elements: Elements,
    out: RollingWriter<S>,
    err: RollingWriter<S>,
}

impl<S: OutputStore + Clone> JobRunner<S> {
    /// A new job (status SUBMITTED).
    pub fn start(spec: JobSpec, store: S) -> Result<Self, JobError> {
        let cp = Checkpoint::new(&spec);
        Self::resume(spec, store, cp)
    }

    /// Continues from a checkpoint. Output files are truncated to their committed lengths.
    pub fn resume(spec: JobSpec, store: S, cp: Checkpoint) -> Result<Self, JobError> {
        if cp.version != 1 || cp.inputs.len() != spec.inputs.len() || cp.input > spec.inputs.len() {
            return Err(JobError::BadCheckpoint(format!(
                "version {}, {} inputs (job has {})",
                cp.version,
                cp.inputs.len(),
                spec.inputs.len()
            )));
        }
        let out = RollingWriter::resume(store.clone(), spec.output.clone(), cp.output.clone())
            .map_err(io_err("output files"))?;
        let err = RollingWriter::resume(store, spec.errors.clone(), cp.errors.clone())
            .map_err(io_err("error files"))?;
        let mut checker = LineChecker::new(spec.check.clone()).with_max_line_len(spec.max_line_len);
        checker.restore_seen_ids(cp.seen_ids.iter().cloned());
        Ok(JobRunner {
            elements: Elements::parse(spec.elements.iter().map(String::as_str)),
            spec,
            cp,
            checker,
            out,
            err,
        })
    }

    /// The state as of the last completed unit: save it after every [`step`](Self::step).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.cp
    }

    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// Asks the job to stop; the next [`step`](Self::step) does no work and
    /// [`finish`](Self::finish) reports CANCELLED.
    pub fn cancel(&mut self) -> Result<(), JobError> {
        self.cp.status = self.cp.status.transition(JobStatus::CancelSubmitted)?;
        Ok(())
    }

    /// Marks the job FAILED (the host gave up, e.g. an input is unreachable).
    pub fn fail(&mut self) -> Result<(), JobError> {
        self.cp.status = self.cp.status.transition(JobStatus::Failed)?;
        Ok(())
    }

    /// Processes the next unit and commits it. Returns `false` when there is nothing left (or the
    /// job was cancelled). After an error the runner must be dropped and the job resumed from the
    /// last [`checkpoint`](Self::checkpoint).
    pub fn step<I: InputSource>(&mut self, src: &mut I) -> Result<bool, JobError> {
        if self.cp.status == JobStatus::Submitted {
            self.cp.status = JobStatus::InProgress;
        }
        if self.cp.status != JobStatus::InProgress {
            return Ok(false);
        }
        // Skip exhausted (or empty) inputs.
        while self.cp.input < self.spec.inputs.len()
            && self.cp.offset >= self.spec.inputs[self.cp.input].size
        {
            self.cp.input += 1;
            self.cp.offset = 0;
        }
        if self.cp.input >= self.spec.inputs.len() {
            return Ok(false);
        }
        let idx = self.cp.input;
        let input = &self.spec.inputs[idx];
        let range = ByteRange {
            start: self.cp.offset,
            end: (self.cp.offset + self.spec.range_size.max(1)).min(input.size),
        };
        let reader = src
            .open(input, range.read_from())
            .map_err(io_err(&input.name))?;
        let mut lines = LineReader::for_range(reader, range)
            .with_first_line(self.cp.inputs[idx].lines + 1)
            .with_max_line_len(self.spec.max_line_len);
        let error_key = self.spec.error_key(idx);
        self.checker.options.expected_type = input.resource_type.clone();
        let mut progress = self.cp.inputs[idx].clone();
        let mut counts = self.cp.counts.clone();
        let defs = Definitions::r4();
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => return Err(io_err(&input.name)(e)),
            };
            match self.checker.check_in(&input.name, &line) {
                Ok(res) => {
                    let rt = res.resource_type.to_string();
                    if self.elements.is_empty() {
                        self.out.write_line(&rt, res.raw)
                    } else {
                        let mut v = match res.value {
                            Some(v) => v,
                            None => serde_json::from_slice(res.raw).unwrap_or_default(),
                        };
                        self.elements.project(&mut v, defs);
                        self.out.write_line(&rt, v.to_string().as_bytes())
                    }
                    .map_err(io_err("output files"))?;
                    progress.resources += 1;
                    *counts.entry(rt).or_default() += 1;
                }
                Err(rec) => {
                    self.err
                        .write_line(&error_key, rec.to_ndjson().as_bytes())
                        .map_err(io_err("error files"))?;
                    progress.errors += 1;
                }
            }
        }
        progress.lines += lines.lines_seen();
        progress.bytes_done = range.end;
        let output = self.out.commit().map_err(io_err("output files"))?;
        let errors = self.err.commit().map_err(io_err("error files"))?;
        let mut seen: Vec<String> = self.checker.seen_ids().map(str::to_string).collect();
        seen.sort_unstable();
        self.cp.inputs[idx] = progress;
        self.cp.counts = counts;
        self.cp.offset = range.end;
        self.cp.output = output;
        self.cp.errors = errors;
        self.cp.seen_ids = seen;
        Ok(true)
    }

    /// Runs every remaining unit (no checkpoints kept: for small jobs and tests).
    pub fn run<I: InputSource>(&mut self, src: &mut I) -> Result<(), JobError> {
        while self.step(src)? {}
        Ok(())
    }

    /// Closes all files and reports. Status: CANCELLED after [`cancel`](Self::cancel), FAILED
    /// after [`fail`](Self::fail), else COMPLETED or COMPLETED_WITH_ERRORS.
    pub fn finish(self) -> Result<JobOutcome, JobError> {
        let mut status = self.cp.status;
        if status == JobStatus::Submitted {
            status = status.transition(JobStatus::InProgress)?;
        }
        status = match status {
            JobStatus::CancelSubmitted => status.transition(JobStatus::Cancelled)?,
            JobStatus::InProgress if self.cp.inputs.iter().any(|p| p.errors > 0) => {
                status.transition(JobStatus::CompletedWithErrors)?
            }
            JobStatus::InProgress => status.transition(JobStatus::Completed)?,
            other => other,
        };
        let keys: BTreeMap<String, usize> = (0..self.spec.inputs.len())
            .map(|i| (self.spec.error_key(i), i))
            .collect();
        let (_, outputs) = self.out.finish().map_err(io_err("output files"))?;
        let (_, errs) = self.err.finish().map_err(io_err("error files"))?;
        let error_files = errs
            .into_iter()
            .filter_map(|f| keys.get(&f.key).map(|&i| (i, f)))
            .collect();
        Ok(JobOutcome {
            status,
            outputs,
            error_files,
            inputs: self.cp.inputs,
            counts: self.cp.counts,
        })
    }
}

impl JobOutcome {
    /// The Bulk Data manifest; `url_of` maps a file name to its download URL.
    pub fn manifest(
        &self,
        transaction_time: &str,
        request: &str,
        requires_access_token: bool,
        url_of: impl Fn(&str) -> String,
    ) -> super::Manifest {
        let mut m = super::Manifest::new(transaction_time, request, requires_access_token);
        for f in &self.outputs {
            m.output.push(super::ManifestEntry {
                resource_type: f.key.clone(),
                url: url_of(&f.name),
                count: Some(f.count),
            });
        }
        for (_, f) in &self.error_files {
            m.error.push(super::ManifestEntry {
                resource_type: "OperationOutcome".into(),
                url: url_of(&f.name),
                count: Some(f.count),
            });
        }
        m
    }

    /// Azure's import status body for this job.
    pub fn import_status(
        &self,
        spec: &JobSpec,
        transaction_time: &str,
        request: &str,
        url_of: impl Fn(&str) -> String,
    ) -> super::ImportStatus {
        let mut output = Vec::new();
        let mut error = Vec::new();
        for (i, (input, p)) in spec.inputs.iter().zip(&self.inputs).enumerate() {
            output.push(super::ImportOutput {
                resource_type: input
                    .resource_type
                    .clone()
                    .unwrap_or_else(|| "Resource".into()),
                count: p.resources,
                input_url: input.name.clone(),
            });
            for (_, f) in self.error_files.iter().filter(|(j, _)| *j == i) {
                error.push(super::ImportError {
                    resource_type: "OperationOutcome".into(),
                    count: f.count,
                    input_url: input.name.clone(),
                    url: url_of(&f.name),
                });
            }
        }
        super::ImportStatus {
            transaction_time: transaction_time.into(),
            request: request.into(),
            output,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndjson::MemoryStore;
    use proptest::prelude::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A store whose writes start failing once a shared byte budget is spent: a job killed at an
    /// arbitrary byte.
    #[derive(Clone)]
    struct FlakyStore {
        mem: MemoryStore,
        budget: Arc<AtomicI64>,
    }

    struct FlakyFile {
        inner: <MemoryStore as OutputStore>::Writer,
        budget: Arc<AtomicI64>,
    }

    impl Write for FlakyFile {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let left = self.budget.load(Ordering::SeqCst);
            if left <= 0 {
                return Err(io::Error::other("killed"));
            }
            let n = data.len().min(left as usize);
            self.budget.fetch_sub(n as i64, Ordering::SeqCst);
            self.inner.write(&data[..n])
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl OutputStore for FlakyStore {
        type Writer = FlakyFile;
        fn open(&mut self, name: &str, keep: u64) -> io::Result<FlakyFile> {
            Ok(FlakyFile {
                inner: self.mem.open(name, keep)?,
                budget: self.budget.clone(),
            })
        }
    }

    #[test]
    fn state_machine() {
        use JobStatus::*;
        let all = [
            Submitted,
            InProgress,
            Completed,
            CompletedWithErrors,
            Failed,
            CancelSubmitted,
            Cancelled,
        ];
        let legal: usize = all
            .iter()
            .map(|a| all.iter().filter(|b| a.can_become(**b)).count())
            .sum();
        assert_eq!(legal, 9);
        for t in all.iter().filter(|s| s.is_terminal()) {
            assert!(all.iter().all(|b| !t.can_become(*b)));
        }
        assert_eq!(
            serde_json::to_string(&CompletedWithErrors).unwrap(),
            "\"COMPLETED_WITH_ERRORS\""
        );
    }

    #[test]
    fn cancel_stops_work() {
        let mut src = MemoryInputs::default();
        let input = src.add(
            "a.ndjson",
            &b"{\"resourceType\":\"Patient\",\"id\":\"a\"}\n"[..],
        );
        let mut job = JobRunner::start(JobSpec::new(vec![input]), MemoryStore::default()).unwrap();
        job.cancel().unwrap();
        assert!(!job.step(&mut src).unwrap());
        let out = job.finish().unwrap();
        assert_eq!((out.status, out.outputs.len()), (JobStatus::Cancelled, 0));
    }

    fn line(kind: u8, n: u8) -> String {
        match kind % 8 {
            0..=2 => format!(r#"{{"resourceType":"Patient","id":"p{n}","active":true}}"#),
            3 | 4 => format!(
                r#"{{"resourceType":"Observation","id":"o{n}","status":"final","code":{{"text":"x"}},"subject":{{"reference":"Patient/p{n}"}}}}"#
            ),
            5 => "{\"resourceType\":\"Patient\"".to_string(),
            6 => format!(r#"{{"resourceType":"Observation","id":"bad_{n}"}}"#),
            _ => String::new(),
        }
    }

    fn file(lines: &[(u8, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, n) in lines {
            out.extend_from_slice(line(*k, *n).as_bytes());
            out.push(b'\n');
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Kill the job at random byte budgets, resume from the last serialized checkpoint each
        /// time: the files and the outcome equal those of an uninterrupted run.
        #[test]
        fn resumed_job_equals_uninterrupted_run(
            a in prop::collection::vec((any::<u8>(), 0u8..12), 0..40),
            b in prop::collection::vec((any::<u8>(), 0u8..12), 0..40),
            range_size in 1u64..400,
            max_resources in 1u64..6,
            gzip in any::<bool>(),
            project in any::<bool>(),
            kills in prop::collection::vec(0i64..3000, 0..6),
        ) {
            let mut src = MemoryInputs::default();
            let mut typed = src.add("in/Patient.ndjson", file(&a));
            typed.resource_type = Some("Patient".into());
            let mixed = src.add("mixed.ndjson", file(&b));
            let mut spec = JobSpec::new(vec![typed, mixed]);
            spec.range_size = range_size;
            spec.output.max_resources = max_resources;
            spec.output.gzip = gzip;
            spec.errors.max_resources = max_resources;
            if project { spec.elements = vec!["active".into()]; }

            let clean_store = MemoryStore::default();
            let mut clean = JobRunner::start(spec.clone(), clean_store.clone()).unwrap();
            clean.run(&mut src).unwrap();
            let clean_outcome = clean.finish().unwrap();

            let mem = MemoryStore::default();
            let budget = Arc::new(AtomicI64::new(i64::MAX));
            let mut saved: Option<String> = None;
            let mut kills = kills.into_iter();
            let outcome = loop {
                budget.store(kills.next().unwrap_or(i64::MAX), Ordering::SeqCst);
                let store = FlakyStore { mem: mem.clone(), budget: budget.clone() };
                let mut job = match &saved {
                    None => JobRunner::start(spec.clone(), store).unwrap(),
                    Some(text) => JobRunner::resume(spec.clone(), store, serde_json::from_str(text).unwrap()).unwrap(),
                };
                let mut died = false;
                loop {
                    match job.step(&mut src) {
                        Ok(true) => saved = Some(serde_json::to_string(job.checkpoint()).unwrap()),
                        Ok(false) => break,
                        Err(_) => { died = true; break; }
                    }
                }
                if died {
                    drop(job);
                    continue;
                }
                match job.finish() {
                    Ok(o) => break o,
                    Err(_) => continue,
                }
            };
            prop_assert_eq!(outcome, clean_outcome);
            prop_assert_eq!(mem.snapshot(), clean_store.snapshot());
        }
    }
}
