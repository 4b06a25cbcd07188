//! `_elements`: write only the requested top-level elements of each resource.
//!
//! Bulk Data's `_elements` (and search's) ask for a subset of each resource. What must survive
//! regardless: `resourceType`, `id`, `meta`, and every element the resource definition makes
//! mandatory (min ≥ 1, from [`Definitions`]) — otherwise the output would not be a valid resource.
//! A resource that lost elements is tagged `SUBSETTED`
//! (`http://terminology.hl7.org/CodeSystem/v3-ObservationValue`) so no consumer mistakes it for
//! the whole record.

use crate::definitions::Definitions;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The `meta.tag` system and code marking a projected resource.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// A parsed `_elements` list: names for every type (`name`) and per type (`Patient.name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elements {
    any_type: BTreeSet<String>,
    per_type: BTreeSet<(String, String)>,
}

impl Elements {
    /// Parses the comma-separated `_elements` values (several occurrences may be passed).
    ///
    /// ```
    /// use firn_core::ndjson::Elements;
    /// let e = Elements::parse(["gender,Patient.birthDate", "Observation.code"]);
    /// assert!(e.wants("Patient", "birthDate") && e.wants("Observation", "gender"));
    /// assert!(!e.wants("Observation", "birthDate"));
    /// ```
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Elements {
        let mut e = Elements::default();
        for v in values {
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match item.split_once('.') {
                    Some((ty, name)) => {
                        e.per_type.insert((ty.to_string(), name.to_string()));
                    }
                    None => {
                        e.any_type.insert(item.to_string());
                    }
                }
            }
        }
        e
    }

    pub fn is_empty(&self) -> bool {
        self.any_type.is_empty() && self.per_type.is_empty()
    }

    /// True when `name` was asked for on resources of `resource_type`.
    pub fn wants(&self, resource_type: &str, name: &str) -> bool {
        self.any_type.contains(name)
            || self
                .per_type
                .contains(&(resource_type.to_string(), name.to_string()))
    }

    /// The entries as written (`name`, `Type.name`), for error messages and manifests.
    pub fn entries(&self) -> impl Iterator<Item = String> + '_ {
        self.any_type
            .iter()
            .cloned()
            .chain(self.per_type.iter().map(|(t, n)| format!("{t}.{n}")))
    }

    /// Projects `resource` in place; returns true when something was removed (and the resource
    /// was tagged SUBSETTED). Does nothing when the list is empty.
    ///
    /// ```
    /// use firn_core::ndjson::Elements;
    /// use firn_core::definitions::Definitions;
    /// let mut obs = serde_json::json!({"resourceType":"Observation","id":"o","status":"final",
    ///     "code":{"text":"x"},"valueString":"v","note":[{"text":"n"}]});
    /// assert!(Elements::parse(["valueString"]).project(&mut obs, Definitions::r4()));
    /// // status and code are mandatory (min 1) in Observation, so they stay
    /// assert!(obs.get("note").is_none() && obs["status"] == "final" && obs["code"]["text"] == "x");
    /// assert_eq!(obs["meta"]["tag"][0]["code"], "SUBSETTED");
    /// ```
    pub fn project(&self, resource: &mut Value, defs: &Definitions) -> bool {
        if self.is_empty() {
            return false;
        }
        let Value::Object(map) = resource else {
            return false;
        };
        let Some(rt) = map
            .get("resourceType")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return false;
        };
        let mandatory: Vec<String> = defs
            .children(&rt)
            .filter(|e| e.min >= 1)
            .map(|e| e.name().to_string())
            .collect();
        let keep = |key: &str| -> bool {
            let key = key.strip_prefix('_').unwrap_or(key);
            matches!(key, "resourceType" | "id" | "meta")
                || self.wants(&rt, key)
                || mandatory.iter().any(|m| name_matches(m, key))
                || self.wants_choice(&rt, key)
        };
        let before = map.len();
        map.retain(|k, _| keep(k));
        let removed = map.len() < before;
        if removed {
            tag_subsetted(map);
        }
        removed
    }

    /// `_elements=value[x]` or `_elements=value` keep `valueQuantity` etc.
    fn wants_choice(&self, rt: &str, key: &str) -> bool {
        let wanted = self.any_type.iter().map(String::as_str).chain(
            self.per_type
                .iter()
                .filter(|(t, _)| t == rt)
                .map(|(_, n)| n.as_str()),
        );
        for w in wanted {
            if name_matches(w, key) {
                return true;
            }
        }
        false
    }
}

/// `name` is an element name (possibly a choice `value[x]`); `key` a JSON key.
fn name_matches(name: &str, key: &str) -> bool {
    match name.strip_suffix("[x]") {
        Some(stem) => key
            .strip_prefix(stem)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())),
        None => name == key,
    }
}

fn tag_subsetted(map: &mut Map<String, Value>) {
    let meta = map.entry("meta").or_insert_with(|| json!({}));
    let Value::Object(meta) = meta else { return };
    let tags = meta.entry("tag").or_insert_with(|| json!([]));
    let Value::Array(tags) = tags else { return };
    let present = tags.iter().any(|t| {
        t.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
            && t.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
    });
    if !present {
        tags.push(json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_primitive_extensions_and_choice_and_existing_meta() {
        let d = Definitions::r4();
        let mut p = json!({"resourceType":"Patient","id":"p","meta":{"versionId":"2"},
            "birthDate":"2000-01-01","_birthDate":{"extension":[]},"gender":"male",
            "deceasedBoolean":false});
        assert!(Elements::parse(["birthDate,deceased[x]"]).project(&mut p, d));
        assert_eq!(
            p,
            json!({"resourceType":"Patient","id":"p","meta":{"versionId":"2","tag":[
                {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}]},
                "birthDate":"2000-01-01","_birthDate":{"extension":[]},"deceasedBoolean":false})
        );
        // nothing removed: no tag
        let mut q = json!({"resourceType":"Patient","id":"q","gender":"male"});
        assert!(!Elements::parse(["gender"]).project(&mut q, d));
        assert!(q.get("meta").is_none());
    }
}
