//! Routing without parsing: read `resourceType` and `id` from the top level of a JSON object.
//!
//! Splitting an export into per-type files or counting resources per type needs two strings out
//! of each line, not a tree of `Value`s. [`scan_route`] walks the top-level object, skipping nested
//! values by bracket counting (strings are skipped with `memchr`), and stops as soon as it has both
//! fields — FHIR JSON almost always starts with `resourceType`, and Synthea and most servers put
//! `id` second, so routing usually touches a few dozen bytes of a line.
//!
//! The price: the scanner validates only what it walks. A line whose tail is broken JSON routes
//! fine; [`check`](super::check) parses fully when asked to validate.

use memchr::{memchr2, memmem};
use std::borrow::Cow;

/// What [`scan_route`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'a> {
    pub resource_type: Field<'a>,
    pub id: Field<'a>,
}

/// A top-level field as the scanner saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<'a> {
    Missing,
    /// A string value, unescaped (borrowed unless it contained escapes).
    Str(Cow<'a, str>),
    /// Present but not a string (a number, object, array, `true`/`false`/`null`).
    NotString,
}

impl<'a> Field<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a line is not a routable JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("expected a JSON object, found {found} at byte {at}")]
    NotAnObject { found: String, at: usize },
    #[error("malformed JSON at byte {at}: {reason}")]
    Malformed { at: usize, reason: &'static str },
}

/// Reads `resourceType` and `id` from the top level of one NDJSON line.
///
/// ```
/// use firn_core::ndjson::scan::{scan_route, Field};
/// let r = scan_route(br#"{"resourceType":"Patient","meta":{"id":"x"},"id":"p1"}"#).unwrap();
/// assert_eq!(r.resource_type.as_str(), Some("Patient"));
/// assert_eq!(r.id.as_str(), Some("p1")); // the nested meta.id is not the resource id
/// ```
pub fn scan_route(line: &[u8]) -> Result<Route<'_>, ScanError> {
    let mut s = Scanner { b: line, i: 0 };
    s.ws();
    match s.peek() {
        Some(b'{') => s.i += 1,
        Some(c) => {
            return Err(ScanError::NotAnObject {
                found: describe(c),
                at: s.i,
            });
        }
        None => {
            return Err(ScanError::NotAnObject {
                found: "nothing".into(),
                at: s.i,
            });
        }
    }
    let mut route = Route {
        resource_type: Field::Missing,
        id: Field::Missing,
    };
    s.ws();
    if s.peek() == Some(b'}') {
        return Ok(route);
    }
    loop {
        s.ws();
        if s.peek() != Some(b'"') {
            return Err(s.err("expected a key string"));
        }
        let key = s.string()?;
        s.ws();
        if s.peek() != Some(b':') {
            return Err(s.err("expected ':' after a key"));
        }
        s.i += 1;
        s.ws();
        let slot = match key.as_ref() {
            "resourceType" => Some(&mut route.resource_type),
            "id" => Some(&mut route.id),
            _ => None,
        };
        match slot {
            Some(slot) if s.peek() == Some(b'"') => *slot = Field::Str(s.string()?),
            Some(slot) => {
                s.skip_value()?;
                *slot = Field::NotString;
            }
            None => s.skip_value()?,
        }
        if route.resource_type != Field::Missing && route.id != Field::Missing {
            return Ok(route);
        }
        s.ws();
        match s.peek() {
            Some(b',') => s.i += 1,
            Some(b'}') => return Ok(route),
            _ => return Err(s.err("expected ',' or '}' after a value")),
        }
    }
}

fn describe(c: u8) -> String {
    match c {
        b'[' => "an array".into(),
        b'"' => "a string".into(),
        b'0'..=b'9' | b'-' => "a number".into(),
        b't' | b'f' => "a boolean".into(),
        b'n' => "null".into(),
        c if c.is_ascii_graphic() => format!("'{}'", c as char),
        c => format!("byte 0x{c:02x}"),
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn err(&self, reason: &'static str) -> ScanError {
        ScanError::Malformed { at: self.i, reason }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// Returns the end (index of the closing quote) of the string whose opening quote is at `self.i`,
    /// and whether it contains escapes.
    fn string_end(&self) -> Result<(usize, bool), ScanError> {
        let mut j = self.i + 1;
        let mut escaped = false;
        loop {
            match memchr2(b'"', b'\\', &self.b[j..]) {
                Some(k) if self.b[j + k] == b'"' => return Ok((j + k, escaped)),
                Some(k) => {
                    escaped = true;
                    j += k + 2;
                    if j > self.b.len() {
                        return Err(self.err("unterminated string"));
                    }
                }
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, ScanError> {
        let (end, escaped) = self.string_end()?;
        let raw = &self.b[self.i..=end];
        let inner = &self.b[self.i + 1..end];
        let at = self.i;
        self.i = end + 1;
        if !escaped {
            return std::str::from_utf8(inner).map(Cow::Borrowed).map_err(|_| {
                ScanError::Malformed {
                    at,
                    reason: "invalid UTF-8 in a string",
                }
            });
        }
        serde_json::from_slice::<String>(raw)
            .map(Cow::Owned)
            .map_err(|_| ScanError::Malformed {
                at,
                reason: "invalid escape in a string",
            })
    }

    fn skip_value(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            Some(b'"') => {
                self.i = self.string_end()?.0 + 1;
                Ok(())
            }
            Some(b'{' | b'[') => self.skip_container(),
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return Err(self.err("expected a value"));
                }
                Ok(())
            }
            None => Err(self.err("expected a value, found the end of the line")),
        }
    }

    fn skip_container(&mut self) -> Result<(), ScanError> {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.i = self.string_end()?.0 + 1;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(self.err("unterminated object or array"))
    }
}

/// Finds the first conditional reference (`"reference": "Patient?identifier=..."`) in a line, by
/// a byte search for the `"reference"` key — no parse needed, so import can refuse such lines
/// (Azure and HealthLake both do) at routing speed.
///
/// ```
/// use firn_core::ndjson::scan::find_conditional_reference;
/// let line = br#"{"resourceType":"Observation","subject":{"reference":"Patient?identifier=x|1"}}"#;
/// assert_eq!(find_conditional_reference(line).as_deref(), Some("Patient?identifier=x|1"));
/// assert_eq!(find_conditional_reference(br#"{"subject":{"reference":"Patient/1"}}"#), None);
/// ```
pub fn find_conditional_reference(line: &[u8]) -> Option<String> {
    let finder = memmem::Finder::new(b"\"reference\"");
    let mut from = 0;
    while let Some(k) = finder.find(&line[from..]) {
        let mut s = Scanner {
            b: line,
            i: from + k + b"\"reference\"".len(),
        };
        from = s.i;
        s.ws();
        if s.peek() != Some(b':') {
            continue;
        }
        s.i += 1;
        s.ws();
        if s.peek() != Some(b'"') {
            continue;
        }
        let Ok(value) = s.string() else { continue };
        if is_conditional_reference(&value) {
            return Some(value.into_owned());
        }
    }
    None
}

/// `Type?query` — a resource type name immediately followed by `?`.
pub fn is_conditional_reference(reference: &str) -> bool {
    match reference.split_once('?') {
        Some((ty, _)) => {
            !ty.is_empty()
                && ty.as_bytes()[0].is_ascii_uppercase()
                && ty.bytes().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_nesting_and_types() {
        let r = scan_route(
            br#" { "x": {"a":["}", {"b":"\"{"}]}, "resourceType" : "Obs\u0065rvation", "id": 7 } "#,
        )
        .unwrap();
        assert_eq!(r.resource_type.as_str(), Some("Observation"));
        assert_eq!(r.id, Field::NotString);
        let r = scan_route(br#"{"resourceType":"Patient"}"#).unwrap();
        assert_eq!(r.id, Field::Missing);
        assert_eq!(scan_route(b"{}").unwrap().resource_type, Field::Missing);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            scan_route(b"[1]"),
            Err(ScanError::NotAnObject { .. })
        ));
        assert!(matches!(
            scan_route(b""),
            Err(ScanError::NotAnObject { .. })
        ));
        assert!(matches!(
            scan_route(br#"{"a":"x"#),
            Err(ScanError::Malformed { .. })
        ));
        assert!(matches!(
            scan_route(br#"{"a":{"b":1}"#),
            Err(ScanError::Malformed { .. })
        ));
        assert!(matches!(
            scan_route(br#"{"a" 1}"#),
            Err(ScanError::Malformed { .. })
        ));
    }

    #[test]
    fn conditional_references() {
        assert!(is_conditional_reference("Patient?identifier=a|b"));
        assert!(!is_conditional_reference("Patient/1"));
        assert!(!is_conditional_reference("http://x/Patient?y"));
        // "reference" as a value, not a key, is ignored
        assert_eq!(
            find_conditional_reference(br#"{"code":"reference","a":"B?c"}"#),
            None
        );
    }
}
