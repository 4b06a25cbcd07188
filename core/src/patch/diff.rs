//! Structural diffs that produce a JSON Patch or a FHIRPath Patch.
//!
//! Objects are compared key by key. Lists are planned once, by [`plan_list`], for both formats:
//! items equal in both lists are kept (and moved if their order changed), unmatched items are
//! paired in order and diffed in place, the remaining old items are deleted and the remaining new
//! items inserted. So deleting the second of three identifiers is one `delete`, not two
//! `replace`s and a `remove`, and a reordered list is a few `move`s.
//!
//! FHIRPath Patch output follows the shape of the official test cases: a complex element whose
//! `id` changed is replaced whole, otherwise diffed field by field; new items appended to a list
//! are `add`s on the parent, others `insert`s; anonymous (backbone) values are nested parts.

use crate::definitions::Definitions;
use serde_json::{Map, Value, json};

/// A JSON Patch (array of operations) that turns `a` into `b`.
///
/// ```
/// use firn_core::patch::{apply_json_patch, diff_json_patch};
/// let a = serde_json::json!({"resourceType": "Patient", "id": "a", "active": false});
/// let b = serde_json::json!({"resourceType": "Patient", "id": "a", "active": true});
/// let mut x = a.clone();
/// apply_json_patch(&mut x, &diff_json_patch(&a, &b)).unwrap();
/// assert_eq!(x, b);
/// ```
pub fn diff_json_patch(a: &Value, b: &Value) -> Value {
    let mut ops = Vec::new();
    walk(a, b, &mut String::new(), &mut ops);
    Value::Array(ops)
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(a: &Value, b: &Value, path: &mut String, ops: &mut Vec<Value>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => objects(x, y, path, ops),
        (Value::Array(x), Value::Array(y)) => {
            for step in plan_list(x, y) {
                match step {
                    ListStep::Delete(pos) => {
                        ops.push(json!({"op": "remove", "path": format!("{path}/{pos}")}))
                    }
                    ListStep::Modify(pos, i, j) => {
                        let len = path.len();
                        path.push_str(&format!("/{pos}"));
                        walk(&x[i], &y[j], path, ops);
                        path.truncate(len);
                    }
                    ListStep::Insert(pos, j, append) => {
                        let at = if append {
                            "-".to_string()
                        } else {
                            pos.to_string()
                        };
                        ops.push(
                            json!({"op": "add", "path": format!("{path}/{at}"), "value": y[j]}),
                        )
                    }
                    ListStep::Move(from, to) => ops.push(json!({"op": "move",
                        "from": format!("{path}/{from}"), "path": format!("{path}/{to}")})),
                }
            }
        }
        _ if a == b => {}
        _ => ops.push(json!({"op": "replace", "path": path.clone(), "value": b})),
    }
}

fn objects(
    x: &Map<String, Value>,
    y: &Map<String, Value>,
    path: &mut String,
    ops: &mut Vec<Value>,
) {
    for k in x.keys().filter(|k| !y.contains_key(*k)) {
        ops.push(json!({"op": "remove", "path": format!("{path}/{}", escape(k))}));
    }
    for (k, vb) in y {
        let len = path.len();
        path.push('/');
        path.push_str(&escape(k));
        match x.get(k) {
            Some(va) => walk(va, vb, path, ops),
            None => ops.push(json!({"op": "add", "path": path.clone(), "value": vb})),
        }
        path.truncate(len);
    }
}

/// One step of turning list `a` into list `b`; positions are in the list as it is when the step
/// runs (steps apply in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStep {
    /// Remove the item at this position.
    Delete(usize),
    /// The item now at `pos` is `a[i]`; diff it into `b[j]` in place.
    Modify(usize, usize, usize),
    /// Insert `b[j]` at `pos`; `true` when that appends.
    Insert(usize, usize, bool),
    /// Move the item at `from` to `to`.
    Move(usize, usize),
}

/// Plans the list edit: deletes, then in-place modifications, then inserts, then moves.
pub(crate) fn plan_list<T: PartialEq>(a: &[T], b: &[T]) -> Vec<ListStep> {
    // Label each item: Old(i) for a[i] (kept or modified), New(j) for an inserted b[j].
    #[derive(Clone, Copy, PartialEq)]
    enum Label {
        Old(usize),
        New(usize),
    }
    let mut used = vec![false; a.len()];
    let mut target: Vec<Option<usize>> = vec![None; b.len()]; // b[j] ← a[i], exact
    for (j, item) in b.iter().enumerate() {
        if let Some(i) = (0..a.len()).find(|&i| !used[i] && a[i] == *item) {
            used[i] = true;
            target[j] = Some(i);
        }
    }
    let unmatched_a: Vec<usize> = (0..a.len()).filter(|&i| !used[i]).collect();
    let unmatched_b: Vec<usize> = (0..b.len()).filter(|&j| target[j].is_none()).collect();
    let paired = unmatched_a.len().min(unmatched_b.len());
    let mut modified = Vec::new();
    for k in 0..paired {
        target[unmatched_b[k]] = Some(unmatched_a[k]);
        modified.push((unmatched_a[k], unmatched_b[k]));
    }
    let mut steps = Vec::new();
    let mut current: Vec<Label> = (0..a.len()).map(Label::Old).collect();
    for &i in &unmatched_a[paired..] {
        if let Some(pos) = current.iter().position(|l| *l == Label::Old(i)) {
            steps.push(ListStep::Delete(pos));
            current.remove(pos);
        }
    }
    for &(i, j) in &modified {
        if let Some(pos) = current.iter().position(|l| *l == Label::Old(i)) {
            steps.push(ListStep::Modify(pos, i, j));
        }
    }
    for &j in &unmatched_b[paired..] {
        let pos = j.min(current.len());
        steps.push(ListStep::Insert(pos, j, pos == current.len()));
        current.insert(pos, Label::New(j));
    }
    for (want_pos, t) in target.iter().enumerate() {
        let want = match t {
            Some(i) => Label::Old(*i),
            None => Label::New(want_pos),
        };
        if let Some(pos) = current.iter().position(|l| *l == want)
            && pos != want_pos
        {
            steps.push(ListStep::Move(pos, want_pos));
            let l = current.remove(pos);
            current.insert(want_pos, l);
        }
    }
    steps
}

/// A FHIRPath Patch (`Parameters`) that turns resource `a` into resource `b`.
///
/// ```
/// use firn_core::patch::{apply_fhirpath_patch, diff_fhirpath_patch};
/// let a = serde_json::json!({"resourceType": "Patient", "id": "a",
///     "identifier": [{"value": "1"}, {"value": "2"}, {"value": "3"}], "gender": "male"});
/// let b = serde_json::json!({"resourceType": "Patient", "id": "a",
///     "identifier": [{"value": "1"}, {"value": "3"}], "gender": "female"});
/// let patch = diff_fhirpath_patch(&a, &b);
/// assert_eq!(patch["parameter"][0]["part"][1]["valueString"], "Patient.identifier[1]"); // delete
/// let mut x = a.clone();
/// apply_fhirpath_patch(&mut x, &patch).unwrap();
/// assert_eq!(x, b);
/// ```
pub fn diff_fhirpath_patch(a: &Value, b: &Value) -> Value {
    let mut ops = Vec::new();
    if let (Some(x), Some(y), Some(rt)) = (
        a.as_object(),
        b.as_object(),
        b.get("resourceType").and_then(Value::as_str),
    ) {
        fp_object(rt, rt, x, y, &mut ops);
    }
    let mut params = Map::new();
    params.insert("resourceType".into(), json!("Parameters"));
    if !ops.is_empty() {
        params.insert("parameter".into(), Value::Array(ops));
    }
    Value::Object(params)
}

fn fp_op(kind: &str, path: &str, rest: Vec<Value>) -> Value {
    let mut parts = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    parts.extend(rest);
    json!({"name": "operation", "part": parts})
}

/// One element's value as it appears in a JSON object: the value and its `_name` companion.
type Element<'a> = (Option<&'a Value>, Option<&'a Value>);

/// Diffs two objects of the element at `path` (definitions context `ctx`).
fn fp_object(
    path: &str,
    ctx: &str,
    x: &Map<String, Value>,
    y: &Map<String, Value>,
    ops: &mut Vec<Value>,
) {
    let defs = Definitions::r4();
    let mut keys: Vec<&str> = Vec::new();
    for k in x.keys().chain(y.keys()) {
        let base = k.strip_prefix('_').unwrap_or(k);
        if base != "resourceType" && !keys.contains(&base) {
            keys.push(base);
        }
    }
    for key in keys {
        let ck = format!("_{key}");
        let (av, ac, bv, bc) = (x.get(key), x.get(&ck), y.get(key), y.get(&ck));
        if av == bv && ac == bc {
            continue;
        }
        let child = defs.child(ctx, key);
        let name = match &child {
            Some(c) if c.is_choice => c
                .element
                .path
                .rsplit('.')
                .next()
                .unwrap_or(key)
                .trim_end_matches("[x]"),
            _ => key,
        };
        let suffix = match &child {
            Some(c) if c.is_choice => key[name.len()..].to_string(),
            Some(c) => type_suffix(c.type_code),
            None => String::new(),
        };
        let child_ctx = child
            .as_ref()
            .map_or(ctx.to_string(), |c| c.context.to_string());
        let anonymous = child.as_ref().is_some_and(|c| {
            matches!(c.type_code, "BackboneElement" | "Element") && !key.starts_with("_")
        });
        let value = |e: Element<'_>| fp_value(e, &suffix, anonymous, &child_ctx);
        let repeats = matches!(av, Some(Value::Array(_)))
            || matches!(bv, Some(Value::Array(_)))
            || matches!(ac, Some(Value::Array(_)))
            || matches!(bc, Some(Value::Array(_)));
        let elem_path = format!("{path}.{name}");
        if !repeats {
            match ((av, ac), (bv, bc)) {
                ((None, None), b) => ops.push(fp_op(
                    "add",
                    path,
                    vec![json!({"name": "name", "valueString": name}), value(b)],
                )),
                (_, (None, None)) => ops.push(fp_op("delete", &elem_path, vec![])),
                ((Some(Value::Object(p)), _), (Some(Value::Object(q)), _))
                    if p.get("id") == q.get("id") && ac == bc && av.is_some() =>
                {
                    fp_object(&elem_path, &child_ctx, p, q, ops)
                }
                (_, b) => ops.push(fp_op("replace", &elem_path, vec![value(b)])),
            }
            continue;
        }
        let items = |v: Option<&Value>, c: Option<&Value>| -> Vec<(Value, Value)> {
            let vs = v.and_then(Value::as_array).cloned().unwrap_or_default();
            let cs = c.and_then(Value::as_array).cloned().unwrap_or_default();
            let n = vs.len().max(cs.len());
            (0..n)
                .map(|i| {
                    (
                        vs.get(i).cloned().unwrap_or(Value::Null),
                        cs.get(i).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect()
        };
        let (ai, bi) = (items(av, ac), items(bv, bc));
        let elem = |(v, c): &(Value, Value)| -> Value {
            let v = (!v.is_null()).then_some(v);
            let c = (!c.is_null()).then_some(c);
            value((v, c))
        };
        for step in plan_list(&ai, &bi) {
            match step {
                ListStep::Delete(pos) => {
                    ops.push(fp_op("delete", &format!("{elem_path}[{pos}]"), vec![]))
                }
                ListStep::Modify(pos, i, j) => {
                    let item_path = format!("{elem_path}[{pos}]");
                    match (&ai[i], &bi[j]) {
                        ((Value::Object(p), pc), (Value::Object(q), qc))
                            if p.get("id") == q.get("id") && pc == qc =>
                        {
                            fp_object(&item_path, &child_ctx, p, q, ops)
                        }
                        (_, b) => ops.push(fp_op("replace", &item_path, vec![elem(b)])),
                    }
                }
                ListStep::Insert(_, j, true) => ops.push(fp_op(
                    "add",
                    path,
                    vec![json!({"name": "name", "valueString": name}), elem(&bi[j])],
                )),
                ListStep::Insert(pos, j, false) => ops.push(fp_op(
                    "insert",
                    &elem_path,
                    vec![json!({"name": "index", "valueInteger": pos}), elem(&bi[j])],
                )),
                ListStep::Move(from, to) => ops.push(fp_op(
                    "move",
                    &elem_path,
                    vec![
                        json!({"name": "source", "valueInteger": from}),
                        json!({"name": "destination", "valueInteger": to}),
                    ],
                )),
            }
        }
    }
}

/// `date` → `Date`, `xhtml` → `String` (Parameters has no valueXhtml).
fn type_suffix(type_code: &str) -> String {
    if type_code == "xhtml" {
        return "String".into();
    }
    let mut c = type_code.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The `value` part for an element: `value[x]` (+ `_value[x]`), a `resource`, or nested parts.
fn fp_value(e: Element<'_>, suffix: &str, anonymous: bool, ctx: &str) -> Value {
    let (v, c) = e;
    let mut part = Map::new();
    part.insert("name".into(), json!("value"));
    match v {
        Some(Value::Object(o)) if o.contains_key("resourceType") => {
            part.insert("resource".into(), Value::Object(o.clone()));
        }
        Some(Value::Object(o)) if anonymous || suffix.is_empty() => {
            part.insert("part".into(), Value::Array(fp_parts(o, ctx)));
        }
        _ => {
            let suffix = if suffix.is_empty() {
                match v {
                    Some(Value::Bool(_)) => "Boolean",
                    Some(Value::Number(n)) if n.is_i64() => "Integer",
                    Some(Value::Number(_)) => "Decimal",
                    _ => "String",
                }
            } else {
                suffix
            };
            if let Some(v) = v {
                part.insert(format!("value{suffix}"), v.clone());
            }
            if let Some(c) = c {
                part.insert(format!("_value{suffix}"), c.clone());
            }
        }
    }
    Value::Object(part)
}

/// An anonymous type's content as nested parts, one per element (one per item of a list).
fn fp_parts(o: &Map<String, Value>, ctx: &str) -> Vec<Value> {
    let defs = Definitions::r4();
    let mut out = Vec::new();
    for (k, v) in o {
        if k.starts_with('_') {
            continue;
        }
        let companion = o.get(&format!("_{k}"));
        let child = defs.child(ctx, k);
        let (name, suffix) = match &child {
            Some(c) if c.is_choice => {
                let name = c
                    .element
                    .path
                    .rsplit('.')
                    .next()
                    .unwrap_or(k)
                    .trim_end_matches("[x]");
                (name.to_string(), k[name.len().min(k.len())..].to_string())
            }
            Some(c) => (k.clone(), type_suffix(c.type_code)),
            None => (k.clone(), String::new()),
        };
        let anonymous = child
            .as_ref()
            .is_some_and(|c| matches!(c.type_code, "BackboneElement" | "Element"));
        let cctx = child
            .as_ref()
            .map_or(ctx.to_string(), |c| c.context.to_string());
        let mut push = |v: Option<&Value>, c: Option<&Value>| {
            let mut p = fp_value((v, c), &suffix, anonymous, &cctx);
            if let Value::Object(m) = &mut p {
                m.insert("name".into(), json!(name));
            }
            out.push(p);
        };
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let c = companion.and_then(|c| c.get(i)).filter(|c| !c.is_null());
                    push((!item.is_null()).then_some(item), c);
                }
            }
            v => push(Some(v), companion),
        }
    }
    out
}
