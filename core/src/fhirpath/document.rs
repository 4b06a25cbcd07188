//! A compact, read-only form of parsed resources for evaluating many expressions over many
//! resources ([`Document`]), and the handle the evaluator reads JSON through ([`Json`]), which
//! is either a `serde_json::Value` or a node of a [`Document`].
//!
//! Why: over a large collection, FHIRPath evaluation on `serde_json::Value` is bound by memory
//! latency, not by computation. Every object is an `IndexMap` whose entries, hash table and key
//! strings are separate heap blocks, so finding one member of a cold resource is a chain of
//! dependent cache misses (measured natively: `id.exists()` over 7,160 Synthea resources costs
//! ~4× more per resource than over 50 resources that stay in cache). A [`Document`] stores every
//! node as one 32-byte record; the members of an object (and the items of an array) are
//! contiguous records, and keys and strings sit in one text buffer in document order. Each
//! record also holds the first eight bytes of its key, so a lookup is a scan of adjacent records
//! comparing length and prefix — most FHIR keys are at most eight bytes and need nothing else.
//!
//! A document is built from JSON text ([`Document::push_json`], serde_json's parser writing
//! straight into the records) or from `serde_json::Value`s ([`Document::push`]) — parsing, escapes
//! and numbers are exactly serde_json's either way — and holds any number of resources, each with
//! its [`Root`]. Resources are never changed, only all removed at once ([`Document::clear`]).
//! Unless built [`untyped`](Document::untyped), each record also holds the node's FHIRPath type
//! and children context, resolved against the R4 definitions when the resource is added — the
//! same rules navigation applies — so evaluation does no definitions lookup per step.
//!
//! ```
//! use firn_core::fhirpath::{Document, Env, Expression};
//! use serde_json::json;
//! let mut doc = Document::new();
//! let root = doc.push(&json!({"resourceType": "Patient", "name": [{"given": ["Ann", "Bo"]}]})).unwrap();
//! let e = Expression::compile("name.given.count()").unwrap();
//! let out = e.evaluate_in(&doc, root, &Env::new()).unwrap();
//! assert_eq!(out[0].to_json(), json!(2));
//! ```

use super::eval::{declared_type, slot_type};
use crate::definitions::{Definitions, HashMap};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Resources in the compact form: see the [module documentation](self).
#[derive(Debug, Default, Clone)]
pub struct Document {
    recs: Vec<Rec>,
    /// Keys and strings, unescaped UTF-8.
    text: String,
    numbers: Vec<Number>,
    /// Type and context names of the nodes (`0` is the empty name), and their ids.
    names: Vec<Name>,
    name_ids: HashMap<Box<str>, u32>,
    /// Ids of `'static` names by address (see [`Document::intern_static`]).
    static_ids: HashMap<(usize, usize), u32>,
    /// False for a document built without types ([`Document::untyped`]).
    untyped: bool,
    /// Members of the objects and items of the arrays being parsed ([`Document::push_json`]),
    /// moved to `recs` as one block when their container ends. Empty between calls.
    scratch: Vec<Rec>,
}

/// A type or context name: from the definitions (nearly all) or from the input (the
/// `resourceType` of a resource the definitions do not know).
#[derive(Debug, Clone)]
enum Name {
    Static(&'static str),
    Owned(Box<str>),
}

impl Name {
    fn as_str(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Owned(s) => s,
        }
    }
}

/// The root of one resource inside a [`Document`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Root(pub(crate) u32);

/// Why a value does not fit a [`Document`] (its limits are those of 32-bit offsets), or why
/// JSON text could not be read into one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Invalid JSON text ([`Document::push_json`]); the message is serde_json's, with its line
    /// and column.
    #[error("{message}")]
    Json {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("a JSON key is longer than {} bytes", u16::MAX)]
    KeyTooLong,
    #[error("the document is larger than 4 GiB")]
    TooLarge,
    #[error("JSON nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

/// One node: its key (when it is an object member) and its value.
#[derive(Debug, Default, Clone, Copy)]
struct Rec {
    /// The key's first eight bytes, zero-padded ([`prefix`]).
    key_prefix: u64,
    key_off: u32,
    key_len: u16,
    kind: Kind,
    /// [`FIRST_OF_COMPANIONS`] and [`FIRST_OF_CHOICES`] on the first member of an object,
    /// [`CHOICE`] on a member.
    flags: u8,
    /// String: text offset · Number: index · Array/Object: first item's record · Bool: 0/1.
    a: u32,
    /// String: byte length · Array/Object: item count.
    b: u32,
    /// The node's FHIRPath type and children context (ids into `names`).
    ty: u32,
    ctx: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    #[default]
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// Set on the first member record of an object with `_` members (a primitive's extensions):
/// most objects have none, and then lookups stop at the first match and pair no companions.
const FIRST_OF_COMPANIONS: u8 = 1;

/// Set on an object member whose key the member step takes for an instance of a choice
/// element (`onsetDateTime` for `onset`): the same test navigation makes (the object's type
/// declares the key a choice, or the object is of no known type).
const CHOICE: u8 = 2;

/// Set on the first member record of an object with a [`CHOICE`] member: a name that is not a
/// member of an object without one is simply absent, with no second look at the keys.
const FIRST_OF_CHOICES: u8 = 4;

/// Marks block `block` (an object's members) when one of its keys starts with `_`.
fn mark_companions(block: &mut [Rec]) {
    if block.iter().any(|r| r.key_prefix & 0xff == u64::from(b'_')) {
        block[0].flags |= FIRST_OF_COMPANIONS;
    }
}

/// [`Document::clear`] keeps at most this many type names (R4 has ~2,000 types and contexts).
const MAX_KEPT_NAMES: usize = 8192;

/// Deeper JSON is refused (serde_json's parser stops at 128 levels; this guards the recursion
/// for values built otherwise).
const MAX_DEPTH: usize = 512;

fn to_u32(n: usize) -> Result<u32, DocumentError> {
    u32::try_from(n).map_err(|_| DocumentError::TooLarge)
}

impl Document {
    /// An empty document that records node types (see [`Document::untyped`]).
    pub fn new() -> Document {
        Document::default()
    }

    /// A document that does not record node types: navigation resolves them as it goes, as for
    /// a `Value`. Cheaper to build (no typing pass over every node), so better for a resource
    /// evaluated once or twice; [`Document::new`] is better for many evaluations.
    pub fn untyped() -> Document {
        Document {
            untyped: true,
            ..Document::default()
        }
    }

    /// True when node types are recorded ([`Document::new`]).
    #[inline]
    pub fn is_typed(&self) -> bool {
        !self.untyped
    }

    /// Adds a resource (any JSON value) and returns its root.
    pub fn push(&mut self, value: &Value) -> Result<Root, DocumentError> {
        self.add(|doc| {
            let at = doc.recs.len();
            doc.recs.push(Rec::default());
            doc.fill(at, value, 0)?;
            to_u32(at)
        })
    }

    /// Adds a resource from JSON text, parsed straight into the document (by serde_json's
    /// parser, without building a `serde_json::Value`: measured ~1.5× faster than parsing into a
    /// `Value` and adding that). The same value as `push(&serde_json::from_slice(text)?)`,
    /// including for duplicate keys (the last value wins, in the first one's place).
    ///
    /// ```
    /// use firn_core::fhirpath::{Document, DocumentError};
    /// let mut doc = Document::new();
    /// let root = doc.push_json(br#"{"resourceType": "Patient", "active": true}"#).unwrap();
    /// assert_eq!(doc.resource_type(root), Some("Patient"));
    /// let err = doc.push_json(b"{\"a\": }").unwrap_err();
    /// assert!(matches!(err, DocumentError::Json { line: 1, column: 7, .. }));
    /// ```
    pub fn push_json(&mut self, text: &[u8]) -> Result<Root, DocumentError> {
        self.add(|doc| {
            let start = doc.recs.len();
            let mut de = serde_json::Deserializer::from_slice(text);
            let (kind, a, b) = Parse { doc: &mut *doc }
                .deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v))
                .map_err(|e| DocumentError::Json {
                    message: e.to_string(),
                    line: e.line(),
                    column: e.column(),
                })?;
            doc.recs.push(Rec {
                kind,
                a,
                b,
                ..Rec::default()
            });
            Ok(doc.preorder(start))
        })
    }

    /// Puts the records of the tree added since `start` in depth-first pre-order: the root,
    /// its members, the block of its first container member and everything under that, then
    /// the next. The parser writes each block when it closes — children before parents, the
    /// root last — so a path from the root jumped back and forth through the resource; in
    /// pre-order it reads forward through nearby records, and consecutive resources follow each
    /// other, which is what the hardware's prefetching rewards when a collection is evaluated
    /// resource after resource (`push` already builds in this order). Returns the root's index.
    fn preorder(&mut self, start: usize) -> u32 {
        let mut old = std::mem::take(&mut self.scratch);
        old.extend(self.recs.drain(start..));
        if let Some(root) = old.pop() {
            self.recs.push(root);
            self.place(&old, start, start);
        }
        old.clear();
        self.scratch = old;
        start as u32
    }

    /// Copies the block of container record `at` (from `old`, whose first record had index
    /// `base`) to the end, then the blocks under each of its members in order.
    fn place(&mut self, old: &[Rec], base: usize, at: usize) {
        let r = self.recs[at];
        if !matches!(r.kind, Kind::Array | Kind::Object) {
            return;
        }
        let from = r.a as usize - base;
        let first = self.recs.len();
        self.recs.extend_from_slice(&old[from..from + r.b as usize]);
        self.recs[at].a = first as u32;
        for c in first..first + r.b as usize {
            self.place(old, base, c);
        }
    }

    /// Runs `build` (which adds one untyped tree and returns its root), then records the types;
    /// on an error the document is left as it was.
    fn add(
        &mut self,
        build: impl FnOnce(&mut Document) -> Result<u32, DocumentError>,
    ) -> Result<Root, DocumentError> {
        let (recs, text, numbers) = (self.recs.len(), self.text.len(), self.numbers.len());
        let done = build(self).and_then(|root| {
            if self.is_typed() {
                self.type_node(root, ("", ""), false, 0)?;
            }
            Ok(Root(root))
        });
        if done.is_err() {
            self.recs.truncate(recs);
            self.text.truncate(text);
            self.numbers.truncate(numbers);
            self.scratch.clear();
        }
        done
    }

    /// Removes every resource, keeping the allocations and the table of type names: a document
    /// reused for one resource after another allocates nothing once warm. Roots from before the
    /// call must not be used again: they would name whatever is stored there later (never a
    /// panic, but not their resource).
    pub fn clear(&mut self) {
        self.recs.clear();
        self.text.clear();
        self.numbers.clear();
        self.scratch.clear();
        if self.names.len() > MAX_KEPT_NAMES {
            // Names of unknown resource types could otherwise accumulate without bound.
            self.names.clear();
            self.name_ids.clear();
            self.static_ids.clear();
        }
    }

    /// Number of node records (a measure of size: 32 bytes each, plus the text).
    pub fn node_count(&self) -> usize {
        self.recs.len()
    }

    /// The value at `root` as a `serde_json::Value`.
    pub fn to_value(&self, root: Root) -> Value {
        self.json(root).to_value()
    }

    /// The value at `root` as JSON text (what serde_json would write for [`Document::to_value`]).
    pub fn to_json_string(&self, root: Root) -> String {
        let mut out = String::new();
        self.json(root).write(&mut out);
        out
    }

    /// The `resourceType` of the resource at `root`.
    pub fn resource_type(&self, root: Root) -> Option<&str> {
        self.json(root).get("resourceType")?.as_str()
    }

    pub(crate) fn json(&self, root: Root) -> Json<'_> {
        Json::D(self, root.0)
    }

    fn add_text(&mut self, s: &str) -> Result<(u32, u32), DocumentError> {
        let off = to_u32(self.text.len())?;
        let len = to_u32(s.len())?;
        to_u32(self.text.len() + s.len())?;
        self.text.push_str(s);
        Ok((off, len))
    }

    /// Sets the value of record `at` (its key is already set). Containers reserve their items'
    /// records as one block; the keys and scalars of the block are written before any nested
    /// container, so an object's keys sit together in `text`.
    fn fill(&mut self, at: usize, v: &Value, depth: usize) -> Result<(), DocumentError> {
        if depth > MAX_DEPTH {
            return Err(DocumentError::TooDeep);
        }
        let container = |x: &Value| matches!(x, Value::Array(_) | Value::Object(_));
        let (kind, a, b) = match v {
            Value::Null => (Kind::Null, 0, 0),
            Value::Bool(x) => (Kind::Bool, u32::from(*x), 0),
            Value::Number(n) => self.add_number(n.clone())?,
            Value::String(s) => {
                let (off, len) = self.add_text(s)?;
                (Kind::String, off, len)
            }
            Value::Array(items) => {
                let first = self.recs.len();
                self.recs.resize(first + items.len(), Rec::default());
                for pass_containers in [false, true] {
                    for (i, x) in items.iter().enumerate() {
                        if container(x) == pass_containers {
                            self.fill(first + i, x, depth + 1)?;
                        }
                    }
                }
                (Kind::Array, to_u32(first)?, to_u32(items.len())?)
            }
            Value::Object(m) => {
                let first = self.recs.len();
                self.recs.resize(first + m.len(), Rec::default());
                for (i, (k, _)) in m.iter().enumerate() {
                    let (key_off, key_len, key_prefix) = self.add_key(k)?;
                    let r = &mut self.recs[first + i];
                    r.key_off = key_off;
                    r.key_len = key_len;
                    r.key_prefix = key_prefix;
                }
                mark_companions(&mut self.recs[first..]);
                for pass_containers in [false, true] {
                    for (i, (_, x)) in m.iter().enumerate() {
                        if container(x) == pass_containers {
                            self.fill(first + i, x, depth + 1)?;
                        }
                    }
                }
                (Kind::Object, to_u32(first)?, to_u32(m.len())?)
            }
        };
        let r = &mut self.recs[at];
        r.kind = kind;
        r.a = a;
        r.b = b;
        Ok(())
    }

    /// Moves the items collected in `scratch` since `start` to `recs` as one block.
    fn end_block(&mut self, start: usize, kind: Kind) -> Result<Parsed, DocumentError> {
        let first = to_u32(self.recs.len())?;
        let n = to_u32(self.scratch.len() - start)?;
        if kind == Kind::Object {
            mark_companions(&mut self.scratch[start..]);
        }
        self.recs.extend(self.scratch.drain(start..));
        Ok((kind, first, n))
    }

    fn add_number(&mut self, n: Number) -> Result<(Kind, u32, u32), DocumentError> {
        self.numbers.push(n);
        Ok((Kind::Number, to_u32(self.numbers.len() - 1)?, 0))
    }

    /// A key's text offset, length and prefix.
    fn add_key(&mut self, k: &str) -> Result<(u32, u16, u64), DocumentError> {
        let len = u16::try_from(k.len()).map_err(|_| DocumentError::KeyTooLong)?;
        let (off, _) = self.add_text(k)?;
        Ok((off, len, prefix(k.as_bytes())))
    }

    /// Records the type of node `at`, a value in a slot declared `declared` (`companion`: the
    /// slot is a primitive's `_x` extensions), and of everything under it. Types follow FHIRPath
    /// navigation exactly ([`declared_type`], [`slot_type`]; the R4 suite and a Synthea test check
    /// that both forms give the same types).
    fn type_node(
        &mut self,
        at: u32,
        declared: (&'static str, &'static str),
        companion: bool,
        depth: usize,
    ) -> Result<(), DocumentError> {
        if depth > MAX_DEPTH {
            return Err(DocumentError::TooDeep);
        }
        let r = self.rec(at);
        // In a slot of type Resource or of unknown type, an object is typed by its resourceType:
        // a name of the definitions when they know it (no text kept per node), else the text.
        let mut ctx = declared.1;
        let slot = if companion || r.kind == Kind::Array {
            declared
        } else {
            slot_type(declared, Json::D(self, at))
        };
        let (ty_id, ctx_id) = match slot {
            (t, c) if std::ptr::eq(t, declared.0) && std::ptr::eq(c, declared.1) => (
                self.intern_static(declared.0)?,
                self.intern_static(declared.1)?,
            ),
            (t, _) => {
                let id = match Definitions::r4().type_def(t) {
                    Some(def) => {
                        ctx = def.name.as_str();
                        self.intern_static(ctx)?
                    }
                    None => {
                        // Unknown to the definitions: its children are untyped.
                        ctx = "";
                        let name = t.to_owned();
                        self.intern(&name)?
                    }
                };
                (id, id)
            }
        };
        if let Some(rec) = self.recs.get_mut(at as usize) {
            rec.ty = ty_id;
            rec.ctx = ctx_id;
        }
        match r.kind {
            Kind::Array => {
                for i in r.a..r.a + r.b {
                    self.type_node(i, declared, companion, depth + 1)?;
                }
            }
            Kind::Object => {
                let defs = Definitions::r4();
                let table = if ctx.is_empty() {
                    None
                } else {
                    defs.child_table(ctx)
                };
                // Choice instances as the member step sees them: by the type the object's
                // record names (an unknown type's name is kept as text: no table, no choices).
                let (any_choice, choices) = match self.names.get(ctx_id as usize) {
                    _ if ctx_id == 0 => (true, None),
                    Some(Name::Static(c)) => (false, defs.child_table(c)),
                    _ => (false, None),
                };
                for i in r.a..r.a + r.b {
                    let key = self.key(&self.rec(i));
                    let base = key.strip_prefix('_');
                    // Choice instance names have an upper-case letter (`valueString`).
                    let choice = base.is_none()
                        && key.bytes().any(|b| b.is_ascii_uppercase())
                        && (any_choice
                            || choices
                                .and_then(|t| t.get(key))
                                .is_some_and(|c| c.is_choice));
                    let d = declared_type(defs, table, ctx, base.unwrap_or(key));
                    let companion = base.is_some();
                    if choice {
                        if let Some(rec) = self.recs.get_mut(i as usize) {
                            rec.flags |= CHOICE;
                        }
                        if let Some(rec) = self.recs.get_mut(r.a as usize) {
                            rec.flags |= FIRST_OF_CHOICES;
                        }
                    }
                    self.type_node(i, d, companion, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// [`Document::intern`] for names from the definitions, found by address: nearly every
    /// node's, and no string hashing or comparing.
    fn intern_static(&mut self, name: &'static str) -> Result<u32, DocumentError> {
        if name.is_empty() {
            return Ok(0);
        }
        let at = (name.as_ptr() as usize, name.len());
        if let Some(&id) = self.static_ids.get(&at) {
            return Ok(id);
        }
        let id = self.add_name(Name::Static(name))?;
        self.static_ids.insert(at, id);
        Ok(id)
    }

    /// The id of a name from the input (`0` is the empty name).
    fn intern(&mut self, name: &str) -> Result<u32, DocumentError> {
        if name.is_empty() {
            return Ok(0);
        }
        if let Some(&id) = self.name_ids.get(name) {
            return Ok(id);
        }
        let id = self.add_name(Name::Owned(Box::from(name)))?;
        self.name_ids.insert(Box::from(name), id);
        Ok(id)
    }

    fn add_name(&mut self, name: Name) -> Result<u32, DocumentError> {
        if self.names.is_empty() {
            self.names.push(Name::Static(""));
        }
        self.names.push(name);
        to_u32(self.names.len() - 1)
    }

    /// The FHIRPath (type, children context) of node `i`, as navigation would find them.
    #[inline(always)]
    pub(crate) fn node_type(&self, i: u32) -> (&str, &str) {
        let r = self.rec(i);
        (self.name(r.ty), self.name(r.ctx))
    }

    #[inline(always)]
    fn rec(&self, i: u32) -> Rec {
        self.recs.get(i as usize).copied().unwrap_or_default()
    }

    #[inline(always)]
    fn str_at(&self, off: u32, len: u32) -> &str {
        self.text
            .get(off as usize..off as usize + len as usize)
            .unwrap_or("")
    }

    /// The records of an array's items or an object's members.
    #[inline]
    fn block(&self, first: u32, n: u32) -> &[Rec] {
        self.recs
            .get(first as usize..first as usize + n as usize)
            .unwrap_or(&[])
    }

    /// Calls `f(node, type, context)` for each child FHIRPath sees in object block (`first`,
    /// `n`) of a typed document whose keys have no `_` companions: every member but
    /// `resourceType`, as [`Document::typed_value`]. The fast path of `children()` and
    /// `descendants()`; navigation's general path gives the same nodes (tests compare both).
    pub(crate) fn typed_children<'a>(
        &'a self,
        first: u32,
        n: u32,
        mut f: impl FnMut(Json<'a>, &'a str, &'a str),
    ) {
        let rt = Probe::new("resourceType");
        for (i, r) in self.block(first, n).iter().enumerate() {
            if !rt.matches(self, r) {
                self.typed_rec(first + i as u32, r, &mut f);
            }
        }
    }

    /// Calls `f(node, type, context)` for the FHIRPath nodes of member value `at` of a typed
    /// document that has no `_` companion: none for null, each non-null item of an array, else
    /// the value itself.
    #[inline]
    pub(crate) fn typed_value<'a>(
        &'a self,
        at: u32,
        f: &mut impl FnMut(Json<'a>, &'a str, &'a str),
    ) {
        self.typed_rec(at, &self.rec(at), f);
    }

    /// [`Document::typed_value`] with record `at` already read.
    #[inline(always)]
    fn typed_rec<'a>(&'a self, at: u32, r: &Rec, f: &mut impl FnMut(Json<'a>, &'a str, &'a str)) {
        match r.kind {
            Kind::Null => {}
            Kind::Array => {
                for (j, item) in self.block(r.a, r.b).iter().enumerate() {
                    if item.kind != Kind::Null {
                        f(
                            Json::D(self, r.a + j as u32),
                            self.name(item.ty),
                            self.name(item.ctx),
                        );
                    }
                }
            }
            _ => f(Json::D(self, at), self.name(r.ty), self.name(r.ctx)),
        }
    }

    #[inline(always)]
    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", Name::as_str)
    }

    /// FHIRPath's `descendants()` of typed-document nodes `from`, values only: their children,
    /// then the children of those, level by level (the spec's repeated `children()`), as node
    /// indices — no item is built until the end, and each level is read from the records.
    /// `None` when an object on the way has `_` companions (which the general evaluator pairs)
    /// or the nesting is deeper than `max_depth` (which it reports).
    pub(crate) fn descendants(
        &self,
        from: &[u32],
        max_depth: usize,
        out: &mut Vec<u32>,
    ) -> Option<()> {
        for &at in from {
            self.children_into(at, out)?;
        }
        let (mut start, mut depth) = (0, 1);
        while start < out.len() {
            depth += 1;
            if depth > max_depth {
                return None;
            }
            let end = out.len();
            for i in start..end {
                self.children_into(out[i], out)?;
            }
            start = end;
        }
        Some(())
    }

    /// Appends the children of node `at` as [`Document::typed_children`] gives them.
    fn children_into(&self, at: u32, out: &mut Vec<u32>) -> Option<()> {
        let r = self.rec(at);
        if r.kind != Kind::Object || r.b == 0 {
            return Some(());
        }
        let block = self.block(r.a, r.b);
        if block
            .first()
            .is_some_and(|m| m.flags & FIRST_OF_COMPANIONS != 0)
        {
            return None;
        }
        let rt = Probe::new("resourceType");
        for (i, m) in block.iter().enumerate() {
            match m.kind {
                _ if rt.matches(self, m) => {}
                Kind::Null => {}
                Kind::Array => {
                    let items = self.block(m.a, m.b).iter().enumerate();
                    out.extend(
                        items
                            .filter(|(_, x)| x.kind != Kind::Null)
                            .map(|(j, _)| m.a + j as u32),
                    );
                }
                _ => out.push(r.a + i as u32),
            }
        }
        Some(())
    }

    /// Loads the start of resource `root` — its first records (the root's members and, in
    /// pre-order, the blocks of the first of them) and the first bytes of its text — so that
    /// an evaluation about to read them finds them in the cache.
    ///
    /// Evaluating resource after resource waits on memory: each step's address comes from the
    /// previous read, so the cache misses of one resource happen one after another. Called for
    /// a group of resources before they are evaluated (as
    /// `ResourceCollection.evaluate` in the npm package does, sixteen at a time), the loads of
    /// different resources are independent and the processor overlaps them (WebAssembly has
    /// no prefetch instruction; these are plain loads). Measured: batch FHIRPath over the
    /// Synthea sample ~10 % faster in wasm. Never needed for correctness.
    pub fn prefetch(&self, root: Root) {
        // Every other record of the first sixteen covers 512 bytes (eight cache lines), and
        // four bytes 64 apart the first 256 bytes of text (keys and values, in document order).
        let base = root.0 as usize;
        let mut sum = 0u32;
        for r in self.recs.iter().skip(base).take(16).step_by(2) {
            sum = sum.wrapping_add(r.b);
        }
        if let Some(first) = self.recs.get(base + 1) {
            let text = self.text.as_bytes();
            for k in 0..4 {
                if let Some(b) = text.get(first.key_off as usize + 64 * k) {
                    sum = sum.wrapping_add(u32::from(*b));
                }
            }
        }
        // The sum is unused: keep the compiler from dropping the loads.
        std::hint::black_box(sum);
    }

    /// The nodes a path of member names reaches from node `at` of a typed document
    /// (`Encounter.period.start`: `type_name` `Encounter`, names `period`, `start`), passed to
    /// `emit` in FHIRPath's order — the member steps of the general evaluator, values only,
    /// without building a collection per step. `None` (and some nodes may have been emitted)
    /// when a node needs the general evaluator: an object with `_` companions, a focus not
    /// of type `type_name`.
    pub(crate) fn walk_path(
        &self,
        at: u32,
        type_name: Option<&str>,
        names: &[String],
        emit: &mut impl FnMut(u32),
    ) -> Option<()> {
        if let Some(t) = type_name
            && self.node_type(at).0 != t
        {
            return None;
        }
        self.walk(at, names, emit)
    }

    fn walk(&self, at: u32, names: &[String], emit: &mut impl FnMut(u32)) -> Option<()> {
        let Some((name, rest)) = names.split_first() else {
            emit(at);
            return Some(());
        };
        let r = self.rec(at);
        // Primitives have no members here (their `_x` companions would be in the parent,
        // which then has the companions flag).
        if r.kind != Kind::Object || r.b == 0 {
            return Some(());
        }
        if self.rec(r.a).flags & FIRST_OF_COMPANIONS != 0 {
            return None;
        }
        let probe = Probe::new(name);
        if let Some(i) = self
            .block(r.a, r.b)
            .iter()
            .position(|m| probe.matches(self, m))
        {
            return self.walk_value(r.a + i as u32, rest, emit);
        }
        // A choice element: `onset` finds `onsetDateTime`.
        for at in self.choices(r.a, r.b, name) {
            self.walk_value(at, rest, emit)?;
        }
        Some(())
    }

    /// The members of object block (`first`, `n`) of a typed document that are instances of
    /// choice element `name` (`onsetDateTime` for `onset`), by the flag the typing pass set:
    /// no definitions lookup, and no key text read but the flagged ones'.
    pub(crate) fn choices<'s>(
        &'s self,
        first: u32,
        n: u32,
        name: &'s str,
    ) -> impl Iterator<Item = u32> + 's {
        let any = n > 0 && self.rec(first).flags & FIRST_OF_CHOICES != 0;
        self.block(first, if any { n } else { 0 })
            .iter()
            .enumerate()
            .filter(move |(_, m)| {
                if m.flags & CHOICE == 0 {
                    return false;
                }
                let key = self.key(m).as_bytes();
                key.len() > name.len()
                    && key.starts_with(name.as_bytes())
                    && key[name.len()].is_ascii_uppercase()
            })
            .map(move |(i, _)| first + i as u32)
    }

    /// [`Document::walk`] on member value `at`: nothing for null, each non-null item of an
    /// array, else the value (as [`Document::typed_value`]).
    fn walk_value(&self, at: u32, rest: &[String], emit: &mut impl FnMut(u32)) -> Option<()> {
        let r = self.rec(at);
        match r.kind {
            Kind::Null => {}
            Kind::Array => {
                for (j, item) in self.block(r.a, r.b).iter().enumerate() {
                    if item.kind != Kind::Null {
                        self.walk(r.a + j as u32, rest, emit)?;
                    }
                }
            }
            _ => self.walk(at, rest, emit)?,
        }
        Some(())
    }

    /// The member of the object block (`first`, `n`) that `probe` names.
    fn find(&self, first: u32, n: u32, probe: Probe<'_>) -> Option<(&str, Json<'_>)> {
        let i = self
            .block(first, n)
            .iter()
            .position(|r| probe.matches(self, r))?;
        let at = first + i as u32;
        Some((self.key_of(at), Json::D(self, at)))
    }

    /// The key of member record `at`.
    pub(crate) fn key_of(&self, at: u32) -> &str {
        self.key(&self.rec(at))
    }

    #[inline]
    fn key(&self, r: &Rec) -> &str {
        self.str_at(r.key_off, u32::from(r.key_len))
    }
}

/// serde_json's parser writing straight into a [`Document`] ([`Document::push_json`]): each
/// value becomes (kind, a, b) for its record; an array's items and an object's members collect
/// in `scratch` and move to `recs` as one block when the container ends (so nested blocks come
/// first, each still contiguous).
struct Parse<'d> {
    doc: &'d mut Document,
}

type Parsed = (Kind, u32, u32);

fn de_err<E: serde::de::Error>(e: DocumentError) -> E {
    E::custom(e)
}

impl<'de> DeserializeSeed<'de> for Parse<'_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Parse<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Parsed, E> {
        Ok((Kind::Bool, u32::from(v), 0))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Parsed, E> {
        self.doc.add_number(Number::from(v)).map_err(de_err)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Parsed, E> {
        self.doc.add_number(Number::from(v)).map_err(de_err)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Parsed, E> {
        // As serde_json::Value: a number it cannot hold becomes null (JSON text has none).
        match Number::from_f64(v) {
            Some(n) => self.doc.add_number(n).map_err(de_err),
            None => Ok((Kind::Null, 0, 0)),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Parsed, E> {
        let (off, len) = self.doc.add_text(v).map_err(de_err)?;
        Ok((Kind::String, off, len))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Parsed, E> {
        Ok((Kind::Null, 0, 0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        let doc = self.doc;
        let start = doc.scratch.len();
        while let Some((kind, a, b)) = seq.next_element_seed(Parse { doc: &mut *doc })? {
            doc.scratch.push(Rec {
                kind,
                a,
                b,
                ..Rec::default()
            });
        }
        doc.end_block(start, Kind::Array).map_err(de_err)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let doc = self.doc;
        let start = doc.scratch.len();
        // Members of a large object by key, so that finding a repeated key stays linear overall.
        let mut index: Option<HashMap<Box<str>, usize>> = None;
        while let Some((key_off, key_len, key_prefix)) =
            map.next_key_seed(Key { doc: &mut *doc })?
        {
            let (kind, a, b) = map.next_value_seed(Parse { doc: &mut *doc })?;
            // A repeated key: the last value wins, in the first one's place (as serde_json's map).
            let key = doc.str_at(key_off, u32::from(key_len));
            let earlier = match &index {
                Some(ix) => ix.get(key).copied(),
                None => doc.scratch[start..].iter().position(|r| {
                    r.key_len == key_len
                        && r.key_prefix == key_prefix
                        && (key_len <= 8 || key_eq(doc.key(r), key))
                }),
            };
            match earlier {
                Some(i) => {
                    let r = &mut doc.scratch[start + i];
                    (r.kind, r.a, r.b) = (kind, a, b);
                }
                None => {
                    let members = doc.scratch.len() - start;
                    if let Some(ix) = &mut index {
                        ix.insert(Box::from(key), members);
                    } else if members >= INDEX_MEMBERS {
                        let mut ix: HashMap<Box<str>, usize> = doc.scratch[start..]
                            .iter()
                            .enumerate()
                            .map(|(i, r)| (Box::from(doc.key(r)), i))
                            .collect();
                        ix.insert(Box::from(key), members);
                        index = Some(ix);
                    }
                    doc.scratch.push(Rec {
                        key_prefix,
                        key_off,
                        key_len,
                        kind,
                        a,
                        b,
                        ..Rec::default()
                    });
                }
            }
        }
        doc.end_block(start, Kind::Object).map_err(de_err)
    }
}

/// Objects with more members than this find repeated keys through a map rather than a scan.
const INDEX_MEMBERS: usize = 32;

/// An object key, written to the document's text: (offset, length, prefix).
struct Key<'d> {
    doc: &'d mut Document,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = (u32, u16, u64);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = (u32, u16, u64);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.doc.add_key(v).map_err(de_err)
    }
}

/// The first eight bytes of a key, zero-padded, as one word.
#[inline]
fn prefix(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[..n].copy_from_slice(&k[..n]);
    u64::from_le_bytes(b)
}

/// A key looked up in document objects: its length and prefix, compared against each record
/// before any text is read.
#[derive(Clone, Copy)]
struct Probe<'k> {
    /// The key without the `_` of a companion.
    name: &'k str,
    underscore: bool,
    len: usize,
    prefix: u64,
}

impl<'k> Probe<'k> {
    fn new(key: &'k str) -> Probe<'k> {
        Probe {
            name: key,
            underscore: false,
            len: key.len(),
            prefix: prefix(key.as_bytes()),
        }
    }

    /// The probe for `_name`, without building that string.
    fn companion(name: &'k str) -> Probe<'k> {
        let mut b = [0u8; 8];
        b[0] = b'_';
        let n = name.len().min(7);
        b[1..=n].copy_from_slice(&name.as_bytes()[..n]);
        Probe {
            name,
            underscore: true,
            len: name.len() + 1,
            prefix: u64::from_le_bytes(b),
        }
    }

    #[inline(always)]
    fn matches(&self, d: &Document, r: &Rec) -> bool {
        if usize::from(r.key_len) != self.len || r.key_prefix != self.prefix {
            return false;
        }
        if self.len <= 8 {
            return true;
        }
        let k = d.key(r);
        let k = if self.underscore {
            k.get(1..).unwrap_or("")
        } else {
            k
        };
        key_eq(k, self.name)
    }
}

/// Key equality, eight bytes at a time. Slice equality calls `memcmp`, which in wasm is a byte
/// loop behind a call (profiled: 12 % of batch FHIRPath evaluation); JSON keys are short.
#[inline]
pub(crate) fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| {
        u64::from_le_bytes(
            s.get(i..i + 8)
                .and_then(|w| w.try_into().ok())
                .unwrap_or([0; 8]),
        )
    };
    let mut i = 0;
    while i + 8 <= a.len() {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    a[i..].iter().zip(&b[i..]).all(|(p, q)| p == q)
}

/// A JSON value the evaluator reads: borrowed from a `serde_json::Value` or a node of a
/// [`Document`]. Copy, two or three words.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Json<'a> {
    V(&'a Value),
    D(&'a Document, u32),
}

/// A [`Json`] taken apart, like matching on `serde_json::Value`.
pub(crate) enum View<'a> {
    Null,
    Bool(bool),
    Number(&'a Number),
    String(&'a str),
    Array(Arr<'a>),
    Object(Obj<'a>),
}

/// An array: its items are [`Json`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arr<'a> {
    V(&'a [Value]),
    D(&'a Document, u32, u32),
}

/// An object: its members are (key, [`Json`]) pairs in document order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Obj<'a> {
    V(&'a Map<String, Value>),
    D(&'a Document, u32, u32),
}

/// Objects up to this many members are searched by a scan rather than by hash.
const SCAN_MAX: usize = 12;

impl<'a> Json<'a> {
    #[inline(always)]
    pub(crate) fn view(self) -> View<'a> {
        match self {
            Json::V(v) => match v {
                Value::Null => View::Null,
                Value::Bool(b) => View::Bool(*b),
                Value::Number(n) => View::Number(n),
                Value::String(s) => View::String(s),
                Value::Array(a) => View::Array(Arr::V(a)),
                Value::Object(o) => View::Object(Obj::V(o)),
            },
            Json::D(d, i) => {
                let r = d.rec(i);
                match r.kind {
                    Kind::Null => View::Null,
                    Kind::Bool => View::Bool(r.a != 0),
                    Kind::Number => match d.numbers.get(r.a as usize) {
                        Some(n) => View::Number(n),
                        None => View::Null,
                    },
                    Kind::String => View::String(d.str_at(r.a, r.b)),
                    Kind::Array => View::Array(Arr::D(d, r.a, r.b)),
                    Kind::Object => View::Object(Obj::D(d, r.a, r.b)),
                }
            }
        }
    }

    #[inline(always)]
    fn kind(self) -> Kind {
        match self {
            Json::V(v) => match v {
                Value::Null => Kind::Null,
                Value::Bool(_) => Kind::Bool,
                Value::Number(_) => Kind::Number,
                Value::String(_) => Kind::String,
                Value::Array(_) => Kind::Array,
                Value::Object(_) => Kind::Object,
            },
            Json::D(d, i) => d.rec(i).kind,
        }
    }

    #[inline]
    pub(crate) fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }

    #[inline]
    pub(crate) fn is_object(self) -> bool {
        self.kind() == Kind::Object
    }

    pub(crate) fn is_array(self) -> bool {
        self.kind() == Kind::Array
    }

    #[inline]
    pub(crate) fn as_str(self) -> Option<&'a str> {
        match self.view() {
            View::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_number(self) -> Option<&'a Number> {
        match self.view() {
            View::Number(n) => Some(n),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn as_object(self) -> Option<Obj<'a>> {
        match self.view() {
            View::Object(o) => Some(o),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn as_array(self) -> Option<Arr<'a>> {
        match self.view() {
            View::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Member `key` of an object.
    pub(crate) fn get(self, key: &str) -> Option<Json<'a>> {
        self.as_object()?.get(key).map(|(_, v)| v)
    }

    /// The same node of the same input (identity, not equality).
    pub(crate) fn same(self, other: Json<'_>) -> bool {
        match (self, other) {
            (Json::V(a), Json::V(b)) => std::ptr::eq(a, b),
            (Json::D(d, i), Json::D(e, j)) => std::ptr::eq(d, e) && i == j,
            _ => false,
        }
    }

    /// The borrowed `serde_json::Value`, when this is one.
    pub(crate) fn as_value(self) -> Option<&'a Value> {
        match self {
            Json::V(v) => Some(v),
            Json::D(..) => None,
        }
    }

    pub(crate) fn to_value(self) -> Value {
        match self {
            Json::V(v) => v.clone(),
            Json::D(..) => match self.view() {
                View::Null => Value::Null,
                View::Bool(b) => Value::Bool(b),
                View::Number(n) => Value::Number(n.clone()),
                View::String(s) => Value::String(s.to_owned()),
                View::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
                View::Object(o) => Value::Object(
                    o.iter()
                        .map(|(k, v)| (k.to_owned(), v.to_value()))
                        .collect(),
                ),
            },
        }
    }
}

impl Json<'_> {
    /// Appends the value as JSON text, as serde_json writes it; strings that need no escaping
    /// (nearly all) are copied as they are. Written to a `String`: no UTF-8 check afterwards.
    pub(crate) fn write(self, out: &mut String) {
        match self {
            Json::V(Value::String(s)) => write_str(s, out),
            Json::V(v) => push_display(out, v),
            Json::D(..) => match self.view() {
                View::Null => out.push_str("null"),
                View::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                // serde_json's Display of a number is its JSON text.
                View::Number(n) => push_display(out, n),
                View::String(s) => write_str(s, out),
                View::Array(a) => {
                    out.push('[');
                    for (i, x) in a.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        x.write(out);
                    }
                    out.push(']');
                }
                View::Object(o) => {
                    out.push('{');
                    for (i, (k, v)) in o.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write_str(k, out);
                        out.push(':');
                        v.write(out);
                    }
                    out.push('}');
                }
            },
        }
    }
}

/// Appends `x`'s `Display` (for serde_json's values and numbers: their JSON text).
pub(crate) fn push_display(out: &mut String, x: &impl std::fmt::Display) {
    use std::fmt::Write;
    // Writing to a `String` cannot fail.
    let _ = write!(out, "{x}");
}

/// Appends `s` as a JSON string. serde_json looks each byte up in a table; here eight bytes
/// at a time are checked for a quote, a backslash or a control character, and a string with
/// none (nearly every FHIR string) is copied whole.
pub(crate) fn write_str(s: &str, out: &mut String) {
    if needs_escape(s.as_bytes()) {
        push_display(out, &Value::String(s.to_owned()));
    } else {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// True when `b` has a byte JSON escapes: `"`, `\\` or one below 0x20.
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A zero byte in `v`: its high bit set in the result (exact when no byte of `v` has its
    // high bit set; otherwise maybe a false positive, which only costs the slow path).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        if below_space | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

impl<'a> Arr<'a> {
    pub(crate) fn len(self) -> usize {
        match self {
            Arr::V(a) => a.len(),
            Arr::D(_, _, n) => n as usize,
        }
    }

    pub(crate) fn get(self, i: usize) -> Option<Json<'a>> {
        match self {
            Arr::V(a) => a.get(i).map(Json::V),
            Arr::D(d, first, n) => (i < n as usize).then(|| Json::D(d, first + i as u32)),
        }
    }

    pub(crate) fn iter(self) -> ArrIter<'a> {
        match self {
            Arr::V(a) => ArrIter::V(a.iter()),
            Arr::D(d, first, n) => ArrIter::D(d, first, first + n),
        }
    }
}

/// [`Arr::iter`].
pub(crate) enum ArrIter<'a> {
    V(std::slice::Iter<'a, Value>),
    D(&'a Document, u32, u32),
}

impl<'a> Iterator for ArrIter<'a> {
    type Item = Json<'a>;

    fn next(&mut self) -> Option<Json<'a>> {
        match self {
            ArrIter::V(it) => it.next().map(Json::V),
            ArrIter::D(d, cur, end) => (*cur < *end).then(|| {
                *cur += 1;
                Json::D(d, *cur - 1)
            }),
        }
    }
}

/// [`Obj::iter`].
pub(crate) enum ObjIter<'a> {
    V(serde_json::map::Iter<'a>),
    D(&'a Document, u32, u32),
}

impl<'a> Iterator for ObjIter<'a> {
    type Item = (&'a str, Json<'a>);

    fn next(&mut self) -> Option<(&'a str, Json<'a>)> {
        match self {
            ObjIter::V(it) => it.next().map(|(k, v)| (k.as_str(), Json::V(v))),
            ObjIter::D(d, cur, end) => (*cur < *end).then(|| {
                *cur += 1;
                (d.key(&d.rec(*cur - 1)), Json::D(d, *cur - 1))
            }),
        }
    }
}

impl<'a> Obj<'a> {
    pub(crate) fn len(self) -> usize {
        match self {
            Obj::V(o) => o.len(),
            Obj::D(_, _, n) => n as usize,
        }
    }

    pub(crate) fn iter(self) -> ObjIter<'a> {
        match self {
            Obj::V(o) => ObjIter::V(o.iter()),
            Obj::D(d, first, n) => ObjIter::D(d, first, first + n),
        }
    }

    /// True when some key starts with `_` (a primitive's extensions): most objects have none,
    /// and then no key needs a companion lookup.
    pub(crate) fn has_companions(self) -> bool {
        match self {
            Obj::V(o) => o.keys().any(|k| k.starts_with('_')),
            Obj::D(d, first, n) => n > 0 && d.rec(first).flags & FIRST_OF_COMPANIONS != 0,
        }
    }

    pub(crate) fn keys(self) -> impl Iterator<Item = &'a str> {
        self.iter().map(|(k, _)| k)
    }

    /// A member by key. serde_json's map hashes every lookup with SipHash: for small objects a
    /// scan comparing lengths first is cheaper (up to [`SCAN_MAX`] members); document objects
    /// are always scanned — their records are adjacent.
    pub(crate) fn get(self, key: &str) -> Option<(&'a str, Json<'a>)> {
        match self {
            Obj::V(o) => {
                // `resourceType` comes first in nearly every resource.
                if let Some(first) = o.iter().next()
                    && key_eq(first.0, key)
                {
                    return Some((first.0, Json::V(first.1)));
                }
                if o.len() > SCAN_MAX {
                    return o.get_key_value(key).map(|(k, v)| (k.as_str(), Json::V(v)));
                }
                o.iter()
                    .find(|(k, _)| key_eq(k, key))
                    .map(|(k, v)| (k.as_str(), Json::V(v)))
            }
            Obj::D(d, first, n) => d.find(first, n, Probe::new(key)),
        }
    }

    /// A member and its `_` companion (`birthDate`, `_birthDate`), found in one pass.
    #[allow(clippy::type_complexity)]
    pub(crate) fn get_with_companion(
        self,
        name: &str,
        underscore: &str,
    ) -> (Option<(&'a str, Json<'a>)>, Option<(&'a str, Json<'a>)>) {
        match self {
            Obj::V(o) if o.len() > SCAN_MAX => return (self.get(name), self.get(underscore)),
            Obj::D(d, first, n) if !self.has_companions() => {
                // Keys are unique: the first match is the member.
                return (d.find(first, n, Probe::new(name)), None);
            }
            Obj::D(d, first, n) => {
                let (p, q) = (Probe::new(name), Probe::new(underscore));
                let (mut direct, mut under) = (None, None);
                for (i, r) in d.block(first, n).iter().enumerate() {
                    if p.matches(d, r) {
                        direct = Some((d.key(r), Json::D(d, first + i as u32)));
                    } else if q.matches(d, r) {
                        under = Some((d.key(r), Json::D(d, first + i as u32)));
                    }
                }
                return (direct, under);
            }
            Obj::V(_) => {}
        }
        let (mut direct, mut under) = (None, None);
        for (k, v) in self.iter() {
            if key_eq(k, name) {
                direct = Some((k, v));
            } else if key_eq(k, underscore) {
                under = Some((k, v));
            }
        }
        (direct, under)
    }

    /// The `_key` companion of `key`, without building the `_key` string for small objects.
    pub(crate) fn companion(self, key: &str) -> Option<Json<'a>> {
        match self {
            Obj::V(o) if o.len() > SCAN_MAX => return o.get(&format!("_{key}")).map(Json::V),
            Obj::D(d, first, n) => return d.find(first, n, Probe::companion(key)).map(|(_, v)| v),
            Obj::V(_) => {}
        }
        self.iter()
            .find(|(k, _)| k.len() == key.len() + 1 && k.starts_with('_') && key_eq(&k[1..], key))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_kind_of_value() {
        let v = json!({"resourceType": "Patient", "a": [1, 2.50, -3, 18446744073709551615_u64, -9223372036854775808_i64, 1e-7], "b": null,
            "c": {"d": true, "e": false, "f": "x\"y\u{e9}", "g": [], "h": {}}, "_c": {"id": "z"}});
        let mut doc = Document::new();
        let r1 = doc.push(&v).unwrap();
        let r2 = doc.push(&json!(["top", {"k": 1}])).unwrap();
        assert_eq!(doc.to_value(r1), v);
        assert_eq!(doc.to_value(r2), json!(["top", {"k": 1}]));
        assert_eq!(doc.to_json_string(r1), v.to_string());
        assert_eq!(doc.resource_type(r1), Some("Patient"));
        assert_eq!(doc.resource_type(r2), None);
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = vec![String::new(), "plain".into(), "é😀 ünïcode".into()];
        // Every ASCII character (and DEL, and a multi-byte one) at every position of a string
        // longer than one eight-byte word.
        for c in (0u8..=0x7f).map(char::from).chain(['\u{80}', '\u{2028}']) {
            for at in 0..20 {
                let mut t: String = "abcdefghijklmnopqrs".into();
                t.insert(at, c);
                cases.push(t);
            }
        }
        for s in cases {
            let mut out = String::new();
            write_str(&s, &mut out);
            assert_eq!(out, serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn prefetch_reads_any_root_safely() {
        let mut doc = Document::new();
        let roots: Vec<_> = [r#"{}"#, r#"[]"#, r#""s""#, r#"{"resourceType": "Patient"}"#]
            .iter()
            .map(|t| doc.push_json(t.as_bytes()).unwrap())
            .collect();
        for r in roots {
            doc.prefetch(r);
            doc.prefetch(Root(r.0 + 1_000_000));
        }
        assert_eq!(doc.node_count(), 5);
    }

    #[test]
    fn member_paths_walk_the_records() {
        let text = r#"{"resourceType": "Observation", "id": "o", "valueQuantity": {"value": 1},
            "component": [{"valueString": "a"}, null, {"valueCodeableConcept": {"text": "b"}}],
            "code": {"coding": [{"code": "x"}, {"code": "y", "_code": {"id": "c"}}]}}"#;
        let mut doc = Document::new();
        let root = doc.push_json(text.as_bytes()).unwrap();
        let walk = |ty: Option<&str>, path: &str| {
            let names: Vec<String> = path.split('.').map(String::from).collect();
            let mut out = Vec::new();
            doc.walk_path(root.0, ty, &names, &mut |at| {
                out.push(Json::D(&doc, at).to_value())
            })
            .map(|()| out)
        };
        assert_eq!(walk(None, "id"), Some(vec![json!("o")]));
        assert_eq!(
            walk(Some("Observation"), "value.value"),
            Some(vec![json!(1)])
        );
        assert_eq!(
            walk(None, "component.value"),
            Some(vec![json!("a"), json!({"text": "b"})])
        );
        assert_eq!(walk(None, "missing.value"), Some(vec![]));
        // Not an Observation, or `_code` companions on the way: the general evaluator's.
        assert_eq!(walk(Some("Patient"), "id"), None);
        assert_eq!(walk(None, "code.coding.code"), None);
        // descendants(): breadth first, arrays flattened, nulls and resourceType left out; an
        // object with companions (`_code`) is the general evaluator's.
        let small = doc
            .push_json(br#"{"resourceType": "Patient", "a": {"b": [1, null, {"c": 2}]}, "d": 3}"#)
            .unwrap();
        let mut at = Vec::new();
        assert!(doc.descendants(&[small.0], 512, &mut at).is_some());
        let got: Vec<_> = at.iter().map(|&i| Json::D(&doc, i).to_value()).collect();
        assert_eq!(
            got,
            [
                json!({"b": [1, null, {"c": 2}]}),
                json!(3),
                json!(1),
                json!({"c": 2}),
                json!(2)
            ]
        );
        assert!(doc.descendants(&[small.0], 2, &mut Vec::new()).is_none());
        // `resourceType` is never a child, whatever its value (found by the property test).
        let odd = doc
            .push_json(br#"{"resourceType": [false], "a": 1}"#)
            .unwrap();
        let mut at = Vec::new();
        assert!(doc.descendants(&[odd.0], 512, &mut at).is_some());
        assert_eq!(at.len(), 1);
        assert!(doc.descendants(&[root.0], 512, &mut Vec::new()).is_none());
        // The choice flag, from the Observation definitions: on `valueQuantity` only.
        let flags: Vec<_> = doc
            .block(doc.rec(root.0).a, doc.rec(root.0).b)
            .iter()
            .map(|r| r.flags & CHOICE != 0)
            .collect();
        assert_eq!(flags, [false, false, true, false, false]);
    }

    #[test]
    fn json_text_gives_the_same_document_as_its_value() {
        let texts = [
            r#"{"resourceType": "Patient", "a": [1, 2.50, -3, 18446744073709551615, -9223372036854775808, 1e-7, 0.1],
                "b": null, "c": {"d": true, "e": false, "f": "x\"y\u00e9\ud83d\ude00", "g": [], "h": {}},
                "_c": {"id": "z"}, "nested": [[1, [2]], {"k": [{}]}]}"#,
            r#"{"resourceType": "Observation", "dup": 1, "x": 2, "dup": {"last": "wins"}, "longerkeyname": 1, "longerkeyname": 2}"#,
            r#"[{"resourceType": "Patient", "id": "p"}, 3, "s"]"#,
            r#""just a string""#,
            "  {}  ",
        ];
        for text in texts {
            let v: Value = serde_json::from_str(text).unwrap();
            let mut doc = Document::new();
            let from_value = doc.push(&v).unwrap();
            let from_text = doc.push_json(text.as_bytes()).unwrap();
            assert_eq!(doc.to_value(from_text), v, "{text}");
            assert_eq!(
                doc.to_json_string(from_text),
                doc.to_json_string(from_value)
            );
            // And the same records in the same (pre-)order: the root first, then each block
            // before the blocks under it; types and flags equal.
            let shape = |from: u32, to: usize| -> Vec<_> {
                (from as usize..to)
                    .map(|i| {
                        let r = doc.recs[i];
                        let container = matches!(r.kind, Kind::Array | Kind::Object);
                        let a = if container { r.a - from } else { 0 };
                        (r.kind, a, container.then_some(r.b), doc.key(&r), r.flags)
                    })
                    .collect()
            };
            assert_eq!(from_value.0, 0);
            assert_eq!(
                shape(from_value.0, from_text.0 as usize),
                shape(from_text.0, doc.recs.len()),
                "{text}"
            );
            assert_eq!(doc.node_type(from_value.0), doc.node_type(from_text.0));
            doc.clear();
        }
    }

    #[test]
    fn objects_with_many_keys_parse_in_linear_time() {
        // 40,000 distinct keys plus repeats of early and late ones: as serde_json, and fast (a
        // scan per key would be 800 million comparisons).
        let mut text = String::from("{");
        for i in 0..40_000 {
            text.push_str(&format!("\"key{i}\": {i},"));
        }
        text.push_str("\"key7\": \"again\", \"key39999\": null, \"key12345678901\": 1}");
        let want: Value = serde_json::from_str(&text).unwrap();
        let mut doc = Document::untyped();
        let started = std::time::Instant::now();
        let root = doc.push_json(text.as_bytes()).unwrap();
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        assert_eq!(doc.to_value(root), want);
        assert_eq!(
            doc.json(root).get("key7").map(Json::to_value),
            Some(json!("again"))
        );
    }

    #[test]
    fn large_objects_with_companions_navigate_in_linear_time() {
        use crate::fhirpath::{Env, Expression};
        let mut m = Map::new();
        m.insert("resourceType".into(), json!("Basic"));
        for i in 0..20_000 {
            m.insert(format!("k{i}"), json!("v"));
            if i % 2 == 0 {
                m.insert(format!("_k{i}"), json!({"id": "x"}));
            }
        }
        m.insert("_lonely".into(), json!({"id": "y"}));
        let v = Value::Object(m);
        let e = Expression::compile("descendants().count()").unwrap();
        let env = Env::new().locations(false);
        let started = std::time::Instant::now();
        let want = e.evaluate(&v, &env).unwrap()[0].to_json();
        for mut doc in [Document::new(), Document::untyped()] {
            let root = doc.push_json(v.to_string().as_bytes()).unwrap();
            assert_eq!(e.evaluate_in(&doc, root, &env).unwrap()[0].to_json(), want);
        }
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn invalid_json_text_is_an_error_and_leaves_the_document_unchanged() {
        let mut doc = Document::new();
        let root = doc.push_json(br#"{"resourceType": "Patient"}"#).unwrap();
        let before = (doc.node_count(), doc.text.len(), doc.numbers.len());
        let deep = "[".repeat(200) + &"]".repeat(200);
        let long_key = format!("{{\"{}\": 1}}", "k".repeat(70_000));
        for (bad, want) in [
            (&b"{\"a\": 1,}"[..], "line 1 column 9"),
            (b"[1E400]", "number out of range"),
            (b"{\"a\": 1} x", "trailing characters"),
            (b"", "EOF"),
            (b"{\"a\": \"\xff\"}", "invalid unicode"),
            (deep.as_bytes(), "recursion limit"),
            (long_key.as_bytes(), "longer than"),
            (b"[1, 2, {\"b\": tru}]", "expected ident"),
        ] {
            let err = doc.push_json(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want}");
            assert_eq!(
                (doc.node_count(), doc.text.len(), doc.numbers.len()),
                before
            );
            assert!(doc.scratch.is_empty());
        }
        assert_eq!(doc.resource_type(root), Some("Patient"));
    }

    #[test]
    fn lookups_agree_with_serde_json() {
        let v = json!({"resourceType": "Patient", "birthDate": "2000", "_birthDate": {"id": "b"},
            "identifier": [1], "identifiers": 2, "_identifier": [3], "_identifieR": 4, "_birthDat": 5,
            "multipleBirthBoolean": true, "_multipleBirthBoolean": {"id": "m"},
            "n01": 1, "n02": 2, "n03": 3, "n04": 4, "n05": 5, "n06": 6, "n07": 7, "n08": 8, "n09": 9,
            "n10": 10, "n11": 11, "n12": 12, "n13": 13});
        let mut doc = Document::new();
        let root = doc.push(&v).unwrap();
        let (jv, jd) = (Json::V(&v), doc.json(root));
        let (ov, od) = (jv.as_object().unwrap(), jd.as_object().unwrap());
        for key in [
            "resourceType",
            "birthDate",
            "_birthDate",
            "_birthDat",
            "identifier",
            "_identifier",
            "identifiers",
            "identifierS",
            "multipleBirthBoolean",
            "_multipleBirthBoolean",
            "n13",
            "n1",
            "missing",
            "",
        ] {
            assert_eq!(
                ov.get(key).map(|(k, x)| (k, x.to_value())),
                od.get(key).map(|(k, x)| (k, x.to_value())),
                "{key}"
            );
        }
        let pair = |o: Obj<'_>| {
            let (a, b) = o.get_with_companion("birthDate", "_birthDate");
            (a.map(|x| x.1.to_value()), b.map(|x| x.1.to_value()))
        };
        assert_eq!(pair(ov), pair(od));
        for key in [
            "birthDate",
            "birthDat",
            "identifier",
            "identifie",
            "multipleBirthBoolean",
            "id",
        ] {
            assert_eq!(
                ov.companion(key).map(Json::to_value),
                od.companion(key).map(Json::to_value),
                "{key}"
            );
            let both = |o: Obj<'_>| {
                let (a, b) = o.get_with_companion(key, &format!("_{key}"));
                (a.map(|x| x.1.to_value()), b.map(|x| x.1.to_value()))
            };
            assert_eq!(both(ov), both(od), "{key}");
        }
        assert!(od.has_companions() && ov.has_companions());
        assert_eq!(od.keys().count(), 23);
        assert!(jd.same(doc.json(root)) && !jd.same(jv));
    }

    #[test]
    fn a_key_too_long_is_an_error_and_leaves_the_document_unchanged() {
        let mut doc = Document::new();
        doc.push(&json!({"a": 1})).unwrap();
        let before = doc.node_count();
        let long = "k".repeat(70_000);
        let mut m = Map::new();
        m.insert(long, json!(1));
        assert_eq!(doc.push(&Value::Object(m)), Err(DocumentError::KeyTooLong));
        assert_eq!(doc.node_count(), before);
    }

    #[test]
    fn a_cleared_document_is_reused() {
        for mut doc in [Document::new(), Document::untyped()] {
            let a = json!({"resourceType": "Patient", "name": [{"given": ["Ann"]}]});
            let b = json!({"resourceType": "Observation", "status": "final"});
            doc.push(&a).unwrap();
            let names = doc.names.len();
            doc.clear();
            assert_eq!(doc.node_count(), 0);
            let root = doc.push_json(b.to_string().as_bytes()).unwrap();
            assert_eq!(doc.to_value(root), b);
            assert_eq!(doc.resource_type(root), Some("Observation"));
            // Type names stay (typed documents), so a warm document interns nothing new.
            assert!(doc.names.len() >= names);
            assert_eq!(doc.is_typed(), !doc.untyped);
        }
    }

    mod properties {
        use super::super::*;
        use crate::fhirpath::{Env, Expression};
        use proptest::prelude::*;

        /// JSON values shaped a little like FHIR: FHIR keys (and `_` companions, `resourceType`)
        /// mixed with arbitrary ones, nested arrays and objects, every scalar kind.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                (-1e12f64..1e12).prop_map(Value::from),
                "[a-z\\\"\\\\\\n\\u{e9}\\u{1F600} ]{0,12}".prop_map(Value::String),
            ];
            let key = prop_oneof![
                Just("resourceType".to_string()),
                Just("id".to_string()),
                Just("name".to_string()),
                Just("given".to_string()),
                Just("_given".to_string()),
                Just("extension".to_string()),
                Just("valueString".to_string()),
                Just("contained".to_string()),
                "[a-zA-Z_]{1,12}",
            ];
            leaf.prop_recursive(4, 48, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec((key.clone(), inner), 0..6)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn resource() -> impl Strategy<Value = Value> {
            (
                prop_oneof![
                    Just("Patient"),
                    Just("Observation"),
                    Just("Bundle"),
                    Just("NotAType")
                ],
                json(),
            )
                .prop_map(|(rt, body)| {
                    let mut m = Map::new();
                    m.insert("resourceType".into(), Value::from(rt));
                    if let Value::Object(o) = body {
                        m.extend(o.into_iter().filter(|(k, _)| k != "resourceType"));
                    }
                    Value::Object(m)
                })
        }

        fn shown(items: &[crate::fhirpath::Item<'_>]) -> Vec<(String, String, Option<String>)> {
            items
                .iter()
                .map(|i| {
                    (
                        i.type_name().to_string(),
                        i.to_json().to_string(),
                        i.location(),
                    )
                })
                .collect()
        }

        fn documents_match(v: &Value) -> Result<(), TestCaseError> {
            // Text goes through serde_json's float parsing, which need not give back the exact
            // f64: the text's own Value is what a document from text must equal.
            let text = v.to_string();
            let reparsed: Value = serde_json::from_str(&text).unwrap();
            let sources = [
                "descendants()",
                "name.given",
                "contained.name",
                "extension.value",
                "children().id",
                // Member paths inside functions (walked from each focus node) and with a
                // leading type name.
                "name.where(given.exists()).family",
                "Patient.contained.id | children().exists(id)",
                "descendants().count() | name.given.exists() | contained.descendants().count()",
            ];
            for src in sources {
                let e = Expression::compile(src).unwrap();
                for env in [Env::new(), Env::new().locations(false)] {
                    let run = |x: &Value| {
                        e.evaluate(x, &env)
                            .map(|i| shown(&i))
                            .map_err(|e| e.to_string())
                    };
                    for mut doc in [Document::new(), Document::untyped()] {
                        let roots = [
                            (doc.push(v).unwrap(), v),
                            (doc.push_json(text.as_bytes()).unwrap(), &reparsed),
                        ];
                        for (root, value) in roots {
                            prop_assert_eq!(&doc.to_value(root), value);
                            prop_assert_eq!(doc.to_json_string(root), value.to_string());
                            let got = e
                                .evaluate_in(&doc, root, &env)
                                .map(|i| shown(&i))
                                .map_err(|e| e.to_string());
                            prop_assert_eq!(got, run(value), "{}", src);
                        }
                    }
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// From a Value or from its text, typed or not: the same JSON back, and the same
            /// FHIRPath items as evaluating the Value.
            #[test]
            fn documents_match_values(v in prop_oneof![json(), resource()]) {
                documents_match(&v)?;
            }

            /// Any bytes: never a panic; what serde_json accepts is the same value, what it
            /// rejects leaves the document unchanged.
            #[test]
            fn any_bytes_are_safe(bytes in prop::collection::vec(prop_oneof![
                Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b':'), Just(b','),
                Just(b'1'), Just(b'-'), Just(b'e'), Just(b'.'), Just(b'\\'), Just(b'u'), Just(b'a'),
                Just(b' '), Just(b'n'), Just(0xff), Just(0xc3),
            ], 0..40)) {
                let mut doc = Document::new();
                let kept = doc.push_json(br#"{"resourceType": "Patient"}"#).unwrap();
                let before = doc.node_count();
                match (doc.push_json(&bytes), serde_json::from_slice::<Value>(&bytes)) {
                    (Ok(root), Ok(v)) => prop_assert_eq!(doc.to_value(root), v),
                    (Err(_), Err(_)) => prop_assert_eq!(doc.node_count(), before),
                    (got, want) => prop_assert!(false, "document {:?}, serde_json {:?}", got, want.map(|_| ())),
                }
                prop_assert_eq!(doc.resource_type(kept), Some("Patient"));
            }
        }
    }

    #[test]
    fn a_node_record_is_32_bytes() {
        // Two records per 64-byte cache line; the size is part of the design (module docs).
        assert_eq!(std::mem::size_of::<Rec>(), 32);
    }

    #[test]
    fn key_eq_is_string_equality() {
        let words = [
            "",
            "a",
            "id",
            "_id",
            "valueX",
            "resourceType",
            "resourceTypf",
            "12345678",
            "123456789",
            "1234567812345678",
            "1234567812345679",
            "1234567812345678x",
            "é",
            "e\u{301}",
        ];
        for a in words {
            for b in words {
                assert_eq!(key_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
