//! Recognising a patch body by content type, including HealthLake's convention of carrying a
//! JSON Patch inside a `Binary` resource (base64 `data`) so it can travel in a Bundle.

use super::json_patch::PatchError;
use serde_json::Value;

/// A parsed patch body.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchDocument {
    /// An RFC 6902 JSON Patch (array of operations).
    Json(Value),
    /// A FHIRPath Patch `Parameters` resource.
    FhirPath(Value),
}

impl PatchDocument {
    /// Parse a body given its content type (`application/json-patch+json` or `application/fhir+json`).
    ///
    /// ```
    /// use firn_core::patch::PatchDocument;
    /// let d = PatchDocument::parse("application/json-patch+json", b"[]").unwrap();
    /// assert_eq!(d, PatchDocument::Json(serde_json::json!([])));
    /// ```
    pub fn parse(content_type: &str, body: &[u8]) -> Result<PatchDocument, PatchError> {
        let bad = |reason: String| PatchError::Malformed { index: 0, reason };
        let value: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
        let mime = content_type.split(';').next().unwrap_or("").trim();
        match (mime, value.get("resourceType").and_then(Value::as_str)) {
            ("application/json-patch+json", _) if value.is_array() => {
                Ok(PatchDocument::Json(value))
            }
            ("application/json-patch+json", _) => Err(PatchError::NotAnArray),
            ("application/fhir+json" | "application/json", Some("Parameters")) => {
                Ok(PatchDocument::FhirPath(value))
            }
            ("application/fhir+json" | "application/json", Some("Binary")) => {
                let data = value
                    .get("data")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("Binary has no data".into()))?;
                let bytes = decode_base64(data)
                    .ok_or_else(|| bad("Binary.data is not valid base64".into()))?;
                PatchDocument::parse("application/json-patch+json", &bytes)
            }
            _ => Err(bad(format!(
                "unsupported patch content type \"{content_type}\" or body"
            ))),
        }
    }
}

impl PatchDocument {
    /// Applies the patch to `resource`, atomically (see [`super::apply_json_patch`] and
    /// [`super::apply_fhirpath_patch`]).
    ///
    /// ```
    /// use firn_core::patch::PatchDocument;
    /// let mut r = serde_json::json!({"resourceType": "Patient", "id": "p", "active": false});
    /// let d = PatchDocument::parse("application/json-patch+json",
    ///     br#"[{"op": "replace", "path": "/active", "value": true}]"#).unwrap();
    /// d.apply(&mut r).unwrap();
    /// assert_eq!(r["active"], true);
    /// ```
    pub fn apply(&self, resource: &mut Value) -> Result<(), PatchError> {
        match self {
            PatchDocument::Json(p) => super::apply_json_patch(resource, p),
            PatchDocument::FhirPath(p) => super::apply_fhirpath_patch(resource, p),
        }
    }
}

/// Standard base64 (RFC 4648) decoder; whitespace ignored, padding optional.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::IntoOutcome;

    #[test]
    fn binary_carries_json_patch() {
        // base64 of [{"op":"remove","path":"/a"}]
        let body = br#"{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJyZW1vdmUiLCJwYXRoIjoiL2EifV0="}"#;
        let d = PatchDocument::parse("application/fhir+json", body).unwrap();
        assert_eq!(
            d,
            PatchDocument::Json(serde_json::json!([{"op": "remove", "path": "/a"}]))
        );
    }

    #[test]
    fn error_outcomes() {
        let e = PatchDocument::parse("application/json-patch+json", b"{}").unwrap_err();
        insta::assert_json_snapshot!("not_array", e.into_outcome().to_json());
        let e = PatchDocument::parse(
            "application/fhir+json",
            br#"{"resourceType":"Binary","data":"!!"}"#,
        )
        .unwrap_err();
        insta::assert_json_snapshot!("bad_base64", e.into_outcome().to_json());
        let mut r = serde_json::json!({"resourceType": "Patient", "id": "a"});
        let p = serde_json::json!([{"op": "test", "path": "/id", "value": "b"}]);
        let e = super::super::apply_json_patch(&mut r, &p).unwrap_err();
        insta::assert_json_snapshot!("test_failed", e.into_outcome().to_json());
    }

    /// FHIRPath Patch errors point at the failing operation (`Parameters.parameter[i]`).
    #[test]
    fn fhirpath_patch_error_outcomes() {
        let op = |parts: serde_json::Value| {
            serde_json::json!({"resourceType": "Parameters", "parameter": [
                {"name": "operation", "part": [{"name": "type", "valueCode": "delete"},
                                               {"name": "path", "valueString": "Patient.active"}]},
                {"name": "operation", "part": parts}]})
        };
        let original = serde_json::json!({"resourceType": "Patient", "id": "a", "active": true,
            "identifier": [{"use": "official", "value": "1"}]});
        let run = |patch: serde_json::Value| {
            let mut r = original.clone();
            let e = super::super::apply_fhirpath_patch(&mut r, &patch).unwrap_err();
            assert_eq!(r, original, "a failed patch leaves the resource unchanged");
            e.into_outcome().to_json()
        };
        insta::assert_json_snapshot!(
            "fhirpath_no_content",
            run(op(serde_json::json!([
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient.identifier.where(use = 'official').period"},
            {"name": "name", "valueString": "end"},
            {"name": "value", "valueDate": "2021-12-01"}])))
        );
        insta::assert_json_snapshot!(
            "fhirpath_bad_path",
            run(op(serde_json::json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.name.where("},
            {"name": "value", "valueString": "x"}])))
        );
        insta::assert_json_snapshot!(
            "fhirpath_unknown_type",
            run(op(serde_json::json!([
            {"name": "type", "valueCode": "upsert"},
            {"name": "path", "valueString": "Patient"}])))
        );
        insta::assert_json_snapshot!(
            "fhirpath_changes_id",
            run(op(serde_json::json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.id"},
            {"name": "value", "valueId": "b"}])))
        );
        insta::assert_json_snapshot!(
            "fhirpath_index_out_of_range",
            run(op(serde_json::json!([
            {"name": "type", "valueCode": "insert"},
            {"name": "path", "valueString": "Patient.identifier"},
            {"name": "index", "valueInteger": 5},
            {"name": "value", "valueIdentifier": {"value": "2"}}])))
        );
    }
}
