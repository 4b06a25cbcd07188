//! RFC 6902 JSON Patch with RFC 6901 JSON Pointers.

use crate::outcome::{IntoOutcome, Issue, IssueType, OperationOutcome};
use serde_json::Value;

/// Why a patch could not be applied. `index` is the operation's position in the patch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not a JSON array of operation objects.
    #[error("patch is not a JSON array of operations")]
    NotAnArray,
    /// An operation is malformed (missing member, unknown op, bad pointer syntax).
    #[error("operation {index}: {reason}")]
    Malformed { index: usize, reason: String },
    /// An operation could not be applied to the document.
    #[error("operation {index} ({op} {path}): {reason}")]
    Failed {
        index: usize,
        op: String,
        path: String,
        reason: String,
    },
    /// A FHIRPath Patch operation (`Parameters.parameter[index]`) is malformed.
    #[error("operation {index}: {reason}")]
    InvalidOperation { index: usize, reason: String },
    /// A FHIRPath Patch operation could not be applied.
    #[error("operation {index} ({op} at {path}): {reason}")]
    OperationFailed {
        index: usize,
        op: String,
        path: String,
        reason: String,
    },
}

impl IntoOutcome for PatchError {
    fn into_outcome(self) -> OperationOutcome {
        let code = match self {
            PatchError::Failed { .. } | PatchError::OperationFailed { .. } => IssueType::Processing,
            _ => IssueType::Invalid,
        };
        let mut issue = Issue::error(code, self.to_string());
        if let PatchError::InvalidOperation { index, .. }
        | PatchError::OperationFailed { index, .. } = &self
        {
            // A FHIRPath Patch is a Parameters resource: point at the failing operation in it.
            issue = issue.at(format!("Parameters.parameter[{index}]"));
        }
        OperationOutcome::single(issue)
    }
}

/// Apply a JSON Patch to `resource` atomically: on error `resource` is unchanged.
///
/// ```
/// use firn_core::patch::apply_json_patch;
/// let mut p = serde_json::json!({"resourceType": "Patient", "id": "a", "active": false});
/// let patch = serde_json::json!([{"op": "replace", "path": "/active", "value": true}]);
/// apply_json_patch(&mut p, &patch).unwrap();
/// assert_eq!(p["active"], true);
/// ```
pub fn apply_json_patch(resource: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch.as_array().ok_or(PatchError::NotAnArray)?;
    let mut doc = resource.clone();
    for (index, op) in ops.iter().enumerate() {
        apply_one(&mut doc, op, index)?;
    }
    for key in ["resourceType", "id"] {
        if resource.get(key) != doc.get(key) {
            return Err(PatchError::Failed {
                index: ops.len().saturating_sub(1),
                op: "patch".into(),
                path: format!("/{key}"),
                reason: format!("a patch may not change {key}"),
            });
        }
    }
    *resource = doc;
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Value, index: usize) -> Result<(), PatchError> {
    let malformed = |reason: &str| PatchError::Malformed {
        index,
        reason: reason.into(),
    };
    let name = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("missing \"op\""))?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("missing \"path\""))?;
    let tokens = parse_pointer(path).map_err(|r| malformed(&r))?;
    let fail = |reason: String| PatchError::Failed {
        index,
        op: name.into(),
        path: path.into(),
        reason,
    };
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| malformed("missing \"value\""))
    };
    let from = || -> Result<Vec<String>, PatchError> {
        let f = op
            .get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("missing \"from\""))?;
        parse_pointer(f).map_err(|r| malformed(&r))
    };
    match name {
        "add" => add(doc, &tokens, value()?).map_err(fail),
        "remove" => remove(doc, &tokens).map(drop).map_err(fail),
        "replace" => {
            let v = value()?;
            let target = get_mut(doc, &tokens).ok_or_else(|| fail("path does not exist".into()))?;
            *target = v;
            Ok(())
        }
        "move" => {
            let f = from()?;
            if tokens.len() > f.len() && tokens[..f.len()] == f[..] {
                return Err(fail(
                    "cannot move a value into one of its own children".into(),
                ));
            }
            let v = remove(doc, &f).map_err(fail)?;
            add(doc, &tokens, v).map_err(fail)
        }
        "copy" => {
            let v = get_mut(doc, &from()?)
                .ok_or_else(|| fail("from does not exist".into()))?
                .clone();
            add(doc, &tokens, v).map_err(fail)
        }
        "test" => {
            let v = value()?;
            match get_mut(doc, &tokens) {
                Some(actual) if *actual == v => Ok(()),
                Some(_) => Err(fail("test failed: value differs".into())),
                None => Err(fail("test failed: path does not exist".into())),
            }
        }
        other => Err(malformed(&format!("unknown op \"{other}\""))),
    }
}

/// Split an RFC 6901 pointer into unescaped reference tokens.
fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    if !p.starts_with('/') {
        return Err(format!("JSON pointer \"{p}\" must start with '/'"));
    }
    p[1..]
        .split('/')
        .map(|t| {
            if t.replace("~0", "").replace("~1", "").contains('~') {
                Err(format!("invalid escape in JSON pointer \"{p}\""))
            } else {
                Ok(t.replace("~1", "/").replace("~0", "~"))
            }
        })
        .collect()
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i: usize = if ok {
        token
            .parse()
            .map_err(|_| format!("bad array index \"{token}\""))?
    } else {
        return Err(format!("bad array index \"{token}\""));
    };
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("array index {i} out of bounds"));
    }
    Ok(i)
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => {
                let i = array_index(t, a.len(), false).ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn add(doc: &mut Value, tokens: &[String], v: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = v;
        return Ok(());
    };
    match get_mut(doc, parent) {
        Some(Value::Object(m)) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, v);
            Ok(())
        }
        Some(_) => Err("parent is not an object or array".into()),
        None => Err("parent path does not exist".into()),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match get_mut(doc, parent) {
        Some(Value::Object(m)) => m
            .remove(last)
            .ok_or_else(|| "path does not exist".to_string()),
        Some(Value::Array(a)) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("path does not exist".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_ops_and_atomicity() {
        let mut d = json!({"resourceType": "Patient", "id": "x", "a/b": 1, "m~n": [1, 2]});
        let p = json!([
            {"op": "add", "path": "/m~0n/-", "value": 3},
            {"op": "test", "path": "/a~1b", "value": 1},
            {"op": "copy", "from": "/a~1b", "path": "/c"},
            {"op": "move", "from": "/c", "path": "/d"},
            {"op": "replace", "path": "/m~0n/0", "value": 9},
            {"op": "remove", "path": "/m~0n/1"}
        ]);
        apply_json_patch(&mut d, &p).unwrap();
        assert_eq!(
            d,
            json!({"resourceType": "Patient", "id": "x", "a/b": 1, "m~n": [9, 3], "d": 1})
        );
        let before = d.clone();
        let bad = json!([{"op": "remove", "path": "/d"}, {"op": "remove", "path": "/zzz"}]);
        let err = apply_json_patch(&mut d, &bad).unwrap_err();
        assert!(matches!(err, PatchError::Failed { index: 1, .. }));
        assert_eq!(d, before);
        let id = json!([{"op": "replace", "path": "/id", "value": "y"}]);
        assert!(apply_json_patch(&mut d, &id).is_err());
        assert_eq!(d, before);
        let o = apply_json_patch(&mut d, &json!([{"op": "nope", "path": "/x"}]))
            .unwrap_err()
            .into_outcome();
        assert!(o.to_json().to_string().contains("operation 0"));
    }
}
