//! NDJSON: reading, checking and writing newline-delimited FHIR resources.
//!
//! Bulk Data moves FHIR as NDJSON — one resource per line — in files of hundreds of megabytes.
//! This module is the engine for every place Firn reads or writes such files (the CLI, the native
//! server, the Spin component, the browser), so it does no I/O itself: it reads any
//! [`std::io::BufRead`] and writes to an [`OutputStore`] the host implements.
//!
//! The pieces, in the order data flows through them:
//! - [`LineReader`] finds lines (`memchr`; `\n`/`\r\n`, blank lines, BOM, a maximum line length)
//!   over a whole stream or one [`ByteRange`] of it, so N workers can share a file and see every
//!   line exactly once.
//! - [`scan`] reads `resourceType` and `id` without a full parse, for routing.
//! - [`LineChecker`] applies the bulk line rules (JSON, resource type, id syntax, conditional
//!   references, duplicate ids) and turns a bad line into an [`ErrorRecord`] — an
//!   OperationOutcome naming file, line and byte offset — so processing continues.
//! - [`RollingWriter`] writes per-type files rolling on count and size, optionally gzip, resumable
//!   from a [`WriterCursor`]; [`Elements`] applies `_elements`.

pub mod check;
pub mod elements;
pub mod lines;
pub mod scan;
pub mod write;

pub use check::{
    CheckOptions, ErrorRecord, IdRule, LineChecker, LineError, Location, ParseLevel, Resource,
};
pub use elements::Elements;
pub use lines::{
    ByteRange, DEFAULT_MAX_LINE_LEN, DEFAULT_RANGE_SIZE, Line, LineReader, count_lines,
};
pub use write::{
    FileCursor, FileNaming, MemoryStore, OutputFile, OutputStore, RollingWriter, WriterCursor,
    WriterOptions,
};
