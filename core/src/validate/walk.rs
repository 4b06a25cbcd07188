//! The structural walk: one pass over a resource's JSON, guided by the definitions.
//!
//! Every JSON key is resolved with `Definitions::child` against the current context (a type name or
//! an inline-group path), so unknown and misplaced elements, wrong choice suffixes and array/single
//! mismatches all fall out of the same lookup. While walking, each node gets the checks of its type
//! (primitive rules, bindings, references, extensions, narrative), and each object gets the
//! cardinality check of its context's children. Invariants and profiles run afterwards over the
//! same `Value` (see `invariant.rs` and `profile.rs`).

use super::primitive::{clip, json_kind};
use super::{Run, Validator};
use crate::definitions::{BindingStrength, ElementDef, Membership, TypeDef};
use crate::outcome::{Issue, IssueType};
use serde_json::{Map, Value};

impl Run<'_> {
    /// Validates a resource object found at `path` (the empty string for the root).
    pub(crate) fn resource(&mut self, value: &Value, path: &str) {
        let v = self.v;
        let Value::Object(obj) = value else {
            self.push(
                Issue::error(
                    IssueType::Structure,
                    format!("a resource must be a JSON object, not {}", json_kind(value)),
                ),
                path,
            );
            return;
        };
        let rt = match obj.get("resourceType") {
            Some(Value::String(rt)) if v.defs.is_resource_type(rt) => rt.as_str(),
            Some(Value::String(rt)) => {
                self.push(
                    Issue::error(
                        IssueType::Structure,
                        format!("unknown resourceType '{}'", clip(rt)),
                    ),
                    &join(path, "resourceType"),
                );
                return;
            }
            Some(_) => {
                self.push(
                    Issue::error(IssueType::Structure, "resourceType must be a string"),
                    &join(path, "resourceType"),
                );
                return;
            }
            None => {
                self.push(
                    Issue::error(IssueType::Required, "the resource has no resourceType"),
                    path,
                );
                return;
            }
        };
        let path = if path.is_empty() {
            rt.to_string()
        } else {
            path.to_string()
        };
        // `#id` references resolve against the contained resources of the outermost resource.
        let pushed = if let Some(Value::Array(contained)) = obj.get("contained") {
            let ids = contained
                .iter()
                .filter_map(|c| {
                    let id = c.get("id")?.as_str()?.to_string();
                    let rt = c.get("resourceType").and_then(Value::as_str).unwrap_or("");
                    Some((id, rt.to_string()))
                })
                .collect();
            self.contained.push(ids);
            true
        } else {
            false
        };
        self.resource_locs.push(path.clone());
        self.resource_stack.push(self.resource_locs.len() - 1);
        let skip = if pushed {
            &[][..]
        } else {
            super::invariant::VACUOUS_WITHOUT_CONTAINED
        };
        self.sites_for(None, self.v.defs.type_def(rt), rt, &path, skip);
        self.object(obj, rt, &path, true);
        self.resource_stack.pop();
        if rt == "Bundle" && !self.structure_only {
            self.bundle(obj, &path);
        }
        if pushed {
            self.contained.pop();
        }
    }

    /// Walks the members of an object of context `context` (type name or inline-group path).
    pub(crate) fn object(
        &mut self,
        obj: &Map<String, Value>,
        context: &str,
        path: &str,
        is_resource: bool,
    ) {
        let defs = self.v.defs;
        if obj.is_empty() {
            self.push(
                Issue::error(
                    IssueType::Structure,
                    "empty objects are not allowed in FHIR",
                ),
                path,
            );
            return;
        }
        // (element, number of occurrences, JSON key seen first) for the cardinality check.
        let mut seen: Vec<(&ElementDef, usize, &str)> = Vec::new();
        // Most objects have no `_x` primitive companions: then no key needs a partner lookup.
        let has_companions = obj.keys().any(|k| k.starts_with('_'));
        let table = defs.child_table(context);
        for (key, value) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            let (name, companion) = match key.strip_prefix('_') {
                Some(n) => (n, true),
                None => (key.as_str(), false),
            };
            let Some(child) = table.and_then(|t| t.get(name)) else {
                self.unknown_key(context, key, path);
                continue;
            };
            let loc = join(path, name);
            let count = match value {
                Value::Array(a) => a.len(),
                _ => 1,
            };
            if let Some(entry) = seen
                .iter_mut()
                .find(|(e, _, _)| std::ptr::eq(*e, child.element))
            {
                if child.is_choice && entry.2.trim_start_matches('_') != name {
                    self.push(
                        Issue::error(
                            IssueType::Structure,
                            format!(
                                "only one type of {} may be present ('{}' and '{}')",
                                child.element.path, entry.2, key
                            ),
                        ),
                        &loc,
                    );
                }
                entry.1 = entry.1.max(count);
            } else {
                seen.push((child.element, count, key));
            }
            let is_array = child.element.is_array();
            if companion {
                if !defs.is_primitive(child.type_code) {
                    self.push(
                        Issue::error(
                            IssueType::Structure,
                            format!("'{key}' is only allowed beside a primitive element"),
                        ),
                        &loc,
                    );
                    continue;
                }
                self.shape(value, is_array, &loc, key, |run, item, iloc| match item {
                    Value::Null => {}
                    Value::Object(o) => {
                        // Extensions inside `_birthDate` have the primitive as their context.
                        let outer = run.primitive_type.replace(child.type_code);
                        run.object(o, "Element", iloc, false);
                        run.primitive_type = outer;
                    }
                    other => run.push(
                        Issue::error(
                            IssueType::Structure,
                            format!("'{key}' must hold objects, not {}", json_kind(other)),
                        ),
                        iloc,
                    ),
                });
                continue;
            }
            let partner = if has_companions {
                obj.get(&format!("_{key}"))
            } else {
                None
            };
            let el = child.element;
            // Resource.id is a `string` in the snapshot but an `id` in meaning (fhir-type extension).
            let (type_code, ty) = if is_resource && name == "id" {
                ("id", defs.type_def("id"))
            } else {
                (child.type_code, child.type_def)
            };
            let ctx = child.context;
            self.shape(value, is_array, &loc, key, |run, item, iloc| {
                run.item(item, iloc, el, (type_code, ty), ctx, context, path, partner);
            });
        }
        // Cardinality: only elements with a minimum or a maximum above one can be violated.
        for el in defs.bounded_children(context) {
            let count = seen
                .iter()
                .find(|(e, _, _)| std::ptr::eq(*e, el))
                .map_or(0, |s| s.1);
            if count < el.min as usize {
                let name = el.name().trim_end_matches("[x]");
                let what = if count == 0 {
                    "missing".to_string()
                } else {
                    format!("present {count} times")
                };
                self.push(
                    Issue::error(
                        IssueType::Required,
                        format!("{} is required (min {}) but {what}", el.path, el.min),
                    ),
                    &join(path, name),
                );
            }
            if let Some(max) = el.max
                && count > max as usize
                && max > 1
            {
                self.push(
                    Issue::error(
                        IssueType::Structure,
                        format!("{} allows at most {max} but has {count}", el.path),
                    ),
                    &join(path, el.name().trim_end_matches("[x]")),
                );
            }
        }
    }

    /// Checks the array/single shape of a member and calls `each` for each item with its location.
    fn shape(
        &mut self,
        value: &Value,
        is_array: bool,
        loc: &str,
        key: &str,
        mut each: impl FnMut(&mut Self, &Value, &str),
    ) {
        match value {
            Value::Array(items) => {
                if !is_array {
                    self.push(
                        Issue::error(
                            IssueType::Structure,
                            format!("'{key}' is a single value, not an array"),
                        ),
                        loc,
                    );
                    return;
                }
                if items.is_empty() {
                    self.push(
                        Issue::error(IssueType::Structure, "empty arrays are not allowed in FHIR"),
                        loc,
                    );
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    let iloc = index(loc, i);
                    each(self, item, &iloc);
                }
            }
            _ if is_array => {
                self.push(
                    Issue::error(
                        IssueType::Structure,
                        format!("'{key}' repeats: it must be an array"),
                    ),
                    loc,
                );
                each(self, value, loc);
            }
            _ => each(self, value, loc),
        }
    }

    /// One item of an element: primitive, complex or resource.
    #[allow(clippy::too_many_arguments)]
    fn item(
        &mut self,
        item: &Value,
        loc: &str,
        el: &'static ElementDef,
        (type_code, ty): (&str, Option<&'static TypeDef>),
        ctx: &str,
        parent_ctx: &str,
        parent_path: &str,
        partner: Option<&Value>,
    ) {
        if item.is_null() {
            // A null is only a placeholder matching a `_key` entry at the same index.
            let idx = loc
                .rsplit('[')
                .next()
                .and_then(|s| s.trim_end_matches(']').parse::<usize>().ok());
            let partner_ok = match (partner, idx) {
                (Some(Value::Array(p)), Some(i)) => p.get(i).is_some_and(|x| !x.is_null()),
                _ => false,
            };
            if !partner_ok {
                self.push(
                    Issue::error(IssueType::Structure, "null is not allowed here"),
                    loc,
                );
            }
            return;
        }
        // The type (resolved with the child, no lookup): the primitive test and the type's own
        // constraints.
        if ty.is_some_and(|t| t.kind == crate::definitions::TypeKind::Primitive) {
            if let Err(msg) = self.v.prims.check(type_code, item) {
                self.push(Issue::error(IssueType::Value, msg), loc);
                return;
            }
            if self.structure_only {
                return;
            }
            self.sites_for(Some(el), ty, type_code, loc, &[]);
            if type_code == "xhtml"
                && let Value::String(div) = item
            {
                for (security, msg) in super::xhtml::check_div(div) {
                    let code = if security {
                        IssueType::Security
                    } else {
                        IssueType::Invalid
                    };
                    self.push(Issue::error(code, msg).with_details_code("txt-1"), loc);
                }
                if div.trim_start().starts_with("<div") && !super::xhtml::has_content(div) {
                    let msg = "txt-2: the narrative SHALL have some non-whitespace content";
                    self.push(
                        Issue::error(IssueType::Invariant, msg).with_details_code("txt-2"),
                        loc,
                    );
                }
            }
            if type_code == "code"
                && let Value::String(code) = item
            {
                self.binding(el, &[(None, code.as_str())], false, loc);
            }
            if el.path == "Reference.reference"
                && let Value::String(r) = item
            {
                self.reference_format(r, loc);
            }
            return;
        }
        if type_code == "Resource" {
            self.resource(item, loc);
            return;
        }
        let Value::Object(obj) = item else {
            self.push(
                Issue::error(
                    IssueType::Structure,
                    format!(
                        "{} must be a JSON object ({type_code}), not {}",
                        el.path,
                        json_kind(item)
                    ),
                ),
                loc,
            );
            return;
        };
        self.object(obj, ctx, loc, false);
        if self.structure_only {
            return;
        }
        self.sites_for(Some(el), ty, ctx, loc, &[]);
        match type_code {
            "Coding" => {
                let sys = obj.get("system").and_then(Value::as_str);
                if let Some(code) = obj.get("code").and_then(Value::as_str) {
                    self.binding(el, &[(sys, code)], false, loc);
                }
            }
            "CodeableConcept" => {
                let codes: Vec<(Option<&str>, &str)> = obj
                    .get("coding")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        Some((
                            c.get("system").and_then(Value::as_str),
                            c.get("code")?.as_str()?,
                        ))
                    })
                    .collect();
                self.binding(el, &codes, obj.contains_key("text"), loc);
            }
            "Reference" => self.reference_target(obj, el, loc),
            "Extension" => self.extension(obj, parent_ctx, parent_path, loc),
            _ => {}
        }
    }

    /// A key with no element: explain wrong choice suffixes and missing ones.
    fn unknown_key(&mut self, context: &str, key: &str, path: &str) {
        let defs = self.v.defs;
        let name = key.trim_start_matches('_');
        for el in defs.children(context).filter(|e| e.is_choice()) {
            let base = el.name().trim_end_matches("[x]");
            if name == base {
                self.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "'{key}' needs a type suffix ({})",
                            allowed_suffixes(el, base)
                        ),
                    ),
                    &join(path, name),
                );
                return;
            }
            if let Some(rest) = name.strip_prefix(base)
                && rest.starts_with(|c: char| c.is_ascii_uppercase())
            {
                self.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "'{key}' is not an allowed type for {} (allowed: {})",
                            el.path,
                            allowed_suffixes(el, base)
                        ),
                    ),
                    &join(path, name),
                );
                return;
            }
        }
        let msg = if key == "resourceType" {
            "resourceType is only allowed at the root of a resource".to_string()
        } else {
            format!("unknown element '{key}' in {context}")
        };
        self.push(Issue::error(IssueType::Structure, msg), &join(path, name));
    }

    /// Required bindings: error; extensible: warning unless text explains; others: nothing.
    fn binding(
        &mut self,
        el: &ElementDef,
        codes: &[(Option<&str>, &str)],
        has_text: bool,
        loc: &str,
    ) {
        let Some(b) = &el.binding else { return };
        let Some(vs) = &b.value_set else { return };
        if !matches!(
            b.strength,
            BindingStrength::Required | BindingStrength::Extensible
        ) || codes.is_empty()
        {
            return;
        }
        let mut not_expanded = false;
        for (sys, code) in codes {
            match self.v.value_set_contains(vs, *sys, code) {
                Membership::Member => return,
                Membership::NotExpanded => not_expanded = true,
                Membership::NotMember => {}
            }
        }
        let shown: Vec<String> = codes
            .iter()
            .map(|(s, c)| match s {
                Some(s) => format!("{s}#{c}"),
                None => c.to_string(),
            })
            .collect();
        if not_expanded {
            if self.unexpanded.insert(vs.clone()) {
                self.push(
                    Issue::information(
                        IssueType::Informational,
                        format!("value set {vs} cannot be expanded offline: codes bound to it were not checked"),
                    ),
                    loc,
                );
            }
            return;
        }
        match b.strength {
            BindingStrength::Required => self.push(
                Issue::error(
                    IssueType::CodeInvalid,
                    format!("{} is not in the required value set {vs}", shown.join(", ")),
                ),
                loc,
            ),
            _ if !has_text => self.push(
                Issue::warning(
                    IssueType::CodeInvalid,
                    format!(
                        "{} is not in the extensible value set {vs} and there is no text",
                        shown.join(", ")
                    ),
                ),
                loc,
            ),
            _ => {}
        }
    }

    /// The lexical forms a reference may take.
    fn reference_format(&mut self, r: &str, loc: &str) {
        if let Some(id) = r.strip_prefix('#') {
            if id.is_empty() {
                return; // refers to the containing resource
            }
            let found = self
                .contained
                .last()
                .is_some_and(|ids| ids.iter().any(|(i, _)| i == id));
            if !found {
                self.push(
                    Issue::error(
                        IssueType::NotFound,
                        format!(
                            "reference '#{}' has no matching contained resource",
                            clip(id)
                        ),
                    )
                    .with_details_code("ref-1"),
                    loc,
                );
            }
            return;
        }
        if let Some(u) = r.strip_prefix("urn:uuid:") {
            if !is_uuid(u) {
                self.push(
                    Issue::error(
                        IssueType::Value,
                        format!("'{}' is not a valid urn:uuid", clip(r)),
                    ),
                    loc,
                );
            }
            return;
        }
        if r.starts_with("urn:oid:") || r.contains("://") {
            return;
        }
        if let Some((ty, _)) = r.split_once('?') {
            if !self.v.defs.is_resource_type(ty) {
                self.push(
                    Issue::error(
                        IssueType::Value,
                        format!(
                            "conditional reference '{}' does not start with a resource type",
                            clip(r)
                        ),
                    ),
                    loc,
                );
            }
            return;
        }
        if relative_type(r).is_none() {
            self.push(
                Issue::error(
                    IssueType::Value,
                    format!("'{}' is not a valid reference (expected Type/id, an absolute URL, #id or urn:uuid:)", clip(r)),
                ),
                loc,
            );
        }
    }

    /// The referenced type must be one the element's targetProfile allows.
    fn reference_target(&mut self, obj: &Map<String, Value>, el: &ElementDef, loc: &str) {
        let r = obj.get("reference").and_then(Value::as_str).unwrap_or("");
        if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
            // Resolved against the enclosing Bundle's fullUrls once the Bundle is walked.
            self.urn_refs.push((
                join(loc, "reference").to_string(),
                r.to_string(),
                targets_of(el),
            ));
            return;
        }
        let contained_type = r.strip_prefix('#').and_then(|id| {
            let ids = self.contained.last()?;
            ids.iter().find(|(i, _)| i == id).map(|(_, t)| t.clone())
        });
        let ty = if let Some(t) = relative_type(r) {
            Some(t)
        } else if let Some(t) = contained_type.as_deref() {
            Some(t)
        } else if r.contains("://") {
            absolute_type(r, self.v)
        } else if let Some((t, _)) = r.split_once('?') {
            Some(t)
        } else {
            None
        };
        let (ty, at) = match ty {
            Some(t) => (t, "reference"),
            None => match obj.get("type").and_then(Value::as_str) {
                Some(t) => (t, "type"),
                None => return,
            },
        };
        if !self.v.defs.is_resource_type(ty) {
            return;
        }
        let targets = targets_of(el);
        if targets.is_empty() || targets.iter().any(|t| self.v.defs.is_a(ty, t)) {
            return;
        }
        self.push(
            Issue::error(
                IssueType::Structure,
                format!(
                    "{} may not refer to a {ty} (allowed: {})",
                    el.path,
                    targets.join(", ")
                ),
            ),
            &join(loc, at),
        );
    }

    /// ext-1, known definitions (value type, context), unknown URLs.
    fn extension(
        &mut self,
        obj: &Map<String, Value>,
        parent_ctx: &str,
        parent_path: &str,
        loc: &str,
    ) {
        let value_key = obj.keys().find(|k| k.starts_with("value"));
        let has_ext = obj.contains_key("extension");
        if value_key.is_some() == has_ext {
            let msg = if has_ext {
                "an extension must have either extensions or a value[x], not both"
            } else {
                "an extension must have either extensions or a value[x]"
            };
            self.push(
                Issue::error(IssueType::Invariant, msg).with_details_code("ext-1"),
                loc,
            );
        }
        let Some(url) = obj.get("url").and_then(Value::as_str) else {
            return;
        };
        if !url.contains(':') {
            return; // a sub-extension of a complex extension: checked by its parent's definition
        }
        let Some(def) = self.v.extension(url) else {
            self.push(
                Issue::warning(
                    IssueType::Extension,
                    format!("unknown extension {}", clip(url)),
                ),
                loc,
            );
            return;
        };
        if let Some(k) = value_key {
            let suffix = &k["value".len()..];
            if !def.value_types.is_empty() && !def.value_types.iter().any(|t| eq_suffix(t, suffix))
            {
                self.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "extension {url} does not allow a {suffix} value (allowed: {})",
                            def.value_types.join(", ")
                        ),
                    ),
                    &join(loc, k),
                );
            }
        }
        // Package extensions are checked (with their slicing) as profiles; core ones here.
        if !def.children.is_empty()
            && self.v.defs.extension(url).is_some()
            && let Some(Value::Array(subs)) = obj.get("extension")
        {
            for (curl, min, max) in &def.children {
                let n = subs
                    .iter()
                    .filter(|s| s.get("url").and_then(Value::as_str) == Some(curl))
                    .count();
                if n < *min as usize || max.is_some_and(|m| n > m as usize) {
                    let max_s = max.map_or("*".to_string(), |m| m.to_string());
                    self.push(
                        Issue::error(
                            IssueType::Structure,
                            format!("extension {url}: sub-extension '{curl}' occurs {n} times, allowed {min}..{max_s}"),
                        ),
                        &join(loc, "extension"),
                    );
                }
            }
        }
        let parent_ctx = match (parent_ctx, self.primitive_type) {
            ("Element", Some(p)) => p,
            (c, _) => c,
        };
        let ok = def.contexts.is_empty()
            || def.contexts.iter().any(|(kind, expr)| {
                kind != "element"
                    || expr == "Element"
                    || expr == parent_ctx
                    || (expr == "BackboneElement" && parent_ctx.contains('.'))
                    || self.v.defs.is_a(parent_ctx, expr)
                    || parent_path_matches(parent_path, expr)
            });
        if !ok {
            let allowed: Vec<&str> = def.contexts.iter().map(|(_, e)| e.as_str()).collect();
            self.push(
                Issue::error(
                    IssueType::Structure,
                    format!(
                        "extension {url} is not allowed on {parent_ctx} (contexts: {})",
                        allowed.join(", ")
                    ),
                ),
                loc,
            );
        }
    }

    /// fullUrl must agree with the entry resource's type and id.
    fn bundle(&mut self, obj: &Map<String, Value>, path: &str) {
        let Some(Value::Array(entries)) = obj.get("entry") else {
            return;
        };
        // urn: references made inside this Bundle must resolve to one of its entries.
        let full_urls: Vec<(&str, &str)> = entries
            .iter()
            .filter_map(|e| {
                let full = e.get("fullUrl")?.as_str()?;
                let rt = e.get("resource")?.get("resourceType")?.as_str()?;
                Some((full, rt))
            })
            .collect();
        let strict = matches!(
            obj.get("type").and_then(Value::as_str),
            Some("transaction" | "document" | "message")
        );
        let inside = format!("{path}.entry[");
        let refs = std::mem::take(&mut self.urn_refs);
        let (mine, others): (Vec<_>, Vec<_>) = refs
            .into_iter()
            .partition(|(loc, _, _)| loc.starts_with(&inside));
        self.urn_refs = others;
        for (loc, r, targets) in mine {
            match full_urls.iter().find(|(f, _)| *f == r) {
                Some((_, rt)) => {
                    if !targets.is_empty() && !targets.iter().any(|t| self.v.defs.is_a(rt, t)) {
                        self.push(
                            Issue::error(
                                IssueType::Structure,
                                format!(
                                    "'{r}' resolves to a {rt}, which is not allowed here (allowed: {})",
                                    targets.join(", ")
                                ),
                            ),
                            &loc,
                        );
                    }
                }
                None => {
                    let msg = format!("'{r}' does not resolve to an entry of this Bundle");
                    let issue = if strict {
                        Issue::error(IssueType::NotFound, msg)
                    } else {
                        Issue::warning(IssueType::NotFound, msg)
                    };
                    self.push(issue, &loc);
                }
            }
        }
        for (i, e) in entries.iter().enumerate() {
            let (Some(full), Some(res)) =
                (e.get("fullUrl").and_then(Value::as_str), e.get("resource"))
            else {
                continue;
            };
            let (Some(rt), Some(id)) = (
                res.get("resourceType").and_then(Value::as_str),
                res.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            if full.starts_with("urn:") {
                continue;
            }
            let tail = format!("/{rt}/{id}");
            let base = full.split("/_history/").next().unwrap_or(full);
            if !base.ends_with(&tail) {
                self.push(
                    Issue::error(
                        IssueType::Invalid,
                        format!(
                            "fullUrl '{}' does not match the resource {rt}/{id}",
                            clip(full)
                        ),
                    )
                    .with_details_code("bdl-7"),
                    &format!("{path}.entry[{i}].fullUrl"),
                );
            }
        }
    }
}

/// The resource types a Reference element may point to (empty = any).
fn targets_of(el: &ElementDef) -> Vec<String> {
    el.types
        .iter()
        .filter(|t| t.code == "Reference")
        .flat_map(|t| t.target_profiles.iter())
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .filter(|t| t != "Resource")
        .collect()
}

/// `Patient.name` + `given` → `Patient.name.given`; the root joins without a dot.
/// A location (`Patient.name[0].given`) built on the stack when it fits. The walk makes one per
/// JSON key and per array item but keeps only the few that end up in an issue or an invariant
/// site, so a heap allocation for each was its largest allocation cost (measured in wasm:
/// allocation was ~15 % of batch validation).
pub(crate) enum Loc {
    Inline(arrayvec::ArrayString<LOC_INLINE>),
    Heap(String),
}

const LOC_INLINE: usize = 150;

impl Loc {
    fn of(parts: &[&str]) -> Loc {
        let mut s = arrayvec::ArrayString::new();
        for p in parts {
            if s.try_push_str(p).is_err() {
                return Loc::Heap(parts.concat());
            }
        }
        Loc::Inline(s)
    }
}

impl std::ops::Deref for Loc {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Loc::Inline(s) => s,
            Loc::Heap(s) => s,
        }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// `path.name` (or `name` at the root).
pub(crate) fn join(path: &str, name: &str) -> Loc {
    if path.is_empty() {
        Loc::of(&[name])
    } else {
        Loc::of(&[path, ".", name])
    }
}

/// `loc[i]`: the location of an array item.
pub(crate) fn index(loc: &str, i: usize) -> Loc {
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    let mut rest = i;
    loop {
        n -= 1;
        digits[n] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = std::str::from_utf8(&digits[n..]).unwrap_or("0");
    Loc::of(&[loc, "[", digits, "]"])
}

fn allowed_suffixes(el: &ElementDef, base: &str) -> String {
    el.types
        .iter()
        .map(|t| format!("{base}{}", upper_first(&t.code)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

fn eq_suffix(ty: &str, suffix: &str) -> bool {
    upper_first(ty) == suffix
}

/// `Type/id` or `Type/id/_history/vid` → `Type`.
pub(crate) fn relative_type(r: &str) -> Option<&str> {
    let parts: Vec<&str> = r.split('/').collect();
    let ok_id = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    let ty_ok = |s: &str| crate::definitions::Definitions::r4().is_resource_type(s);
    match parts.as_slice() {
        [t, id] if ty_ok(t) && ok_id(id) => Some(t),
        [t, id, "_history", v] if ty_ok(t) && ok_id(id) && ok_id(v) => Some(t),
        _ => None,
    }
}

/// The type segment of an absolute RESTful URL (`https://x/fhir/Patient/1`).
fn absolute_type<'a>(r: &'a str, v: &Validator) -> Option<&'a str> {
    let base = r.split("/_history/").next().unwrap_or(r);
    let mut it = base.rsplit('/');
    let _id = it.next()?;
    let ty = it.next()?;
    v.defs.is_resource_type(ty).then_some(ty)
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

/// `Patient.address[0]` matches the context expression `Patient.address`.
fn parent_path_matches(path: &str, expr: &str) -> bool {
    let mut clean = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    clean == expr || clean.ends_with(&format!(".{expr}"))
}
