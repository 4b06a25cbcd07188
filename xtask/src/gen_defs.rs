//! The definitions generator.
//!
//! Reads the official FHIR R4 files and reduces them to [`firn_core::definitions::Artifact`]:
//! snapshots keep paths, cardinality, types, bindings, fixed/pattern values and invariants; value
//! sets are expanded here, once, so the runtime never has to interpret `compose`.
//!
//! Non-standard additions are dropped: the input set repackages R4 with a few additions of its own
//! (anything naming medplum.com, an R4B `SubscriptionStatus`, extra `Meta` elements), and Firn
//! describes FHIR R4 as published.

use firn_core::definitions::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

type Res<T> = Result<T, String>;

const FHIR_VERSION: &str = "4.0.1";
const EXT_FHIR_TYPE: &str = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";
const EXT_REGEX: &str = "http://hl7.org/fhir/StructureDefinition/regex";

fn load(dir: &Path, name: &str) -> Res<Value> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn entries(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(s).collect()
}

/// True for a whole resource that is not FHIR R4 as published: defined by medplum.com, or from
/// another FHIR version (the R4B `SubscriptionStatus`). Non-standard references *inside* standard
/// definitions (extra `targetProfile`s) are filtered where they are read.
fn non_standard(v: &Value) -> bool {
    v["url"].as_str().is_some_and(|u| u.contains("medplum.com"))
        || v["fhirVersion"].as_str().is_some_and(|f| f != FHIR_VERSION)
        || v["version"]
            .as_str()
            .is_some_and(|f| f.starts_with('4') && f != FHIR_VERSION)
}

fn strip_version(url: &str) -> String {
    url.split('|').next().unwrap_or(url).to_string()
}

pub fn run(dir: &Path, out: &Path) -> Res<String> {
    let t0 = std::time::Instant::now();
    let types_bundle = load(dir, "profiles-types.json")?;
    let resources_bundle = load(dir, "profiles-resources.json")?;
    let mut constraints = ConstraintTable::default();
    let mut types = Vec::new();
    let mut dropped = Vec::new();
    for sd in entries(&types_bundle).chain(entries(&resources_bundle)) {
        if sd["resourceType"] != "StructureDefinition" {
            continue;
        }
        if non_standard(sd) {
            dropped.push(sd["id"].as_str().unwrap_or("?").to_string());
            continue;
        }
        types.push(type_def(sd, &mut constraints)?);
    }
    // Bindings name the value sets to expand.
    let mut bound: BTreeSet<String> = BTreeSet::new();
    for t in &types {
        for e in &t.elements {
            if let Some(vs) = e.binding.as_ref().and_then(|b| b.value_set.clone()) {
                bound.insert(vs);
            }
        }
    }

    let search_params: Vec<SearchParam> = entries(&load(dir, "search-parameters.json")?)
        .filter(|r| r["resourceType"] == "SearchParameter" && !non_standard(r))
        .map(search_param)
        .collect::<Res<_>>()?;

    let (value_sets, code_systems) = terminology(dir, &bound)?;

    let compartment = load(dir, "compartmentdefinition-patient.json")?;
    let patient_compartment = compartment["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| CompartmentResource {
            resource_type: s(&r["code"]).unwrap_or_default(),
            params: strings(&r["param"]),
        })
        .filter(|c| types.iter().any(|t| t.name == c.resource_type))
        .collect();

    let extensions = entries(&load(dir, "extension-definitions.json")?)
        .filter(|r| r["resourceType"] == "StructureDefinition" && !non_standard(r))
        .map(extension_def)
        .collect();

    let art = Artifact {
        format_version: FORMAT_VERSION,
        fhir_version: FHIR_VERSION.into(),
        source: format!(
            "FHIR R4 {FHIR_VERSION} definitions (profiles-types, profiles-resources, search-parameters, valuesets, \
             v2-tables, v3-codesystems, extension-definitions, compartmentdefinition-patient); \
             non-standard entries dropped: {}",
            dropped.join(", ")
        ),
        types,
        constraints: constraints.list,
        search_params,
        value_sets,
        code_systems,
        patient_compartment,
        extensions,
    };
    let bytes = Definitions::encode_artifact(&art).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    let expanded = art.value_sets.iter().filter(|v| v.expanded).count();
    Ok(format!(
        "wrote {} ({} bytes): {} types, {} elements, {} constraints, {} search parameters, {} value sets ({} expanded), \
         {} code systems, {} compartment entries, {} extensions; dropped {:?}; {:.1} s",
        out.display(),
        bytes.len(),
        art.types.len(),
        art.types.iter().map(|t| t.elements.len()).sum::<usize>(),
        art.constraints.len(),
        art.search_params.len(),
        art.value_sets.len(),
        expanded,
        art.code_systems.len(),
        art.patient_compartment.len(),
        art.extensions.len(),
        dropped,
        t0.elapsed().as_secs_f64()
    ))
}

#[derive(Default)]
struct ConstraintTable {
    list: Vec<Constraint>,
    index: HashMap<Constraint, u32>,
}

impl ConstraintTable {
    fn intern(&mut self, c: Constraint) -> u32 {
        if let Some(&i) = self.index.get(&c) {
            return i;
        }
        let i = self.list.len() as u32;
        self.index.insert(c.clone(), i);
        self.list.push(c);
        i
    }
}

fn type_def(sd: &Value, constraints: &mut ConstraintTable) -> Res<TypeDef> {
    let name = s(&sd["id"]).ok_or("StructureDefinition without id")?;
    let kind = match sd["kind"].as_str() {
        Some("primitive-type") => TypeKind::Primitive,
        Some("complex-type") => TypeKind::Complex,
        Some("resource") => TypeKind::Resource,
        Some("logical") => TypeKind::Logical,
        other => return Err(format!("{name}: unknown kind {other:?}")),
    };
    let base = sd["baseDefinition"]
        .as_str()
        .map(|b| b.rsplit('/').next().unwrap_or(b).to_string());
    let raw = sd["snapshot"]["element"]
        .as_array()
        .ok_or_else(|| format!("{name}: no snapshot"))?;
    let mut regex = None;
    let mut elements = Vec::with_capacity(raw.len());
    for el in raw {
        let path = s(&el["path"]).ok_or_else(|| format!("{name}: element without path"))?;
        let is_primitive_value = kind == TypeKind::Primitive && path.ends_with(".value");
        let types = el["type"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let code = t["code"].as_str().unwrap_or_default();
                let ext = |url: &str| {
                    t["extension"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|e| e["url"] == url)
                        .and_then(|e| e["valueUrl"].as_str().or(e["valueString"].as_str()))
                        .map(str::to_string)
                };
                if is_primitive_value && regex.is_none() {
                    regex = ext(EXT_REGEX);
                }
                let code = match code.strip_prefix("http://hl7.org/fhirpath/") {
                    // `System.String` stays for a primitive's own value; elsewhere (Element.id,
                    // Extension.url, Resource.id) the FHIR type is what the data carries.
                    Some(system) if is_primitive_value => system.to_string(),
                    Some(system) => ext(EXT_FHIR_TYPE).unwrap_or_else(|| system.to_string()),
                    None => code.to_string(),
                };
                TypeRef {
                    code,
                    profiles: strings(&t["profile"])
                        .into_iter()
                        .filter(|p| !p.contains("medplum.com"))
                        .collect(),
                    target_profiles: strings(&t["targetProfile"])
                        .into_iter()
                        .filter(|p| !p.contains("medplum.com"))
                        .collect(),
                }
            })
            .collect();
        let max = match el["max"].as_str() {
            Some("*") | None => None,
            Some(m) => Some(
                m.parse::<u32>()
                    .map_err(|_| format!("{path}: bad max {m}"))?,
            ),
        };
        let binding = el.get("binding").map(|b| Binding {
            strength: match b["strength"].as_str() {
                Some("required") => BindingStrength::Required,
                Some("extensible") => BindingStrength::Extensible,
                Some("preferred") => BindingStrength::Preferred,
                _ => BindingStrength::Example,
            },
            value_set: b["valueSet"].as_str().map(strip_version),
        });
        let prefixed = |prefix: &str| {
            el.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.starts_with(prefix) && k.len() > prefix.len())
                    .map(|(_, v)| v.to_string())
            })
        };
        let cons = el["constraint"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                constraints.intern(Constraint {
                    key: s(&c["key"]).unwrap_or_default(),
                    severity: s(&c["severity"]).unwrap_or_else(|| "error".into()),
                    human: s(&c["human"]).unwrap_or_default(),
                    expression: s(&c["expression"]),
                })
            })
            .collect();
        elements.push(ElementDef {
            short: s(&el["short"]).unwrap_or_default(),
            min: el["min"].as_u64().unwrap_or(0) as u32,
            max,
            types,
            content_reference: el["contentReference"]
                .as_str()
                .map(|r| r.trim_start_matches('#').to_string()),
            binding,
            fixed: prefixed("fixed"),
            pattern: prefixed("pattern"),
            is_modifier: el["isModifier"].as_bool().unwrap_or(false),
            is_summary: el["isSummary"].as_bool().unwrap_or(false),
            constraints: cons,
            path,
        });
    }
    Ok(TypeDef {
        url: s(&sd["url"]).unwrap_or_default(),
        kind,
        is_abstract: sd["abstract"].as_bool().unwrap_or(false),
        is_constraint: sd["derivation"] == "constraint",
        base,
        regex,
        elements,
        name,
    })
}

fn search_param(r: &Value) -> Res<SearchParam> {
    let code = s(&r["code"]).ok_or("SearchParameter without code")?;
    Ok(SearchParam {
        url: s(&r["url"]).unwrap_or_default(),
        kind: r["type"]
            .as_str()
            .and_then(SearchParamType::parse)
            .ok_or_else(|| format!("SearchParameter {code}: bad type"))?,
        base: strings(&r["base"]),
        expression: s(&r["expression"]),
        targets: strings(&r["target"]),
        modifiers: strings(&r["modifier"]),
        comparators: strings(&r["comparator"]),
        components: r["component"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| SearchComponent {
                definition: s(&c["definition"]).unwrap_or_default(),
                expression: s(&c["expression"]).unwrap_or_default(),
            })
            .collect(),
        multiple_or: r["multipleOr"].as_bool(),
        multiple_and: r["multipleAnd"].as_bool(),
        code,
    })
}

fn extension_def(r: &Value) -> ExtensionDef {
    let elements = r["snapshot"]["element"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let root = elements.first().cloned().unwrap_or(Value::Null);
    let value = elements.iter().find(|e| e["path"] == "Extension.value[x]");
    let value_types = match value {
        Some(v) if v["max"] != "0" => v["type"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| s(&t["code"]))
            .collect(),
        _ => Vec::new(),
    };
    let children = elements
        .iter()
        .filter(|e| {
            e["path"] == "Extension.extension" && e["sliceName"].is_string() && e["max"] != "0"
        })
        .map(|e| {
            let slice_id = e["id"].as_str().unwrap_or_default();
            let url = elements
                .iter()
                .find(|u| u["id"].as_str() == Some(&format!("{slice_id}.url")))
                .and_then(|u| u["fixedUri"].as_str())
                .unwrap_or_else(|| e["sliceName"].as_str().unwrap_or_default())
                .to_string();
            let max = e["max"].as_str().and_then(|m| m.parse().ok());
            (url, e["min"].as_u64().unwrap_or(0) as u32, max)
        })
        .collect();
    ExtensionDef {
        url: s(&r["url"]).unwrap_or_default(),
        name: s(&r["name"]).unwrap_or_default(),
        contexts: r["context"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    s(&c["type"]).unwrap_or_default(),
                    s(&c["expression"]).unwrap_or_default(),
                )
            })
            .collect(),
        value_types,
        min: root["min"].as_u64().unwrap_or(0) as u32,
        max: root["max"].as_str().and_then(|m| m.parse().ok()),
        children,
    }
}

/// A code system as read: codes in order, with their parents (for `is-a` filters).
struct RawCodeSystem {
    def: CodeSystemDef,
    complete: bool,
    parents: HashMap<String, Vec<String>>,
}

fn flatten_concepts(
    concepts: &Value,
    parent: Option<&str>,
    out: &mut Vec<ConceptDef>,
    parents: &mut HashMap<String, Vec<String>>,
) {
    for c in concepts.as_array().into_iter().flatten() {
        let Some(code) = c["code"].as_str() else {
            continue;
        };
        out.push(ConceptDef {
            code: code.to_string(),
            display: s(&c["display"]),
        });
        if let Some(p) = parent {
            parents
                .entry(code.to_string())
                .or_default()
                .push(p.to_string());
        }
        // `subsumedBy` properties also express the hierarchy (v3 code systems).
        for prop in c["property"].as_array().into_iter().flatten() {
            if prop["code"] == "subsumedBy"
                && let Some(p) = prop["valueCode"].as_str()
            {
                parents
                    .entry(code.to_string())
                    .or_default()
                    .push(p.to_string());
            }
        }
        flatten_concepts(&c["concept"], Some(code), out, parents);
    }
}

/// Expands the value sets: every value set of the input that can be expanded offline, and a
/// "not expanded" record for bound value sets that cannot. Returns the value sets and the code
/// systems they include whole.
fn terminology(
    dir: &Path,
    bound: &BTreeSet<String>,
) -> Res<(Vec<ValueSetDef>, Vec<CodeSystemDef>)> {
    let mut vs_raw: BTreeMap<String, Value> = BTreeMap::new();
    let mut cs_raw: BTreeMap<String, RawCodeSystem> = BTreeMap::new();
    for file in ["valuesets.json", "v3-codesystems.json", "v2-tables.json"] {
        for r in entries(&load(dir, file)?) {
            if non_standard(r) {
                continue;
            }
            let Some(url) = r["url"].as_str() else {
                continue;
            };
            match r["resourceType"].as_str() {
                Some("ValueSet") => {
                    vs_raw.entry(url.to_string()).or_insert_with(|| r.clone());
                }
                Some("CodeSystem") => {
                    if cs_raw.contains_key(url) {
                        continue;
                    }
                    let mut concepts = Vec::new();
                    let mut parents = HashMap::new();
                    flatten_concepts(&r["concept"], None, &mut concepts, &mut parents);
                    cs_raw.insert(
                        url.to_string(),
                        RawCodeSystem {
                            complete: r["content"] == "complete" && !concepts.is_empty(),
                            def: CodeSystemDef {
                                url: url.to_string(),
                                name: s(&r["name"]).unwrap_or_default(),
                                case_sensitive: r["caseSensitive"].as_bool().unwrap_or(true),
                                concepts,
                            },
                            parents,
                        },
                    );
                }
                _ => {}
            }
        }
    }

    let mut used_cs: BTreeSet<String> = BTreeSet::new();
    let mut value_sets = Vec::new();
    for (url, vs) in &vs_raw {
        let mut used = BTreeSet::new();
        let includes = expand(vs, &vs_raw, &cs_raw, &mut used, 0);
        let (expanded, includes) = match includes {
            Some(i) => (true, i),
            None => (false, Vec::new()),
        };
        if expanded {
            used_cs.extend(used);
        }
        value_sets.push(ValueSetDef {
            url: url.clone(),
            name: s(&vs["name"]).unwrap_or_default(),
            expanded,
            includes,
        });
    }
    for url in bound {
        if !vs_raw.contains_key(url) {
            value_sets.push(ValueSetDef {
                url: url.clone(),
                name: String::new(),
                expanded: false,
                includes: Vec::new(),
            });
        }
    }
    let code_systems = cs_raw
        .into_iter()
        .filter(|(u, _)| used_cs.contains(u))
        .map(|(_, c)| c.def)
        .collect();
    Ok((value_sets, code_systems))
}

/// One value set's codes per system; `None` when it cannot be expanded offline.
fn expand(
    vs: &Value,
    vs_raw: &BTreeMap<String, Value>,
    cs_raw: &BTreeMap<String, RawCodeSystem>,
    used_cs: &mut BTreeSet<String>,
    depth: usize,
) -> Option<Vec<VsInclude>> {
    if depth > 8 {
        return None;
    }
    let compose = vs.get("compose")?;
    let mut out: Vec<VsInclude> = Vec::new();
    for inc in compose["include"].as_array()? {
        let mut part: Vec<VsInclude> = Vec::new();
        if let Some(system) = inc["system"].as_str() {
            let cs = cs_raw.get(system);
            let codes: Option<Vec<String>> = if let Some(concepts) = inc["concept"].as_array() {
                Some(concepts.iter().filter_map(|c| s(&c["code"])).collect())
            } else if let Some(filters) = inc["filter"].as_array() {
                let cs = cs.filter(|c| c.complete)?;
                let mut codes: Option<BTreeSet<String>> = None;
                for f in filters {
                    let value = f["value"].as_str()?;
                    let matched: BTreeSet<String> =
                        match (f["property"].as_str()?, f["op"].as_str()?) {
                            ("concept", op @ ("is-a" | "descendent-of")) => cs
                                .def
                                .concepts
                                .iter()
                                .filter(|c| {
                                    is_descendant(&c.code, value, &cs.parents, op == "is-a")
                                })
                                .map(|c| c.code.clone())
                                .collect(),
                            _ => return None,
                        };
                    codes = Some(match codes {
                        None => matched,
                        Some(prev) => prev.intersection(&matched).cloned().collect(),
                    });
                }
                Some(codes?.into_iter().collect())
            } else {
                let cs = cs.filter(|c| c.complete)?;
                used_cs.insert(cs.def.url.clone());
                None
            };
            part.push(VsInclude {
                system: system.to_string(),
                codes,
            });
        }
        for nested in inc["valueSet"].as_array().into_iter().flatten() {
            let nested = vs_raw.get(&strip_version(nested.as_str()?))?;
            let inner = expand(nested, vs_raw, cs_raw, used_cs, depth + 1)?;
            if part.is_empty() {
                part = inner;
            } else {
                // system + valueSet: the intersection. Rare in R4; give up rather than guess.
                return None;
            }
        }
        out.extend(part);
    }
    if let Some(excludes) = compose["exclude"].as_array() {
        for exc in excludes {
            let system = exc["system"].as_str()?;
            let removed: BTreeSet<&str> = exc["concept"]
                .as_array()?
                .iter()
                .filter_map(|c| c["code"].as_str())
                .collect();
            for inc in out.iter_mut().filter(|i| i.system == system) {
                let codes = match &inc.codes {
                    Some(c) => c.clone(),
                    None => cs_raw
                        .get(system)?
                        .def
                        .concepts
                        .iter()
                        .map(|c| c.code.clone())
                        .collect(),
                };
                inc.codes = Some(
                    codes
                        .into_iter()
                        .filter(|c| !removed.contains(c.as_str()))
                        .collect(),
                );
            }
        }
    }
    Some(out)
}

fn is_descendant(
    code: &str,
    ancestor: &str,
    parents: &HashMap<String, Vec<String>>,
    inclusive: bool,
) -> bool {
    if code == ancestor {
        return inclusive;
    }
    let mut stack: Vec<&str> = vec![code];
    let mut seen = BTreeSet::new();
    while let Some(c) = stack.pop() {
        for p in parents.get(c).into_iter().flatten() {
            if p == ancestor {
                return true;
            }
            if seen.insert(p.as_str()) {
                stack.push(p);
            }
        }
    }
    false
}
