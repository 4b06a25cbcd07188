//! Partial dates, date-times and times.
//!
//! FHIRPath keeps the precision a value was written with: `@2012` is a year, not 1 January 2012,
//! and comparing it with `@2012-04` has no answer (empty), not "less than". Time zones are kept as
//! offsets; two values with offsets are compared in UTC, a value with an offset and one without
//! are incomparable below day precision.

use std::cmp::Ordering;
use std::fmt;

/// How much of a date/time was given. Seconds and milliseconds compare as one precision (the
/// spec treats seconds as a decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
}

impl Precision {
    fn level(self) -> u8 {
        match self {
            Precision::Year => 0,
            Precision::Month => 1,
            Precision::Day => 2,
            Precision::Hour => 3,
            Precision::Minute => 4,
            Precision::Second | Precision::Millis => 5,
        }
    }
}

/// A date or date-time (the value kind says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millis: u16,
    pub precision: Precision,
    /// Offset from UTC in minutes.
    pub tz: Option<i16>,
}

/// A time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millis: u16,
    pub precision: Precision,
}

fn digits(s: &[u8], n: usize) -> Option<(u32, &[u8])> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s[..n].iter().fold(0u32, |a, b| a * 10 + (b - b'0') as u32);
    Some((v, &s[n..]))
}

/// Days in a month, in this module's integer types.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    crate::calendar::days_in_month(year as i64, month as u32) as u8
}

fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    crate::calendar::days_from_civil(y as i64, m as u32, d as u32)
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let (y, m, d) = crate::calendar::civil_from_days(z);
    (y as i32, m as u8, d as u8)
}

fn parse_tz(s: &[u8]) -> Option<(Option<i16>, &[u8])> {
    match s.first() {
        Some(b'Z') => Some((Some(0), &s[1..])),
        Some(&c @ (b'+' | b'-')) => {
            let (h, r) = digits(&s[1..], 2)?;
            let r = r.strip_prefix(b":")?;
            let (m, r) = digits(r, 2)?;
            if h > 14 || m > 59 {
                return None;
            }
            let off = (h * 60 + m) as i16;
            Some((Some(if c == b'-' { -off } else { off }), r))
        }
        _ => Some((None, s)),
    }
}

/// Parses `hh[:mm[:ss[.fff]]]`, returning the rest.
fn parse_time_part(s: &[u8]) -> Option<(Time, &[u8])> {
    let (h, r) = digits(s, 2)?;
    if h > 23 {
        return None;
    }
    let mut t = Time {
        hour: h as u8,
        minute: 0,
        second: 0,
        millis: 0,
        precision: Precision::Hour,
    };
    let Some(r) = r.strip_prefix(b":") else {
        return Some((t, r));
    };
    let (m, r) = digits(r, 2)?;
    if m > 59 {
        return None;
    }
    t.minute = m as u8;
    t.precision = Precision::Minute;
    let Some(r) = r.strip_prefix(b":") else {
        return Some((t, r));
    };
    let (sec, mut r) = digits(r, 2)?;
    if sec > 59 {
        return None;
    }
    t.second = sec as u8;
    t.precision = Precision::Second;
    if let Some(f) = r.strip_prefix(b".") {
        let n = f.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut ms = 0u32;
        for i in 0..3 {
            ms = ms * 10 + f.get(i).filter(|_| i < n).map_or(0, |b| (b - b'0') as u32);
        }
        t.millis = ms as u16;
        t.precision = Precision::Millis;
        r = &f[n..];
    }
    Some((t, r))
}

impl DateTime {
    /// Parses a date or date-time in FHIR/FHIRPath form (without the `@`). Returns the value and
    /// whether a time part (or a trailing `T`) was present.
    pub fn parse(s: &str) -> Option<(DateTime, bool)> {
        let b = s.as_bytes();
        let (y, r) = digits(b, 4)?;
        let mut d = DateTime {
            year: y as i32,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millis: 0,
            precision: Precision::Year,
            tz: None,
        };
        let mut r = r;
        if let Some(r2) = r.strip_prefix(b"-") {
            let (m, r3) = digits(r2, 2)?;
            if !(1..=12).contains(&m) {
                return None;
            }
            d.month = m as u8;
            d.precision = Precision::Month;
            r = r3;
            if let Some(r4) = r.strip_prefix(b"-") {
                let (day, r5) = digits(r4, 2)?;
                if day < 1 || day > days_in_month(d.year, d.month) as u32 {
                    return None;
                }
                d.day = day as u8;
                d.precision = Precision::Day;
                r = r5;
            }
        }
        let mut has_t = false;
        if let Some(r2) = r.strip_prefix(b"T") {
            has_t = true;
            r = r2;
            if !r.is_empty() && r[0].is_ascii_digit() {
                if d.precision != Precision::Day {
                    return None;
                }
                let (t, r3) = parse_time_part(r)?;
                d.hour = t.hour;
                d.minute = t.minute;
                d.second = t.second;
                d.millis = t.millis;
                d.precision = t.precision;
                r = r3;
            }
            let (tz, r3) = parse_tz(r)?;
            d.tz = tz;
            r = r3;
        }
        if !r.is_empty() {
            return None;
        }
        Some((d, has_t))
    }

    pub fn has_time(&self) -> bool {
        self.precision >= Precision::Hour
    }

    /// The date part only (for `toDate`).
    pub fn date_part(mut self) -> DateTime {
        if self.precision > Precision::Day {
            self.precision = Precision::Day;
        }
        self.hour = 0;
        self.minute = 0;
        self.second = 0;
        self.millis = 0;
        self.tz = None;
        self
    }

    fn to_utc(self) -> DateTime {
        match self.tz {
            Some(off) if off != 0 && self.precision >= Precision::Hour => {
                let mins = days_from_civil(self.year, self.month, self.day) * 1440
                    + self.hour as i64 * 60
                    + self.minute as i64
                    - off as i64;
                let (y, m, d) = civil_from_days(mins.div_euclid(1440));
                let rem = mins.rem_euclid(1440);
                DateTime {
                    year: y,
                    month: m,
                    day: d,
                    hour: (rem / 60) as u8,
                    minute: (rem % 60) as u8,
                    tz: Some(0),
                    ..self
                }
            }
            _ => self,
        }
    }

    /// FHIRPath comparison: `None` when precision or time-zone presence makes it unanswerable.
    pub fn compare(&self, o: &DateTime) -> Option<Ordering> {
        let (a, b) = if self.tz.is_some() && o.tz.is_some() {
            (self.to_utc(), o.to_utc())
        } else {
            if self.tz.is_some() != o.tz.is_some()
                && self.precision >= Precision::Hour
                && o.precision >= Precision::Hour
            {
                return None;
            }
            (*self, *o)
        };
        let fields = |d: &DateTime| -> [i64; 6] {
            [
                d.year as i64,
                d.month as i64,
                d.day as i64,
                d.hour as i64,
                d.minute as i64,
                d.second as i64 * 1000 + d.millis as i64,
            ]
        };
        let (fa, fb) = (fields(&a), fields(&b));
        let (la, lb) = (a.precision.level(), b.precision.level());
        let min = la.min(lb) as usize;
        for i in 0..=min {
            match fa[i].cmp(&fb[i]) {
                Ordering::Equal => {}
                other => return Some(other),
            }
        }
        if la != lb {
            return None;
        }
        Some(Ordering::Equal)
    }

    /// Adds a calendar amount (`unit` one of year, month, week, day, hour, minute, second,
    /// millisecond). Below the value's precision the amount is converted up and truncated.
    pub fn add(&self, amount: i64, millis_extra: i64, unit: &str) -> Option<DateTime> {
        let mut d = *self;
        match unit {
            "year" => {
                d.year = d.year.checked_add(i32::try_from(amount).ok()?)?;
                d.day = d.day.min(days_in_month(d.year, d.month));
            }
            "month" => {
                let total = d.year as i64 * 12 + (d.month as i64 - 1) + amount;
                d.year = i32::try_from(total.div_euclid(12)).ok()?;
                d.month = (total.rem_euclid(12) + 1) as u8;
                d.day = d.day.min(days_in_month(d.year, d.month));
            }
            _ => {
                let ms: i64 = match unit {
                    "week" => amount.checked_mul(7 * 86_400_000)?,
                    "day" => amount.checked_mul(86_400_000)?,
                    "hour" => amount.checked_mul(3_600_000)?,
                    "minute" => amount.checked_mul(60_000)?,
                    "second" => amount.checked_mul(1000)?.checked_add(millis_extra)?,
                    "millisecond" => amount,
                    _ => return None,
                };
                // Respect precision: a date gains whole days only, etc.
                let unit_ms: i64 = match d.precision {
                    Precision::Year | Precision::Month => {
                        // Convert days to months/years is ambiguous: apply whole years/months of days is not
                        // defined; truncate to whole days and apply to the 1st.
                        86_400_000
                    }
                    Precision::Day => 86_400_000,
                    Precision::Hour => 3_600_000,
                    Precision::Minute => 60_000,
                    Precision::Second => 1000,
                    Precision::Millis => 1,
                };
                let ms = ms / unit_ms * unit_ms;
                if d.precision < Precision::Day {
                    return Some(d);
                }
                let total = days_from_civil(d.year, d.month, d.day) as i128 * 86_400_000
                    + d.hour as i128 * 3_600_000
                    + d.minute as i128 * 60_000
                    + d.second as i128 * 1000
                    + d.millis as i128
                    + ms as i128;
                let days = total.div_euclid(86_400_000) as i64;
                let rem = total.rem_euclid(86_400_000) as i64;
                let (y, m, dd) = civil_from_days(days);
                d.year = y;
                d.month = m;
                d.day = dd;
                d.hour = (rem / 3_600_000) as u8;
                d.minute = (rem / 60_000 % 60) as u8;
                d.second = (rem / 1000 % 60) as u8;
                d.millis = (rem % 1000) as u16;
            }
        }
        if !(1..=9999).contains(&d.year) {
            return None;
        }
        Some(d)
    }

    /// Formats as a date (`2012-04`) or date-time (`2012-04-15T10:00:00.000+01:00`).
    pub fn format(&self, as_datetime: bool) -> String {
        let mut s = format!("{:04}", self.year);
        if self.precision >= Precision::Month {
            s += &format!("-{:02}", self.month);
        }
        if self.precision >= Precision::Day {
            s += &format!("-{:02}", self.day);
        }
        if self.precision >= Precision::Hour {
            s += &format!("T{:02}", self.hour);
            if self.precision >= Precision::Minute {
                s += &format!(":{:02}", self.minute);
            }
            if self.precision >= Precision::Second {
                s += &format!(":{:02}", self.second);
            }
            if self.precision >= Precision::Millis {
                s += &format!(".{:03}", self.millis);
            }
        } else if as_datetime && self.precision < Precision::Day {
            // partial date-times print as dates
        }
        if let Some(tz) = self.tz.filter(|_| self.precision >= Precision::Hour) {
            if tz == 0 {
                s.push('Z');
            } else {
                let sign = if tz < 0 { '-' } else { '+' };
                let a = tz.unsigned_abs();
                s += &format!("{sign}{:02}:{:02}", a / 60, a % 60);
            }
        }
        s
    }

    /// Digits of precision as `precision()` counts them (year 4 … milliseconds 17).
    pub fn precision_digits(&self) -> i64 {
        match self.precision {
            Precision::Year => 4,
            Precision::Month => 6,
            Precision::Day => 8,
            Precision::Hour => 10,
            Precision::Minute => 12,
            Precision::Second => 14,
            Precision::Millis => 17,
        }
    }
}

impl Time {
    pub fn parse(s: &str) -> Option<Time> {
        let (t, r) = parse_time_part(s.as_bytes())?;
        if !r.is_empty() {
            return None;
        }
        Some(t)
    }

    pub fn compare(&self, o: &Time) -> Option<Ordering> {
        let fa = [
            self.hour as i64,
            self.minute as i64,
            self.second as i64 * 1000 + self.millis as i64,
        ];
        let fb = [
            o.hour as i64,
            o.minute as i64,
            o.second as i64 * 1000 + o.millis as i64,
        ];
        let la = self.precision.level() as usize - 3;
        let lb = o.precision.level() as usize - 3;
        for i in 0..=la.min(lb) {
            match fa[i].cmp(&fb[i]) {
                Ordering::Equal => {}
                other => return Some(other),
            }
        }
        if la != lb {
            return None;
        }
        Some(Ordering::Equal)
    }

    pub fn add(&self, amount: i64, millis_extra: i64, unit: &str) -> Option<Time> {
        let ms: i64 = match unit {
            "hour" => amount.checked_mul(3_600_000)?,
            "minute" => amount.checked_mul(60_000)?,
            "second" => amount.checked_mul(1000)?.checked_add(millis_extra)?,
            "millisecond" => amount,
            _ => return None,
        };
        let total = (self.hour as i64 * 3_600_000
            + self.minute as i64 * 60_000
            + self.second as i64 * 1000
            + self.millis as i64
            + ms)
            .rem_euclid(86_400_000);
        Some(Time {
            hour: (total / 3_600_000) as u8,
            minute: (total / 60_000 % 60) as u8,
            second: (total / 1000 % 60) as u8,
            millis: (total % 1000) as u16,
            precision: self.precision,
        })
    }

    pub fn precision_digits(&self) -> i64 {
        match self.precision {
            Precision::Hour => 2,
            Precision::Minute => 4,
            Precision::Second => 6,
            _ => 9,
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.hour)?;
        if self.precision >= Precision::Minute {
            write!(f, ":{:02}", self.minute)?;
        }
        if self.precision >= Precision::Second {
            write!(f, ":{:02}", self.second)?;
        }
        if self.precision >= Precision::Millis {
            write!(f, ".{:03}", self.millis)?;
        }
        Ok(())
    }
}

/// Current UTC time from the host clock; on targets without one (wasm32-unknown-unknown) the
/// Unix epoch. Kept here so the rest of the engine has one clock.
pub fn now_utc() -> DateTime {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    let ms: i64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    let ms: i64 = 0;
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    let rem = ms.rem_euclid(86_400_000);
    DateTime {
        year: y,
        month: m,
        day: d,
        hour: (rem / 3_600_000) as u8,
        minute: (rem / 60_000 % 60) as u8,
        second: (rem / 1000 % 60) as u8,
        millis: (rem % 1000) as u16,
        precision: Precision::Millis,
        tz: Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_precision_compare() {
        let (a, _) = DateTime::parse("2012-04-15").unwrap();
        let (b, _) = DateTime::parse("2012-04-15T10:00:00").unwrap();
        assert_eq!(a.compare(&b), None);
        let (c, _) = DateTime::parse("2012-04-16T10:00:00+02:00").unwrap();
        let (e, _) = DateTime::parse("2012-04-16T08:00:00Z").unwrap();
        assert_eq!(c.compare(&e), Some(Ordering::Equal));
    }

    #[test]
    fn month_arithmetic_clamps() {
        let (a, _) = DateTime::parse("2012-01-31").unwrap();
        assert_eq!(a.add(1, 0, "month").unwrap().format(false), "2012-02-29");
    }
}
