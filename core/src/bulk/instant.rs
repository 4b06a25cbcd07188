//! FHIR `instant`s, as far as Bulk Data needs them: parse `_since`/`_until`/`meta.lastUpdated`
//! and compare them across time zones.

use crate::calendar;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// A point in time: seconds since the Unix epoch (UTC) plus nanoseconds, with the original text
/// kept for echoing back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instant {
    pub epoch_seconds: i64,
    pub nanos: u32,
    pub text: String,
}

impl PartialEq for Instant {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Instant {}
impl PartialOrd for Instant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Instant {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.epoch_seconds, self.nanos).cmp(&(other.epoch_seconds, other.nanos))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Instant {
    /// Parses `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`, the FHIR `instant` syntax.
    ///
    /// ```
    /// use firn_core::bulk::Instant;
    /// let a = Instant::parse("2024-05-09T02:00:00+02:00").unwrap();
    /// let b = Instant::parse("2024-05-09T00:00:00Z").unwrap();
    /// assert_eq!(a, b);
    /// assert!(Instant::parse("2024-05-09").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Instant> {
        let b = text.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(r)?;
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo)
            || d < 1
            || d > i64::from(calendar::days_in_month(y, mo as u32))
            || h > 23
            || mi > 59
            || s > 60
        {
            return None;
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &text[start..i];
            if digits.is_empty() {
                return None;
            }
            let mut padded: String = digits.chars().take(9).collect();
            while padded.len() < 9 {
                padded.push('0');
            }
            nanos = padded.parse().ok()?;
        }
        let offset_minutes = match &text[i..] {
            "Z" => 0,
            tz if tz.len() == 6
                && (tz.starts_with('+') || tz.starts_with('-'))
                && &tz[3..4] == ":" =>
            {
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                if oh > 14 || om > 59 {
                    return None;
                }
                let m = oh * 60 + om;
                if tz.starts_with('-') { -m } else { m }
            }
            _ => return None,
        };
        let days = calendar::days_from_civil(y, mo as u32, d as u32);
        let epoch_seconds = days * 86_400 + h * 3600 + mi * 60 + s - offset_minutes * 60;
        Some(Instant {
            epoch_seconds,
            nanos,
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_fractions() {
        assert_eq!(
            Instant::parse("1970-01-01T00:00:00Z")
                .unwrap()
                .epoch_seconds,
            0
        );
        assert_eq!(
            Instant::parse("2000-03-01T00:00:00Z")
                .unwrap()
                .epoch_seconds,
            951_868_800
        );
        let a = Instant::parse("2024-01-01T00:00:00.5Z").unwrap();
        let b = Instant::parse("2024-01-01T00:00:00.499999Z").unwrap();
        assert!(a > b);
        for bad in [
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+2:00",
        ] {
            assert!(Instant::parse(bad).is_none(), "{bad}");
        }
    }
}
