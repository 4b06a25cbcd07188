//! The evaluator: walks the compiled tree over borrowed FHIR JSON.

use super::datetime::{DateTime, Precision, Time, now_utc};
use super::decimal::Decimal;
use super::document::{Document, Json, Obj, View, push_display, write_str};
use super::parser::{BinOp, Func, Lit, MAX_DEPTH, Node, TypeSpec};
use super::quantity::{Quantity, calendar_unit, dims_unit, ucum_to_calendar};
use super::{Env, FhirPathError};
use crate::definitions::{ChildTable, Definitions, Membership};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::rc::Rc;

type R<T> = Result<T, FhirPathError>;

/// One JSON step from the root of the evaluated resource to an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// How an item was reached: a parent link per navigation step (shared, never copied).
#[derive(Debug)]
pub(crate) struct PathNode<'a> {
    parent: Option<Rc<PathNode<'a>>>,
    /// JSON key (or, for a root, the resource type).
    key: &'a str,
    index: Option<usize>,
    root: bool,
    /// The children of this primitive live in its `_key` companion.
    ext: bool,
}

/// A FHIR element inside the input JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FNode<'a> {
    /// The JSON value (`None` for a primitive that only has `_x` extensions).
    pub json: Option<Json<'a>>,
    /// The `_x` companion of a primitive.
    pub ext: Option<Json<'a>>,
    /// FHIR type name (`HumanName`, `string`, `Patient`); empty when unknown.
    pub ty: &'a str,
    /// Definitions context for the children (type name or inline-group path).
    pub ctx: &'a str,
}

#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(Cow<'a, str>),
    Date(DateTime),
    DateTime(DateTime),
    Time(Time),
    Quantity(Box<Quantity>),
    Node(FNode<'a>),
    TypeInfo(Box<(String, String)>),
}

/// One item of a FHIRPath result: a node of the input (borrowed) or a computed System value.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub(crate) val: Val<'a>,
    pub(crate) path: Option<Rc<PathNode<'a>>>,
}

impl<'a> Item<'a> {
    pub(crate) fn sys(val: Val<'a>) -> Item<'a> {
        Item { val, path: None }
    }

    /// A node of the input without a location.
    fn node(json: Json<'a>, ty: &'a str, ctx: &'a str) -> Item<'a> {
        Item {
            val: Val::Node(FNode {
                json: Some(json),
                ext: None,
                ty,
                ctx,
            }),
            path: None,
        }
    }

    /// Node `at` of a typed document, without a location.
    pub(crate) fn typed_node(doc: &'a Document, at: u32) -> Item<'a> {
        let (ty, ctx) = doc.node_type(at);
        Item::node(Json::D(doc, at), ty, ctx)
    }

    fn b(v: bool) -> Item<'a> {
        Item::sys(Val::Bool(v))
    }

    fn s(v: impl Into<Cow<'a, str>>) -> Item<'a> {
        Item::sys(Val::Str(v.into()))
    }

    /// The item's type: FHIR types unqualified (`string`, `HumanName`, `Patient`), System types
    /// qualified (`System.Integer`).
    pub fn type_name(&self) -> &str {
        match &self.val {
            Val::Bool(_) => "System.Boolean",
            Val::Int(_) => "System.Integer",
            Val::Dec(_) => "System.Decimal",
            Val::Str(_) => "System.String",
            Val::Date(_) => "System.Date",
            Val::DateTime(_) => "System.DateTime",
            Val::Time(_) => "System.Time",
            Val::Quantity(_) => "System.Quantity",
            Val::TypeInfo(_) => "System.TypeInfo",
            Val::Node(n) => {
                if n.ty.is_empty() {
                    match n.json.map(Json::view) {
                        Some(View::String(_)) => "System.String",
                        Some(View::Bool(_)) => "System.Boolean",
                        Some(View::Number(x)) if x.is_i64() => "System.Integer",
                        Some(View::Number(_)) => "System.Decimal",
                        _ => "Element",
                    }
                } else {
                    n.ty
                }
            }
        }
    }

    /// The FHIRPath location of a node of the input (`Patient.name[0].given[1]`); `None` for
    /// computed values.
    pub fn location(&self) -> Option<String> {
        let p = self.path.as_ref()?;
        let mut chain = Vec::new();
        let mut cur = Some(p);
        while let Some(n) = cur {
            chain.push(n);
            cur = n.parent.as_ref();
        }
        let mut s = String::new();
        for n in chain.iter().rev() {
            if n.root {
                s.push_str(n.key);
            } else {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(n.key);
            }
            if let Some(i) = n.index {
                let _ = write!(s, "[{i}]");
            }
        }
        Some(s)
    }

    /// The JSON steps from the evaluated resource to this node (empty for the resource itself and
    /// for computed values). Extensions of primitives go through the `_x` key.
    pub fn json_path(&self) -> Vec<PathStep> {
        let mut out = Vec::new();
        let mut cur = self.path.as_ref();
        let mut chain = Vec::new();
        while let Some(n) = cur {
            chain.push(n);
            cur = n.parent.as_ref();
        }
        for n in chain.iter().rev() {
            if !n.root {
                if n.ext {
                    out.push(PathStep::Key(format!("_{}", n.key)));
                } else {
                    out.push(PathStep::Key(n.key.to_string()));
                }
                if let Some(i) = n.index {
                    out.push(PathStep::Index(i));
                }
            }
        }
        out
    }

    /// True when the item is a node of the input (rather than a computed value).
    pub fn is_node(&self) -> bool {
        matches!(self.val, Val::Node(_))
    }

    /// The input JSON this item stands for, when it is a node of a `serde_json::Value` (not of
    /// a [`Document`](super::Document): use [`Item::to_json`] or [`Item::write_json`]).
    pub fn as_json(&self) -> Option<&'a Value> {
        self.json().and_then(Json::as_value)
    }

    /// The input JSON of a node.
    pub(crate) fn json(&self) -> Option<Json<'a>> {
        match &self.val {
            Val::Node(n) => n.json,
            _ => None,
        }
    }

    /// Writes [`Item::to_json`] as JSON text, without building a `Value` for nodes.
    pub fn write_json(&self, out: &mut String) {
        match &self.val {
            Val::Node(FNode { json: Some(j), .. }) => j.write(out),
            Val::Str(s) => write_str(s, out),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => push_display(out, i),
            _ => push_display(out, &self.to_json()),
        }
    }

    /// The item as JSON: nodes as they are in the input, System values in their FHIR JSON form.
    pub fn to_json(&self) -> Value {
        match &self.val {
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Dec(d) => dec_json(*d),
            Val::Str(s) => Value::String(s.to_string()),
            Val::Date(d) => Value::String(d.format(false)),
            Val::DateTime(d) => Value::String(d.format(true)),
            Val::Time(t) => Value::String(t.to_string()),
            Val::Quantity(q) => {
                let mut m = Map::new();
                m.insert("value".into(), dec_json(q.value));
                match calendar_unit(&q.unit) {
                    Some(_) => {
                        m.insert("unit".into(), Value::String(q.unit.clone()));
                    }
                    None => {
                        m.insert("unit".into(), Value::String(q.unit.clone()));
                        m.insert(
                            "system".into(),
                            Value::String("http://unitsofmeasure.org".into()),
                        );
                        m.insert("code".into(), Value::String(q.unit.clone()));
                    }
                }
                Value::Object(m)
            }
            Val::TypeInfo(t) => serde_json::json!({"namespace": t.0, "name": t.1}),
            Val::Node(n) => match (n.json, n.ext) {
                (Some(j), _) => j.to_value(),
                (None, Some(e)) => e.to_value(),
                (None, None) => Value::Null,
            },
        }
    }

    /// The string form FHIRPath's `toString()` gives, for primitives and quantities.
    pub fn to_fhirpath_string(&self) -> Option<String> {
        to_string_val(&self.prim()?)
    }

    /// The System value of a primitive (or a FHIR Quantity); `None` for complex nodes.
    pub(crate) fn prim(&self) -> Option<Val<'a>> {
        match &self.val {
            Val::Node(n) => node_prim(n),
            v => Some(v.clone()),
        }
    }
}

fn dec_json(d: Decimal) -> Value {
    if let Some(i) = d.to_i64_exact().filter(|_| d.scale() == 0) {
        return Value::from(i);
    }
    serde_json::from_str::<Value>(&d.to_string()).unwrap_or(Value::Null)
}

fn node_prim<'a>(n: &FNode<'a>) -> Option<Val<'a>> {
    let j = n.json?;
    match j.view() {
        View::Bool(b) => Some(Val::Bool(b)),
        View::Number(x) => {
            let is_int = matches!(
                n.ty,
                "integer" | "positiveInt" | "unsignedInt" | "integer64" | "System.Integer"
            ) || (n.ty.is_empty() && (x.is_i64() || x.is_u64()));
            if is_int && let Some(i) = x.as_i64() {
                return Some(Val::Int(i));
            }
            Decimal::from_json_number(x).map(Val::Dec)
        }
        View::String(s) => Some(match n.ty {
            "date" | "System.Date" => match DateTime::parse(s) {
                Some((d, false)) => Val::Date(d),
                Some((d, true)) => Val::DateTime(d),
                None => Val::Str(Cow::Borrowed(s)),
            },
            "dateTime" | "instant" | "System.DateTime" => match DateTime::parse(s) {
                Some((d, true)) => Val::DateTime(d),
                Some((d, false)) => Val::DateTime(d),
                None => Val::Str(Cow::Borrowed(s)),
            },
            "time" | "System.Time" => match Time::parse(s) {
                Some(t) => Val::Time(t),
                None => Val::Str(Cow::Borrowed(s)),
            },
            _ => Val::Str(Cow::Borrowed(s)),
        }),
        View::Object(o) => {
            if !n.ty.is_empty() && is_quantity_type(n.ty) {
                let text = |k: &str| o.get(k).and_then(|(_, v)| v.as_str());
                let v = o.get("value")?.1.as_number()?;
                let value = Decimal::from_json_number(v)?;
                let unit = text("code")
                    .filter(|_| {
                        text("system") == Some("http://unitsofmeasure.org")
                            || o.get("system").is_none()
                    })
                    .or_else(|| text("unit"))
                    .unwrap_or("1");
                // calendar-duration words used as `unit` without a UCUM code
                Some(Val::Quantity(Box::new(Quantity::new(value, unit))))
            } else {
                None
            }
        }
        _ => None,
    }
}

fn is_quantity_type(ty: &str) -> bool {
    matches!(
        ty,
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "MoneyQuantity" | "SimpleQuantity"
    )
}

fn to_string_val(v: &Val<'_>) -> Option<String> {
    Some(match v {
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Dec(d) => d.to_string(),
        Val::Str(s) => s.to_string(),
        Val::Date(d) => d.format(false),
        Val::DateTime(d) => d.format(true),
        Val::Time(t) => t.to_string(),
        Val::Quantity(q) => q.to_fhirpath_string(),
        _ => return None,
    })
}

/// Converts a result to a single boolean (invariant semantics).
pub(crate) fn singleton_bool(items: &[Item<'_>]) -> R<Option<bool>> {
    match items {
        [] => Ok(None),
        [one] => match one.prim() {
            Some(Val::Bool(b)) => Ok(Some(b)),
            _ => Ok(Some(true)),
        },
        _ => Err(FhirPathError::exec(format!(
            "expected a single boolean, got {} items",
            items.len()
        ))),
    }
}

struct Ctx<'a, 'x, 'e> {
    env: &'x Env<'e>,
    defs: &'static Definitions,
    resource: Item<'a>,
    context: Item<'a>,
    depth: Cell<usize>,
}

#[derive(Clone, Copy)]
struct Scope<'s, 'a> {
    index: Option<usize>,
    total: Option<&'s Item<'a>>,
}

pub(crate) fn evaluate<'a, 'e: 'a>(
    root: &Node,
    resource: Json<'a>,
    focus: Option<(Json<'a>, &'a str)>,
    env: &Env<'e>,
) -> R<Vec<Item<'a>>> {
    let defs = Definitions::r4();
    // Without location tracking items carry no path, and navigation allocates none.
    let res_item = root_item(resource, !env.no_locations);
    let context = match focus {
        Some((json, ctx)) => {
            let ty = if ctx.contains('.') {
                "BackboneElement"
            } else {
                ctx
            };
            Item::node(json, ty, ctx)
        }
        None => res_item.clone(),
    };
    let cx = Ctx {
        env,
        defs,
        resource: res_item,
        context,
        depth: Cell::new(0),
    };
    cx.eval(
        root,
        std::slice::from_ref(&cx.context),
        Scope {
            index: None,
            total: None,
        },
    )
}

fn root_item(resource: Json<'_>, located: bool) -> Item<'_> {
    let rt = match resource {
        // A document records the resource type as its root's type.
        Json::D(d, i) if d.is_typed() => d.node_type(i).0,
        _ => resource
            .get("resourceType")
            .and_then(Json::as_str)
            .unwrap_or(""),
    };
    Item {
        val: Val::Node(FNode {
            json: Some(resource),
            ext: None,
            ty: rt,
            ctx: rt,
        }),
        path: located.then(|| {
            Rc::new(PathNode {
                parent: None,
                key: rt,
                index: None,
                root: true,
                ext: false,
            })
        }),
    }
}

fn json_to_items<'a>(v: Json<'a>, out: &mut Vec<Item<'a>>) {
    match v.view() {
        View::Null => {}
        View::Array(a) => a.iter().for_each(|x| json_to_items(x, out)),
        View::Bool(b) => out.push(Item::b(b)),
        View::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(Item::sys(Val::Int(i)));
            } else if let Some(d) = Decimal::from_json_number(n) {
                out.push(Item::sys(Val::Dec(d)));
            }
        }
        View::String(s) => out.push(Item::s(Cow::Borrowed(s))),
        View::Object(_) => out.push(root_item(v, true)),
    }
}

/// Owned variables can only hold primitives (the items would otherwise borrow the environment).
fn owned_json_to_items<'a>(v: &Value, out: &mut Vec<Item<'a>>) -> R<()> {
    match v {
        Value::Null => {}
        Value::Array(a) => {
            for x in a {
                owned_json_to_items(x, out)?;
            }
        }
        Value::Bool(b) => out.push(Item::b(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(Item::sys(Val::Int(i)));
            } else if let Some(d) = Decimal::from_json_number(n) {
                out.push(Item::sys(Val::Dec(d)));
            }
        }
        Value::String(s) => out.push(Item::s(s.clone())),
        Value::Object(_) => {
            return err("a variable holding an object must be passed by reference (Env::var_ref)");
        }
    }
    Ok(())
}

fn sys_type(code: &str) -> Option<&'static str> {
    Some(match code.strip_prefix("http://hl7.org/fhirpath/")? {
        "System.String" => "System.String",
        "System.Boolean" => "System.Boolean",
        "System.Integer" => "System.Integer",
        "System.Decimal" => "System.Decimal",
        "System.Date" => "System.Date",
        "System.DateTime" => "System.DateTime",
        "System.Time" => "System.Time",
        _ => "System.String",
    })
}

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(FhirPathError::exec(msg))
}

fn sem<T>(msg: impl Into<String>) -> R<T> {
    Err(FhirPathError::Semantic {
        offset: None,
        message: msg.into(),
    })
}

/// The declared (type, children context) of member `key` of a `ctx` object (`table` is
/// `ctx`'s children table). Shared by navigation and by [`Document`](super::Document), which
/// records each node's type when it is built.
pub(crate) fn declared_type(
    defs: &'static Definitions,
    table: Option<ChildTable<'static>>,
    ctx: &str,
    key: &str,
) -> (&'static str, &'static str) {
    if ctx.is_empty() {
        return ("", "");
    }
    let is_resource = |t: &str| {
        defs.type_def(t)
            .is_some_and(|t| t.kind == crate::definitions::TypeKind::Resource)
    };
    if key == "id" && is_resource(ctx) {
        // Resource.id is an `id` (the definitions record its System.String value type).
        return ("id", "id");
    }
    match table.and_then(|t| t.get(key)) {
        Some(c) => {
            if sys_type(c.type_code).is_some() {
                // Resource.id, Element.id, Extension.url: System.String in the definitions,
                // FHIR `id`/`string`/`uri` to FHIRPath users.
                let ty = if c.element.path.strip_suffix(".id").is_some_and(is_resource) {
                    "id"
                } else if c.element.path.ends_with(".url") {
                    "uri"
                } else {
                    "string"
                };
                return (ty, ty);
            }
            (c.type_code, c.context)
        }
        None => ("", ""),
    }
}

/// The (type, context) of a value in a slot declared `declared`: in a slot of type Resource
/// (contained, Bundle.entry.resource …) or of unknown type, an object is typed by its
/// resourceType.
pub(crate) fn slot_type<'a>(declared: (&'a str, &'a str), json: Json<'a>) -> (&'a str, &'a str) {
    if matches!(declared.0, "" | "Resource")
        && let Some(rt) = json.get("resourceType").and_then(Json::as_str)
    {
        return (rt, rt);
    }
    declared
}

impl<'a, 'x, 'e: 'a> Ctx<'a, 'x, 'e> {
    /// The children table of a context (`None` for an unknown or empty one): looked up once per
    /// object, then once per key.
    fn table(&self, ctx: &str) -> Option<ChildTable<'static>> {
        if ctx.is_empty() {
            None
        } else {
            self.defs.child_table(ctx)
        }
    }

    /// Pushes the item(s) of one JSON property (value + `_` companion).
    // The arguments are the navigation step's parts; bundling them would cost a struct per step.
    #[allow(clippy::too_many_arguments)]
    fn push_prop(
        &self,
        parent: &Item<'a>,
        table: Option<ChildTable<'static>>,
        pctx: &str,
        via_ext: bool,
        key: &'a str,
        v: Option<Json<'a>>,
        e: Option<Json<'a>>,
        out: &mut Vec<Item<'a>>,
    ) {
        let parent_path = parent.path.as_ref().map(|p| {
            if via_ext {
                Rc::new(PathNode {
                    parent: p.parent.clone(),
                    key: p.key,
                    index: p.index,
                    root: p.root,
                    ext: true,
                })
            } else {
                p.clone()
            }
        });
        // A Document knows the type of each node (recorded by the same rules when it was built);
        // Values are typed here.
        let declared = match v.or(e) {
            Some(Json::D(d, _)) if d.is_typed() => ("", ""),
            _ => declared_type(self.defs, table, pctx, key),
        };
        let mk = |json: Option<Json<'a>>, ext: Option<Json<'a>>, index: Option<usize>| {
            let (ty, ctx) = match (json, ext) {
                (Some(Json::D(d, i)), _) | (None, Some(Json::D(d, i))) if d.is_typed() => {
                    d.node_type(i)
                }
                (Some(j), _) => slot_type(declared, j),
                _ => declared,
            };
            Item {
                val: Val::Node(FNode { json, ext, ty, ctx }),
                path: parent_path.as_ref().map(|pp| {
                    Rc::new(PathNode {
                        parent: Some(pp.clone()),
                        key,
                        index,
                        root: false,
                        ext: false,
                    })
                }),
            }
        };
        let nn = |x: Option<Json<'a>>| x.filter(|x| !x.is_null());
        match (v.map(Json::view), e.map(Json::view)) {
            (Some(View::Array(a)), _) => {
                let ea = e.and_then(Json::as_array);
                let n = a.len().max(ea.map_or(0, |ea| ea.len()));
                for i in 0..n {
                    let j = nn(a.get(i));
                    let x = nn(ea.and_then(|ea| ea.get(i)));
                    if j.is_none() && x.is_none() {
                        continue;
                    }
                    out.push(mk(j, x, Some(i)));
                }
            }
            (None, Some(View::Array(ea))) => {
                for (i, x) in ea.iter().enumerate() {
                    if !x.is_null() {
                        out.push(mk(None, Some(x), Some(i)));
                    }
                }
            }
            (Some(View::Null), None) | (None, None) => {}
            _ => out.push(mk(nn(v), nn(e), None)),
        }
    }

    fn node_obj(n: &FNode<'a>) -> Option<(Obj<'a>, bool)> {
        match n.json.and_then(Json::as_object) {
            Some(o) => Some((o, false)),
            None => n.ext.and_then(Json::as_object).map(|o| (o, true)),
        }
    }

    fn member(
        &self,
        item: &Item<'a>,
        name: &str,
        underscore: &str,
        out: &mut Vec<Item<'a>>,
    ) -> R<()> {
        let n = match &item.val {
            Val::Node(n) => n,
            Val::TypeInfo(t) => {
                match name {
                    "namespace" => out.push(Item::s(t.0.clone())),
                    "name" => out.push(Item::s(t.1.clone())),
                    _ => {}
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        // Document nodes carry their types: the children table is only needed for the rarer
        // checks below.
        let in_doc = matches!(n.json.or(n.ext), Some(Json::D(d, _)) if d.is_typed());
        let mut table = if in_doc { None } else { self.table(n.ctx) };
        // `valueQuantity` is a JSON name, not a FHIRPath one: FHIRPath says `value` (or
        // `value.ofType(Quantity)`).
        if name.bytes().skip(1).any(|b| b.is_ascii_uppercase())
            && table
                .or_else(|| self.table(n.ctx))
                .and_then(|t| t.get(name))
                .is_some_and(|c| c.is_choice)
        {
            return sem(format!(
                "`{name}` is a choice-type JSON name, not an element: use the element name with ofType()"
            ));
        }
        let Some((obj, via_ext)) = Self::node_obj(n) else {
            return Ok(());
        };
        let (direct, under) = obj.get_with_companion(name, underscore);
        if let (Some((_, Json::D(d, at))), None) = (direct, under)
            && d.is_typed()
            && item.path.is_none()
        {
            // Values only, type recorded, no companion: straight from the record.
            d.typed_value(at, &mut |json, ty, ctx| out.push(Item::node(json, ty, ctx)));
            return Ok(());
        }
        if direct.is_some() || under.is_some() {
            let key: &'a str = match (direct, under) {
                (Some((k, _)), _) => k,
                (None, Some((k, _))) => &k[1..],
                _ => return Ok(()),
            };
            self.push_prop(
                item,
                table,
                n.ctx,
                via_ext,
                key,
                direct.map(|d| d.1),
                under.map(|u| u.1),
                out,
            );
            return Ok(());
        }
        // Choice element: `value` finds `valueQuantity`.
        let mut found = false;
        let lower = name.as_bytes().first().is_some_and(u8::is_ascii_lowercase);
        if lower
            && in_doc
            && let Obj::D(d, first, count) = obj
        {
            // Typed documents flag the choice instances.
            for at in d.choices(first, count, name) {
                let (k, v) = (d.key_of(at), Json::D(d, at));
                let e = obj.companion(k);
                self.push_prop(item, table, n.ctx, via_ext, k, Some(v), e, out);
                found = true;
            }
        } else if lower {
            for (k, v) in obj.iter() {
                if k.len() > name.len()
                    && k.starts_with(name)
                    && k.as_bytes()[name.len()].is_ascii_uppercase()
                    && (n.ctx.is_empty()
                        || table.and_then(|t| t.get(k)).is_some_and(|c| c.is_choice))
                {
                    let e = obj.companion(k);
                    self.push_prop(item, table, n.ctx, via_ext, k, Some(v), e, out);
                    found = true;
                }
            }
        }
        if !found && self.env.strict && !n.ctx.is_empty() {
            if in_doc {
                table = self.table(n.ctx);
            }
            let known = table.and_then(|t| t.get(name)).is_some()
                || self.defs.element(&format!("{}.{name}[x]", n.ctx)).is_some()
                || self
                    .defs
                    .children(n.ctx)
                    .any(|e| e.name() == name || e.name() == format!("{name}[x]"));
            if !known && self.defs.type_def(n.ctx).is_some() {
                return sem(format!("`{name}` is not an element of {}", n.ctx));
            }
        }
        Ok(())
    }

    fn children_of(&self, item: &Item<'a>, out: &mut Vec<Item<'a>>) {
        let Val::Node(n) = &item.val else { return };
        let Some((obj, via_ext)) = Self::node_obj(n) else {
            return;
        };
        // Most objects have no `_x` companions: then no key needs a partner lookup.
        let has_companions = obj.has_companions();
        if let Obj::D(d, first, count) = obj
            && d.is_typed()
            && !has_companions
            && item.path.is_none()
        {
            // Values only, types recorded, no companions to pair: straight from the records.
            d.typed_children(first, count, |json, ty, ctx| {
                out.push(Item::node(json, ty, ctx))
            });
            return;
        }
        // Document nodes carry their types.
        let table = match obj {
            Obj::D(d, ..) if d.is_typed() => None,
            _ => self.table(n.ctx),
        };
        // A document object is searched by scanning; a large one with companions gets a map
        // for this walk, so pairing its keys stays linear.
        let members: Option<std::collections::HashMap<&'a str, Json<'a>>> =
            (has_companions && matches!(obj, Obj::D(..)) && obj.len() > 64)
                .then(|| obj.iter().collect());
        let member = |key: &str| match &members {
            Some(m) => m.get(key).copied(),
            None => obj.get(key).map(|(_, v)| v),
        };
        let mut underscored = String::new();
        for (k, v) in obj.iter() {
            if k == "resourceType" {
                continue;
            }
            if let Some(base) = k.strip_prefix('_') {
                if member(base).is_some() {
                    continue;
                }
                self.push_prop(item, table, n.ctx, via_ext, base, None, Some(v), out);
            } else {
                let e = if !has_companions {
                    None
                } else if members.is_some() {
                    underscored.clear();
                    underscored.push('_');
                    underscored.push_str(k);
                    member(&underscored)
                } else {
                    obj.companion(k)
                };
                self.push_prop(item, table, n.ctx, via_ext, k, Some(v), e, out);
            }
        }
    }

    fn eval(&self, node: &Node, focus: &[Item<'a>], sc: Scope<'_, 'a>) -> R<Vec<Item<'a>>> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH * 4 {
            return err("evaluation nested too deeply");
        }
        self.depth.set(d);
        let r = self.eval_inner(node, focus, sc);
        self.depth.set(d - 1);
        r
    }

    fn eval_inner(&self, node: &Node, focus: &[Item<'a>], sc: Scope<'_, 'a>) -> R<Vec<Item<'a>>> {
        match node {
            Node::Lit(l) => Ok(match l {
                Lit::Empty => vec![],
                Lit::Bool(b) => vec![Item::b(*b)],
                Lit::Str(s) => vec![Item::s(s.clone())],
                Lit::Int(i) => vec![Item::sys(Val::Int(*i))],
                Lit::Dec(d) => vec![Item::sys(Val::Dec(*d))],
                Lit::Date(d) => vec![Item::sys(Val::Date(*d))],
                Lit::DateTime(d) => vec![Item::sys(Val::DateTime(*d))],
                Lit::Time(t) => vec![Item::sys(Val::Time(*t))],
                Lit::Quantity(v, u) => vec![Item::sys(Val::Quantity(Box::new(Quantity::new(
                    *v,
                    u.clone(),
                ))))],
            }),
            Node::Member {
                target,
                name,
                underscore,
                path,
                ..
            } => {
                // A path of member names from typed-document nodes, values only: walked
                // through the records, no collection per step.
                if let Some(p) = path
                    && self.env.no_locations
                    && !self.env.strict
                {
                    let mut out = Vec::new();
                    let walked = focus.iter().try_for_each(|it| {
                        let (d, at) = typed_node_of(it)?;
                        d.walk_path(at, p.type_name.as_deref(), &p.names, &mut |i| {
                            out.push(Item::typed_node(d, i))
                        })
                    });
                    if walked.is_some() {
                        return Ok(out);
                    }
                }
                let mut out = Vec::new();
                match target {
                    Some(t) => {
                        if self.env.strict
                            && let Some(ts) = as_type_of(t)
                            && self.defs.type_def(&ts.name).is_some()
                            && self.defs.child(&ts.name, name).is_none()
                            && self
                                .defs
                                .element(&format!("{}.{name}[x]", ts.name))
                                .is_none()
                        {
                            return sem(format!("{} has no element `{name}`", ts.name));
                        }
                        let base = self.eval(t, focus, sc)?;
                        for it in &base {
                            self.member(it, name, underscore, &mut out)?;
                        }
                    }
                    None => {
                        for it in focus {
                            // A leading type name filters the focus: `Patient.name`.
                            if name.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
                                && let Val::Node(n) = &it.val
                                && self.type_matches_name(n, name)
                            {
                                out.push(it.clone());
                                continue;
                            }
                            self.member(it, name, underscore, &mut out)?;
                        }
                        if out.is_empty()
                            && self.env.strict
                            && name.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
                            && self.defs.type_def(name).is_some()
                        {
                            return sem(format!("the focus is not a {name}"));
                        }
                    }
                }
                Ok(out)
            }
            Node::This => Ok(focus.to_vec()),
            Node::IndexVar => Ok(sc
                .index
                .map(|i| vec![Item::sys(Val::Int(i as i64))])
                .unwrap_or_default()),
            Node::Total => Ok(sc.total.map(|t| vec![t.clone()]).unwrap_or_default()),
            Node::Var(name, _) => self.var(name),
            Node::Index(t, i) => {
                let base = self.eval(t, focus, sc)?;
                if self.env.check_ordered && is_unordered(t) {
                    return sem("indexer on an unordered collection");
                }
                let idx = self.eval(i, focus, sc)?;
                let Some(ix) = self.int_arg(&idx)? else {
                    return Ok(vec![]);
                };
                if ix < 0 {
                    return Ok(vec![]);
                }
                Ok(base.into_iter().nth(ix as usize).into_iter().collect())
            }
            Node::Neg(inner) => {
                let v = self.eval(inner, focus, sc)?;
                match v.as_slice() {
                    [] => Ok(vec![]),
                    [one] => match one.prim() {
                        Some(Val::Int(i)) => Ok(i
                            .checked_neg()
                            .map(|x| Item::sys(Val::Int(x)))
                            .into_iter()
                            .collect()),
                        Some(Val::Dec(d)) => Ok(vec![Item::sys(Val::Dec(-d))]),
                        Some(Val::Quantity(q)) => Ok(vec![Item::sys(Val::Quantity(Box::new(
                            Quantity::new(-q.value, q.unit.clone()),
                        )))]),
                        _ => err("unary minus needs a number or quantity"),
                    },
                    _ => err("unary minus needs a single value"),
                }
            }
            Node::IsType(t, ts) => {
                let v = self.eval(t, focus, sc)?;
                match v.as_slice() {
                    [] => Ok(vec![]),
                    [one] => Ok(vec![Item::b(self.is_type(one, ts))]),
                    _ => err("`is` needs a single item"),
                }
            }
            Node::AsType(t, ts) => {
                let v = self.eval(t, focus, sc)?;
                if self.env.strict && v.is_empty() {
                    // (x as T) of the wrong type is a static type error in strict mode.
                }
                match v.as_slice() {
                    [] => Ok(vec![]),
                    [one] => Ok(if self.as_type(one, ts) {
                        vec![one.clone()]
                    } else {
                        vec![]
                    }),
                    _ => err("`as` needs a single item"),
                }
            }
            Node::Binary(op, l, r) => self.binary(*op, l, r, focus, sc),
            Node::Call {
                target,
                func,
                args,
                type_arg,
                ..
            } => {
                // count(), exists() and empty() of a navigation the documents serve need only
                // the number of nodes: no items are built.
                if matches!(func, Func::Count | Func::Exists | Func::Empty)
                    && args.is_empty()
                    && let Some(t) = target
                    && let Some(n) = self.count_nodes(t, focus)
                {
                    return Ok(vec![match func {
                        Func::Count => Item::sys(Val::Int(n as i64)),
                        Func::Exists => Item::b(n > 0),
                        _ => Item::b(n == 0),
                    }]);
                }
                let input = match target {
                    Some(t) => self.eval(t, focus, sc)?,
                    None => focus.to_vec(),
                };
                if self.env.check_ordered
                    && matches!(
                        func,
                        Func::Skip | Func::Take | Func::First | Func::Last | Func::Tail
                    )
                    && target.as_deref().is_some_and(is_unordered)
                {
                    return sem(format!("{}() on an unordered collection", func.name()));
                }
                self.call(*func, input, args, type_arg.as_ref(), focus, sc)
            }
        }
    }

    /// The number of nodes `node` evaluates to on `focus`, when it is a member path or
    /// `descendants()` (of the focus or of a member path) over typed-document nodes, values
    /// only: counted from the records. `None` when the general evaluator must run.
    fn count_nodes(&self, node: &Node, focus: &[Item<'a>]) -> Option<usize> {
        if !self.env.no_locations || self.env.strict {
            return None;
        }
        let mut n = 0;
        match node {
            Node::Member { path: Some(p), .. } => {
                for it in focus {
                    let (d, at) = typed_node_of(it)?;
                    d.walk_path(at, p.type_name.as_deref(), &p.names, &mut |_| n += 1)?;
                }
            }
            Node::Call {
                target,
                func: Func::Descendants,
                args,
                ..
            } if args.is_empty() => {
                let (d, from) = match target.as_deref() {
                    None => typed_nodes(focus)?,
                    Some(Node::Member { path: Some(p), .. }) => {
                        let (d, _) = typed_node_of(focus.first()?)?;
                        let mut from = Vec::new();
                        for it in focus {
                            let (e, at) = typed_node_of(it)?;
                            if !std::ptr::eq(d, e) {
                                return None;
                            }
                            d.walk_path(at, p.type_name.as_deref(), &p.names, &mut |i| {
                                from.push(i)
                            })?;
                        }
                        (d, from)
                    }
                    Some(_) => return None,
                };
                n = with_node_queue(|all| {
                    d.descendants(&from, MAX_DEPTH, all).map(|()| all.len())
                })?;
            }
            _ => return None,
        }
        Some(n)
    }

    fn var(&self, name: &str) -> R<Vec<Item<'a>>> {
        Ok(match name {
            "resource" | "rootResource" => vec![self.resource.clone()],
            "context" => vec![self.context.clone()],
            "ucum" => vec![Item::s("http://unitsofmeasure.org")],
            "sct" => vec![Item::s("http://snomed.info/sct")],
            "loinc" => vec![Item::s("http://loinc.org")],
            _ => {
                if let Some(v) = self.env.vars.get(name) {
                    let mut out = Vec::new();
                    match v {
                        Cow::Borrowed(v) => json_to_items(Json::V(v), &mut out),
                        Cow::Owned(v) => owned_json_to_items(v, &mut out)?,
                    }
                    return Ok(out);
                }
                if let Some(vs) = name.strip_prefix("vs-") {
                    return Ok(vec![Item::s(format!("http://hl7.org/fhir/ValueSet/{vs}"))]);
                }
                if let Some(ext) = name.strip_prefix("ext-") {
                    return Ok(vec![Item::s(format!(
                        "http://hl7.org/fhir/StructureDefinition/{ext}"
                    ))]);
                }
                return Err(FhirPathError::Semantic {
                    offset: None,
                    message: format!("unknown variable %{name}"),
                });
            }
        })
    }

    fn type_matches_name(&self, n: &FNode<'_>, name: &str) -> bool {
        !n.ty.is_empty() && self.defs.is_a(n.ty, name)
    }

    /// `is`: FHIR inheritance applies (`code` is a `string`, `Age` is a `Quantity`).
    fn is_type(&self, item: &Item<'a>, ts: &TypeSpec) -> bool {
        self.type_test(item, ts, false)
    }

    /// `as`/`ofType`: FHIR primitives must match exactly (the R4 suite: `gender.as(string)` is
    /// empty while `gender.is(string)` is true); complex types follow inheritance.
    fn as_type(&self, item: &Item<'a>, ts: &TypeSpec) -> bool {
        self.type_test(item, ts, true)
    }

    fn type_test(&self, item: &Item<'a>, ts: &TypeSpec, exact_primitives: bool) -> bool {
        let ns = ts.namespace.as_deref();
        match &item.val {
            Val::Node(n) => {
                if ns == Some("System") {
                    return n.ty == format!("System.{}", ts.name);
                }
                if n.ty.starts_with("System.") {
                    return ns.is_none() && n.ty[7..] == ts.name;
                }
                if n.ty.is_empty() {
                    return false;
                }
                // FHIR primitives match exactly (`code` is not a `string` in FHIRPath), complex
                // types and resources follow inheritance (`Age` is a `Quantity`).
                if exact_primitives && self.defs.is_primitive(n.ty) {
                    return n.ty == ts.name;
                }
                self.defs.is_a(n.ty, &ts.name)
            }
            v => {
                if ns == Some("FHIR") {
                    return false;
                }
                let t = match v {
                    Val::Bool(_) => "Boolean",
                    Val::Int(_) => "Integer",
                    Val::Dec(_) => "Decimal",
                    Val::Str(_) => "String",
                    Val::Date(_) => "Date",
                    Val::DateTime(_) => "DateTime",
                    Val::Time(_) => "Time",
                    Val::Quantity(_) => "Quantity",
                    _ => "TypeInfo",
                };
                t == ts.name
            }
        }
    }

    fn int_arg(&self, v: &[Item<'a>]) -> R<Option<i64>> {
        match v {
            [] => Ok(None),
            [one] => match one.prim() {
                Some(Val::Int(i)) => Ok(Some(i)),
                _ => err("expected an integer"),
            },
            _ => err("expected a single integer"),
        }
    }

    fn bool_of(&self, v: &[Item<'a>]) -> R<Option<bool>> {
        match v {
            [] => Ok(None),
            [one] => match one.prim() {
                Some(Val::Bool(b)) => Ok(Some(b)),
                _ => Ok(Some(true)),
            },
            _ => err("expected a single boolean"),
        }
    }

    fn binary(
        &self,
        op: BinOp,
        l: &Node,
        r: &Node,
        focus: &[Item<'a>],
        sc: Scope<'_, 'a>,
    ) -> R<Vec<Item<'a>>> {
        let one =
            |b: Option<bool>| -> R<Vec<Item<'a>>> { Ok(b.map(Item::b).into_iter().collect()) };
        match op {
            BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies => {
                let a = self.bool_of(&self.eval(l, focus, sc)?)?;
                // short-circuit
                match (op, a) {
                    (BinOp::And, Some(false)) => return one(Some(false)),
                    (BinOp::Or, Some(true)) => return one(Some(true)),
                    (BinOp::Implies, Some(false)) => return one(Some(true)),
                    _ => {}
                }
                let b = self.bool_of(&self.eval(r, focus, sc)?)?;
                one(match op {
                    BinOp::And => match (a, b) {
                        (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    BinOp::Or => match (a, b) {
                        (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    BinOp::Xor => match (a, b) {
                        (Some(x), Some(y)) => Some(x != y),
                        _ => None,
                    },
                    _ => match (a, b) {
                        (Some(true), b) => b,
                        (None, Some(true)) => Some(true),
                        _ => None,
                    },
                })
            }
            _ => {
                let a = self.eval(l, focus, sc)?;
                // A string literal compared for equality is read in place rather than copied
                // into an item each time (`where(system = 'http://…')` runs it once per item).
                if let (Some(eq), Node::Lit(Lit::Str(s))) = (equality(op), r) {
                    return one(eq(&a, &[Item::s(s.as_str())]));
                }
                let b = self.eval(r, focus, sc)?;
                self.binary_vals(op, a, b)
            }
        }
    }

    fn binary_vals(&self, op: BinOp, a: Vec<Item<'a>>, b: Vec<Item<'a>>) -> R<Vec<Item<'a>>> {
        let one =
            |b: Option<bool>| -> R<Vec<Item<'a>>> { Ok(b.map(Item::b).into_iter().collect()) };
        match op {
            BinOp::Union => Ok(union(a, b)),
            BinOp::Eq | BinOp::Ne | BinOp::Equiv | BinOp::NotEquiv => {
                one(equality(op).and_then(|eq| eq(&a, &b)))
            }
            BinOp::In | BinOp::Contains => {
                let (needle, hay) = if op == BinOp::In { (a, b) } else { (b, a) };
                match needle.as_slice() {
                    [] => Ok(vec![]),
                    [x] => one(Some(hay.iter().any(|h| item_eq(x, h) == Some(true)))),
                    _ => err("membership needs a single item"),
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (x, y) = match (a.as_slice(), b.as_slice()) {
                    ([], _) | (_, []) => return Ok(vec![]),
                    ([x], [y]) => (x, y),
                    _ => return err("comparison needs single items"),
                };
                let Some(o) = compare(x, y)? else {
                    return Ok(vec![]);
                };
                one(Some(match op {
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Le => o != Ordering::Greater,
                    BinOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }))
            }
            BinOp::Concat => {
                let s = |v: &[Item<'a>]| -> R<String> {
                    match v {
                        [] => Ok(String::new()),
                        [x] => match x.prim() {
                            Some(Val::Str(s)) => Ok(s.into_owned()),
                            _ => err("`&` needs strings"),
                        },
                        _ => err("`&` needs single strings"),
                    }
                };
                Ok(vec![Item::s(s(&a)? + &s(&b)?)])
            }
            _ => {
                let (x, y) = match (a.as_slice(), b.as_slice()) {
                    ([], _) | (_, []) => return Ok(vec![]),
                    ([x], [y]) => (x, y),
                    _ => return err("arithmetic needs single items"),
                };
                let (Some(x), Some(y)) = (x.prim(), y.prim()) else {
                    return err("arithmetic needs primitive values");
                };
                arith(op, x, y).map(|v| v.map(Item::sys).into_iter().collect())
            }
        }
    }

    fn call(
        &self,
        func: Func,
        input: Vec<Item<'a>>,
        args: &[Node],
        type_arg: Option<&TypeSpec>,
        focus: &[Item<'a>],
        sc: Scope<'_, 'a>,
    ) -> R<Vec<Item<'a>>> {
        // Arguments evaluated against the original focus (not iterating).
        let arg = |i: usize| -> R<Vec<Item<'a>>> {
            match args.get(i) {
                Some(a) => self.eval(a, focus, sc),
                None => Ok(vec![]),
            }
        };
        let bool1 = |b: bool| Ok(vec![Item::b(b)]);
        let single = |v: &[Item<'a>]| -> R<Option<Val<'a>>> {
            match v {
                [] => Ok(None),
                [x] => Ok(x.prim()),
                _ => err(format!("{}() needs a single item", func.name())),
            }
        };
        let str_arg = |i: usize| -> R<Option<String>> {
            match single(&arg(i)?)? {
                None => Ok(None),
                Some(Val::Str(s)) => Ok(Some(s.into_owned())),
                _ => err(format!("{}() needs a string argument", func.name())),
            }
        };
        use Func as F;
        match func {
            F::Empty => bool1(input.is_empty()),
            F::Exists => {
                if args.is_empty() {
                    bool1(!input.is_empty())
                } else {
                    let w = self.filter(&input, &args[0])?;
                    bool1(!w.is_empty())
                }
            }
            F::All => {
                for (i, it) in input.iter().enumerate() {
                    let r = self.eval(
                        &args[0],
                        std::slice::from_ref(it),
                        Scope {
                            index: Some(i),
                            ..sc
                        },
                    )?;
                    if self.bool_of(&r)? != Some(true) {
                        return bool1(false);
                    }
                }
                bool1(true)
            }
            F::AllTrue | F::AnyTrue | F::AllFalse | F::AnyFalse => {
                let mut bools = Vec::new();
                for it in &input {
                    match it.prim() {
                        Some(Val::Bool(b)) => bools.push(b),
                        _ => return err(format!("{}() needs booleans", func.name())),
                    }
                }
                bool1(match func {
                    F::AllTrue => bools.iter().all(|b| *b),
                    F::AnyTrue => bools.iter().any(|b| *b),
                    F::AllFalse => bools.iter().all(|b| !*b),
                    _ => bools.iter().any(|b| !*b),
                })
            }
            F::SubsetOf | F::SupersetOf => {
                let other = arg(0)?;
                let (small, big) = if func == F::SubsetOf {
                    (&input, &other)
                } else {
                    (&other, &input)
                };
                bool1(
                    small
                        .iter()
                        .all(|x| big.iter().any(|y| item_eq(x, y) == Some(true))),
                )
            }
            F::Count => Ok(vec![Item::sys(Val::Int(input.len() as i64))]),
            F::Distinct => Ok(distinct(input)),
            F::IsDistinct => {
                let n = input.len();
                bool1(distinct(input).len() == n)
            }
            F::Where => self.filter(&input, &args[0]),
            F::Select => {
                let mut out = Vec::new();
                for (i, it) in input.iter().enumerate() {
                    out.extend(self.eval(
                        &args[0],
                        std::slice::from_ref(it),
                        Scope {
                            index: Some(i),
                            ..sc
                        },
                    )?);
                }
                Ok(out)
            }
            F::Repeat => {
                let mut out: Vec<Item<'a>> = Vec::new();
                let mut frontier = input;
                let mut rounds = 0;
                while !frontier.is_empty() {
                    rounds += 1;
                    if rounds > 10_000 {
                        return err("repeat() did not terminate");
                    }
                    let mut next = Vec::new();
                    for (i, it) in frontier.iter().enumerate() {
                        for r in self.eval(
                            &args[0],
                            std::slice::from_ref(it),
                            Scope {
                                index: Some(i),
                                ..sc
                            },
                        )? {
                            if !out.iter().any(|o| same_item(o, &r)) {
                                out.push(r.clone());
                                next.push(r);
                            }
                        }
                    }
                    frontier = next;
                }
                Ok(out)
            }
            F::OfType => {
                let ts = type_arg.ok_or_else(|| FhirPathError::exec("ofType needs a type"))?;
                Ok(input.into_iter().filter(|i| self.as_type(i, ts)).collect())
            }
            F::Is | F::As => {
                let ts = type_arg.ok_or_else(|| FhirPathError::exec("needs a type"))?;
                match input.as_slice() {
                    [] => Ok(vec![]),
                    [x] => {
                        let ok = if func == F::Is {
                            self.is_type(x, ts)
                        } else {
                            self.as_type(x, ts)
                        };
                        if func == F::Is {
                            bool1(ok)
                        } else {
                            Ok(if ok { vec![x.clone()] } else { vec![] })
                        }
                    }
                    // See `Env::lenient_as`: R4's dom-3 applies as() to collections.
                    many if func == F::As && self.env.lenient_as => Ok(many
                        .iter()
                        .filter(|x| self.as_type(x, ts))
                        .cloned()
                        .collect()),
                    _ => err(format!("{}() needs a single item", func.name())),
                }
            }
            F::Single => match input.len() {
                0 | 1 => Ok(input),
                _ => err("single() on a collection with more than one item"),
            },
            F::First => Ok(input.into_iter().take(1).collect()),
            F::Last => Ok(input.into_iter().last().into_iter().collect()),
            F::Tail => Ok(input.into_iter().skip(1).collect()),
            F::Skip | F::Take => {
                let n = self.int_arg(&arg(0)?)?.unwrap_or(0);
                let n = n.max(0) as usize;
                Ok(if func == F::Skip {
                    input.into_iter().skip(n).collect()
                } else {
                    input.into_iter().take(n).collect()
                })
            }
            F::Intersect => {
                let other = arg(0)?;
                let mut out: Vec<Item<'a>> = Vec::new();
                for x in input {
                    if other.iter().any(|y| item_eq(&x, y) == Some(true))
                        && !out.iter().any(|o| item_eq(o, &x) == Some(true))
                    {
                        out.push(x);
                    }
                }
                Ok(out)
            }
            F::Exclude => {
                let other = arg(0)?;
                Ok(input
                    .into_iter()
                    .filter(|x| !other.iter().any(|y| item_eq(x, y) == Some(true)))
                    .collect())
            }
            F::Union => Ok(union(input, arg(0)?)),
            F::Combine => {
                let mut v = input;
                v.extend(arg(0)?);
                Ok(v)
            }
            F::Iif => {
                if input.len() > 1 {
                    return err("iif() on a collection with more than one item");
                }
                let this = if focus.len() == 1 && args.is_empty() {
                    focus
                } else {
                    &input[..]
                };
                let _ = this;
                let cond_focus: &[Item<'a>] = if input.is_empty() { focus } else { &input };
                let c = self.eval(&args[0], cond_focus, sc)?;
                let cond = match c.as_slice() {
                    [] => None,
                    [x] => match x.prim() {
                        Some(Val::Bool(b)) => Some(b),
                        _ => {
                            if self.env.strict {
                                return sem("iif() criterion is not a boolean");
                            }
                            return err("iif() criterion is not a boolean");
                        }
                    },
                    _ => return err("iif() criterion has more than one item"),
                };
                if cond == Some(true) {
                    self.eval(&args[1], cond_focus, sc)
                } else if args.len() > 2 {
                    self.eval(&args[2], cond_focus, sc)
                } else {
                    Ok(vec![])
                }
            }
            F::ToBoolean | F::ConvertsToBoolean => {
                conv(func == F::ConvertsToBoolean, single(&input)?, |v| match v {
                    Val::Bool(b) => Some(Val::Bool(b)),
                    Val::Int(1) => Some(Val::Bool(true)),
                    Val::Int(0) => Some(Val::Bool(false)),
                    Val::Dec(d) if d == Decimal::from_i64(1) => Some(Val::Bool(true)),
                    Val::Dec(d) if d.is_zero() => Some(Val::Bool(false)),
                    Val::Str(s) => match s.to_ascii_lowercase().as_str() {
                        "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Val::Bool(true)),
                        "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Val::Bool(false)),
                        _ => None,
                    },
                    _ => None,
                })
            }
            F::ToInteger | F::ConvertsToInteger => {
                conv(func == F::ConvertsToInteger, single(&input)?, |v| match v {
                    Val::Int(i) => Some(Val::Int(i)),
                    Val::Bool(b) => Some(Val::Int(b as i64)),
                    Val::Str(s) => {
                        let t = s.strip_prefix('+').unwrap_or(&s);
                        let digits = t.strip_prefix('-').unwrap_or(t);
                        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                            s.parse::<i64>()
                                .ok()
                                .or_else(|| t.parse().ok())
                                .map(Val::Int)
                        } else {
                            None
                        }
                    }
                    _ => None,
                })
            }
            F::ToDecimal | F::ConvertsToDecimal => {
                conv(func == F::ConvertsToDecimal, single(&input)?, |v| match v {
                    Val::Int(i) => Some(Val::Dec(Decimal::from_i64(i))),
                    Val::Dec(d) => Some(Val::Dec(d)),
                    Val::Bool(b) => Some(Val::Dec(Decimal::new(b as i128 * 10, 1))),
                    Val::Str(s) => {
                        if s.contains(['e', 'E']) {
                            None
                        } else {
                            Decimal::parse(&s).map(Val::Dec)
                        }
                    }
                    _ => None,
                })
            }
            F::ToStringF | F::ConvertsToString => {
                let v = single(&input)?;
                // Keep FHIR primitives' original text (e.g. date-time offsets as written).
                conv(func == F::ConvertsToString, v, |v| {
                    to_string_val(&v).map(|s| Val::Str(Cow::Owned(s)))
                })
            }
            F::ToDate | F::ConvertsToDate => {
                conv(func == F::ConvertsToDate, single(&input)?, |v| match v {
                    Val::Date(d) => Some(Val::Date(d)),
                    Val::DateTime(d) => Some(Val::Date(d.date_part())),
                    Val::Str(s) => match DateTime::parse(&s) {
                        Some((d, false)) => Some(Val::Date(d)),
                        Some((d, true)) => Some(Val::Date(d.date_part())),
                        None => None,
                    },
                    _ => None,
                })
            }
            F::ToDateTime | F::ConvertsToDateTime => conv(
                func == F::ConvertsToDateTime,
                single(&input)?,
                |v| match v {
                    Val::Date(d) | Val::DateTime(d) => Some(Val::DateTime(d)),
                    Val::Str(s) => DateTime::parse(&s).map(|(d, _)| Val::DateTime(d)),
                    _ => None,
                },
            ),
            F::ToTime | F::ConvertsToTime => {
                conv(func == F::ConvertsToTime, single(&input)?, |v| match v {
                    Val::Time(t) => Some(Val::Time(t)),
                    Val::Str(s) => Time::parse(s.strip_prefix('T').unwrap_or(&s)).map(Val::Time),
                    _ => None,
                })
            }
            F::ToQuantity | F::ConvertsToQuantity => {
                let unit = if args.is_empty() { None } else { str_arg(0)? };
                conv(func == F::ConvertsToQuantity, single(&input)?, |v| {
                    let q = match v {
                        Val::Int(i) => Quantity::new(Decimal::from_i64(i), "1"),
                        Val::Dec(d) => Quantity::new(d, "1"),
                        Val::Bool(b) => Quantity::new(Decimal::new(b as i128 * 10, 1), "1"),
                        Val::Quantity(q) => *q,
                        Val::Str(s) => parse_quantity(&s)?,
                        _ => return None,
                    };
                    match &unit {
                        None => Some(Val::Quantity(Box::new(q))),
                        Some(u) if *u == q.unit => Some(Val::Quantity(Box::new(q))),
                        Some(u) => {
                            let target = Quantity::new(Decimal::from_i64(1), u.clone());
                            let (one, v) = target.common(&q)?;
                            let _ = one;
                            Some(Val::Quantity(Box::new(Quantity::new(v, u.clone()))))
                        }
                    }
                })
            }
            F::IndexOf | F::StartsWith | F::EndsWith | F::ContainsF | F::Split => {
                let Some(s) = self.str_input(&input, func)? else {
                    return Ok(vec![]);
                };
                let Some(a) = str_arg(0)? else {
                    return Ok(vec![]);
                };
                Ok(match func {
                    F::IndexOf => vec![Item::sys(Val::Int(match s.find(&a) {
                        Some(b) => s[..b].chars().count() as i64,
                        None => -1,
                    }))],
                    F::StartsWith => vec![Item::b(s.starts_with(&a))],
                    F::EndsWith => vec![Item::b(s.ends_with(&a))],
                    F::ContainsF => vec![Item::b(s.contains(&a))],
                    _ => s
                        .split(a.as_str())
                        .map(|p| Item::s(p.to_string()))
                        .collect(),
                })
            }
            F::Substring => {
                let Some(s) = self.str_input(&input, func)? else {
                    return Ok(vec![]);
                };
                let Some(start) = self.int_arg(&arg(0)?)? else {
                    return Ok(vec![]);
                };
                let chars: Vec<char> = s.chars().collect();
                if start < 0 || start as usize >= chars.len() {
                    return Ok(vec![]);
                }
                let len = if args.len() > 1 {
                    match self.int_arg(&arg(1)?)? {
                        Some(l) => l.max(0) as usize,
                        None => chars.len(),
                    }
                } else {
                    chars.len()
                };
                let end = (start as usize).saturating_add(len).min(chars.len());
                Ok(vec![Item::s(
                    chars[start as usize..end].iter().collect::<String>(),
                )])
            }
            F::Upper | F::Lower | F::Length | F::ToChars | F::Trim => {
                let Some(s) = self.str_input(&input, func)? else {
                    return Ok(vec![]);
                };
                Ok(match func {
                    F::Upper => vec![Item::s(s.to_uppercase())],
                    F::Lower => vec![Item::s(s.to_lowercase())],
                    F::Length => vec![Item::sys(Val::Int(s.chars().count() as i64))],
                    F::Trim => vec![Item::s(s.trim().to_string())],
                    _ => s.chars().map(|c| Item::s(c.to_string())).collect(),
                })
            }
            F::Replace => {
                let Some(s) = self.str_input(&input, func)? else {
                    return Ok(vec![]);
                };
                let (Some(p), Some(r)) = (str_arg(0)?, str_arg(1)?) else {
                    return Ok(vec![]);
                };
                if p.is_empty() {
                    // Spec: an empty pattern inserts the substitution around every character.
                    let mut out = r.clone();
                    for c in s.chars() {
                        out.push(c);
                        out.push_str(&r);
                    }
                    return Ok(vec![Item::s(out)]);
                }
                Ok(vec![Item::s(s.replace(&p, &r))])
            }
            F::Matches | F::MatchesFull | F::ReplaceMatches => {
                let Some(s) = self.str_input(&input, func)? else {
                    return Ok(vec![]);
                };
                let Some(p) = str_arg(0)? else {
                    return Ok(vec![]);
                };
                if p.is_empty() && func == F::ReplaceMatches {
                    return Ok(vec![Item::s(s)]);
                }
                let pat = if func == F::MatchesFull {
                    format!("^(?:{p})$")
                } else {
                    p
                };
                let re = regex_cached(&pat)?;
                match func {
                    F::ReplaceMatches => {
                        let Some(r) = str_arg(1)? else {
                            return Ok(vec![]);
                        };
                        Ok(vec![Item::s(re.replace_all(&s, r.as_str()).into_owned())])
                    }
                    _ => bool1(re.is_match(&s)),
                }
            }
            F::Join => {
                let sep = if args.is_empty() {
                    String::new()
                } else {
                    str_arg(0)?.unwrap_or_default()
                };
                let mut parts = Vec::new();
                for it in &input {
                    match it.prim() {
                        Some(Val::Str(s)) => parts.push(s.into_owned()),
                        _ => return err("join() needs strings"),
                    }
                }
                Ok(vec![Item::s(parts.join(&sep))])
            }
            F::Encode | F::Decode | F::Escape | F::Unescape => {
                let Some(s) = self.str_input(&input, func)? else {
                    return Ok(vec![]);
                };
                let Some(fmt) = str_arg(0)? else {
                    return Ok(vec![]);
                };
                let r = match (func, fmt.as_str()) {
                    (F::Encode, "base64") => Some(b64_encode(s.as_bytes(), false)),
                    (F::Encode, "urlbase64") => Some(b64_encode(s.as_bytes(), true)),
                    (F::Encode, "hex") => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
                    (F::Decode, "base64") => {
                        b64_decode(&s, false).and_then(|b| String::from_utf8(b).ok())
                    }
                    (F::Decode, "urlbase64") => {
                        b64_decode(&s, true).and_then(|b| String::from_utf8(b).ok())
                    }
                    (F::Decode, "hex") => hex_decode(&s).and_then(|b| String::from_utf8(b).ok()),
                    (F::Escape, "html") => Some(html_escape(&s)),
                    (F::Escape, "json") => Some(s.replace('\\', "\\\\").replace('"', "\\\"")),
                    (F::Unescape, "html") => Some(html_unescape(&s)),
                    (F::Unescape, "json") => Some(s.replace("\\\"", "\"").replace("\\\\", "\\")),
                    _ => None,
                };
                Ok(r.map(Item::s).into_iter().collect())
            }
            F::Abs
            | F::Ceiling
            | F::Floor
            | F::Exp
            | F::Ln
            | F::Sqrt
            | F::Truncate
            | F::Round
            | F::Log
            | F::Power => {
                let Some(v) = single(&input)? else {
                    return Ok(vec![]);
                };
                self.math(func, v, &arg(0)?)
            }
            F::Children => {
                let mut out = Vec::new();
                for it in &input {
                    self.children_of(it, &mut out);
                }
                Ok(out)
            }
            F::Descendants => {
                // Values only, on typed documents: the nodes are found from the records.
                if let Some((d, from)) = typed_nodes(&input)
                    && let Some(items) = with_node_queue(|at| {
                        d.descendants(&from, MAX_DEPTH, at)?;
                        Some(at.iter().map(|&i| Item::typed_node(d, i)).collect())
                    })
                {
                    return Ok(items);
                }
                // Breadth first in one vector: each level is appended after the previous one,
                // the order the spec's repeated children() gives.
                let mut out = Vec::with_capacity(64);
                for it in &input {
                    self.children_of(it, &mut out);
                }
                let (mut start, mut depth) = (0, 1);
                while start < out.len() {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return err("descendants(): input nested too deeply");
                    }
                    let end = out.len();
                    for i in start..end {
                        // Only nodes have children; copying the node (not cloning the item)
                        // keeps this loop free of the generic clone and drop.
                        let Val::Node(n) = out[i].val else { continue };
                        let it = Item {
                            val: Val::Node(n),
                            path: out[i].path.clone(),
                        };
                        self.children_of(&it, &mut out);
                    }
                    start = end;
                }
                Ok(out)
            }
            F::Trace => {
                let name = str_arg(0)?.unwrap_or_default();
                if let Some(sink) = &self.env.trace {
                    let shown = if args.len() > 1 {
                        let mut out = Vec::new();
                        for (i, it) in input.iter().enumerate() {
                            out.extend(self.eval(
                                &args[1],
                                std::slice::from_ref(it),
                                Scope {
                                    index: Some(i),
                                    ..sc
                                },
                            )?);
                        }
                        out
                    } else {
                        input.clone()
                    };
                    let json: Vec<Value> = shown.iter().map(Item::to_json).collect();
                    sink(&name, &json);
                }
                Ok(input)
            }
            F::Now => Ok(vec![Item::sys(Val::DateTime(
                self.env.now.unwrap_or_else(now_utc),
            ))]),
            F::Today => Ok(vec![Item::sys(Val::Date(
                self.env.now.unwrap_or_else(now_utc).date_part(),
            ))]),
            F::TimeOfDay => {
                let n = self.env.now.unwrap_or_else(now_utc);
                Ok(vec![Item::sys(Val::Time(Time {
                    hour: n.hour,
                    minute: n.minute,
                    second: n.second,
                    millis: n.millis,
                    precision: Precision::Millis,
                }))])
            }
            F::Not => match self.bool_strict_not(&input)? {
                Some(b) => bool1(!b),
                None => Ok(vec![]),
            },
            F::Aggregate => {
                let mut total = arg(1)?;
                for (i, it) in input.iter().enumerate() {
                    let t = total.first().cloned();
                    total = self.eval(
                        &args[0],
                        std::slice::from_ref(it),
                        Scope {
                            index: Some(i),
                            total: t.as_ref(),
                        },
                    )?;
                    if total.len() > 1 {
                        return err("aggregate(): $total must be a single item");
                    }
                }
                Ok(total)
            }
            F::Type => Ok(input
                .iter()
                .map(|it| {
                    let (ns, name) = match &it.val {
                        Val::Node(n) if !n.ty.is_empty() && !n.ty.starts_with("System.") => {
                            ("FHIR".to_string(), n.ty.to_string())
                        }
                        _ => {
                            let t = it.type_name();
                            (
                                "System".to_string(),
                                t.strip_prefix("System.").unwrap_or(t).to_string(),
                            )
                        }
                    };
                    Item::sys(Val::TypeInfo(Box::new((ns, name))))
                })
                .collect()),
            F::Sort => self.sort(input, args, sc),
            F::LowBoundary | F::HighBoundary => {
                let Some(v) = single(&input)? else {
                    return Ok(vec![]);
                };
                let p = if args.is_empty() {
                    None
                } else {
                    self.int_arg(&arg(0)?)?
                };
                Ok(boundary(v, p, func == F::HighBoundary)
                    .map(Item::sys)
                    .into_iter()
                    .collect())
            }
            F::Precision => {
                let Some(v) = single(&input)? else {
                    return Ok(vec![]);
                };
                Ok(match v {
                    Val::Dec(d) => Some(d.precision() as i64),
                    Val::Int(_) => Some(0),
                    Val::Date(d) | Val::DateTime(d) => Some(d.precision_digits()),
                    Val::Time(t) => Some(t.precision_digits()),
                    _ => None,
                }
                .map(|p| Item::sys(Val::Int(p)))
                .into_iter()
                .collect())
            }
            F::Comparable => {
                let (Some(Val::Quantity(a)), Some(Val::Quantity(b))) =
                    (single(&input)?, single(&arg(0)?)?)
                else {
                    return Ok(vec![]);
                };
                bool1(a.comparable(&b))
            }
            F::Extension => {
                let Some(url) = str_arg(0)? else {
                    return Ok(vec![]);
                };
                let mut exts = Vec::new();
                for it in &input {
                    self.member(it, "extension", "_extension", &mut exts)?;
                }
                Ok(exts
                    .into_iter()
                    .filter(|e| {
                        e.json().and_then(|j| j.get("url")).and_then(Json::as_str)
                            == Some(url.as_str())
                    })
                    .collect())
            }
            F::HasValue => bool1(matches!(input.as_slice(), [x] if match &x.val {
                Val::Node(n) => n.json.is_some_and(|j| !j.is_object() && !j.is_array()),
                _ => true,
            })),
            F::GetValue => Ok(match input.as_slice() {
                [x] => match &x.val {
                    Val::Node(n) if n.json.is_some_and(|j| !j.is_object() && !j.is_array()) => {
                        x.prim().map(Item::sys).into_iter().collect()
                    }
                    Val::Node(_) => vec![],
                    _ => vec![x.clone()],
                },
                _ => vec![],
            }),
            F::Resolve => {
                let mut out = Vec::new();
                for it in &input {
                    let r = match &it.val {
                        Val::Node(n) => match n.json.map(Json::view) {
                            Some(View::Object(o)) => {
                                o.get("reference").and_then(|(_, v)| v.as_str())
                            }
                            Some(View::String(s)) => Some(s),
                            _ => None,
                        },
                        Val::Str(s) => {
                            if let Some(x) = self.resolve(s) {
                                out.push(x);
                            }
                            None
                        }
                        _ => None,
                    };
                    if let Some(r) = r
                        && let Some(x) = self.resolve(r)
                    {
                        out.push(x);
                    }
                }
                Ok(out)
            }
            F::MemberOf => {
                let Some(url) = str_arg(0)? else {
                    return Ok(vec![]);
                };
                let Some(x) = input.first().filter(|_| input.len() == 1) else {
                    return if input.is_empty() {
                        Ok(vec![])
                    } else {
                        err("memberOf() needs a single item")
                    };
                };
                Ok(self.member_of(x, &url).map(Item::b).into_iter().collect())
            }
            F::ConformsTo => {
                let Some(url) = str_arg(0)? else {
                    return Ok(vec![]);
                };
                let mut out = Vec::new();
                for it in &input {
                    let Some(j) = it.json() else { continue };
                    if let Some(hook) = &self.env.conforms_to
                        && let Some(v) = match j.as_value() {
                            Some(v) => hook(v, &url),
                            None => hook(&j.to_value(), &url),
                        }
                    {
                        out.push(Item::b(v));
                        continue;
                    }
                    let Some(name) = url.strip_prefix("http://hl7.org/fhir/StructureDefinition/")
                    else {
                        return err(format!("conformsTo(): unknown profile {url}"));
                    };
                    if self.defs.type_def(name).is_none() {
                        return err(format!("conformsTo(): unknown profile {url}"));
                    }
                    let Val::Node(n) = &it.val else { continue };
                    out.push(Item::b(!n.ty.is_empty() && self.defs.is_a(n.ty, name)));
                }
                Ok(out)
            }
            F::HtmlChecks | F::HtmlChecks2 => {
                let ok = input.iter().all(|it| match it.prim() {
                    Some(Val::Str(s)) => html_ok(&s),
                    _ => false,
                });
                bool1(ok)
            }
            F::DefineVariable => Ok(input),
            F::Subsumes | F::SubsumedBy | F::ElementDefinition | F::Slice | F::CheckModifiers => {
                err(format!("{}() is not supported", func.name()))
            }
        }
    }

    fn bool_strict_not(&self, v: &[Item<'a>]) -> R<Option<bool>> {
        match v {
            [] => Ok(None),
            [one] => match one.prim() {
                Some(Val::Bool(b)) => Ok(Some(b)),
                _ => Ok(Some(true)),
            },
            _ => err("not() needs a single item"),
        }
    }

    fn str_input(&self, input: &[Item<'a>], func: Func) -> R<Option<Cow<'a, str>>> {
        match input {
            [] => Ok(None),
            [x] => match x.prim() {
                Some(Val::Str(s)) => Ok(Some(s)),
                _ => err(format!("{}() needs a string", func.name())),
            },
            _ => err(format!("{}() needs a single string", func.name())),
        }
    }

    fn filter(&self, input: &[Item<'a>], crit: &Node) -> R<Vec<Item<'a>>> {
        let mut out = Vec::new();
        for (i, it) in input.iter().enumerate() {
            let r = self.eval(
                crit,
                std::slice::from_ref(it),
                Scope {
                    index: Some(i),
                    total: None,
                },
            )?;
            let keep = match r.as_slice() {
                [] => false,
                [x] => match &x.val {
                    Val::Bool(b) => *b,
                    _ => matches!(x.prim(), Some(Val::Bool(true))),
                },
                _ => return err("where() criterion returned more than one item"),
            };
            if keep {
                out.push(it.clone());
            }
        }
        Ok(out)
    }

    fn sort(&self, input: Vec<Item<'a>>, args: &[Node], sc: Scope<'_, 'a>) -> R<Vec<Item<'a>>> {
        // Each item with its sort keys (value, descending?).
        type Keyed<'v> = (Vec<(Option<Val<'v>>, bool)>, Item<'v>);
        let mut keyed: Vec<Keyed<'a>> = Vec::new();
        for (i, it) in input.into_iter().enumerate() {
            let mut keys = Vec::new();
            if args.is_empty() {
                keys.push((it.prim(), false));
            }
            for a in args {
                let (expr, desc) = match a {
                    Node::Neg(inner) => (&**inner, true),
                    other => (other, false),
                };
                let v = self.eval(
                    expr,
                    std::slice::from_ref(&it),
                    Scope {
                        index: Some(i),
                        ..sc
                    },
                )?;
                let k = match v.as_slice() {
                    [] => None,
                    [x] => x.prim(),
                    _ => return err("sort() key returned more than one item"),
                };
                keys.push((k, desc));
            }
            keyed.push((keys, it));
        }
        let mut failed = false;
        keyed.sort_by(|a, b| {
            for ((ka, desc), (kb, _)) in a.0.iter().zip(b.0.iter()) {
                let o = match (ka, kb) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Greater,
                    (_, None) => Ordering::Less,
                    (Some(x), Some(y)) => match cmp_vals(x, y) {
                        Ok(Some(o)) => o,
                        _ => {
                            failed = true;
                            Ordering::Equal
                        }
                    },
                };
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        if failed {
            return err("sort(): keys are not comparable");
        }
        Ok(keyed.into_iter().map(|(_, i)| i).collect())
    }

    fn math(&self, func: Func, v: Val<'a>, a: &[Item<'a>]) -> R<Vec<Item<'a>>> {
        use Func as F;
        let ok =
            |v: Option<Val<'a>>| -> R<Vec<Item<'a>>> { Ok(v.map(Item::sys).into_iter().collect()) };
        let dec = |v: &Val<'a>| -> Option<Decimal> {
            match v {
                Val::Int(i) => Some(Decimal::from_i64(*i)),
                Val::Dec(d) => Some(*d),
                _ => None,
            }
        };
        if let Val::Quantity(q) = &v {
            return match func {
                F::Abs => ok(Some(Val::Quantity(Box::new(Quantity::new(
                    q.value.abs(),
                    q.unit.clone(),
                ))))),
                _ => err(format!("{}() is not defined for quantities", func.name())),
            };
        }
        let Some(d) = dec(&v) else {
            return err(format!("{}() needs a number", func.name()));
        };
        let is_int = matches!(v, Val::Int(_));
        let f = d.to_f64();
        match func {
            F::Abs => ok(Some(if let Val::Int(i) = v {
                Val::Int(i.checked_abs().unwrap_or(i64::MAX))
            } else {
                Val::Dec(d.abs())
            })),
            F::Ceiling => ok(d.ceil().to_i64_exact().map(Val::Int)),
            F::Floor => ok(d.floor().to_i64_exact().map(Val::Int)),
            F::Truncate => ok(d.truncate_to(0).to_i64_exact().map(Val::Int)),
            F::Round => {
                let p = self.int_arg(a)?.unwrap_or(0);
                if p < 0 {
                    return err("round(): precision must be non-negative");
                }
                ok(Some(Val::Dec(d.round(p as u32))))
            }
            F::Exp => ok(Decimal::from_f64(f.exp()).map(Val::Dec)),
            F::Ln => ok(if f <= 0.0 {
                None
            } else {
                Decimal::from_f64(f.ln()).map(Val::Dec)
            }),
            F::Sqrt => ok(if f < 0.0 {
                None
            } else {
                Decimal::from_f64(f.sqrt()).map(Val::Dec)
            }),
            F::Log => {
                let Some(base) = a.first().and_then(|x| x.prim()).and_then(|x| dec(&x)) else {
                    return ok(None);
                };
                let r = f.ln() / base.to_f64().ln();
                ok(if f <= 0.0 {
                    None
                } else {
                    Decimal::from_f64(r).map(Val::Dec)
                })
            }
            F::Power => {
                let Some(ev) = a.first().and_then(|x| x.prim()) else {
                    return ok(None);
                };
                let Some(e) = dec(&ev) else {
                    return err("power() needs a number");
                };
                if is_int
                    && let Val::Int(ei) = ev
                    && ei >= 0
                {
                    let Val::Int(b) = v else { unreachable!() };
                    return ok(u32::try_from(ei)
                        .ok()
                        .and_then(|e| b.checked_pow(e))
                        .map(Val::Int));
                }
                let r = f.powf(e.to_f64());
                ok(if r.is_nan() {
                    None
                } else {
                    Decimal::from_f64(r).map(Val::Dec)
                })
            }
            _ => ok(None),
        }
    }

    fn resolve(&self, r: &str) -> Option<Item<'a>> {
        let root = self.resource.json()?;
        if let Some(id) = r.strip_prefix('#') {
            if id.is_empty() {
                return Some(self.resource.clone());
            }
            let contained = root.get("contained")?.as_array()?;
            for (i, c) in contained.iter().enumerate() {
                if c.get("id").and_then(Json::as_str) == Some(id) {
                    return Some(self.sub_item(c, "contained", Some(i)));
                }
            }
            return None;
        }
        if root.get("resourceType").and_then(Json::as_str) == Some("Bundle")
            && let Some(entries) = root.get("entry").and_then(Json::as_array)
        {
            for (i, e) in entries.iter().enumerate() {
                let full = e.get("fullUrl").and_then(Json::as_str);
                let res = e.get("resource");
                let hit = full == Some(r)
                    || res.is_some_and(|res| {
                        let rt = res.get("resourceType").and_then(Json::as_str).unwrap_or("");
                        let id = res.get("id").and_then(Json::as_str).unwrap_or("");
                        !rt.is_empty()
                            && !id.is_empty()
                            && (r == format!("{rt}/{id}") || r.ends_with(&format!("/{rt}/{id}")))
                    });
                if hit && let Some(res) = res {
                    let entry_path = self.resource.path.as_ref().map(|p| {
                        Rc::new(PathNode {
                            parent: Some(p.clone()),
                            key: "entry",
                            index: Some(i),
                            root: false,
                            ext: false,
                        })
                    });
                    let rt = res.get("resourceType").and_then(Json::as_str).unwrap_or("");
                    return Some(Item {
                        val: Val::Node(FNode {
                            json: Some(res),
                            ext: None,
                            ty: rt,
                            ctx: rt,
                        }),
                        path: entry_path.map(|ep| {
                            Rc::new(PathNode {
                                parent: Some(ep),
                                key: "resource",
                                index: None,
                                root: false,
                                ext: false,
                            })
                        }),
                    });
                }
            }
        }
        let resolver = self.env.resolver.as_ref()?;
        let v: &'a Value = resolver(r)?;
        Some(root_item(Json::V(v), !self.env.no_locations))
    }

    fn sub_item(&self, v: Json<'a>, key: &'static str, index: Option<usize>) -> Item<'a> {
        let rt = v.get("resourceType").and_then(Json::as_str).unwrap_or("");
        Item {
            val: Val::Node(FNode {
                json: Some(v),
                ext: None,
                ty: rt,
                ctx: rt,
            }),
            path: self.resource.path.as_ref().map(|p| {
                Rc::new(PathNode {
                    parent: Some(p.clone()),
                    key,
                    index,
                    root: false,
                    ext: false,
                })
            }),
        }
    }

    fn member_of(&self, x: &Item<'a>, url: &str) -> Option<bool> {
        let verdict = |m: Membership| match m {
            Membership::Member => Some(true),
            Membership::NotMember => Some(false),
            Membership::NotExpanded => None,
        };
        match &x.val {
            Val::Str(s) => verdict(self.defs.value_set_contains(url, None, s)),
            Val::Node(n) => match n.json?.view() {
                View::String(s) => verdict(self.defs.value_set_contains(url, None, s)),
                View::Object(o) => {
                    let coding_member = |c: Json<'_>| {
                        let code = c.get("code").and_then(Json::as_str)?;
                        verdict(self.defs.value_set_contains(
                            url,
                            c.get("system").and_then(Json::as_str),
                            code,
                        ))
                    };
                    if let Some((_, codings)) = o.get("coding")
                        && let Some(codings) = codings.as_array()
                    {
                        let mut unknown = false;
                        for c in codings.iter() {
                            match coding_member(c) {
                                Some(true) => return Some(true),
                                None => unknown = true,
                                _ => {}
                            }
                        }
                        if unknown { None } else { Some(false) }
                    } else {
                        coding_member(n.json?)
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// The static type of `x as T` / `x.as(T)` / `x.ofType(T)`.
fn as_type_of(n: &Node) -> Option<&TypeSpec> {
    match n {
        Node::AsType(_, ts) => Some(ts),
        Node::Call {
            func: Func::As | Func::OfType,
            type_arg,
            ..
        } => type_arg.as_ref(),
        _ => None,
    }
}

fn is_unordered(n: &Node) -> bool {
    matches!(
        n,
        Node::Call {
            func: Func::Children | Func::Descendants,
            ..
        }
    )
}

fn conv<'a>(
    converts: bool,
    v: Option<Val<'a>>,
    f: impl FnOnce(Val<'a>) -> Option<Val<'a>>,
) -> R<Vec<Item<'a>>> {
    let Some(v) = v else {
        return Ok(vec![]);
    };
    let r = f(v);
    Ok(if converts {
        vec![Item::b(r.is_some())]
    } else {
        r.map(Item::sys).into_iter().collect()
    })
}

fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let (num, rest) = match s.find(' ') {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let v = Decimal::parse(num)?;
    if rest.is_empty() {
        return Some(Quantity::new(v, "1"));
    }
    if let Some(u) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(Quantity::new(v, u));
    }
    calendar_unit(rest).map(|_| Quantity::new(v, rest))
}

fn same_item(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (&a.val, &b.val) {
        (Val::Node(x), Val::Node(y)) => match (x.json, y.json) {
            (Some(p), Some(q)) if p.is_object() => p.same(q),
            _ => item_eq(a, b) == Some(true),
        },
        _ => item_eq(a, b) == Some(true),
    }
}

fn union<'a>(a: Vec<Item<'a>>, b: Vec<Item<'a>>) -> Vec<Item<'a>> {
    let mut out: Vec<Item<'a>> = Vec::with_capacity(a.len() + b.len());
    for x in a.into_iter().chain(b) {
        if !out.iter().any(|o| item_eq(o, &x) == Some(true)) {
            out.push(x);
        }
    }
    out
}

fn distinct(a: Vec<Item<'_>>) -> Vec<Item<'_>> {
    union(a, Vec::new())
}

/// Deep equality of complex nodes (FHIRPath `=` on elements).
fn json_eq(a: Json<'_>, b: Json<'_>) -> bool {
    match (a.view(), b.view()) {
        (View::Object(x), View::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|(_, w)| json_eq(v, w)))
        }
        (View::Array(x), View::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| json_eq(p, q))
        }
        (View::Number(x), View::Number(y)) => {
            match (Decimal::from_json_number(x), Decimal::from_json_number(y)) {
                (Some(p), Some(q)) => p == q,
                _ => x == y,
            }
        }
        (View::String(x), View::String(y)) => x == y,
        (View::Bool(x), View::Bool(y)) => x == y,
        (View::Null, View::Null) => true,
        _ => false,
    }
}

pub(crate) fn item_eq(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    match (a.prim(), b.prim()) {
        (Some(x), Some(y)) => val_eq(&x, &y),
        (None, None) => match (&a.val, &b.val) {
            (Val::Node(x), Val::Node(y)) => Some(match (x.json, y.json) {
                (Some(p), Some(q)) => json_eq(p, q),
                (None, None) => x.ext.zip(y.ext).is_some_and(|(p, q)| json_eq(p, q)),
                _ => false,
            }),
            (Val::TypeInfo(x), Val::TypeInfo(y)) => Some(x == y),
            _ => Some(false),
        },
        _ => Some(false),
    }
}

fn val_eq(x: &Val<'_>, y: &Val<'_>) -> Option<bool> {
    Some(match (x, y) {
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Int(a), Val::Int(b)) => a == b,
        (Val::Int(a), Val::Dec(b)) | (Val::Dec(b), Val::Int(a)) => Decimal::from_i64(*a) == *b,
        (Val::Dec(a), Val::Dec(b)) => a == b,
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Date(a) | Val::DateTime(a), Val::Date(b) | Val::DateTime(b)) => {
            a.compare(b)? == Ordering::Equal
        }
        (Val::Time(a), Val::Time(b)) => a.compare(b)? == Ordering::Equal,
        (Val::Quantity(a), Val::Quantity(b)) => {
            let (p, q) = a.common(b)?;
            p == q
        }
        _ => false,
    })
}

thread_local! {
    /// A queue of node indices kept from one evaluation to the next: `descendants()` over a
    /// typed document visits a resource's nodes breadth first through it, and growing a fresh
    /// one per resource cost several allocations each time (measured in the npm batch).
    static NODE_QUEUE: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with the (cleared) node queue. Re-entrant: a nested call finds the queue taken
/// and gets a new one. A queue grown past 64 Ki nodes is not kept.
fn with_node_queue<T>(f: impl FnOnce(&mut Vec<u32>) -> T) -> T {
    NODE_QUEUE.with(|q| {
        let mut v = q.take();
        v.clear();
        let out = f(&mut v);
        if v.capacity() <= 1 << 16 {
            q.set(v);
        }
        out
    })
}

/// The document and node indices of `items` when all are nodes of one typed document, without
/// locations or `_` companions: what the documents' own navigation serves.
fn typed_nodes<'a>(items: &[Item<'a>]) -> Option<(&'a Document, Vec<u32>)> {
    let mut doc: Option<&'a Document> = None;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let (d, at) = typed_node_of(it)?;
        if doc.is_some_and(|x| !std::ptr::eq(x, d)) {
            return None;
        }
        doc = Some(d);
        out.push(at);
    }
    doc.map(|d| (d, out))
}

/// The document and index of `item` when it is a node of a typed document, without a location
/// or a `_` companion.
fn typed_node_of<'a>(item: &Item<'a>) -> Option<(&'a Document, u32)> {
    match (&item.val, &item.path) {
        (
            Val::Node(FNode {
                json: Some(Json::D(d, at)),
                ext: None,
                ..
            }),
            None,
        ) if d.is_typed() => Some((d, *at)),
        _ => None,
    }
}

/// The comparison of an equality operator (`=`, `!=`, `~`, `!~`) on two collections.
#[allow(clippy::type_complexity)]
fn equality(op: BinOp) -> Option<fn(&[Item<'_>], &[Item<'_>]) -> Option<bool>> {
    Some(match op {
        BinOp::Eq => coll_eq,
        BinOp::Ne => |a, b| coll_eq(a, b).map(|x| !x),
        BinOp::Equiv => |a, b| Some(coll_equiv(a, b)),
        BinOp::NotEquiv => |a, b| Some(!coll_equiv(a, b)),
        _ => return None,
    })
}

fn coll_eq(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut unknown = false;
    for (x, y) in a.iter().zip(b) {
        match item_eq(x, y) {
            Some(false) => return Some(false),
            None => unknown = true,
            _ => {}
        }
    }
    if unknown { None } else { Some(true) }
}

fn norm_ws(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn item_equiv(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a.prim(), b.prim()) {
        (Some(x), Some(y)) => match (&x, &y) {
            (Val::Str(p), Val::Str(q)) => norm_ws(p) == norm_ws(q),
            (Val::Dec(p), Val::Dec(q)) => p.equivalent(*q),
            (Val::Int(p), Val::Dec(q)) | (Val::Dec(q), Val::Int(p)) => {
                Decimal::from_i64(*p).equivalent(*q)
            }
            (Val::Date(p) | Val::DateTime(p), Val::Date(q) | Val::DateTime(q)) => {
                p.compare(q) == Some(Ordering::Equal)
            }
            (Val::Time(p), Val::Time(q)) => p.compare(q) == Some(Ordering::Equal),
            (Val::Quantity(p), Val::Quantity(q)) => match p.common(q) {
                Some((m, n)) => m.equivalent(n),
                None => false,
            },
            _ => val_eq(&x, &y) == Some(true),
        },
        (None, None) => match (&a.val, &b.val) {
            (Val::Node(x), Val::Node(y)) => match (x.json, y.json) {
                (Some(p), Some(q)) => json_equiv(p, q),
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

fn json_equiv(a: Json<'_>, b: Json<'_>) -> bool {
    match (a.view(), b.view()) {
        (View::Object(x), View::Object(y)) => {
            let keys = |m: Obj<'_>| m.keys().filter(|k| *k != "id" && *k != "extension").count();
            keys(x) == keys(y)
                && x.iter()
                    .filter(|(k, _)| *k != "id" && *k != "extension")
                    .all(|(k, v)| y.get(k).is_some_and(|(_, w)| json_equiv(v, w)))
        }
        (View::String(p), View::String(q)) => norm_ws(p) == norm_ws(q),
        _ => json_eq(a, b),
    }
}

fn coll_equiv(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().all(|x| b.iter().any(|y| item_equiv(x, y)))
}

fn cmp_vals(x: &Val<'_>, y: &Val<'_>) -> R<Option<Ordering>> {
    Ok(match (x, y) {
        (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Val::Dec(b)) => Some(Decimal::from_i64(*a).cmp_value(*b)),
        (Val::Dec(a), Val::Int(b)) => Some(a.cmp_value(Decimal::from_i64(*b))),
        (Val::Dec(a), Val::Dec(b)) => Some(a.cmp_value(*b)),
        (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
        (Val::Date(a) | Val::DateTime(a), Val::Date(b) | Val::DateTime(b)) => a.compare(b),
        (Val::Time(a), Val::Time(b)) => a.compare(b),
        (Val::Quantity(a), Val::Quantity(b)) => match a.common(b) {
            Some((p, q)) => Some(p.cmp_value(q)),
            None => {
                if super::quantity::parse_ucum(&a.unit).is_some()
                    && super::quantity::parse_ucum(&b.unit).is_some()
                {
                    return err("quantities with incompatible units cannot be compared");
                }
                None
            }
        },
        _ => return err("values of these types cannot be compared"),
    })
}

fn compare(x: &Item<'_>, y: &Item<'_>) -> R<Option<Ordering>> {
    let (Some(a), Some(b)) = (x.prim(), y.prim()) else {
        return err("comparison needs primitive values");
    };
    cmp_vals(&a, &b)
}

fn arith<'a>(op: BinOp, x: Val<'a>, y: Val<'a>) -> R<Option<Val<'a>>> {
    let ok = |v: Option<Val<'a>>| Ok(v);
    match (x, y) {
        (Val::Int(a), Val::Int(b)) => ok(match op {
            BinOp::Add => a.checked_add(b).map(Val::Int),
            BinOp::Sub => a.checked_sub(b).map(Val::Int),
            BinOp::Mul => a.checked_mul(b).map(Val::Int),
            BinOp::Div => Decimal::from_i64(a)
                .checked_div(Decimal::from_i64(b))
                .map(Val::Dec),
            BinOp::IntDiv => {
                if b == 0 {
                    None
                } else {
                    a.checked_div(b).map(Val::Int)
                }
            }
            BinOp::Mod => {
                if b == 0 {
                    None
                } else {
                    a.checked_rem(b).map(Val::Int)
                }
            }
            _ => None,
        }),
        (Val::Int(a), Val::Dec(b)) => arith(op, Val::Dec(Decimal::from_i64(a)), Val::Dec(b)),
        (Val::Dec(a), Val::Int(b)) => arith(op, Val::Dec(a), Val::Dec(Decimal::from_i64(b))),
        (Val::Dec(a), Val::Dec(b)) => ok(match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div => a.checked_div(b),
            BinOp::IntDiv => a.checked_div_int(b),
            BinOp::Mod => a.checked_rem(b),
            _ => None,
        }
        .map(|d| {
            if op == BinOp::IntDiv {
                d.to_i64_exact().map(Val::Int).unwrap_or(Val::Dec(d))
            } else {
                Val::Dec(d)
            }
        })),
        (Val::Str(a), Val::Str(b)) if op == BinOp::Add => {
            ok(Some(Val::Str(Cow::Owned(a.into_owned() + &b))))
        }
        (Val::Date(d), Val::Quantity(q)) | (Val::DateTime(d), Val::Quantity(q))
            if matches!(op, BinOp::Add | BinOp::Sub) =>
        {
            let is_date = x_kind(&d);
            let _ = is_date;
            let unit = match calendar_unit(&q.unit) {
                Some(u) => u,
                None => match ucum_to_calendar(&q.unit) {
                    Some(u) => u,
                    None => return err(format!("cannot add '{}' to a date", q.unit)),
                },
            };
            let amount = q.value.truncate_to(0).to_i64_exact().unwrap_or(0);
            let amount = if op == BinOp::Sub { -amount } else { amount };
            let r = d.add(amount, 0, unit);
            ok(r.map(|r| {
                if d.precision <= Precision::Day
                    && !d.has_time()
                    && r.tz.is_none()
                    && d.tz.is_none()
                {
                    Val::Date(r)
                } else {
                    Val::DateTime(r)
                }
            }))
            .map(|v| v.map(|v| retag(v, &d)))
        }
        (Val::Time(t), Val::Quantity(q)) if matches!(op, BinOp::Add | BinOp::Sub) => {
            let unit = calendar_unit(&q.unit).or_else(|| ucum_to_calendar(&q.unit));
            let Some(unit) = unit else {
                return err(format!("cannot add '{}' to a time", q.unit));
            };
            let amount = q.value.truncate_to(0).to_i64_exact().unwrap_or(0);
            let amount = if op == BinOp::Sub { -amount } else { amount };
            ok(t.add(amount, 0, unit).map(Val::Time))
        }
        (Val::Quantity(a), Val::Quantity(b)) => match op {
            BinOp::Add | BinOp::Sub => {
                let Some((p, q)) = a.common(&b) else {
                    return ok(None);
                };
                let v = if op == BinOp::Add {
                    p.checked_add(q)
                } else {
                    p.checked_sub(q)
                };
                ok(v.map(|v| Val::Quantity(Box::new(Quantity::new(v, a.unit.clone())))))
            }
            BinOp::Mul | BinOp::Div => {
                let (Some((va, da)), Some((vb, db))) = (a.to_base(), b.to_base()) else {
                    return ok(None);
                };
                let mut dims = [0i8; 5];
                for i in 0..5 {
                    dims[i] = if op == BinOp::Mul {
                        da[i] + db[i]
                    } else {
                        da[i] - db[i]
                    };
                }
                let v = if op == BinOp::Mul {
                    va.checked_mul(vb)
                } else {
                    va.checked_div(vb)
                };
                ok(v.map(|v| Val::Quantity(Box::new(Quantity::new(v, dims_unit(dims))))))
            }
            _ => err("operator not defined for quantities"),
        },
        (Val::Quantity(a), Val::Int(_) | Val::Dec(_))
        | (Val::Int(_) | Val::Dec(_), Val::Quantity(a))
            if false =>
        {
            let _ = a;
            ok(None)
        }
        (Val::Quantity(a), n @ (Val::Int(_) | Val::Dec(_)))
            if matches!(op, BinOp::Mul | BinOp::Div) =>
        {
            let n = match n {
                Val::Int(i) => Decimal::from_i64(i),
                Val::Dec(d) => d,
                _ => return ok(None),
            };
            let v = if op == BinOp::Mul {
                a.value.checked_mul(n)
            } else {
                a.value.checked_div(n)
            };
            ok(v.map(|v| Val::Quantity(Box::new(Quantity::new(v, a.unit.clone())))))
        }
        (n @ (Val::Int(_) | Val::Dec(_)), Val::Quantity(a)) if op == BinOp::Mul => {
            let n = match n {
                Val::Int(i) => Decimal::from_i64(i),
                Val::Dec(d) => d,
                _ => return ok(None),
            };
            ok(a.value
                .checked_mul(n)
                .map(|v| Val::Quantity(Box::new(Quantity::new(v, a.unit.clone())))))
        }
        _ => err("operator not defined for these types"),
    }
}

fn x_kind(_d: &DateTime) -> bool {
    true
}

/// Keeps Date results Date and DateTime results DateTime.
fn retag<'a>(v: Val<'a>, orig: &DateTime) -> Val<'a> {
    match v {
        Val::Date(r) | Val::DateTime(r) => {
            if orig.precision <= Precision::Day
                && orig.tz.is_none()
                && r.precision <= Precision::Day
            {
                Val::Date(r)
            } else {
                Val::DateTime(r)
            }
        }
        v => v,
    }
}

fn boundary<'a>(v: Val<'a>, p: Option<i64>, high: bool) -> Option<Val<'a>> {
    match v {
        Val::Int(i) => boundary(Val::Dec(Decimal::from_i64(i)), p, high),
        Val::Dec(d) => {
            let p = p.unwrap_or(8);
            if !(0..=28).contains(&p) {
                return None;
            }
            let half = Decimal::new(5, d.scale() + 1);
            let b = if high {
                d.checked_add(half)?
            } else {
                d.checked_sub(half)?
            };
            let zero_at_p = b.truncate_to(p as u32).is_zero();
            let p = p as u32;
            let r = if zero_at_p && p < b.scale() {
                if b.is_negative() {
                    Decimal::negative_zero(p)
                } else {
                    Decimal::new(0, p)
                }
            } else if p >= b.scale() {
                Decimal::new(
                    b.mantissa()
                        .checked_mul(10i128.checked_pow(p - b.scale())?)?,
                    p,
                )
            } else {
                let t = b.truncate_to(p);
                let exact = t.cmp_value(b) == Ordering::Equal;
                let unit = Decimal::new(1, p);
                if exact {
                    t
                } else if high && !b.is_negative() {
                    t.checked_add(unit)?
                } else if !high && b.is_negative() {
                    t.checked_sub(unit)?
                } else {
                    t
                }
            };
            Some(Val::Dec(r))
        }
        Val::Quantity(q) => match boundary(Val::Dec(q.value), p, high)? {
            Val::Dec(d) => Some(Val::Quantity(Box::new(Quantity::new(d, q.unit)))),
            _ => None,
        },
        Val::Date(_) | Val::DateTime(_) => {
            let (d, is_date) = match v {
                Val::Date(d) => (d, true),
                Val::DateTime(d) => (d, false),
                _ => return None,
            };
            let mut d = d;
            // `T08` is not a FHIR time: it means 08:00.
            if d.precision == Precision::Hour {
                d.precision = Precision::Minute;
            }
            let p = p.unwrap_or(if is_date { 8 } else { 17 });
            let prec = match p {
                4 => Precision::Year,
                6 => Precision::Month,
                8 => Precision::Day,
                10 => Precision::Hour,
                12 => Precision::Minute,
                14 => Precision::Second,
                17 => Precision::Millis,
                _ => return None,
            };
            let mut r = d;
            if d.precision < Precision::Month {
                r.month = if high { 12 } else { 1 };
            }
            if d.precision < Precision::Day {
                r.day = if high {
                    super::datetime::days_in_month(r.year, r.month)
                } else {
                    1
                };
            }
            if d.precision < Precision::Hour {
                r.hour = if high { 23 } else { 0 };
            }
            if d.precision < Precision::Minute {
                r.minute = if high { 59 } else { 0 };
            }
            if d.precision < Precision::Second {
                r.second = if high { 59 } else { 0 };
            }
            if d.precision < Precision::Millis {
                r.millis = if high { 999 } else { 0 };
            }
            if prec >= Precision::Hour && r.tz.is_none() {
                r.tz = Some(if high { -12 * 60 } else { 14 * 60 });
            }
            r.precision = prec;
            if prec <= Precision::Day {
                r.tz = None;
                Some(Val::Date(r))
            } else {
                Some(Val::DateTime(r))
            }
        }
        Val::Time(t) => {
            let p = p.unwrap_or(9);
            let prec = match p {
                2 => Precision::Hour,
                4 => Precision::Minute,
                6 => Precision::Second,
                9 => Precision::Millis,
                _ => return None,
            };
            let mut r = t;
            if t.precision < Precision::Minute {
                r.minute = if high { 59 } else { 0 };
            }
            if t.precision < Precision::Second {
                r.second = if high { 59 } else { 0 };
            }
            if t.precision < Precision::Millis {
                r.millis = if high { 999 } else { 0 };
            }
            r.precision = prec;
            Some(Val::Time(r))
        }
        _ => None,
    }
}

fn regex_cached(p: &str) -> R<std::sync::Arc<regex::Regex>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(c) = cache.lock()
        && let Some(r) = c.get(p)
    {
        return Ok(r.clone());
    }
    let re = regex::RegexBuilder::new(p)
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| FhirPathError::exec(format!("invalid regular expression: {e}")))?;
    let re = Arc::new(re);
    if let Ok(mut c) = cache.lock() {
        if c.len() > 1024 {
            c.clear();
        }
        c.insert(p.to_string(), re.clone());
    }
    Ok(re)
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8], url: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                let mut c = B64[(n >> (18 - 6 * i) & 63) as usize];
                if url {
                    c = match c {
                        b'+' => b'-',
                        b'/' => b'_',
                        c => c,
                    };
                }
                out.push(c as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(s: &str, url: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        if c == b'=' {
            break;
        }
        let c = if url {
            match c {
                b'-' => b'+',
                b'_' => b'/',
                c => c,
            }
        } else {
            c
        };
        let v = B64.iter().position(|&x| x == c)? as u32;
        buf = buf << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The narrative rules of FHIR R4 (txt-1/txt-2): an XHTML `div`, no scripts, forms, event
/// handlers or other active content.
fn html_ok(s: &str) -> bool {
    let t = s.trim_start();
    if !t.starts_with("<div") {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    const BANNED: &[&str] = &[
        "<script",
        "<form",
        "<iframe",
        "<object",
        "<embed",
        "<applet",
        "<base",
        "<link",
        "<meta",
        "<style",
        "<frame",
        "javascript:",
    ];
    if BANNED.iter().any(|b| lower.contains(b)) {
        return false;
    }
    // event handler attributes: on...=
    let b = lower.as_bytes();
    let mut in_tag = false;
    for i in 0..b.len() {
        match b[i] {
            b'<' => in_tag = true,
            b'>' => in_tag = false,
            b' ' | b'\t' | b'\n'
                if in_tag && b.get(i + 1) == Some(&b'o') && b.get(i + 2) == Some(&b'n') =>
            {
                let rest = &lower[i + 1..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if name.len() > 2 && rest[name.len()..].trim_start().starts_with('=') {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}
