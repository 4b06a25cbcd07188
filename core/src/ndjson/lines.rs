//! Finding lines: the one place NDJSON bytes become lines.
//!
//! [`LineReader`] works over any [`BufRead`]. Over a byte slice (`&[u8]` is a `BufRead`) it is
//! zero-copy: a line that sits entirely inside the reader's buffer is handed out borrowed, and only
//! lines that straddle two buffer fills are copied into a scratch vector. Newlines are found with
//! `memchr`, so splitting runs at memory bandwidth.
//!
//! What the reader tolerates, because real bulk files contain it: `\r\n` line ends, blank (or
//! whitespace-only) lines, a UTF-8 byte-order mark at the start of the file and a missing final
//! newline. What it refuses to buffer: a line longer than [`LineReader::max_line_len`]; such a line
//! is skipped (memory stays bounded) and reported as [`Line::too_long`].
//!
//! Byte ranges ([`ByteRange`]) let N workers share one file: see [`LineReader::for_range`].

use memchr::memchr;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead};

/// Default cap on a single line: 64 MiB (a generous bound for one FHIR resource; HealthLake accepts
/// Binary resources up to 164 MB through import, raise the cap for those).
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024 * 1024;

/// Default range size for chunked reading: 10,000,000 bytes, as the Microsoft FHIR server uses.
pub const DEFAULT_RANGE_SIZE: u64 = 10_000_000;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One line of an NDJSON stream, without its line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes (no `\n`, no trailing `\r`, no BOM). Empty when [`too_long`](Self::too_long) is set.
    pub bytes: &'a [u8],
    /// 1-based line number, counted from the reader's first line (see [`LineReader::with_first_line`]).
    pub number: u64,
    /// Absolute byte offset of the line's first byte in the file.
    pub offset: u64,
    /// `Some(len)` when the line exceeded the maximum length and was skipped; `len` is its length.
    pub too_long: Option<u64>,
}

/// A half-open byte range `[start, end)` of a file, owned by one worker.
///
/// A line belongs to the range that contains its first byte. A range reader therefore skips the
/// partial line it starts in (unless `start` is 0 or the byte before `start` is a newline) and reads
/// past `end` to finish its last line, so the ranges of a file together see every line exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// Where the host must position the stream it hands to [`LineReader::for_range`]: one byte
    /// before `start` (so the reader can see whether a line begins exactly at `start`), or 0.
    pub fn read_from(&self) -> u64 {
        self.start.saturating_sub(1)
    }

    /// Splits a file of `size` bytes into ranges of `range_size` bytes (the last one shorter).
    /// An empty file gives no range.
    ///
    /// ```
    /// use firn_core::ndjson::ByteRange;
    /// let r = ByteRange::split(25, 10);
    /// assert_eq!(r.len(), 3);
    /// assert_eq!((r[2].start, r[2].end), (20, 25));
    /// ```
    pub fn split(size: u64, range_size: u64) -> Vec<ByteRange> {
        let step = range_size.max(1);
        let mut out = Vec::with_capacity(size.div_ceil(step) as usize);
        let mut start = 0;
        while start < size {
            let end = (start + step).min(size);
            out.push(ByteRange { start, end });
            start = end;
        }
        out
    }
}

/// Streaming line finder over any [`BufRead`]; see the module docs.
///
/// ```
/// use firn_core::ndjson::LineReader;
/// let data = b"\xEF\xBB\xBF{\"a\":1}\r\n\n{\"b\":2}";
/// let mut r = LineReader::new(&data[..]);
/// let first = r.next_line().unwrap().unwrap();
/// assert_eq!((first.bytes, first.number, first.offset), (&b"{\"a\":1}"[..], 1, 3));
/// let second = r.next_line().unwrap().unwrap();
/// assert_eq!((second.bytes, second.number), (&b"{\"b\":2}"[..], 3)); // the blank line 2 is skipped
/// assert!(r.next_line().unwrap().is_none());
/// ```
pub struct LineReader<R> {
    inner: R,
    /// Bytes of the inner buffer handed out by the last call, consumed at the next call.
    pending: usize,
    /// Absolute offset of the next unconsumed byte.
    pos: u64,
    /// Lines starting at or after this offset belong to the next range.
    limit: u64,
    /// The next line's number.
    next_number: u64,
    /// Lines seen so far (including blank ones).
    lines_seen: u64,
    max_line_len: usize,
    scratch: Vec<u8>,
    /// Still to do before the first line: skip the BOM / the partial first line.
    at_start: bool,
    skip_partial: bool,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    /// Reads a whole stream from its beginning (offset 0).
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            pending: 0,
            pos: 0,
            limit: u64::MAX,
            next_number: 1,
            lines_seen: 0,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            scratch: Vec::new(),
            at_start: true,
            skip_partial: false,
            done: false,
        }
    }

    /// Reads the lines owned by `range`. `inner` must yield the file's bytes starting at
    /// [`ByteRange::read_from`] (the host seeks; this crate does no I/O).
    ///
    /// ```
    /// use firn_core::ndjson::{ByteRange, LineReader};
    /// let data = b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
    /// let mut total = 0;
    /// for range in ByteRange::split(data.len() as u64, 10) {
    ///     let mut r = LineReader::for_range(&data[range.read_from() as usize..], range);
    ///     while let Some(_line) = r.next_line().unwrap() { total += 1; }
    /// }
    /// assert_eq!(total, 3);
    /// ```
    pub fn for_range(inner: R, range: ByteRange) -> Self {
        let mut r = LineReader::new(inner);
        r.pos = range.read_from();
        r.limit = range.end;
        r.skip_partial = range.start > 0;
        r.done = range.start >= range.end;
        r
    }

    /// Numbers lines from `first` instead of 1 (a sequential job that knows how many lines the
    /// earlier ranges of the file held passes that count + 1, so numbers stay absolute).
    pub fn with_first_line(mut self, first: u64) -> Self {
        self.next_number = first;
        self
    }

    /// Caps the length of one line (default [`DEFAULT_MAX_LINE_LEN`]).
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.max_line_len = max;
        self
    }

    /// The current maximum line length.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// Lines owned by this reader so far, blank ones included.
    pub fn lines_seen(&self) -> u64 {
        self.lines_seen
    }

    /// Absolute offset just past the last consumed byte.
    pub fn position(&self) -> u64 {
        self.pos + self.pending as u64
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.pos += n as u64;
    }

    /// Skips the partial line at the start of a range (the reader starts one byte early).
    fn skip_leading(&mut self) -> io::Result<()> {
        loop {
            let avail = self.inner.fill_buf()?;
            if avail.is_empty() {
                self.done = true;
                return Ok(());
            }
            match memchr(b'\n', avail) {
                Some(i) => {
                    self.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = avail.len();
                    self.consume(n);
                }
            }
        }
    }

    /// The next non-blank line owned by this reader, or `None` at its end.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.at_start {
            self.at_start = false;
            if self.skip_partial {
                self.skip_leading()?;
            }
        }
        loop {
            if self.pending > 0 {
                let n = self.pending;
                self.pending = 0;
                self.consume(n);
            }
            if self.done || self.pos >= self.limit {
                self.done = true;
                return Ok(None);
            }
            let start = self.pos;
            let found = self.read_one()?;
            // A BOM is only meaningful at offset 0; it stays part of the first line for range
            // ownership and is cut off here.
            let cut =
                |b: &[u8]| -> usize { usize::from(start == 0 && b.starts_with(BOM)) * BOM.len() };
            let blank = match found {
                Found::Eof(_) => {
                    self.done = true;
                    return Ok(None);
                }
                Found::TooLong(_) => false,
                Found::Borrowed(len) => {
                    let b = &self.inner.fill_buf()?[..len];
                    is_blank(trim_cr(&b[cut(b)..]))
                }
                Found::Scratch => is_blank(trim_cr(&self.scratch[cut(&self.scratch)..])),
            };
            let number = self.take_number();
            if blank {
                continue;
            }
            let (bytes, too_long, bom) = match found {
                Found::Borrowed(len) => {
                    let b = &self.inner.fill_buf()?[..len];
                    let bom = cut(b);
                    (trim_cr(&b[bom..]), None, bom)
                }
                Found::Scratch => {
                    let bom = cut(&self.scratch);
                    (trim_cr(&self.scratch[bom..]), None, bom)
                }
                // Eof returned above; an empty "too long" line would be harmless either way.
                Found::TooLong(len) | Found::Eof(len) => (&[][..], Some(len), 0),
            };
            let offset = start + bom as u64;
            return Ok(Some(Line {
                bytes,
                number,
                offset,
                too_long,
            }));
        }
    }

    fn take_number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number += 1;
        self.lines_seen += 1;
        n
    }

    /// Locates the next line starting at `self.pos`. On `Borrowed(len)` the line is the first
    /// `len` bytes of the inner buffer and `pending` is set; on `Scratch` it is in `self.scratch`
    /// and already consumed.
    fn read_one(&mut self) -> io::Result<Found> {
        self.scratch.clear();
        let mut skipping: Option<u64> = None; // total length while skipping an overlong line
        loop {
            let avail = self.inner.fill_buf()?;
            if avail.is_empty() {
                if let Some(len) = skipping {
                    return Ok(Found::TooLong(len));
                }
                return Ok(if self.scratch.is_empty() {
                    Found::Eof(0)
                } else {
                    Found::Scratch
                });
            }
            let nl = memchr(b'\n', avail);
            let chunk = nl.unwrap_or(avail.len());
            if let Some(len) = skipping.as_mut() {
                *len += chunk as u64;
                let total = *len;
                self.consume(chunk + usize::from(nl.is_some()));
                if nl.is_some() {
                    return Ok(Found::TooLong(total));
                }
                continue;
            }
            if self.scratch.len() + chunk > self.max_line_len {
                skipping = Some(self.scratch.len() as u64 + chunk as u64);
                self.scratch.clear();
                self.consume(chunk + usize::from(nl.is_some()));
                if nl.is_some() {
                    return Ok(Found::TooLong(skipping.unwrap_or(0)));
                }
                continue;
            }
            match nl {
                Some(i) if self.scratch.is_empty() => {
                    self.pending = i + 1;
                    return Ok(Found::Borrowed(i));
                }
                Some(i) => {
                    self.scratch.extend_from_slice(&avail[..i]);
                    self.consume(i + 1);
                    return Ok(Found::Scratch);
                }
                None => {
                    let n = avail.len();
                    self.scratch.extend_from_slice(avail);
                    self.consume(n);
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Found {
    /// End of input (the payload is unused, it lets `next_line` share one match arm).
    Eof(u64),
    Borrowed(usize),
    Scratch,
    TooLong(u64),
}

fn trim_cr(b: &[u8]) -> &[u8] {
    match b.split_last() {
        Some((b'\r', rest)) => rest,
        _ => b,
    }
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r'))
}

/// Counts the newline-terminated (or final unterminated) non-blank lines of a byte slice; the
/// fast path for `stats`-style counting and the reference the range property test checks against.
pub fn count_lines(data: &[u8]) -> u64 {
    let mut r = LineReader::new(data);
    let mut n = 0;
    while let Ok(Some(_)) = r.next_line() {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(data: &[u8], r: &mut LineReader<impl BufRead>) -> Vec<(Vec<u8>, u64, u64)> {
        let _ = data;
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.bytes.to_vec(), l.number, l.offset));
        }
        out
    }

    #[test]
    fn crlf_blank_bom_and_missing_final_newline() {
        let data = b"\xEF\xBB\xBFa\r\n  \r\nb\n\nc";
        let lines = collect(data, &mut LineReader::new(&data[..]));
        assert_eq!(
            lines,
            vec![
                (b"a".to_vec(), 1, 3),
                (b"b".to_vec(), 3, 10),
                (b"c".to_vec(), 5, 13)
            ]
        );
    }

    #[test]
    fn overlong_lines_are_skipped_and_reported() {
        let data = b"short\nthis-line-is-long\nok\n";
        let mut r =
            LineReader::new(std::io::BufReader::with_capacity(4, &data[..])).with_max_line_len(8);
        let a = r.next_line().unwrap().unwrap();
        assert_eq!(a.bytes, b"short");
        let b = r.next_line().unwrap().unwrap();
        assert_eq!((b.too_long, b.number, b.offset), (Some(17), 2, 6));
        let c = r.next_line().unwrap().unwrap();
        assert_eq!((c.bytes, c.number, c.offset), (&b"ok"[..], 3, 24));
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn split_covers_the_file() {
        assert!(ByteRange::split(0, 10).is_empty());
        let r = ByteRange::split(30, 10);
        assert_eq!(r.iter().map(|r| r.end - r.start).sum::<u64>(), 30);
        assert_eq!(r[1], ByteRange { start: 10, end: 20 });
    }

    fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Lines of 0..40 bytes drawn from a small alphabet (so blank lines happen), with \n or \r\n.
        prop::collection::vec(
            (
                prop::collection::vec(prop::sample::select(b"ab {}\r\t".to_vec()), 0..40),
                any::<bool>(),
            ),
            0..60,
        )
        .prop_map(|lines| {
            let mut out = Vec::new();
            for (l, crlf) in lines {
                out.extend(l.iter().filter(|&&c| c != b'\r'));
                out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            out
        })
    }

    proptest! {
        /// N range readers together see every line of the file exactly once, in order, with the
        /// offsets a whole-file read reports — for any file, any range size and any buffer size.
        #[test]
        fn ranges_see_every_line_exactly_once(
            mut data in line_strategy(),
            drop_final_newline in any::<bool>(),
            bom in any::<bool>(),
            range_size in 1u64..200,
            buf in 1usize..64,
        ) {
            if drop_final_newline { data.pop(); }
            if bom { data.splice(0..0, BOM.iter().copied()); }
            let whole: Vec<_> = collect(&data, &mut LineReader::new(&data[..]))
                .into_iter().map(|(b, _, o)| (b, o)).collect();
            let mut pieces = Vec::new();
            let mut numbered = 0u64;
            for range in ByteRange::split(data.len() as u64, range_size) {
                let src = std::io::BufReader::with_capacity(buf, &data[range.read_from() as usize..]);
                let mut r = LineReader::for_range(src, range).with_first_line(numbered + 1);
                while let Some(l) = r.next_line().unwrap() {
                    // A line belongs to the range holding its first byte (a BOM counts as the
                    // first line's first byte, though the reported offset is after it).
                    let first_byte = if bom && l.offset == 3 { 0 } else { l.offset };
                    prop_assert!(first_byte >= range.start && first_byte < range.end);
                    pieces.push((l.bytes.to_vec(), l.offset));
                }
                numbered += r.lines_seen();
            }
            prop_assert_eq!(&pieces, &whole);
        }
    }
}
