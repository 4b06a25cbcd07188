//! FHIRPath Patch: a FHIR `Parameters` resource whose `operation` parameters add, insert, delete,
//! replace and move elements found by FHIRPath expressions.
//!
//! The spec's rules, which other servers often get wrong and which this module follows:
//! - `add` needs its path to find exactly one element and adds `name` to it — appended when the
//!   element repeats; `insert` and `move` work on the list the path finds, by index;
//! - `delete` of nothing is not an error, `delete` of several elements is; `replace` of nothing is;
//! - all operations apply in order to one working copy, which replaces the resource only when
//!   every operation succeeded, and never changes `resourceType` or `id`.
//!
//! Elements are found with the FHIRPath engine, whose items carry their JSON location, and written
//! with the definitions' view of the JSON: repeating elements are arrays, a primitive's `id` and
//! extensions live in its `_name` companion (kept aligned inside arrays), a choice element's key
//! carries its type (`valueQuantity`), and elements left empty by a delete are removed (FHIR JSON
//! forbids empty objects and arrays).

use super::PatchError;
use crate::definitions::Definitions;
use crate::fhirpath::{Env, Expression, PathStep};
use serde_json::{Map, Value};

/// Applies a FHIRPath Patch (`Parameters`) to `resource`, atomically.
///
/// ```
/// use firn_core::patch::apply_fhirpath_patch;
/// let mut patient = serde_json::json!({"resourceType": "Patient", "id": "p",
///     "name": [{"given": ["Ann"]}]});
/// let patch = serde_json::json!({"resourceType": "Parameters", "parameter": [
///     {"name": "operation", "part": [
///         {"name": "type", "valueCode": "insert"},
///         {"name": "path", "valueString": "Patient.name[0].given"},
///         {"name": "index", "valueInteger": 0},
///         {"name": "value", "valueString": "Mary"}]},
///     {"name": "operation", "part": [
///         {"name": "type", "valueCode": "add"},
///         {"name": "path", "valueString": "Patient"},
///         {"name": "name", "valueString": "birthDate"},
///         {"name": "value", "valueDate": "1970-01-01"}]}]});
/// apply_fhirpath_patch(&mut patient, &patch).unwrap();
/// assert_eq!(patient["name"][0]["given"], serde_json::json!(["Mary", "Ann"]));
/// assert_eq!(patient["birthDate"], "1970-01-01");
/// ```
pub fn apply_fhirpath_patch(resource: &mut Value, params: &Value) -> Result<(), PatchError> {
    let ops = parse_operations(params)?;
    let mut doc = resource.clone();
    for (index, op) in ops.iter().enumerate() {
        let failed = |reason: String| PatchError::OperationFailed {
            index,
            op: op.kind.name().to_string(),
            path: op.path.clone(),
            reason,
        };
        op.apply(&mut doc).map_err(failed)?;
        for key in ["resourceType", "id"] {
            if doc.get(key) != resource.get(key) {
                return Err(failed(format!("a patch may not change `{key}`")));
            }
        }
    }
    *resource = doc;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Insert => "insert",
            Kind::Delete => "delete",
            Kind::Replace => "replace",
            Kind::Move => "move",
        }
    }
}

/// A value given in a patch: a typed `value[x]` (with its `_value[x]` companion), a resource, or
/// an anonymous type spelled as nested parts.
#[derive(Debug, Clone)]
enum PatchValue {
    Typed {
        suffix: String,
        value: Value,
        companion: Option<Value>,
    },
    Parts(Vec<(String, PatchValue)>),
}

#[derive(Debug)]
struct Operation {
    kind: Kind,
    path: String,
    expr: Expression,
    name: Option<String>,
    value: Option<PatchValue>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

fn malformed(index: usize, reason: impl Into<String>) -> PatchError {
    PatchError::InvalidOperation {
        index,
        reason: reason.into(),
    }
}

fn parse_operations(params: &Value) -> Result<Vec<Operation>, PatchError> {
    if params.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(malformed(0, "a FHIRPath Patch is a Parameters resource"));
    }
    let Some(list) = params.get("parameter") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| malformed(0, "Parameters.parameter must be an array"))?;
    list.iter()
        .enumerate()
        .map(|(i, p)| parse_operation(i, p))
        .collect()
}

fn parse_operation(i: usize, p: &Value) -> Result<Operation, PatchError> {
    if p.get("name").and_then(Value::as_str) != Some("operation") {
        return Err(malformed(i, "every parameter must be named `operation`"));
    }
    let parts = p
        .get("part")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(i, "an operation needs parts"))?;
    let part = |name: &str| {
        parts
            .iter()
            .find(|x| x.get("name").and_then(Value::as_str) == Some(name))
    };
    let string = |name: &str| -> Option<String> {
        part(name).and_then(|x| {
            x.as_object()?
                .iter()
                .find(|(k, v)| k.starts_with("value") && v.is_string())
                .and_then(|(_, v)| v.as_str().map(str::to_string))
        })
    };
    let integer = |name: &str| -> Result<Option<usize>, PatchError> {
        match part(name) {
            None => Ok(None),
            Some(x) => x
                .get("valueInteger")
                .and_then(Value::as_u64)
                .map(|n| Some(n as usize))
                .ok_or_else(|| malformed(i, format!("`{name}` must be a valueInteger ≥ 0"))),
        }
    };
    let kind = match string("type").as_deref() {
        Some("add") => Kind::Add,
        Some("insert") => Kind::Insert,
        Some("delete") => Kind::Delete,
        Some("replace") => Kind::Replace,
        Some("move") => Kind::Move,
        Some(other) => return Err(malformed(i, format!("unknown operation type `{other}`"))),
        None => return Err(malformed(i, "the operation has no `type`")),
    };
    let path = string("path").ok_or_else(|| malformed(i, "the operation has no `path`"))?;
    let expr = Expression::compile(&path)
        .map_err(|e| malformed(i, format!("path `{path}` is not valid FHIRPath: {e}")))?;
    let value = match part("value") {
        Some(v) => Some(patch_value(v).map_err(|r| malformed(i, r))?),
        None => None,
    };
    let op = Operation {
        kind,
        path,
        expr,
        name: string("name"),
        value,
        index: integer("index")?,
        source: integer("source")?,
        destination: integer("destination")?,
    };
    let need = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(malformed(i, format!("{} needs {what}", kind.name())))
        }
    };
    match kind {
        Kind::Add => need(
            op.name.is_some() && op.value.is_some(),
            "`name` and `value`",
        )?,
        Kind::Insert => need(
            op.index.is_some() && op.value.is_some(),
            "`index` and `value`",
        )?,
        Kind::Replace => need(op.value.is_some(), "`value`")?,
        Kind::Move => need(
            op.source.is_some() && op.destination.is_some(),
            "`source` and `destination`",
        )?,
        Kind::Delete => {}
    }
    Ok(op)
}

/// Reads the `value` part: `value[x]` (+ `_value[x]`), `resource`, or nested `part`s.
fn patch_value(part: &Value) -> Result<PatchValue, String> {
    let obj = part.as_object().ok_or("a part must be an object")?;
    if let Some(r) = obj.get("resource") {
        return Ok(PatchValue::Typed {
            suffix: "Resource".into(),
            value: r.clone(),
            companion: None,
        });
    }
    for (k, v) in obj {
        if let Some(suffix) = k.strip_prefix("value") {
            return Ok(PatchValue::Typed {
                suffix: suffix.to_string(),
                value: v.clone(),
                companion: obj.get(&format!("_{k}")).cloned(),
            });
        }
    }
    if let Some(Value::Array(parts)) = obj.get("part") {
        let mut out = Vec::new();
        for p in parts {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a nested part has no name")?;
            out.push((name.to_string(), patch_value(p)?));
        }
        return Ok(PatchValue::Parts(out));
    }
    Err("the value part has no value[x], resource or parts".into())
}

/// Where an element lives: the JSON steps to it, split as parent + last step.
type Steps = Vec<PathStep>;

impl Operation {
    fn apply(&self, doc: &mut Value) -> Result<(), String> {
        let found: Vec<Steps> = {
            let items = self
                .expr
                .evaluate(doc, &Env::default())
                .map_err(|e| format!("evaluating the path failed: {e}"))?;
            items
                .iter()
                .map(|it| {
                    if it.is_node() {
                        Ok(it.json_path())
                    } else {
                        Err("the path selects a computed value, not an element".to_string())
                    }
                })
                .collect::<Result<_, _>>()?
        };
        match self.kind {
            Kind::Add => {
                let target = single(&found, &self.path, "adding")?;
                let name = self.name.as_deref().unwrap_or_default();
                let value = self.value.as_ref().ok_or("no value")?;
                add(doc, &target, name, value)
            }
            Kind::Insert => {
                let (parent, key, len) = list(doc, &found, &self.path)?;
                let index = self.index.unwrap_or_default();
                if index > len {
                    return Err(format!(
                        "index {index} is outside the list (it has {len} items)"
                    ));
                }
                let value = self.value.as_ref().ok_or("no value")?;
                let ctx = context_at(doc, &parent).ok_or("unknown element context")?;
                let (key, v, companion) = materialize(&ctx, &key, value)?;
                let obj = object_at(doc, &parent)?;
                insert_item(obj, &key, index, v, companion);
                Ok(())
            }
            Kind::Delete => match found.len() {
                0 => Ok(()),
                1 => {
                    remove_at(doc, &found[0])?;
                    prune_empty(doc, &found[0]);
                    Ok(())
                }
                n => Err(format!("the path matches {n} elements; delete needs one")),
            },
            Kind::Replace => {
                let target = single(&found, &self.path, "replacing")?;
                let value = self.value.as_ref().ok_or("no value")?;
                replace(doc, &target, value)
            }
            Kind::Move => {
                let (parent, key, len) = list(doc, &found, &self.path)?;
                let (s, d) = (
                    self.source.unwrap_or_default(),
                    self.destination.unwrap_or_default(),
                );
                if s >= len || d >= len {
                    return Err(format!(
                        "source {s} and destination {d} must be below the list's length {len}"
                    ));
                }
                let obj = object_at(doc, &parent)?;
                for k in [key.clone(), format!("_{key}")] {
                    if let Some(Value::Array(a)) = obj.get_mut(&k)
                        && s < a.len()
                    {
                        let item = a.remove(s);
                        a.insert(d.min(a.len()), item);
                    }
                }
                Ok(())
            }
        }
    }
}

fn single(found: &[Steps], path: &str, doing: &str) -> Result<Steps, String> {
    match found {
        [one] => Ok(one.clone()),
        [] => Err(format!("No content found at {path} when {doing}")),
        many => Err(format!(
            "the path {path} matches {} elements; {doing} needs exactly one",
            many.len()
        )),
    }
}

/// The list a path selects: its parent object's steps, its key and its length. Every item must
/// come from the same array. An empty result is an empty list only when the path ends in
/// `.name` of an existing single element — then the list is created on insert.
fn list(doc: &Value, found: &[Steps], path: &str) -> Result<(Steps, String, usize), String> {
    let Some(first) = found.first() else {
        return Err(format!("No content found at {path}: no list to work on"));
    };
    let (parent, key) = match first.split_last() {
        Some((PathStep::Index(_), before)) => match before.split_last() {
            Some((PathStep::Key(k), parent)) => (parent.to_vec(), base_key(k).to_string()),
            _ => return Err(format!("{path} is not a list")),
        },
        _ => return Err(format!("{path} is not a list of repeating elements")),
    };
    for f in found {
        if f.len() != first.len() || f[..f.len() - 1] != first[..first.len() - 1] {
            return Err(format!("{path} selects elements from more than one list"));
        }
    }
    let len = get_at(doc, &parent)
        .and_then(|p| p.get(&key))
        .and_then(Value::as_array)
        .map_or(found.len(), Vec::len);
    Ok((parent, key, len))
}

fn base_key(k: &str) -> &str {
    k.strip_prefix('_').unwrap_or(k)
}

fn get_at<'a>(doc: &'a Value, steps: &[PathStep]) -> Option<&'a Value> {
    let mut v = doc;
    for s in steps {
        v = match s {
            PathStep::Key(k) => v.get(k.as_str())?,
            PathStep::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn get_at_mut<'a>(doc: &'a mut Value, steps: &[PathStep]) -> Option<&'a mut Value> {
    let mut v = doc;
    for s in steps {
        v = match s {
            PathStep::Key(k) => v.get_mut(k.as_str())?,
            PathStep::Index(i) => v.get_mut(*i)?,
        };
    }
    Some(v)
}

fn object_at<'a>(
    doc: &'a mut Value,
    steps: &[PathStep],
) -> Result<&'a mut Map<String, Value>, String> {
    get_at_mut(doc, steps)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "the target is not an element with children".to_string())
}

/// The definitions context (type name or backbone path) of the element at `steps`.
fn context_at(doc: &Value, steps: &[PathStep]) -> Option<String> {
    let defs = Definitions::r4();
    let mut ctx = doc.get("resourceType")?.as_str()?.to_string();
    let mut node = doc;
    for s in steps {
        match s {
            PathStep::Index(i) => node = node.get(*i)?,
            PathStep::Key(k) => {
                node = node.get(k.as_str())?;
                let key = base_key(k);
                if k.starts_with('_') {
                    // A primitive's companion: an Element (id, extension).
                    ctx = "Element".into();
                    continue;
                }
                let child = defs.child(&ctx, key)?;
                ctx = if child.type_code == "Resource" || defs.is_resource_type(child.type_code) {
                    let first = match node {
                        Value::Array(a) => a.first()?,
                        v => v,
                    };
                    first
                        .get("resourceType")
                        .and_then(Value::as_str)
                        .unwrap_or(child.type_code)
                        .to_string()
                } else {
                    child.context.to_string()
                };
            }
        }
    }
    Some(ctx)
}

/// Turns a patch value into the JSON for element `name` in context `ctx`: the JSON key (a choice
/// element's key carries the type), the value, and the primitive's `_key` companion.
fn materialize(
    ctx: &str,
    name: &str,
    value: &PatchValue,
) -> Result<(String, Value, Option<Value>), String> {
    let defs = Definitions::r4();
    match value {
        PatchValue::Typed {
            suffix,
            value,
            companion,
        } => {
            let key = if defs.child(ctx, name).is_some_and(|c| !c.is_choice) {
                name.to_string()
            } else if defs.child(ctx, &format!("{name}{suffix}")).is_some() {
                format!("{name}{suffix}")
            } else {
                return Err(format!("{ctx} has no element `{name}` of type {suffix}"));
            };
            Ok((key, value.clone(), companion.clone()))
        }
        PatchValue::Parts(parts) => {
            let child = defs
                .child(ctx, name)
                .ok_or_else(|| format!("{ctx} has no element `{name}`"))?;
            let inner = child.context.to_string();
            let mut obj = Map::new();
            for (n, v) in parts {
                let (k, json, comp) = materialize(&inner, n, v)?;
                let repeats = defs
                    .child(&inner, &k)
                    .is_some_and(|c| c.element.max != Some(1));
                if repeats {
                    let len = obj.get(&k).and_then(Value::as_array).map_or(0, Vec::len);
                    insert_item(&mut obj, &k, len, json, comp);
                } else {
                    obj.insert(k.clone(), json);
                    if let Some(c) = comp {
                        obj.insert(format!("_{k}"), c);
                    }
                }
            }
            Ok((name.to_string(), Value::Object(obj), None))
        }
    }
}

/// Inserts an item into the array `key` of `obj` at `index`, keeping `_key` aligned.
fn insert_item(
    obj: &mut Map<String, Value>,
    key: &str,
    index: usize,
    value: Value,
    companion: Option<Value>,
) {
    let arr = obj.entry(key).or_insert_with(|| Value::Array(vec![]));
    if !arr.is_array() {
        *arr = Value::Array(vec![arr.take()]);
    }
    let len = if let Value::Array(a) = arr {
        let at = index.min(a.len());
        a.insert(at, value);
        a.len()
    } else {
        0
    };
    let ckey = format!("_{key}");
    if companion.is_none() && !obj.contains_key(&ckey) {
        return;
    }
    let carr = obj.entry(ckey).or_insert_with(|| Value::Array(vec![]));
    if let Value::Array(c) = carr {
        while c.len() + 1 < len {
            c.push(Value::Null);
        }
        c.insert(index.min(c.len()), companion.unwrap_or(Value::Null));
    }
}

fn add(doc: &mut Value, target: &[PathStep], name: &str, value: &PatchValue) -> Result<(), String> {
    let ctx = context_at(doc, target).ok_or("unknown element context")?;
    let (key, json, companion) = materialize(&ctx, name, value)?;
    let repeats = Definitions::r4()
        .child(&ctx, &key)
        .is_some_and(|c| c.element.max != Some(1));
    // Adding to a primitive (an extension, an id) goes into its `_name` companion.
    let target: Steps = match (get_at(doc, target), target.split_last()) {
        (Some(v), Some((PathStep::Key(k), parent))) if !v.is_object() && !v.is_array() => {
            let mut t = parent.to_vec();
            t.push(PathStep::Key(format!("_{}", base_key(k))));
            ensure_object(doc, &t)?;
            t
        }
        (Some(v), Some((PathStep::Index(i), before))) if !v.is_object() => {
            let Some((PathStep::Key(k), parent)) = before.split_last() else {
                return Err("cannot add to this element".into());
            };
            let mut t = parent.to_vec();
            let ck = format!("_{}", base_key(k));
            t.push(PathStep::Key(ck.clone()));
            let len = get_at(doc, before)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let pobj = object_at(doc, parent)?;
            let c = pobj
                .entry(ck)
                .or_insert_with(|| Value::Array(vec![Value::Null; len]));
            if let Value::Array(a) = c {
                a.resize(len.max(a.len()), Value::Null);
                if a[*i].is_null() {
                    a[*i] = Value::Object(Map::new());
                }
            }
            t.push(PathStep::Index(*i));
            t
        }
        _ => target.to_vec(),
    };
    let obj = object_at(doc, &target)?;
    if repeats {
        let len = obj.get(&key).and_then(Value::as_array).map_or(0, Vec::len);
        insert_item(obj, &key, len, json, companion);
    } else {
        if obj.contains_key(&key) {
            return Err(format!("`{key}` already has a value; use replace"));
        }
        if !json.is_null() {
            obj.insert(key.clone(), json);
        }
        if let Some(c) = companion {
            obj.insert(format!("_{key}"), c);
        }
    }
    Ok(())
}

fn ensure_object(doc: &mut Value, steps: &[PathStep]) -> Result<(), String> {
    let Some((PathStep::Key(k), parent)) = steps.split_last() else {
        return Err("cannot add here".into());
    };
    let obj = object_at(doc, parent)?;
    obj.entry(k.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    Ok(())
}

fn replace(doc: &mut Value, target: &[PathStep], value: &PatchValue) -> Result<(), String> {
    let (last, parent) = target
        .split_last()
        .ok_or("cannot replace the resource itself")?;
    match last {
        PathStep::Key(k) => {
            let pctx = context_at(doc, parent).ok_or("unknown element context")?;
            let base = base_key(k).to_string();
            let defs = Definitions::r4();
            // For a choice element the FHIRPath name is the key without its type.
            let name = match defs.child(&pctx, &base) {
                Some(c) if c.is_choice => c
                    .element
                    .path
                    .rsplit('.')
                    .next()
                    .unwrap_or(&base)
                    .trim_end_matches("[x]")
                    .to_string(),
                _ => base.clone(),
            };
            let (key, json, companion) = materialize(&pctx, &name, value)?;
            let obj = object_at(doc, parent)?;
            // Keep the element where it was (same key: replaced in place).
            if key != base || json.is_null() {
                obj.shift_remove(&base);
            }
            obj.shift_remove(&format!("_{base}"));
            if !json.is_null() {
                obj.insert(key.clone(), json);
            }
            if let Some(c) = companion {
                obj.insert(format!("_{key}"), c);
            }
            Ok(())
        }
        PathStep::Index(i) => {
            let Some((PathStep::Key(k), grand)) = parent.split_last() else {
                return Err("cannot replace here".into());
            };
            let base = base_key(k).to_string();
            let pctx = context_at(doc, grand).ok_or("unknown element context")?;
            let (_, json, companion) = materialize(&pctx, &base, value)?;
            let obj = object_at(doc, grand)?;
            if let Some(Value::Array(a)) = obj.get_mut(&base)
                && *i < a.len()
            {
                a[*i] = json;
            }
            let ckey = format!("_{base}");
            match (obj.get_mut(&ckey), companion) {
                (Some(Value::Array(c)), comp) if *i < c.len() => {
                    c[*i] = comp.unwrap_or(Value::Null);
                }
                (None, Some(comp)) => {
                    let len = obj.get(&base).and_then(Value::as_array).map_or(0, Vec::len);
                    let mut c = vec![Value::Null; len];
                    c[*i] = comp;
                    obj.insert(ckey, Value::Array(c));
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// Removes the element at `steps` (with its `_name` companion).
fn remove_at(doc: &mut Value, steps: &[PathStep]) -> Result<(), String> {
    let (last, parent) = steps
        .split_last()
        .ok_or("cannot delete the resource itself")?;
    match last {
        PathStep::Key(k) => {
            let base = base_key(k).to_string();
            let obj = object_at(doc, parent)?;
            obj.shift_remove(&base);
            obj.shift_remove(&format!("_{base}"));
        }
        PathStep::Index(i) => {
            let Some((PathStep::Key(k), grand)) = parent.split_last() else {
                return Err("cannot delete here".into());
            };
            let base = base_key(k).to_string();
            let obj = object_at(doc, grand)?;
            for key in [base.clone(), format!("_{base}")] {
                if let Some(Value::Array(a)) = obj.get_mut(&key)
                    && *i < a.len()
                {
                    a.remove(*i);
                }
            }
            let ckey = format!("_{base}");
            if obj
                .get(&ckey)
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().all(Value::is_null))
            {
                obj.shift_remove(&ckey);
            }
        }
    }
    Ok(())
}

/// After a delete, removes the objects and arrays on the way to `steps` that became empty.
fn prune_empty(doc: &mut Value, steps: &[PathStep]) {
    for depth in (1..steps.len()).rev() {
        let (parent, last) = (&steps[..depth - 1], &steps[depth - 1]);
        let Some(node) = get_at(doc, &steps[..depth]) else {
            continue;
        };
        let empty = match node {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty {
            let _ = match last {
                PathStep::Key(k) => object_at(doc, parent).map(|o| {
                    o.shift_remove(k.as_str());
                }),
                PathStep::Index(i) => {
                    if let Some(Value::Array(a)) = get_at_mut(doc, parent)
                        && *i < a.len()
                    {
                        a.remove(*i);
                    }
                    Ok(())
                }
            };
        }
    }
}
