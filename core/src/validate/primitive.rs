//! Primitive values: the JSON shape each FHIR primitive takes and the lexical rules of its type.
//!
//! The regexes come from the definitions (`Definitions::primitive_regex`) and are compiled once per
//! [`Validator`](super::Validator). Regexes alone accept impossible values (`2023-02-30`), so the
//! temporal types also get a real calendar check, and the R4 `base64Binary` regex (which forgets
//! `/`) is replaced by a decoder-grade check.
//!
//! The commonest types (`string`, `code`, `id`, `uri`, the temporal types …) are matched by
//! hand-written scanners ([`lexical`]) instead: every primitive value of every resource goes
//! through here, and a scanner is several times cheaper than a regex search. The scanners
//! implement exactly the definitions' regexes — a test compares both on generated and mutated
//! inputs — so the regex stays the specification.

use crate::definitions::Definitions;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;

/// The compiled regexes of every primitive type, anchored.
#[derive(Debug)]
pub(crate) struct Primitives {
    regexes: HashMap<String, Regex>,
}

impl Primitives {
    pub(crate) fn new(defs: &Definitions) -> Self {
        let mut regexes = HashMap::new();
        for t in defs.types() {
            if t.kind != crate::definitions::TypeKind::Primitive {
                continue;
            }
            // base64Binary's R4 regex is wrong (no '/'); decimal is checked as a JSON number;
            // the types with a scanner never use their regex.
            if matches!(t.name.as_str(), "base64Binary" | "decimal" | "xhtml")
                || lexical(&t.name, "").is_some()
            {
                continue;
            }
            if let Some(re) = &t.regex
                && let Ok(compiled) = Regex::new(&format!("^(?:{re})$"))
            {
                regexes.insert(t.name.clone(), compiled);
            }
        }
        Primitives { regexes }
    }

    /// Checks one primitive JSON value of FHIR type `ty`. `Err` carries the diagnostics.
    pub(crate) fn check(&self, ty: &str, value: &Value) -> Result<(), String> {
        match ty {
            "boolean" => match value {
                Value::Bool(_) => Ok(()),
                _ => Err(format!(
                    "a boolean must be JSON true or false, not {}",
                    json_kind(value)
                )),
            },
            "integer" | "unsignedInt" | "positiveInt" | "integer64" => {
                let Value::Number(n) = value else {
                    return Err(format!(
                        "an {ty} must be a JSON number, not {}",
                        json_kind(value)
                    ));
                };
                let Some(i) = n.as_i64() else {
                    return Err(format!("{n} is not an integer ({ty})"));
                };
                let (lo, hi) = match ty {
                    "integer" => (i32::MIN as i64, i32::MAX as i64),
                    "unsignedInt" => (0, i32::MAX as i64),
                    "positiveInt" => (1, i32::MAX as i64),
                    _ => (i64::MIN, i64::MAX),
                };
                if i < lo || i > hi {
                    return Err(format!("{i} is out of range for {ty} ({lo}..={hi})"));
                }
                Ok(())
            }
            "decimal" => match value {
                Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
                Value::Number(n) => Err(format!("{n} is not a finite decimal")),
                _ => Err(format!(
                    "a decimal must be a JSON number, not {}",
                    json_kind(value)
                )),
            },
            _ => {
                let Value::String(s) = value else {
                    return Err(format!(
                        "a {ty} must be a JSON string, not {}",
                        json_kind(value)
                    ));
                };
                self.check_str(ty, s)
            }
        }
    }

    fn check_str(&self, ty: &str, s: &str) -> Result<(), String> {
        if s.is_empty() {
            return Err("empty strings are not allowed in FHIR (omit the element instead)".into());
        }
        if s.trim().is_empty() {
            return Err("a value made only of whitespace is not allowed".into());
        }
        if s.len() > 1024 * 1024 {
            return Err(format!("a {ty} may not exceed 1 MB"));
        }
        match ty {
            "base64Binary" => return check_base64(s),
            "id" if s.len() > 64 => {
                return Err(format!("id '{}' is longer than 64 characters", clip(s)));
            }
            _ => {}
        }
        let matches =
            lexical(ty, s).unwrap_or_else(|| self.regexes.get(ty).is_none_or(|re| re.is_match(s)));
        if !matches {
            return Err(format!("'{}' is not a valid {ty}", clip(s)));
        }
        match ty {
            "date" | "dateTime" | "instant" => {
                check_calendar(s).map_err(|e| format!("'{}' is not a valid {ty}: {e}", clip(s)))
            }
            _ => Ok(()),
        }
    }
}

/// The R4 lexical rule of `ty` applied to `s` without a regex: `Some(matches)`, or `None` for
/// the types left to their regex (`oid`, `uuid`, the integer types' string forms …).
fn lexical(ty: &str, s: &str) -> Option<bool> {
    let b = s.as_bytes();
    Some(match ty {
        // [ \r\n\t\S]+
        // (ASCII text, nearly all of it, is checked byte by byte: its only whitespace characters
        // are \t \n \x0b \x0c \r and space.)
        "string" | "markdown" => {
            !s.is_empty()
                && if s.is_ascii() {
                    !b.iter().any(|&c| c == 0x0b || c == 0x0c)
                } else {
                    s.chars()
                        .all(|c| matches!(c, ' ' | '\r' | '\n' | '\t') || !c.is_whitespace())
                }
        }
        // \S*
        "uri" | "url" | "canonical" => {
            if s.is_ascii() {
                !b.iter().any(|&c| c == b' ' || (0x09..=0x0d).contains(&c))
            } else {
                !s.chars().any(char::is_whitespace)
            }
        }
        // [^\s]+(\s[^\s]+)*: words separated by single whitespace characters.
        "code" => {
            let mut prev_ws = true;
            for c in s.chars() {
                let ws = c.is_whitespace();
                if ws && prev_ws {
                    return Some(false);
                }
                prev_ws = ws;
            }
            !prev_ws
        }
        // [A-Za-z0-9\-\.]{1,64}
        "id" => {
            (1..=64).contains(&b.len())
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        }
        "date" => temporal(b, Temporal::Date),
        "dateTime" => temporal(b, Temporal::DateTime),
        "instant" => temporal(b, Temporal::Instant),
        "time" => time_of_day(b, 0) == Some(b.len()),
        _ => return None,
    })
}

#[derive(PartialEq)]
enum Temporal {
    Date,
    DateTime,
    Instant,
}

/// `n` ASCII digits at `i` as a number.
fn digits(b: &[u8], i: usize, n: usize) -> Option<u32> {
    let d = b.get(i..i + n)?;
    d.iter().all(u8::is_ascii_digit).then(|| {
        d.iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    })
}

/// `-NN` at `i` with `lo <= NN <= hi`.
fn dash_part(b: &[u8], i: usize, lo: u32, hi: u32) -> bool {
    b.get(i) == Some(&b'-') && digits(b, i + 1, 2).is_some_and(|v| (lo..=hi).contains(&v))
}

/// YYYY(-MM(-DD(Thh:mm:ss(.s+)?TZ)?)?)? — partial forms only for `date`/`dateTime`, the time
/// only for `dateTime`/`instant` (where `instant` needs every part).
fn temporal(b: &[u8], kind: Temporal) -> bool {
    // The year: four digits, not 0000.
    if digits(b, 0, 4).is_none_or(|y| y == 0) {
        return false;
    }
    let partial_ok = kind != Temporal::Instant;
    let mut i = 4;
    for (lo, hi) in [(1, 12), (1, 31)] {
        if i == b.len() {
            return partial_ok;
        }
        if !dash_part(b, i, lo, hi) {
            return false;
        }
        i += 3;
    }
    if i == b.len() {
        return partial_ok;
    }
    if kind == Temporal::Date || b[i] != b'T' {
        return false;
    }
    match time_of_day(b, i + 1) {
        Some(end) => zone(&b[end..]),
        None => false,
    }
}

/// hh:mm:ss(.s+)? at `i`: the index after it.
fn time_of_day(b: &[u8], i: usize) -> Option<usize> {
    let ok = digits(b, i, 2).is_some_and(|h| h <= 23)
        && b.get(i + 2) == Some(&b':')
        && digits(b, i + 3, 2).is_some_and(|m| m <= 59)
        && b.get(i + 5) == Some(&b':')
        && digits(b, i + 6, 2).is_some_and(|s| s <= 60);
    if !ok {
        return None;
    }
    let mut end = i + 8;
    if b.get(end) == Some(&b'.') {
        let frac = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if frac == 0 {
            return None;
        }
        end += 1 + frac;
    }
    Some(end)
}

/// Z | (+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00), the whole rest.
fn zone(b: &[u8]) -> bool {
    match b {
        [b'Z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => match (digits(b, 1, 2), digits(b, 4, 2)) {
            (Some(h), Some(m)) => (h <= 13 && m <= 59) || (h == 14 && m == 0),
            _ => false,
        },
        _ => false,
    }
}

/// The JSON kind of a value (`an object`, `a string`, …), for messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Long values are clipped in diagnostics.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() <= 120 {
        s.to_string()
    } else {
        let head: String = s.chars().take(117).collect();
        format!("{head}...")
    }
}

fn check_base64(s: &str) -> Result<(), String> {
    let mut n = 0usize;
    let mut pad = 0usize;
    // Bytes, not chars: attachments are long, and any non-ASCII byte is an error anyway.
    let char_at = |i: usize| s[i..].chars().next().unwrap_or_default();
    for (i, &c) in s.as_bytes().iter().enumerate() {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => pad += 1,
            _ if pad > 0 => {
                return Err(format!("base64 character '{}' after padding", char_at(i)));
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {}
            _ => return Err(format!("'{}' is not a base64 character", char_at(i))),
        }
        n += 1;
    }
    if pad > 2 || !n.is_multiple_of(4) {
        return Err("base64 length is not a multiple of 4 (or has too much padding)".into());
    }
    Ok(())
}

/// The regex has already established the shape; this checks the day exists in its month and the
/// time is a real time (leap second `60` only at `23:59`).
fn check_calendar(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> { s.get(from..from + len)?.parse().ok() };
    if b.len() >= 10 {
        let (Some(y), Some(m), Some(d)) = (num(0, 4), num(5, 2), num(8, 2)) else {
            return Ok(());
        };
        let days = match crate::calendar::days_in_month(y as i64, m) {
            0 => return Err(format!("month {m} does not exist")),
            n => n,
        };
        if d == 0 || d > days {
            return Err(format!("day {d} does not exist in {y}-{m:02}"));
        }
    }
    if b.len() >= 19 && b[10] == b'T' {
        let (Some(h), Some(mi), Some(sec)) = (num(11, 2), num(14, 2), num(17, 2)) else {
            return Ok(());
        };
        if sec == 60 && !(h == 23 && mi == 59) {
            return Err("a leap second is only possible at 23:59:60".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calendar_and_ranges() {
        let p = Primitives::new(Definitions::r4());
        assert!(p.check("date", &json!("2024-02-29")).is_ok());
        assert!(p.check("date", &json!("2023-02-29")).is_err());
        assert!(p.check("dateTime", &json!("2023-01-01T10:00:00")).is_err());
        assert!(p.check("dateTime", &json!("2023-01-01T10:00:00Z")).is_ok());
        assert!(p.check("instant", &json!("2023-01-01")).is_err());
        assert!(p.check("positiveInt", &json!(0)).is_err());
        assert!(p.check("integer", &json!(2147483648i64)).is_err());
        assert!(p.check("base64Binary", &json!("aGk/")).is_ok());
        assert!(p.check("base64Binary", &json!("aGk")).is_err());
        assert!(p.check("code", &json!("a  b")).is_err());
        assert!(p.check("id", &json!("x".repeat(65))).is_err());
    }

    /// The scanners agree with the definitions' regexes on hand-picked edge cases, on random
    /// strings over each type's alphabet, and on every one-character mutation of valid values.
    #[test]
    fn scanners_equal_the_regexes() {
        let defs = Definitions::r4();
        let types = [
            "string",
            "markdown",
            "uri",
            "url",
            "canonical",
            "code",
            "id",
            "date",
            "dateTime",
            "instant",
            "time",
        ];
        let valid = [
            "2023",
            "2023-01",
            "2023-12-31",
            "2023-02-28T10:00:00Z",
            "1999-01-01T23:59:60.123+14:00",
            "0001-01-01T00:00:00-13:59",
            "10:20:30",
            "23:59:60.5",
            "ab c",
            "a-b.C9",
            "x y\tz",
            "http://x/y",
            "\u{a0}x",
            "x\u{2028}",
            "Ä",
        ];
        let alphabet: Vec<char> = "0123456789-:T.Z+ aZ\t\n\r\u{b}\u{a0}\u{2003}é_/"
            .chars()
            .collect();
        let mut inputs: Vec<String> = valid.iter().map(|s| s.to_string()).collect();
        for v in valid {
            let chars: Vec<char> = v.chars().collect();
            for i in 0..=chars.len() {
                for &c in &alphabet {
                    let mut m = chars.clone();
                    if i < chars.len() {
                        m[i] = c;
                    } else {
                        m.push(c);
                    }
                    inputs.push(m.iter().collect());
                    let mut cut = chars.clone();
                    cut.truncate(i);
                    inputs.push(cut.iter().collect());
                }
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for k in 0..(seed % 30) {
                let r = seed.rotate_left(k as u32 * 5) as usize;
                s.push(alphabet[r % alphabet.len()]);
            }
            inputs.push(s);
        }
        let mut checked = 0;
        for ty in types {
            let re = Regex::new(&format!("^(?:{})$", defs.primitive_regex(ty).unwrap())).unwrap();
            for s in &inputs {
                assert_eq!(lexical(ty, s), Some(re.is_match(s)), "{ty} {s:?}");
                checked += 1;
            }
        }
        assert!(checked > 100_000, "{checked}");
    }
}
