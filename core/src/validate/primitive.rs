//! Primitive values: the JSON shape each FHIR primitive takes and the lexical rules of its type.
//!
//! The regexes come from the definitions (`Definitions::primitive_regex`) and are compiled once per
//! [`Validator`](super::Validator). Regexes alone accept impossible values (`2023-02-30`), so the
//! temporal types also get a real calendar check, and the R4 `base64Binary` regex (which forgets
//! `/`) is replaced by a decoder-grade check.

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
            // base64Binary's R4 regex is wrong (no '/'); decimal is checked as a JSON number.
            if matches!(t.name.as_str(), "base64Binary" | "decimal" | "xhtml") {
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
        if let Some(re) = self.regexes.get(ty)
            && !re.is_match(s)
        {
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
    for c in s.chars() {
        match c {
            ' ' | '\t' | '\r' | '\n' => continue,
            '=' => pad += 1,
            c if pad > 0 => return Err(format!("base64 character '{c}' after padding")),
            'A'..='Z' | 'a'..='z' | '0'..='9' | '+' | '/' => {}
            c => return Err(format!("'{c}' is not a base64 character")),
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
}
