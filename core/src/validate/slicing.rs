//! Checking an instance against one profile's snapshot: cardinality, fixed[x]/pattern[x],
//! bindings, type profiles and slicing.
//!
//! The snapshot is walked together with the instance, one object at a time: for each child
//! element definition of the current element id (`Patient` → `Patient.identifier`,
//! `Patient.extension:race` ...) the matching JSON members are collected, counted, compared and
//! partitioned into slices by the slicing discriminators (`value`, `pattern`, `type`, `exists`;
//! `profile` on references cannot be resolved offline and matches any). Items whose type names a
//! loaded profile (extensions, mostly) are checked against that profile too, which gives nested
//! slicing on complex extensions (`us-core-race` → `ombCategory`).

use super::Run;
use super::profile::{Profile, Profiles};
use crate::definitions::Membership;
use crate::outcome::{Issue, IssueType};
use serde_json::{Map, Value};

pub(crate) fn check_profile(
    run: &mut Run,
    profiles: &Profiles,
    profile: &Profile,
    resource: &Value,
    loc: &str,
    resource_index: usize,
) {
    let Value::Object(obj) = resource else { return };
    let root = profile.root_id();
    Checker {
        run,
        profiles,
        depth: 0,
        resource: resource_index,
    }
    .children(profile, root, obj, loc);
}

struct Checker<'r, 'v, 'p> {
    run: &'r mut Run<'v>,
    profiles: &'p Profiles,
    depth: usize,
    /// Index of the profiled resource in `Run::resource_locs`, for `%resource`.
    resource: usize,
}

impl Checker<'_, '_, '_> {
    fn issue(&mut self, issue: Issue, profile: &Profile, loc: &str) {
        let issue = Issue {
            diagnostics: format!("{} (profile {})", issue.diagnostics, profile.url),
            ..issue
        };
        self.run.push(issue, loc);
    }

    /// Checks the members of `obj`, an instance of element `parent_id` of `profile`.
    fn children(
        &mut self,
        profile: &Profile,
        parent_id: &str,
        obj: &Map<String, Value>,
        loc: &str,
    ) {
        if self.depth > 64 {
            return;
        }
        self.depth += 1;
        for &ci in profile.children_of(parent_id) {
            let el = &profile.elements[ci];
            let Some(id) = el["id"].as_str() else {
                continue;
            };
            let name = &id[parent_id.len() + 1..];
            if name.contains(':') {
                continue; // slices are handled with their base element
            }
            if let Some(base) = name.strip_suffix("[x]") {
                self.choice_types(profile, el, id, base, obj, loc);
            }
            let items = collect(obj, name, el, loc);
            self.element(profile, el, id, &items, loc);
        }
        self.depth -= 1;
    }

    /// One element definition against the items of one parent object.
    fn element(
        &mut self,
        profile: &Profile,
        el: &Value,
        id: &str,
        items: &[(&Value, String, String)],
        parent_loc: &str,
    ) {
        let path_name = id.rsplit('.').next().unwrap_or(id).trim_end_matches("[x]");
        let min_of = |e: &Value| e["min"].as_u64().unwrap_or(0);
        if items.is_empty()
            && min_of(el) == 0
            && profile
                .slices_of(id)
                .iter()
                .all(|&i| min_of(&profile.elements[i]) == 0)
        {
            return; // absent and optional: the common case, kept allocation-free
        }
        let here = format!("{parent_loc}.{path_name}");
        self.cardinality(profile, el, id, items.len(), &here);
        for (item, iloc, ty) in items {
            self.values(profile, el, item, iloc, ty);
        }
        // Slicing.
        let slices: Vec<&Value> = profile
            .slices_of(id)
            .iter()
            .map(|&i| &profile.elements[i])
            .collect();
        let mut in_slice: Vec<Option<usize>> = vec![None; items.len()];
        if !slices.is_empty() {
            let slicing = &el["slicing"];
            for (n, (item, _, ty)) in items.iter().enumerate() {
                in_slice[n] = slices
                    .iter()
                    .position(|s| self.matches(profile, slicing, s, item, ty));
            }
            for (si, s) in slices.iter().enumerate() {
                let sid = s["id"].as_str().unwrap_or_default();
                let count = in_slice.iter().filter(|x| **x == Some(si)).count();
                self.cardinality(profile, s, sid, count, &here);
                let members: Vec<(&Value, String, String)> = items
                    .iter()
                    .zip(&in_slice)
                    .filter(|(_, x)| **x == Some(si))
                    .map(|(i, _)| i.clone())
                    .collect();
                for (item, iloc, ty) in &members {
                    self.values(profile, s, item, iloc, ty);
                    if let Value::Object(o) = item {
                        self.children(profile, sid, o, iloc);
                    }
                }
            }
            // ordered: items appear in slice order; with openAtEnd, unmatched items only at the end.
            if slicing["ordered"] == true {
                let mut last = 0usize;
                let mut seen_unmatched = false;
                for (n, (_, iloc, _)) in items.iter().enumerate() {
                    let out_of_order = match in_slice[n] {
                        Some(si) if si < last || seen_unmatched => true,
                        Some(si) => {
                            last = si;
                            false
                        }
                        None => {
                            seen_unmatched = true;
                            false
                        }
                    };
                    if out_of_order {
                        self.issue(
                            Issue::error(
                                IssueType::Structure,
                                format!(
                                    "{id}: the slicing is ordered and this item is out of order"
                                ),
                            ),
                            profile,
                            iloc,
                        );
                    }
                }
            }
            if slicing["rules"] == "closed" {
                for (n, (_, iloc, _)) in items.iter().enumerate() {
                    if in_slice[n].is_none() {
                        self.issue(
                            Issue::error(
                                IssueType::Structure,
                                format!(
                                    "{id}: this item matches no slice and the slicing is closed"
                                ),
                            ),
                            profile,
                            iloc,
                        );
                    }
                }
            }
        }
        for (item, iloc, _) in items {
            if let Value::Object(o) = item {
                self.children(profile, id, o, iloc);
            }
        }
    }

    /// A profile may narrow a choice element's types: other suffixes are errors.
    fn choice_types(
        &mut self,
        profile: &Profile,
        el: &Value,
        id: &str,
        base: &str,
        obj: &Map<String, Value>,
        loc: &str,
    ) {
        let allowed: Vec<String> = el["type"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["code"].as_str())
            .map(super::walk::upper_first)
            .collect();
        if allowed.is_empty() {
            return;
        }
        for key in obj.keys() {
            let Some(suffix) = key.strip_prefix(base) else {
                continue;
            };
            if suffix.is_empty()
                || !suffix.starts_with(|c: char| c.is_ascii_uppercase())
                || allowed.iter().any(|a| a == suffix)
            {
                continue;
            }
            self.issue(
                Issue::error(
                    IssueType::Structure,
                    format!(
                        "{id}: type {suffix} is not allowed here (allowed: {})",
                        allowed.join(", ")
                    ),
                ),
                profile,
                &format!("{loc}.{key}"),
            );
        }
    }

    /// A profile may narrow a Reference's targets (`targetProfile` → the profiled type).
    fn reference_targets(&mut self, profile: &Profile, el: &Value, item: &Value, loc: &str) {
        let Some(r) = item.get("reference").and_then(Value::as_str) else {
            return;
        };
        let Some(actual) = super::walk::relative_type(r) else {
            return;
        };
        let mut types = Vec::new();
        for t in el["type"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["code"] == "Reference")
        {
            for tp in t["targetProfile"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let tp = tp.split('|').next().unwrap_or(tp);
                let ty = match self.profiles.get(tp) {
                    Some(p) => p.ty.clone(),
                    None if tp.starts_with("http://hl7.org/fhir/StructureDefinition/") => {
                        tp.rsplit('/').next().unwrap_or(tp).to_string()
                    }
                    None => return, // an unknown target profile: no verdict
                };
                types.push(ty);
            }
        }
        let defs = self.run.v.defs;
        if types.is_empty() || types.iter().any(|t| defs.is_a(actual, t)) {
            return;
        }
        let id = el["id"].as_str().unwrap_or_default();
        self.issue(
            Issue::error(
                IssueType::Structure,
                format!(
                    "{id}: may not refer to a {actual} (allowed: {})",
                    types.join(", ")
                ),
            ),
            profile,
            &format!("{loc}.reference"),
        );
    }

    fn cardinality(&mut self, profile: &Profile, el: &Value, id: &str, count: usize, loc: &str) {
        let min = el["min"].as_u64().unwrap_or(0) as usize;
        let max = el["max"].as_str().and_then(|m| m.parse::<usize>().ok());
        if count < min {
            self.issue(
                Issue::error(
                    IssueType::Required,
                    format!("{id}: minimum required = {min}, but only found {count}"),
                ),
                profile,
                loc,
            );
        }
        if let Some(max) = max
            && count > max
        {
            self.issue(
                Issue::error(
                    IssueType::Structure,
                    format!("{id}: maximum allowed = {max}, but found {count}"),
                ),
                profile,
                loc,
            );
        }
    }

    /// fixed/pattern, required binding and type profiles of one item.
    fn values(&mut self, profile: &Profile, el: &Value, item: &Value, loc: &str, ty: &str) {
        if item.is_null() {
            return;
        }
        let id = el["id"].as_str().unwrap_or_default();
        if let (Some(max), Value::String(v)) = (el["maxLength"].as_u64(), item)
            && v.chars().count() as u64 > max
        {
            self.issue(
                Issue::error(
                    IssueType::TooLong,
                    format!("{id}: longer than maxLength {max}"),
                ),
                profile,
                loc,
            );
        }
        if let Value::Number(n) = item {
            let v = n.as_f64().unwrap_or(0.0);
            let below = prefixed(el, "minValue")
                .and_then(|(_, m)| m.as_f64())
                .filter(|m| v < *m);
            let above = prefixed(el, "maxValue")
                .and_then(|(_, m)| m.as_f64())
                .filter(|m| v > *m);
            if let Some(m) = below {
                self.issue(
                    Issue::error(IssueType::Value, format!("{id}: {n} is below minValue {m}")),
                    profile,
                    loc,
                );
            }
            if let Some(m) = above {
                self.issue(
                    Issue::error(IssueType::Value, format!("{id}: {n} is above maxValue {m}")),
                    profile,
                    loc,
                );
            }
        }
        if let Some((k, fixed)) = prefixed(el, "fixed") {
            if item != fixed {
                self.issue(
                    Issue::error(
                        IssueType::Value,
                        format!("{id}: value must be exactly {fixed} ({k})"),
                    ),
                    profile,
                    loc,
                );
            }
        } else if let Some((_, pattern)) = prefixed(el, "pattern")
            && !contains(item, pattern)
        {
            self.issue(
                Issue::error(
                    IssueType::Value,
                    format!("{id}: value must match the pattern {pattern}"),
                ),
                profile,
                loc,
            );
        }
        // Profile-specific invariants (core ones are recorded by the walk).
        if self.run.collect_sites {
            let resource = self.resource;
            for c in el["constraint"].as_array().into_iter().flatten() {
                let key = c["key"].as_str().unwrap_or_default();
                let from_core = c["source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("http://hl7.org/fhir/StructureDefinition/"));
                let (false, Some(expr)) = (from_core, c["expression"].as_str()) else {
                    continue;
                };
                let core = crate::definitions::Constraint {
                    key: key.to_string(),
                    severity: c["severity"].as_str().unwrap_or("error").to_string(),
                    human: c["human"].as_str().unwrap_or_default().to_string(),
                    expression: Some(expr.to_string()),
                };
                let source = super::invariant::Source::Profile(Box::new(core));
                let context = match el["type"][0]["code"].as_str() {
                    Some("BackboneElement" | "Element") | None => {
                        el["path"].as_str().unwrap_or_default()
                    }
                    Some(t) => t,
                };
                if let Some(site) = super::invariant::Site::new(source, loc, context, resource) {
                    self.run.sites.push(site);
                }
            }
        }
        if ty == "Reference" {
            self.reference_targets(profile, el, item, loc);
        }
        let binding = &el["binding"];
        let required = binding["strength"] == "required";
        if (required || binding["strength"] == "extensible")
            && let Some(vs) = binding["valueSet"].as_str()
        {
            let vs = vs.split('|').next().unwrap_or(vs);
            self.binding(profile, id, vs, required, item, loc);
        }
        // Items typed by a loaded profile (extensions) are checked against it.
        if let (Some(types), Value::Object(o)) = (el["type"].as_array(), item) {
            for t in types {
                if t["code"].as_str() != Some(ty) && types.len() > 1 {
                    continue;
                }
                for p in t["profile"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let p = p.split('|').next().unwrap_or(p);
                    if p.starts_with("http://hl7.org/fhir/StructureDefinition/")
                        && self
                            .run
                            .v
                            .defs
                            .type_def(p.rsplit('/').next().unwrap_or(""))
                            .is_some()
                    {
                        continue; // a core type
                    }
                    match self.profiles.get(p) {
                        Some(sub) if std::ptr::eq(sub, profile) => {}
                        Some(sub) => {
                            let root = sub.root_id();
                            self.children(sub, root, o, loc);
                        }
                        None => self.not_loaded(profile, p, loc),
                    }
                }
            }
        }
    }

    fn not_loaded(&mut self, profile: &Profile, url: &str, loc: &str) {
        if !self.run.unexpanded.insert(format!("profile:{url}")) {
            return;
        }
        let missing = self.profiles.missing_deps(&profile.package);
        let why = if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; {} depends on {} which is not loaded",
                profile.package,
                missing.join(", ")
            )
        };
        self.run.push(
            Issue::information(
                IssueType::NotSupported,
                format!(
                    "{url} (used by profile {}) is not loaded: not checked{why}",
                    profile.url
                ),
            ),
            loc,
        );
    }

    /// Required: error when no code is in the set. Extensible: warning, unless `text` explains.
    fn binding(
        &mut self,
        profile: &Profile,
        id: &str,
        vs: &str,
        required: bool,
        item: &Value,
        loc: &str,
    ) {
        if !required && item.get("text").is_some() {
            return;
        }
        let codes: Vec<(Option<&str>, &str)> = match item {
            Value::String(c) => vec![(None, c.as_str())],
            Value::Object(o) if o.contains_key("coding") => o["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        c.get("system").and_then(Value::as_str),
                        c.get("code")?.as_str()?,
                    ))
                })
                .collect(),
            Value::Object(o) => match o.get("code").and_then(Value::as_str) {
                Some(c) => vec![(o.get("system").and_then(Value::as_str), c)],
                None => vec![],
            },
            _ => vec![],
        };
        if codes.is_empty() {
            return;
        }
        let mut unknown = false;
        for (s, c) in &codes {
            match self.run.v.value_set_contains(vs, *s, c) {
                Membership::Member => return,
                Membership::NotExpanded => unknown = true,
                Membership::NotMember => {}
            }
        }
        if unknown {
            if self.run.unexpanded.insert(vs.to_string()) {
                let strength = if required { "required" } else { "extensible" };
                self.run.push(
                    Issue::information(
                        IssueType::Informational,
                        format!("value set {vs} ({strength} by {id}, profile {}) cannot be expanded offline: not checked", profile.url),
                    ),
                    loc,
                );
            }
            return;
        }
        let shown: Vec<String> = codes
            .iter()
            .map(|(s, c)| format!("{}#{c}", s.unwrap_or("")))
            .collect();
        let issue = if required {
            Issue::error(
                IssueType::CodeInvalid,
                format!(
                    "{id}: {} is not in the required value set {vs}",
                    shown.join(", ")
                ),
            )
        } else {
            Issue::warning(
                IssueType::CodeInvalid,
                format!(
                    "{id}: {} is not in the extensible value set {vs} and there is no text",
                    shown.join(", ")
                ),
            )
        };
        self.issue(issue, profile, loc);
    }

    /// Does `item` belong to slice `slice` under these discriminators?
    fn matches(
        &self,
        profile: &Profile,
        slicing: &Value,
        slice: &Value,
        item: &Value,
        ty: &str,
    ) -> bool {
        let Some(discs) = slicing["discriminator"].as_array() else {
            return false;
        };
        let sid = slice["id"].as_str().unwrap_or_default();
        discs.iter().all(|d| {
            let path = d["path"].as_str().unwrap_or("$this");
            let kind = d["type"].as_str().unwrap_or("value");
            let target: Vec<&Value> = if path == "$this" {
                vec![item]
            } else {
                select(item, path)
            };
            // The constraining element: the slice itself or its descendant at `path`.
            let def = if path == "$this" {
                Some(slice)
            } else {
                profile.by_id(&format!("{sid}.{path}"))
            };
            match kind {
                "value" | "pattern" => {
                    let expected = def.and_then(|d| {
                        prefixed(d, "fixed")
                            .or_else(|| prefixed(d, "pattern"))
                            .map(|x| x.1)
                    });
                    let url_value;
                    let expected: &Value = match expected {
                        Some(e) => e,
                        // Extension slices name their URL through the type profile.
                        None if path == "url" => match slice["type"][0]["profile"][0].as_str() {
                            Some(u) => {
                                url_value = Value::String(u.to_string());
                                &url_value
                            }
                            None => return false,
                        },
                        None => {
                            // A required binding may serve as the value discriminator.
                            return false;
                        }
                    };
                    target.iter().any(|v| contains(v, expected))
                }
                "type" => {
                    let codes: Vec<&str> = def
                        .and_then(|d| d["type"].as_array())
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t["code"].as_str())
                        .collect();
                    let actual = if path == "$this" {
                        ty.to_string()
                    } else {
                        target
                            .first()
                            .and_then(|t| t.get("resourceType"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    codes.iter().any(|c| *c == actual)
                }
                "exists" => {
                    let must = def.is_some_and(|d| d["min"].as_u64().unwrap_or(0) > 0);
                    let forbidden = def.is_some_and(|d| d["max"] == "0");
                    let present = !target.is_empty();
                    (must && present) || (forbidden && !present) || (!must && !forbidden)
                }
                // profile: through resolve() it needs the referenced resource, unavailable
                // offline, so any item matches; on inline resources (Bundle.entry.resource) the
                // resource must claim the profile or be of the profiled type.
                "profile" if path.contains("resolve()") => true,
                "profile" => {
                    let Some(res) = target.first() else {
                        return false;
                    };
                    let rt = res
                        .get("resourceType")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let claimed: Vec<&str> = res
                        .pointer("/meta/profile")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    def.and_then(|d| d["type"].as_array())
                        .into_iter()
                        .flatten()
                        .flat_map(|t| t["profile"].as_array().into_iter().flatten())
                        .filter_map(Value::as_str)
                        .any(|p| {
                            claimed.contains(&p)
                                || self.profiles.get(p).is_some_and(|pp| pp.ty == rt)
                                || p.strip_prefix("http://hl7.org/fhir/StructureDefinition/")
                                    == Some(rt)
                        })
                }
                _ => true,
            }
        })
    }
}

/// The members of `obj` an element definition names: `(item, location, type code)`.
fn collect<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    el: &Value,
    loc: &str,
) -> Vec<(&'a Value, String, String)> {
    let mut out = Vec::new();
    let mut push = |key: &str, v: &'a Value, ty: String| match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                out.push((x, format!("{loc}.{key}[{i}]"), ty.clone()));
            }
        }
        v => out.push((v, format!("{loc}.{key}"), ty)),
    };
    if let Some(base) = name.strip_suffix("[x]") {
        for t in el["type"].as_array().into_iter().flatten() {
            let Some(code) = t["code"].as_str() else {
                continue;
            };
            let key = format!("{base}{}", super::walk::upper_first(code));
            if let Some(v) = obj.get(&key) {
                push(&key, v, code.to_string());
            }
        }
    } else if let Some(v) = obj.get(name) {
        let ty = el["type"][0]["code"].as_str().unwrap_or("").to_string();
        push(name, v, ty);
    } else if let Some((_, Value::Object(_))) =
        obj.iter().find(|(k, _)| k.strip_prefix('_') == Some(name))
    {
        // A primitive present only as extensions still counts.
        out.push((&Value::Null, format!("{loc}.{name}"), String::new()));
    }
    out
}

/// Follows a simple dotted path (`coding.code`, `url`) through objects and arrays.
fn select<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur = vec![v];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for c in cur {
            match c.get(seg) {
                Some(Value::Array(a)) => next.extend(a.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        cur = next;
    }
    cur
}

/// The `fixed*`/`pattern*` member of an element definition.
fn prefixed<'a>(el: &'a Value, prefix: &str) -> Option<(&'a str, &'a Value)> {
    el.as_object()?
        .iter()
        .find(|(k, _)| {
            k.starts_with(prefix)
                && k.len() > prefix.len()
                && k.as_bytes()[prefix.len()].is_ascii_uppercase()
        })
        .map(|(k, v)| (k.as_str(), v))
}

/// Pattern semantics: every member of `pattern` is present in `v` (arrays: each pattern item
/// matches some item).
pub(crate) fn contains(v: &Value, pattern: &Value) -> bool {
    match (v, pattern) {
        (Value::Object(o), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| o.get(k).is_some_and(|ov| contains(ov, pv))),
        (Value::Array(a), Value::Array(p)) => {
            p.iter().all(|pv| a.iter().any(|av| contains(av, pv)))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}
