//! Line and column of FHIRPath locations in JSON text.
//!
//! `serde_json::Value` keeps no positions, and a position-tracking parser would slow the common
//! case (a `Value` already in memory). So `validate_str` parses normally and, only when there are
//! issues to locate, makes one light pass over the text recording where each element starts,
//! keyed by the same FHIRPath location the validator reports (`Patient.name[0].given[1]`).

use std::collections::{HashMap, HashSet};

/// FHIRPath location → 1-based (line, column) of its key (or of the array item), for the
/// `wanted` locations and their ancestors only (recording every key would cost more than the
/// validation itself on large resources).
pub(crate) fn positions(text: &str, root: &str, wanted: &[&str]) -> HashMap<String, (u64, u64)> {
    let mut want = HashSet::new();
    for w in wanted {
        let mut loc = *w;
        loop {
            if !want.insert(loc.to_string()) {
                break;
            }
            match loc.rfind(['.', '[']) {
                Some(cut) => loc = &loc[..cut],
                None => break,
            }
        }
    }
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
        line: 1,
        line_start: 0,
        out: HashMap::new(),
        want,
        done: false,
    };
    s.ws();
    let pos = s.pos();
    s.out.insert(root.to_string(), pos);
    s.done = s.out.len() >= s.want.len();
    let mut path = root.to_string();
    s.value(&mut path, 0);
    s.out
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    line: u64,
    line_start: usize,
    out: HashMap<String, (u64, u64)>,
    want: HashSet<String>,
    /// Every wanted location is found: the rest of the text is not scanned.
    done: bool,
}

impl Scanner<'_> {
    fn pos(&self) -> (u64, u64) {
        self.pos_at(self.i)
    }

    fn pos_at(&self, at: usize) -> (u64, u64) {
        // Columns count characters, not bytes.
        let col = String::from_utf8_lossy(&self.b[self.line_start..at.min(self.b.len())])
            .chars()
            .count() as u64
            + 1;
        (self.line, col)
    }

    /// Records the position of `path` (starting at byte `at` of the current line) when wanted.
    fn record(&mut self, path: &str, at: usize) {
        if self.want.contains(path) && !self.out.contains_key(path) {
            let pos = self.pos_at(at);
            self.out.insert(path.to_string(), pos);
            self.done = self.out.len() >= self.want.len();
        }
    }

    /// Skips one JSON value (a subtree holding no wanted location) without decoding it, keeping
    /// the line count.
    fn skip(&mut self) {
        self.ws();
        let mut depth = 0usize;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    self.skip_string();
                    if depth == 0 {
                        return;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth <= 1 {
                        if depth == 1 {
                            self.i += 1;
                        }
                        return;
                    }
                    depth -= 1;
                }
                b',' if depth == 0 => return,
                b'\n' => {
                    self.line += 1;
                    self.line_start = self.i + 1;
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    fn skip_string(&mut self) {
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return;
                }
                _ => self.i += 1,
            }
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\n' => {
                    self.line += 1;
                    self.line_start = self.i + 1;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.i += 1;
        }
    }

    fn string(&mut self) -> String {
        let start = self.i + 1;
        self.i += 1;
        let mut escaped = false;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            self.i += 1;
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                break;
            }
        }
        let raw = &self.b[start..self.i.saturating_sub(1).max(start)];
        serde_json::from_slice::<String>(&[b"\"", raw, b"\""].concat())
            .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
    }

    fn value(&mut self, path: &mut String, depth: usize) {
        self.ws();
        if self.done || self.i >= self.b.len() || depth > 512 {
            return;
        }
        match self.b[self.i] {
            b'{' => {
                self.i += 1;
                loop {
                    self.ws();
                    if self.i >= self.b.len() {
                        return;
                    }
                    match self.b[self.i] {
                        b'}' => {
                            self.i += 1;
                            return;
                        }
                        b',' => {
                            self.i += 1;
                            continue;
                        }
                        b'"' => {}
                        _ => {
                            self.i += 1;
                            continue;
                        }
                    }
                    let start = self.i;
                    let key = self.string();
                    let name = key.strip_prefix('_').unwrap_or(&key);
                    let len = path.len();
                    path.push('.');
                    path.push_str(name);
                    self.record(path, start);
                    self.ws();
                    if self.i < self.b.len() && self.b[self.i] == b':' {
                        self.i += 1;
                    }
                    if self.want.contains(path.as_str()) {
                        self.value(path, depth + 1);
                    } else {
                        self.skip();
                    }
                    path.truncate(len);
                    if self.done {
                        return;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut n = 0usize;
                loop {
                    self.ws();
                    if self.i >= self.b.len() {
                        return;
                    }
                    match self.b[self.i] {
                        b']' => {
                            self.i += 1;
                            return;
                        }
                        b',' => {
                            self.i += 1;
                            continue;
                        }
                        _ => {}
                    }
                    let len = path.len();
                    path.push('[');
                    path.push_str(&n.to_string());
                    path.push(']');
                    self.record(path, self.i);
                    if self.want.contains(path.as_str()) {
                        self.value(path, depth + 1);
                    } else {
                        self.skip();
                    }
                    path.truncate(len);
                    if self.done {
                        return;
                    }
                    n += 1;
                }
            }
            b'"' => {
                self.string();
            }
            _ => {
                while self.i < self.b.len()
                    && !matches!(
                        self.b[self.i],
                        b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'
                    )
                {
                    self.i += 1;
                }
            }
        }
    }
}

/// The position of `location`, or of its nearest located ancestor.
pub(crate) fn locate(map: &HashMap<String, (u64, u64)>, location: &str) -> Option<(u64, u64)> {
    let mut loc = location;
    loop {
        if let Some(p) = map.get(loc) {
            return Some(*p);
        }
        let cut = loc.rfind(['.', '['])?;
        loc = &loc[..cut];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_items() {
        let text = "{\n  \"resourceType\": \"Patient\",\n  \"name\": [\n    {\"given\": [\"a\", \"b\"]}\n  ],\n  \"_birthDate\": {}\n}";
        let m = positions(
            text,
            "Patient",
            &["Patient.name[0].given[1]", "Patient.birthDate"],
        );
        assert_eq!(m["Patient.name"], (3, 3));
        assert_eq!(m["Patient.name[0].given[1]"], (4, 21));
        assert_eq!(m["Patient.birthDate"], (6, 3));
        assert_eq!(locate(&m, "Patient.name[0].given[1].x"), Some((4, 21)));
    }

    #[test]
    fn skipped_subtrees_keep_the_line_count() {
        // Unwanted values of every kind (with strings holding brackets, quotes and commas)
        // come before the wanted ones.
        let text = "{\"resourceType\": \"Patient\",\n \"text\": {\"div\": \"<div>}]\\\",[{</div>\",\n \"x\": [1, {\"a\": [\n]}]},\n \"active\": true,\n \"n\": -1.5e3,\n \"name\": [{\"family\": \"F\"},\n {\"given\": [\"a\",\n \"b\"]}],\n \"birthDate\": \"2000\"}";
        let m = positions(
            text,
            "Patient",
            &["Patient.name[1].given[1]", "Patient.birthDate"],
        );
        assert_eq!(m["Patient.name[1].given[1]"], (9, 2));
        assert_eq!(m["Patient.birthDate"], (10, 2));
        assert!(!m.contains_key("Patient.text"));
    }
}
