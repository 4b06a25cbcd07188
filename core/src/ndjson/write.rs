//! Writing NDJSON: rolling per-key files behind a host-provided [`OutputStore`].
//!
//! Bulk exports and split jobs write one stream of files per resource type, rolling to a new file
//! when the current one reaches a resource count (default 5,000, as Azure) or a byte size (default
//! 64 MiB, Azure's roll point). The bytes go wherever the host says — a directory, S3, OPFS in the
//! browser — through [`OutputStore`]; this crate never touches a filesystem.
//!
//! Memory stays flat: each line is written through to the store as it comes (behind gzip when
//! asked), nothing is collected.
//!
//! Resumability: [`RollingWriter::commit`] makes everything written so far durable-in-principle
//! (gzip members are finished, writers flushed) and returns a [`WriterCursor`] recording, for each
//! open file, how many bytes of it are committed. A job that dies after a commit resumes with
//! [`RollingWriter::resume`], which reopens each open file truncated to its committed length
//! ([`OutputStore::open`] with `keep`) and continues. A gzip file then holds several gzip members,
//! which every gzip reader concatenates (RFC 1952 §2.2).

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// Where output bytes go. The host implements it; [`MemoryStore`] is the in-memory one.
pub trait OutputStore {
    type Writer: Write;
    /// Opens `name` for writing, keeping its first `keep` bytes and discarding the rest (`keep` =
    /// 0 creates or truncates the file). Writes append after the kept bytes.
    fn open(&mut self, name: &str, keep: u64) -> io::Result<Self::Writer>;
    /// Called once when a file is complete (or at a commit, never for a file still open).
    fn close(&mut self, name: &str, writer: Self::Writer) -> io::Result<()> {
        let _ = name;
        let mut w = writer;
        w.flush()
    }
}

/// An [`OutputStore`] keeping files in memory (tests, the browser, small jobs). Writes land in the
/// store immediately, as they would in a file system, so a writer dropped mid-job leaves its
/// partial bytes behind for a resumed job to truncate.
///
/// ```
/// use firn_core::ndjson::{MemoryStore, RollingWriter, WriterOptions};
/// let mut w = RollingWriter::new(MemoryStore::default(), WriterOptions { max_resources: 2, ..Default::default() });
/// for id in ["a", "b", "c"] {
///     w.write_line("Patient", format!(r#"{{"resourceType":"Patient","id":"{id}"}}"#).as_bytes()).unwrap();
/// }
/// let (store, files) = w.finish().unwrap();
/// assert_eq!(files.iter().map(|f| (f.name.as_str(), f.count)).collect::<Vec<_>>(),
///            [("Patient-1.ndjson", 2), ("Patient-2.ndjson", 1)]);
/// assert_eq!(store.get("Patient-2.ndjson").unwrap(), b"{\"resourceType\":\"Patient\",\"id\":\"c\"}\n");
/// ```
///
/// Clones share their files (a job's output and error writers can use one store).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    files: Arc<Mutex<FileMap>>,
}

type FileMap = BTreeMap<String, Arc<Mutex<Vec<u8>>>>;

impl MemoryStore {
    fn map(&self) -> std::sync::MutexGuard<'_, FileMap> {
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of one file's bytes.
    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        self.map().get(name).map(|f| lock(f).clone())
    }

    /// A copy of every file.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.map()
            .iter()
            .map(|(k, v)| (k.clone(), lock(v).clone()))
            .collect()
    }
}

fn lock(m: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A file being written into a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryFile {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Write for MemoryFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        lock(&self.buf).extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl OutputStore for MemoryStore {
    type Writer = MemoryFile;
    fn open(&mut self, name: &str, keep: u64) -> io::Result<MemoryFile> {
        let buf = self.map().entry(name.to_string()).or_default().clone();
        lock(&buf).truncate(keep as usize);
        Ok(MemoryFile { buf })
    }
}

/// How output files are named: a template with `{key}` (the resource type) and `{n}` (1-based file
/// number). `.gz` is appended when gzip is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileNaming {
    pub template: String,
}

impl Default for FileNaming {
    fn default() -> Self {
        FileNaming {
            template: "{key}-{n}.ndjson".into(),
        }
    }
}

impl FileNaming {
    pub fn name(&self, key: &str, n: u32, gzip: bool) -> String {
        let mut s = self
            .template
            .replace("{key}", key)
            .replace("{type}", key)
            .replace("{n}", &n.to_string());
        if gzip {
            s.push_str(".gz");
        }
        s
    }
}

/// Limits and format of a [`RollingWriter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterOptions {
    /// Resources per file (default 5,000, as Azure).
    pub max_resources: u64,
    /// Uncompressed bytes per file (default 64 MiB). A single line larger than this still gets a
    /// file of its own.
    pub max_bytes: u64,
    pub naming: FileNaming,
    pub gzip: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            max_resources: 5_000,
            max_bytes: 64 * 1024 * 1024,
            naming: FileNaming::default(),
            gzip: false,
        }
    }
}

/// A finished output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub key: String,
    pub name: String,
    /// Lines (resources) in the file.
    pub count: u64,
    /// Uncompressed bytes.
    pub bytes: u64,
}

/// The state of one open file at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCursor {
    pub key: String,
    /// 1-based number of the file within its key.
    pub n: u32,
    pub name: String,
    pub count: u64,
    /// Uncompressed bytes written.
    pub bytes: u64,
    /// Bytes in the store (compressed when gzip) that are committed.
    pub stored: u64,
}

/// Everything a [`RollingWriter`] needs to resume: closed files and open-file cursors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterCursor {
    pub closed: Vec<OutputFile>,
    pub open: Vec<FileCursor>,
    /// The next file number per key (keys whose last file was closed and no new one opened yet).
    pub next_n: BTreeMap<String, u32>,
}

/// Counts bytes that reach the store.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Sink<W: Write> {
    Plain(Counting<W>),
    Gzip(GzEncoder<Counting<W>>),
}

impl<W: Write> Sink<W> {
    fn new(w: W, stored: u64, gzip: bool) -> Self {
        let c = Counting {
            inner: w,
            written: stored,
        };
        if gzip {
            Sink::Gzip(GzEncoder::new(c, Compression::default()))
        } else {
            Sink::Plain(c)
        }
    }

    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(b),
            Sink::Gzip(w) => w.write_all(b),
        }
    }

    /// Ends the gzip member (if any) and flushes; returns the inner writer and the stored length.
    fn finish(self) -> io::Result<(W, u64)> {
        let mut c = match self {
            Sink::Plain(c) => c,
            Sink::Gzip(g) => g.finish()?,
        };
        c.flush()?;
        Ok((c.inner, c.written))
    }
}

struct OpenFile<W: Write> {
    cursor: FileCursor,
    sink: Option<Sink<W>>,
}

/// Rolling per-key NDJSON writer; see the module docs.
pub struct RollingWriter<S: OutputStore> {
    store: S,
    options: WriterOptions,
    open: BTreeMap<String, OpenFile<S::Writer>>,
    closed: Vec<OutputFile>,
    next_n: BTreeMap<String, u32>,
}

impl<S: OutputStore> RollingWriter<S> {
    pub fn new(store: S, options: WriterOptions) -> Self {
        RollingWriter {
            store,
            options,
            open: BTreeMap::new(),
            closed: Vec::new(),
            next_n: BTreeMap::new(),
        }
    }

    /// Continues after a commit: reopens every open file truncated to its committed length.
    pub fn resume(store: S, options: WriterOptions, cursor: WriterCursor) -> io::Result<Self> {
        let mut w = RollingWriter::new(store, options);
        w.closed = cursor.closed;
        w.next_n = cursor.next_n;
        for c in cursor.open {
            // Truncate now (a dead job may have left uncommitted bytes); reopen on the next write,
            // exactly as an uninterrupted writer does after a commit.
            let writer = w.store.open(&c.name, c.stored)?;
            w.store.close(&c.name, writer)?;
            w.open.insert(
                c.key.clone(),
                OpenFile {
                    cursor: c,
                    sink: None,
                },
            );
        }
        Ok(w)
    }

    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    /// Writes one line (without its newline) to `key`'s current file, rolling first if the line
    /// would overflow it.
    pub fn write_line(&mut self, key: &str, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        let full = match self.open.get(key) {
            Some(f) => {
                f.cursor.count >= self.options.max_resources
                    || (f.cursor.count > 0 && f.cursor.bytes + len > self.options.max_bytes)
            }
            None => false,
        };
        if full {
            self.close_key(key)?;
        }
        if !self.open.contains_key(key) {
            let n = self.next_n.remove(key).unwrap_or(1);
            let name = self.options.naming.name(key, n, self.options.gzip);
            let writer = self.store.open(&name, 0)?;
            self.open.insert(
                key.to_string(),
                OpenFile {
                    cursor: FileCursor {
                        key: key.to_string(),
                        n,
                        name,
                        count: 0,
                        bytes: 0,
                        stored: 0,
                    },
                    sink: Some(Sink::new(writer, 0, self.options.gzip)),
                },
            );
        }
        let gzip = self.options.gzip;
        let Some(f) = self.open.get_mut(key) else {
            return Err(io::Error::other("output file vanished"));
        };
        if f.sink.is_none() {
            // Reopen after a commit finished the previous gzip member / flushed the writer.
            let writer = self.store.open(&f.cursor.name, f.cursor.stored)?;
            f.sink = Some(Sink::new(writer, f.cursor.stored, gzip));
        }
        if let Some(sink) = f.sink.as_mut() {
            sink.write_all(line)?;
            sink.write_all(b"\n")?;
        }
        f.cursor.count += 1;
        f.cursor.bytes += len;
        Ok(())
    }

    fn close_key(&mut self, key: &str) -> io::Result<()> {
        if let Some(mut f) = self.open.remove(key) {
            if let Some(sink) = f.sink.take() {
                let (w, _) = sink.finish()?;
                self.store.close(&f.cursor.name, w)?;
            }
            self.next_n.insert(key.to_string(), f.cursor.n + 1);
            self.closed.push(OutputFile {
                key: f.cursor.key,
                name: f.cursor.name,
                count: f.cursor.count,
                bytes: f.cursor.bytes,
            });
        }
        Ok(())
    }

    /// Makes everything written so far committed and returns the cursor to resume from.
    /// Open files stay open (their next write reopens them at the committed length).
    pub fn commit(&mut self) -> io::Result<WriterCursor> {
        for f in self.open.values_mut() {
            if let Some(sink) = f.sink.take() {
                let (w, stored) = sink.finish()?;
                self.store.close(&f.cursor.name, w)?;
                f.cursor.stored = stored;
            }
        }
        Ok(self.cursor())
    }

    /// The cursor as of the last commit (open files' `stored` lengths are those committed).
    pub fn cursor(&self) -> WriterCursor {
        WriterCursor {
            closed: self.closed.clone(),
            open: self.open.values().map(|f| f.cursor.clone()).collect(),
            next_n: self.next_n.clone(),
        }
    }

    /// Closes every file; returns the store and all files in the order they were closed.
    pub fn finish(mut self) -> io::Result<(S, Vec<OutputFile>)> {
        let keys: Vec<String> = self.open.keys().cloned().collect();
        for k in keys {
            self.close_key(&k)?;
        }
        Ok((self.store, self.closed))
    }

    /// The store (for hosts that need it between commits).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives up without closing anything — what a killed job leaves behind. Uncommitted bytes
    /// stay in the store; [`resume`](Self::resume) truncates them.
    pub fn abandon(self) -> S {
        self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn rolls_by_bytes() {
        let mut w = RollingWriter::new(
            MemoryStore::default(),
            WriterOptions {
                max_bytes: 10,
                ..Default::default()
            },
        );
        for l in ["aaaa", "bbbb", "cccccccccccccccc", "d"] {
            w.write_line("X", l.as_bytes()).unwrap();
        }
        let (store, files) = w.finish().unwrap();
        assert_eq!(store.get("X-1.ndjson").unwrap(), b"aaaa\nbbbb\n");
        assert_eq!(store.get("X-2.ndjson").unwrap(), b"cccccccccccccccc\n"); // oversize line alone
        assert_eq!(store.get("X-3.ndjson").unwrap(), b"d\n");
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn gzip_with_commits_is_readable_and_resumable() {
        let opts = WriterOptions {
            gzip: true,
            ..Default::default()
        };
        let mut w = RollingWriter::new(MemoryStore::default(), opts.clone());
        w.write_line("P", b"one").unwrap();
        let cursor = w.commit().unwrap();
        w.write_line("P", b"lost").unwrap(); // the job "dies" here: never committed
        let store = w.abandon();
        let mut w = RollingWriter::resume(store, opts, cursor).unwrap();
        w.write_line("P", b"two").unwrap();
        let (store, files) = w.finish().unwrap();
        assert_eq!(files[0].name, "P-1.ndjson.gz");
        assert_eq!(files[0].count, 2);
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&store.get("P-1.ndjson.gz").unwrap()[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\n");
    }
}
