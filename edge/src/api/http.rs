//! HTTP details of the FHIR REST API: the request and response types the handler works on, and
//! header helpers (ETags, `Prefer`, dates, content types, ids).

use super::error::ApiError;

/// An HTTP request as the handler sees it: no sockets, no runtime. Header names are matched
/// case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, ... (upper case).
    pub method: String,
    /// The path below the FHIR base, e.g. `/Patient/1/_history/2`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path_and_query: &str) -> Request {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
}

/// The handler's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// The first header with this name in a list (case-insensitive).
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `W/"3"` for version 3.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The version in an `If-Match` value (`W/"3"`, `"3"` or `3`).
pub fn parse_etag(v: &str) -> Result<u64, ApiError> {
    let t = v.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    let t = t.trim_matches('"');
    t.parse::<u64>().map_err(|_| {
        ApiError::BadRequest(format!("invalid ETag `{v}`: expected W/\"<versionId>\""))
    })
}

/// IMF-fixdate (`Mon, 23 Nov 2026 12:24:24 GMT`) for `Last-Modified`.
pub fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = ms.div_euclid(86_400_000);
    let secs = ms.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = firn_core::calendar::civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// FHIR instant (`2026-11-23T12:24:24.123Z`) for `meta.lastUpdated`.
pub fn instant(ms: i64) -> String {
    firn_core::search::value::format_instant(ms)
}

/// `Prefer: return=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// The parts of `Prefer` Firn honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefer {
    pub ret: Return,
    pub lenient: bool,
}

impl Prefer {
    pub fn parse(v: Option<&str>) -> Prefer {
        let mut p = Prefer::default();
        for part in v.unwrap_or("").split([',', ';']) {
            match part.trim().replace(' ', "").as_str() {
                "return=minimal" => p.ret = Return::Minimal,
                "return=representation" => p.ret = Return::Representation,
                "return=OperationOutcome" => p.ret = Return::OperationOutcome,
                "handling=lenient" => p.lenient = true,
                "handling=strict" => p.lenient = false,
                _ => {}
            }
        }
        p
    }
}

/// A FHIR id: `[A-Za-z0-9\-\.]{1,64}` (the rule NDJSON import checks too) — except `.` and `..`,
/// which URLs cannot address (clients normalize them away as path segments).
pub fn valid_id(id: &str) -> bool {
    firn_core::ndjson::IdRule::Fhir.accepts(id) && id != "." && id != ".."
}

/// A UUID in its canonical text form (any version).
pub fn valid_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Media types the API accepts for resource bodies.
pub fn is_json_type(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "application/fhir+json" | "application/json" | "application/json+fhir" | "json" | ""
    )
}

/// Media types the API refuses with 415 and a pointer to JSON.
pub fn unsupported_type(what: &str, content_type: &str) -> ApiError {
    let xml = content_type.to_ascii_lowercase().contains("xml");
    ApiError::UnsupportedMediaType(if xml {
        format!(
            "{what} `{content_type}` is not supported: Firn speaks FHIR JSON only \
             (application/fhir+json); convert XML to JSON first"
        )
    } else {
        format!("{what} `{content_type}` is not supported: use application/fhir+json")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(1_700_000_000_000),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn etags() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag("W/\"3\"").unwrap(), 3);
        assert_eq!(parse_etag("\"12\"").unwrap(), 12);
        assert_eq!(parse_etag(" 4 ").unwrap(), 4);
        assert!(parse_etag("W/\"x\"").is_err());
    }

    #[test]
    fn ids_and_uuids() {
        assert!(valid_id("a-B.9"));
        assert!(valid_id(&"a".repeat(64)));
        assert!(!valid_id(&"a".repeat(65)));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id("..") && !valid_id("."));
        assert!(valid_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!valid_uuid("123e4567e89b12d3a456426614174000"));
    }

    #[test]
    fn prefer_and_media_types() {
        let p = Prefer::parse(Some("return=minimal, handling=lenient"));
        assert_eq!(p.ret, Return::Minimal);
        assert!(p.lenient);
        assert_eq!(Prefer::parse(None), Prefer::default());
        assert!(is_json_type("application/fhir+json; charset=utf-8"));
        assert!(!is_json_type("application/fhir+xml"));
    }
}
