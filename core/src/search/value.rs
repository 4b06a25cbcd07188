//! Normalized search values: the one representation both sides of a comparison are reduced to.
//!
//! A search compares a *query value* (text from a URL) with *index values* (what a resource's
//! SearchParameter expression yields). Both are normalized here, once, so that matching is a
//! cheap comparison: strings are folded for case and accents, dates become half-open
//! `[low, high)` instants derived from their precision and time zone, quantities are also held in
//! canonical UCUM units, tokens are `system|code` pairs and references are parsed into their
//! parts. Keeping this in one module is what makes the single-resource matcher, the in-memory
//! index and a server's stored entries agree.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Instant = i64;

/// A half-open interval of instants `[low, high)`: the implicit range of a date of some precision
/// (`2013` covers the whole year) or an explicit Period. Open ends use `i64::MIN` / `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateRange {
    pub low: Instant,
    pub high: Instant,
}

impl DateRange {
    /// True when the two ranges share at least one instant.
    pub fn overlaps(&self, other: &DateRange) -> bool {
        self.low < other.high && other.low < self.high
    }

    /// True when `other` lies entirely within `self`.
    pub fn contains(&self, other: &DateRange) -> bool {
        self.low <= other.low && other.high <= self.high
    }
}

/// A decimal with the implicit range its written precision gives it (`100` → `[99.5, 100.5)`,
/// `100.00` → `[99.995, 100.005)`, `1e2` → `[50, 150)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decimal {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Decimal {
    /// A value without precision range (an index value).
    pub fn exact(value: f64) -> Decimal {
        Decimal {
            value,
            low: value,
            high: value,
        }
    }

    /// Scales value and range (unit conversion).
    pub fn scaled(&self, factor: f64, offset: f64) -> Decimal {
        Decimal {
            value: self.value * factor + offset,
            low: self.low * factor + offset,
            high: self.high * factor + offset,
        }
    }
}

/// Parses a FHIR decimal (optionally with exponent) keeping its precision.
///
/// ```
/// use firn_core::search::value::parse_decimal;
/// let d = parse_decimal("100").unwrap();
/// assert_eq!((d.low, d.high), (99.5, 100.5));
/// ```
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    let value: f64 = s.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let decimals = mantissa.find('.').map_or(0, |i| mantissa.len() - i - 1) as i32;
    let half = 0.5 * 10f64.powi(exp - decimals);
    Some(Decimal {
        value,
        low: value - half,
        high: value + half,
    })
}

use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

const DAY_MS: i64 = 86_400_000;

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a FHIR date, dateTime or instant (also the search forms without seconds,
/// `2013-01-14T10:00`) into the range its precision implies. A time without zone is taken as UTC.
///
/// ```
/// use firn_core::search::value::parse_date;
/// let year = parse_date("2013").unwrap();
/// let day = parse_date("2013-01-14").unwrap();
/// assert!(year.contains(&day));
/// assert_eq!(day.high - day.low, 86_400_000);
/// ```
pub fn parse_date(s: &str) -> Option<DateRange> {
    let s = s.trim();
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let y = digits(parts.next()?, 4)? as i64;
    let m = parts.next().map(|p| digits(p, 2)).unwrap_or(Some(0))?;
    let d = parts.next().map(|p| digits(p, 2)).unwrap_or(Some(0))?;
    if m > 12 || (m == 0 && d != 0) || (d > 0 && d > days_in_month(y, m)) {
        return None;
    }
    if m == 0 {
        if time.is_some() {
            return None;
        }
        let low = days_from_civil(y, 1, 1) * DAY_MS;
        return Some(DateRange {
            low,
            high: days_from_civil(y + 1, 1, 1) * DAY_MS,
        });
    }
    if d == 0 {
        if time.is_some() {
            return None;
        }
        let low = days_from_civil(y, m, 1) * DAY_MS;
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        return Some(DateRange {
            low,
            high: days_from_civil(ny, nm, 1) * DAY_MS,
        });
    }
    let day = days_from_civil(y, m, d) * DAY_MS;
    let Some(time) = time else {
        return Some(DateRange {
            low: day,
            high: day + DAY_MS,
        });
    };
    // Split off the zone.
    let (clock, offset_ms) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let z = &time[i + 1..];
        let (zh, zm) = z.split_once(':')?;
        let mins = digits(zh, 2)? as i64 * 60 + digits(zm, 2)? as i64;
        let sign = if &time[i..i + 1] == "-" { -1 } else { 1 };
        (&time[..i], sign * mins * 60_000)
    } else {
        (time, 0)
    };
    let mut hms = clock.splitn(3, ':');
    let h = digits(hms.next()?, 2)? as i64;
    let mi = digits(hms.next()?, 2)? as i64;
    if h > 24 || mi > 59 {
        return None;
    }
    let mut low = day + h * 3_600_000 + mi * 60_000;
    let mut width = 60_000;
    if let Some(sec) = hms.next() {
        let (whole, frac) = match sec.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (sec, None),
        };
        let sv = digits(whole, 2)? as i64;
        if sv > 60 {
            return None;
        }
        low += sv * 1000;
        width = 1000;
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let ms_digits = &f[..f.len().min(3)];
            let scale = 10i64.pow(3 - ms_digits.len() as u32);
            low += ms_digits.parse::<i64>().ok()? * scale;
            width = scale;
        }
    }
    low -= offset_ms;
    Some(DateRange {
        low,
        high: low + width,
    })
}

/// Formats an instant as `YYYY-MM-DDThh:mm:ss.sssZ` (for diagnostics and sort keys in output).
pub fn format_instant(ms: Instant) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

include!("fold_table.rs");

/// Folds a string for case- and accent-insensitive comparison: lowercase, Latin diacritics
/// removed (`Émilie` → `emilie`, `Straße` → `strasse`), whitespace runs collapsed to one space.
///
/// ```
/// use firn_core::search::value::fold;
/// assert_eq!(fold("  Émilie  DE la Crúz"), "emilie de la cruz");
/// ```
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(s, &mut out);
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Appends `s` [`fold`]ed to `out` (whitespace collapsing continues across calls; a trailing
/// space may remain). With `markup`, XHTML tags are skipped as whitespace (narrative `div`s).
pub fn fold_into_with(s: &str, out: &mut String, markup: bool) {
    let mut space = out.is_empty() || out.ends_with(' ');
    let mut in_tag = false;
    for c in s.chars() {
        if markup {
            if in_tag {
                in_tag = c != '>';
                continue;
            }
            if c == '<' {
                in_tag = true;
                if !space {
                    out.push(' ');
                    space = true;
                }
                continue;
            }
        }
        if c.is_whitespace() {
            if !space {
                out.push(' ');
                space = true;
            }
            continue;
        }
        space = false;
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if let Ok(i) = FOLD.binary_search_by_key(&(c as u32), |&(cp, _)| cp) {
            out.push_str(FOLD[i].1);
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// [`fold_into_with`] for plain text.
pub fn fold_into(s: &str, out: &mut String) {
    fold_into_with(s, out, false)
}

/// A UCUM unit reduced to a canonical form: `value_canonical = value * factor + offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Canonical {
    pub factor: f64,
    pub offset: f64,
    pub unit: String,
}

/// The UCUM system URI.
pub const UCUM: &str = "http://unitsofmeasure.org";

fn simple_unit(u: &str) -> Option<(f64, &'static str)> {
    Some(match u {
        "" | "1" => (1.0, ""),
        "%" => (0.01, ""),
        "kg" => (1000.0, "g"),
        "g" => (1.0, "g"),
        "mg" => (1e-3, "g"),
        "ug" | "mcg" => (1e-6, "g"),
        "ng" => (1e-9, "g"),
        "pg" => (1e-12, "g"),
        "[lb_av]" => (453.592_37, "g"),
        "[oz_av]" => (28.349_523_125, "g"),
        "km" => (1000.0, "m"),
        "m" => (1.0, "m"),
        "cm" => (0.01, "m"),
        "mm" => (1e-3, "m"),
        "um" => (1e-6, "m"),
        "nm" => (1e-9, "m"),
        "[in_i]" => (0.0254, "m"),
        "[ft_i]" => (0.3048, "m"),
        "m2" => (1.0, "m2"),
        "cm2" => (1e-4, "m2"),
        "L" | "l" => (1.0, "L"),
        "dL" => (0.1, "L"),
        "cL" => (0.01, "L"),
        "mL" => (1e-3, "L"),
        "uL" => (1e-6, "L"),
        "fL" => (1e-15, "L"),
        "s" => (1.0, "s"),
        "ms" => (1e-3, "s"),
        "min" => (60.0, "s"),
        "h" => (3600.0, "s"),
        "d" => (86_400.0, "s"),
        "wk" => (604_800.0, "s"),
        "mo" => (2_629_800.0, "s"),
        "a" => (31_557_600.0, "s"),
        "mol" => (1.0, "mol"),
        "mmol" => (1e-3, "mol"),
        "umol" => (1e-6, "mol"),
        "nmol" => (1e-9, "mol"),
        "Pa" => (1.0, "Pa"),
        "kPa" => (1000.0, "Pa"),
        "mm[Hg]" => (133.322_387_415, "Pa"),
        "[iU]" | "[IU]" => (1.0, "[IU]"),
        "U" => (1.0, "U"),
        _ => return None,
    })
}

fn strip_annotations(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    let mut depth = 0;
    for c in u.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Converts a UCUM unit code to its canonical form, for the common clinical units (mass,
/// length, volume, time, amount, pressure, temperature, percent and their quotients such as
/// `mg/dL`, `kg/m2`, `/min`). `None` for anything else.
///
/// ```
/// use firn_core::search::value::ucum_canonical;
/// let mg_dl = ucum_canonical("mg/dL").unwrap();
/// let g_l = ucum_canonical("g/L").unwrap();
/// assert_eq!(mg_dl.unit, g_l.unit);
/// assert!((100.0 * mg_dl.factor - 1.0 * g_l.factor).abs() < 1e-12);
/// ```
pub fn ucum_canonical(code: &str) -> Option<Canonical> {
    match code {
        "Cel" => {
            return Some(Canonical {
                factor: 1.0,
                offset: 273.15,
                unit: "K".into(),
            });
        }
        "[degF]" => {
            return Some(Canonical {
                factor: 5.0 / 9.0,
                offset: 273.15 - 32.0 * 5.0 / 9.0,
                unit: "K".into(),
            });
        }
        "K" => {
            return Some(Canonical {
                factor: 1.0,
                offset: 0.0,
                unit: "K".into(),
            });
        }
        _ => {}
    }
    let code = strip_annotations(code);
    let (num, den) = match code.split_once('/') {
        Some((n, d)) => (n, Some(d)),
        None => (code.as_str(), None),
    };
    let (nf, nu) = simple_unit(num)?;
    let (df, du) = match den {
        Some(d) => simple_unit(d)?,
        None => (1.0, ""),
    };
    let unit = match (nu, den.is_some()) {
        (n, false) => n.to_string(),
        (n, true) => format!("{n}/{du}"),
    };
    Some(Canonical {
        factor: nf / df,
        offset: 0.0,
        unit,
    })
}

/// A token index value: `system|code` plus the text used by `:text` and, for Identifiers, the
/// identifier type codings used by `:of-type`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Token {
    pub system: Option<String>,
    pub code: Option<String>,
    /// Folded display / `CodeableConcept.text` / `Identifier.type.text`.
    pub text: Option<String>,
    /// `Identifier.type.coding` as `(system, code)`.
    pub of_type: Vec<(Option<String>, String)>,
}

/// A reference index value in all its forms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RefValue {
    /// Resource type, from a relative or absolute literal reference, or `Reference.type`.
    pub resource_type: Option<String>,
    pub id: Option<String>,
    pub version: Option<String>,
    /// The service base for absolute references (`http://x/fhir` in `http://x/fhir/Patient/1`);
    /// `None` for relative references.
    pub base: Option<String>,
    /// The literal reference or canonical URL as written (without `|version`).
    pub url: Option<String>,
    /// `Reference.identifier` as `(system, value)`.
    pub identifier: Option<(Option<String>, String)>,
}

impl RefValue {
    /// `Type/id` for a reference with both parts.
    pub fn local_key(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.resource_type.as_ref()?,
            self.id.as_ref()?
        ))
    }
}

fn is_type_name(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_fhir_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Parses a literal reference or canonical URL: `Patient/1`, `Patient/1/_history/2`,
/// `http://x/fhir/Patient/1`, `urn:uuid:…`, `http://x/Questionnaire/q|2.0`.
///
/// ```
/// use firn_core::search::value::parse_reference;
/// let r = parse_reference("http://x.org/fhir/Patient/7/_history/3");
/// assert_eq!(r.resource_type.as_deref(), Some("Patient"));
/// assert_eq!(r.id.as_deref(), Some("7"));
/// assert_eq!(r.version.as_deref(), Some("3"));
/// assert_eq!(r.base.as_deref(), Some("http://x.org/fhir"));
/// ```
pub fn parse_reference(s: &str) -> RefValue {
    // Conditional reference (`Practitioner?identifier=system|value`, as Synthea writes them).
    if let Some((ty, q)) = s.split_once('?')
        && is_type_name(ty)
    {
        let identifier = q
            .split('&')
            .find_map(|p| p.strip_prefix("identifier="))
            .map(|iv| match iv.split_once('|') {
                Some((sys, v)) => ((!sys.is_empty()).then(|| sys.to_string()), v.to_string()),
                None => (None, iv.to_string()),
            });
        return RefValue {
            resource_type: Some(ty.to_string()),
            url: Some(s.to_string()),
            identifier,
            ..RefValue::default()
        };
    }
    let (body, canonical_version) = match s.split_once('|') {
        Some((b, v)) => (b, Some(v.to_string())),
        None => (s, None),
    };
    let mut r = RefValue {
        url: Some(body.to_string()),
        version: canonical_version,
        ..RefValue::default()
    };
    if body.starts_with('#') || body.starts_with("urn:") {
        return r;
    }
    let segs: Vec<&str> = body.split('/').collect();
    let n = segs.len();
    // [.., Type, id] or [.., Type, id, _history, vid]
    let (ti, vid) = if n >= 4 && segs[n - 2] == "_history" {
        (n - 4, Some(segs[n - 1]))
    } else if n >= 2 {
        (n - 2, None)
    } else {
        return r;
    };
    if is_type_name(segs[ti]) && is_fhir_id(segs[ti + 1]) {
        r.resource_type = Some(segs[ti].to_string());
        r.id = Some(segs[ti + 1].to_string());
        if let Some(v) = vid {
            r.version = Some(v.to_string());
        }
        if ti > 0 {
            r.base = Some(segs[..ti].join("/"));
        }
    }
    r
}

/// A quantity index value, with its canonical UCUM form when the unit is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantityValue {
    pub value: Decimal,
    pub system: Option<String>,
    pub code: Option<String>,
    pub unit: Option<String>,
    /// `(value in canonical units, canonical unit)`.
    pub canonical: Option<(Decimal, String)>,
}

impl QuantityValue {
    /// Builds the value and, for UCUM units, its canonical form.
    pub fn new(
        value: Decimal,
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
    ) -> QuantityValue {
        let canonical = match (&system, &code) {
            (Some(s), Some(c)) if s == UCUM => {
                ucum_canonical(c).map(|k| (value.scaled(k.factor, k.offset), k.unit))
            }
            _ => None,
        };
        QuantityValue {
            value,
            system,
            code,
            unit,
            canonical,
        }
    }
}

/// One normalized value of one search parameter for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IndexValue {
    Number(Decimal),
    Date(DateRange),
    /// `exact` is the text as written (for `:exact`), `folded` is [`fold`]ed.
    String {
        exact: String,
        folded: String,
    },
    Token(Token),
    Reference(RefValue),
    Quantity(QuantityValue),
    Uri(String),
    /// One root item of a composite parameter: for each component, its values.
    Composite(Vec<Vec<IndexValue>>),
    /// Folded plain text (`_text`, `_content`).
    Text(String),
}

/// A sortable projection of an index value (`_sort`). Totally ordered: numbers (by
/// `f64::total_cmp`) before text.
#[derive(Debug, Clone)]
pub enum SortValue {
    Number(f64),
    Text(String),
}

impl Ord for SortValue {
    fn cmp(&self, other: &SortValue) -> Ordering {
        match (self, other) {
            (SortValue::Number(a), SortValue::Number(b)) => a.total_cmp(b),
            (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
            (SortValue::Number(_), SortValue::Text(_)) => Ordering::Less,
            (SortValue::Text(_), SortValue::Number(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for SortValue {
    fn partial_cmp(&self, other: &SortValue) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortValue {
    fn eq(&self, other: &SortValue) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortValue {}

impl IndexValue {
    /// The value `_sort` orders by: for dates the start (ascending) or the end (descending).
    pub fn sort_value(&self, descending: bool) -> Option<SortValue> {
        Some(match self {
            IndexValue::Number(d) => SortValue::Number(d.value),
            IndexValue::Date(r) => {
                SortValue::Number(if descending { r.high } else { r.low } as f64)
            }
            IndexValue::String { folded, .. } => SortValue::Text(folded.clone()),
            IndexValue::Token(t) => SortValue::Text(t.code.clone().unwrap_or_default()),
            IndexValue::Reference(r) => {
                SortValue::Text(r.local_key().or_else(|| r.url.clone()).unwrap_or_default())
            }
            IndexValue::Quantity(q) => {
                SortValue::Number(q.canonical.as_ref().map_or(q.value.value, |(d, _)| d.value))
            }
            IndexValue::Uri(u) => SortValue::Text(u.clone()),
            IndexValue::Composite(_) | IndexValue::Text(_) => return None,
        })
    }
}
