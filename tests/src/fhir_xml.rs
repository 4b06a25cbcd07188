//! FHIR XML → FHIR JSON, for conformance suites published in XML (the FHIRPath Patch tests).
//!
//! Firn speaks JSON only; this converter exists so the official XML cases run unmodified rather
//! than as hand-ported copies. It follows the R4 JSON rules using the embedded definitions:
//! repeating elements become arrays, primitives become JSON strings/numbers/booleans with their
//! `id` and extensions in the `_name` companion (aligned with `null`s inside arrays), resource-typed
//! elements (`contained`, `Bundle.entry.resource`, `Parameters.parameter.resource`) hold a nested
//! resource, and XHTML `div`s become their markup as a string.

use firn_core::definitions::Definitions;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

/// A parsed XML element: what the conversion needs, no more.
#[derive(Debug, Clone)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    /// For XHTML `div`: the element's markup.
    xhtml: Option<String>,
}

fn start(e: &BytesStart<'_>) -> Result<El, String> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|x| x.to_string())?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().map_err(|x| x.to_string())?.into_owned();
        attrs.push((key, value));
    }
    Ok(El {
        name,
        attrs,
        children: Vec::new(),
        xhtml: None,
    })
}

/// Parses `xml` and returns its elements (the children of a virtual root).
fn parse(xml: &str) -> Result<Vec<El>, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<El> = vec![El {
        name: String::new(),
        attrs: vec![],
        children: vec![],
        xhtml: None,
    }];
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.local_name().as_ref() == b"div" => {
                let mut el = start(&e)?;
                let open = xml[before..reader.buffer_position() as usize].trim_start();
                let span = reader.read_to_end(e.name()).map_err(|x| x.to_string())?;
                let inner = &xml[span.start as usize..span.end as usize];
                el.xhtml = Some(format!("{open}{inner}</div>"));
                stack.last_mut().ok_or("unbalanced")?.children.push(el);
            }
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let el = start(&e)?;
                stack.last_mut().ok_or("unbalanced")?.children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                stack
                    .last_mut()
                    .ok_or("unbalanced end tag")?
                    .children
                    .push(el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = stack.pop().ok_or("unbalanced")?;
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    Ok(root.children)
}

/// Converts the first FHIR resource element found in `xml` to FHIR JSON.
///
/// ```
/// let json = firn_tests::fhir_xml::resource_from_xml(
///     r#"<Patient xmlns="http://hl7.org/fhir"><active value="true"/>
///        <name><given value="Jim"/><given value="Bo"><extension url="u"><valueString value="x"/></extension></given></name>
///     </Patient>"#).unwrap();
/// assert_eq!(json, serde_json::json!({"resourceType": "Patient", "active": true,
///     "name": [{"given": ["Jim", "Bo"], "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}]}]}));
/// ```
pub fn resource_from_xml(xml: &str) -> Result<Value, String> {
    let els = parse(xml)?;
    let el = els.first().ok_or("no element")?;
    resource(el)
}

fn resource(el: &El) -> Result<Value, String> {
    let defs = Definitions::r4();
    if !defs.is_resource_type(&el.name) {
        return Err(format!("<{}> is not a FHIR resource", el.name));
    }
    let mut obj = Map::new();
    obj.insert("resourceType".into(), Value::String(el.name.clone()));
    fill(&mut obj, el, &el.name)?;
    Ok(Value::Object(obj))
}

/// Fills `obj` with the attributes (`id`, `url`) and children of `el`, whose definitions context is
/// `context` (a type name or a backbone path).
fn fill(obj: &mut Map<String, Value>, el: &El, context: &str) -> Result<(), String> {
    let defs = Definitions::r4();
    for (k, v) in &el.attrs {
        if k == "id" || k == "url" {
            obj.insert(k.clone(), Value::String(v.clone()));
        }
    }
    for child in &el.children {
        let key = child.name.as_str();
        let def = defs
            .child(context, key)
            .ok_or_else(|| format!("{context} has no element '{key}'"))?;
        let repeats = def.element.max != Some(1);
        let ty = def.type_code;
        let (value, companion) = if let Some(html) = &child.xhtml {
            (Value::String(html.clone()), None)
        } else if defs.is_primitive(ty) || ty == "xhtml" {
            primitive(child, ty)?
        } else if ty == "Resource" || defs.is_resource_type(ty) {
            let inner = child.children.first().ok_or("empty resource element")?;
            (resource(inner)?, None)
        } else {
            let mut m = Map::new();
            fill(&mut m, child, def.context)?;
            (Value::Object(m), None)
        };
        if !value.is_null() || repeats {
            push(obj, key, value, repeats);
        }
        if repeats || companion.is_some() {
            let companion_key = format!("_{key}");
            if companion.is_some() || obj.contains_key(&companion_key) {
                push_companion(obj, key, &companion_key, companion, repeats);
            }
        }
    }
    Ok(())
}

fn push(obj: &mut Map<String, Value>, key: &str, value: Value, repeats: bool) {
    if repeats {
        match obj.entry(key).or_insert_with(|| Value::Array(vec![])) {
            Value::Array(a) => a.push(value),
            other => *other = Value::Array(vec![value]),
        }
    } else {
        obj.insert(key.to_string(), value);
    }
}

/// Keeps `_key` aligned with `key`: earlier items without a companion get `null`.
fn push_companion(
    obj: &mut Map<String, Value>,
    key: &str,
    companion_key: &str,
    companion: Option<Value>,
    repeats: bool,
) {
    if !repeats {
        if let Some(c) = companion {
            obj.insert(companion_key.to_string(), c);
        }
        return;
    }
    let len = obj.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    let arr = obj
        .entry(companion_key)
        .or_insert_with(|| Value::Array(vec![]));
    if let Value::Array(a) = arr {
        while a.len() + 1 < len {
            a.push(Value::Null);
        }
        a.push(companion.unwrap_or(Value::Null));
    }
}

/// A primitive element: its JSON value and its `_name` companion (id, extensions).
fn primitive(el: &El, ty: &str) -> Result<(Value, Option<Value>), String> {
    let raw = el
        .attrs
        .iter()
        .find(|(k, _)| k == "value")
        .map(|(_, v)| v.as_str());
    let value = match raw {
        None => Value::Null,
        Some(v) => match ty {
            "boolean" => Value::Bool(v == "true"),
            "integer" | "positiveInt" | "unsignedInt" | "decimal" | "integer64" => {
                serde_json::from_str::<serde_json::Number>(v)
                    .map(Value::Number)
                    .map_err(|e| format!("{}: '{v}' is not a number: {e}", el.name))?
            }
            _ => Value::String(v.to_string()),
        },
    };
    let mut comp = Map::new();
    if let Some((_, id)) = el.attrs.iter().find(|(k, _)| k == "id") {
        comp.insert("id".into(), Value::String(id.clone()));
    }
    for ext in el.children.iter().filter(|c| c.name == "extension") {
        let mut m = Map::new();
        fill(&mut m, ext, "Extension")?;
        push(&mut comp, "extension", Value::Object(m), true);
    }
    Ok((value, (!comp.is_empty()).then_some(Value::Object(comp))))
}

/// The `<case>`s of an XML test file as raw elements, for suites whose cases carry resources.
///
/// Returns, per case, its attributes and its child elements by name, each child's first element
/// converted to JSON when it is a FHIR resource.
pub fn cases(xml: &str, case_tag: &str) -> Result<Vec<XmlCase>, String> {
    let root = parse(xml)?;
    let mut out = Vec::new();
    for top in &root {
        for case in top.children.iter().filter(|c| c.name == case_tag) {
            let mut parts = Vec::new();
            for part in &case.children {
                let resource = match part.children.first() {
                    Some(inner) if Definitions::r4().is_resource_type(&inner.name) => {
                        Some(resource(inner)?)
                    }
                    _ => None,
                };
                parts.push((part.name.clone(), part.attrs.clone(), resource));
            }
            out.push(XmlCase {
                attrs: case.attrs.clone(),
                parts,
            });
        }
    }
    Ok(out)
}

/// XML attributes as `(name, value)` pairs, in document order.
pub type Attrs = Vec<(String, String)>;

/// One test case of an XML suite.
#[derive(Debug, Clone)]
pub struct XmlCase {
    pub attrs: Attrs,
    /// `(element name, attributes, resource as JSON if the element wraps one)`.
    pub parts: Vec<(String, Attrs, Option<Value>)>,
}

impl XmlCase {
    /// An attribute of the case element.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The resource wrapped by the child element `name` (`input`, `diff`, `output`).
    pub fn resource(&self, name: &str) -> Option<&Value> {
        self.parts
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, _, r)| r.as_ref())
    }

    /// An attribute of the child element `name` (e.g. `error`'s `msg`).
    pub fn part_attr(&self, name: &str, attr: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, a, _)| a.iter().find(|(k, _)| k == attr))
            .map(|(_, v)| v.as_str())
    }
}
