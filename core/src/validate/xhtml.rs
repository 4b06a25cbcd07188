//! Narrative safety: a small scanner over `Narrative.div`.
//!
//! FHIR narrative is XHTML that clients render, so it is an injection vector. The spec (txt-1,
//! txt-2) restricts it to a `<div xmlns="http://www.w3.org/1999/xhtml">` root without scripts,
//! forms, event-handler attributes or `javascript:` URLs. A full HTML parser would be heavy for
//! the browser build; a tag/attribute scanner finds exactly the things that matter.

/// Elements the FHIR narrative may not contain.
const FORBIDDEN_TAGS: &[&str] = &[
    "script", "iframe", "object", "embed", "applet", "form", "input", "button", "frame",
    "frameset", "link", "meta", "style", "base",
];

/// Problems found, each a diagnostics string. `security` is true for injection risks.
pub(crate) fn check_div(div: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let trimmed = div.trim_start();
    if !trimmed.starts_with("<div") {
        out.push((
            false,
            "the narrative must be a single <div> element".to_string(),
        ));
        return out;
    }
    let mut first = true;
    let bytes = div.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        // Comments are skipped whole.
        if div[i..].starts_with("<!--") {
            i = div[i..].find("-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        let end = find_tag_end(bytes, i + 1);
        let tag = &div[i + 1..end.min(bytes.len())];
        i = end + 1;
        if tag.starts_with('/') || tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        if first {
            first = false;
            if !has_xhtml_ns(&tag[name_end..]) {
                out.push((
                    false,
                    "the narrative <div> must declare xmlns=\"http://www.w3.org/1999/xhtml\""
                        .to_string(),
                ));
            }
        }
        if FORBIDDEN_TAGS.contains(&name.as_str()) {
            out.push((
                true,
                format!("the narrative contains a forbidden <{name}> element"),
            ));
        }
        for (attr, value) in attributes(&tag[name_end..]) {
            let lower = attr.to_ascii_lowercase();
            if lower.starts_with("on") {
                out.push((
                    true,
                    format!("the narrative contains an event attribute '{attr}' on <{name}>"),
                ));
            }
            let v = value.trim().to_ascii_lowercase();
            if (lower == "href" || lower == "src")
                && (v.starts_with("javascript:") || v.starts_with("vbscript:"))
            {
                out.push((
                    true,
                    format!("the narrative contains a script URL in '{attr}' on <{name}>"),
                ));
            }
        }
    }
    out
}

/// txt-2: some non-whitespace text outside the tags, or an image.
pub(crate) fn has_content(div: &str) -> bool {
    let bytes = div.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let end = find_tag_end(bytes, i + 1);
            let tag = &bytes[i + 1..end.min(bytes.len())];
            if tag.len() >= 3 && tag[..3].eq_ignore_ascii_case(b"img") {
                return true;
            }
            i = end + 1;
        } else if !bytes[i].is_ascii_whitespace() {
            return true;
        } else {
            i += 1;
        }
    }
    false
}

fn find_tag_end(bytes: &[u8], mut i: usize) -> usize {
    let mut quote = 0u8;
    while i < bytes.len() {
        let c = bytes[i];
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
        } else if c == b'"' || c == b'\'' {
            quote = c;
        } else if c == b'>' {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

fn has_xhtml_ns(attrs: &str) -> bool {
    attributes(attrs)
        .iter()
        .any(|(a, v)| *a == "xmlns" && *v == "http://www.w3.org/1999/xhtml")
}

/// `name="value"` pairs of a tag's attribute text (unquoted values accepted).
fn attributes(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = &s[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = &s[vs..i.min(b.len())];
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = &s[vs..i];
            }
        }
        out.push((name, value));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn txt2_content() {
        use super::has_content;
        assert!(!has_content(
            r#"<div xmlns="http://www.w3.org/1999/xhtml"> <p>  </p></div>"#
        ));
        assert!(has_content(
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div>"#
        ));
        assert!(has_content(
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><IMG src="a"/></div>"#
        ));
        assert!(!has_content("<div><é"));
    }

    use super::check_div;

    #[test]
    fn scanner() {
        let ok = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi <a href="https://x">x</a></p></div>"#;
        assert!(check_div(ok).is_empty());
        let bad = r#"<div xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(1)"/><script>x</script></div>"#;
        assert_eq!(check_div(bad).len(), 2);
        assert_eq!(check_div("<div>x</div>").len(), 1);
        assert_eq!(check_div("<p>x</p>").len(), 1);
    }
}
