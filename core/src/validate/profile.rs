//! Profiles: StructureDefinitions loaded from FHIR packages.
//!
//! Package snapshots are complete, so a profile is checked by walking its snapshot elements over
//! the instance: each (non-slice) element path selects instance nodes, whose count is checked
//! against the profile's min/max and whose values against fixed[x]/pattern[x] and required
//! bindings. Extension StructureDefinitions are also summarised into the same
//! [`ExtensionDef`](crate::definitions::ExtensionDef) form core uses, so `walk.rs` knows them.

use super::Run;
use crate::definitions::{Definitions, ExtensionDef};
use crate::outcome::{Issue, IssueType};
use serde_json::Value;
use std::collections::HashMap;

use super::package::Package;

/// The profiles and extension definitions of the loaded packages.
#[derive(Debug, Default)]
pub(crate) struct Profiles {
    by_url: HashMap<String, Profile>,
    extensions: HashMap<String, ExtensionDef>,
    /// Package names loaded, to explain missing dependencies.
    loaded: Vec<String>,
    /// `(package, missing dependency)` pairs.
    missing: Vec<(String, String)>,
    /// Package value sets that enumerate their codes: url → (system, code) pairs.
    value_sets: HashMap<String, Vec<(String, String)>>,
}

#[derive(Debug)]
pub(crate) struct Profile {
    pub(crate) url: String,
    pub(crate) ty: String,
    pub(crate) package: String,
    pub(crate) elements: Vec<Value>,
    by_id: HashMap<String, usize>,
    /// Element id → indices of its direct children (slices included: `Patient.extension:race`
    /// is a child of `Patient`).
    children: HashMap<String, Vec<usize>>,
    /// Element id → indices of its slices (`Patient.extension` → `Patient.extension:race` ...).
    slices: HashMap<String, Vec<usize>>,
}

impl Profile {
    fn new(url: &str, ty: &str, package: &str, elements: Vec<Value>) -> Profile {
        let mut by_id = HashMap::new();
        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        let mut slices: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in elements.iter().enumerate() {
            let Some(id) = e["id"].as_str() else { continue };
            by_id.insert(id.to_string(), i);
            let last = id.rsplit('.').next().unwrap_or(id);
            if let Some((_, slice)) = last.split_once(':')
                && !slice.contains('/')
            {
                let base = &id[..id.len() - slice.len() - 1];
                slices.entry(base.to_string()).or_default().push(i);
            }
            if let Some(dot) = id.rfind('.') {
                children.entry(id[..dot].to_string()).or_default().push(i);
            }
        }
        Profile {
            url: url.to_string(),
            ty: ty.to_string(),
            package: package.to_string(),
            elements,
            by_id,
            children,
            slices,
        }
    }

    pub(crate) fn root_id(&self) -> &str {
        self.elements
            .first()
            .and_then(|e| e["id"].as_str())
            .unwrap_or(&self.ty)
    }

    pub(crate) fn children_of(&self, id: &str) -> &[usize] {
        self.children.get(id).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn slices_of(&self, id: &str) -> &[usize] {
        self.slices.get(id).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Value> {
        self.by_id.get(id).map(|&i| &self.elements[i])
    }
}

impl Profiles {
    pub(crate) fn new(defs: &Definitions, packages: &[Package]) -> Self {
        let mut p = Profiles {
            loaded: packages.iter().map(|p| p.name.clone()).collect(),
            ..Default::default()
        };
        for pkg in packages {
            for (dep, _) in &pkg.dependencies {
                if !dep.starts_with("hl7.fhir.r4.core") && !p.loaded.contains(dep) {
                    p.missing.push((pkg.name.clone(), dep.clone()));
                }
            }
            for r in &pkg.resources {
                if r["resourceType"] == "ValueSet"
                    && let (Some(url), Some(codes)) =
                        (r["url"].as_str(), enumerate(r, defs, &pkg.resources))
                {
                    p.value_sets.insert(url.to_string(), codes);
                }
                if r["resourceType"] != "StructureDefinition" {
                    continue;
                }
                let (Some(url), Some(ty)) = (r["url"].as_str(), r["type"].as_str()) else {
                    continue;
                };
                let elements = r["snapshot"]["element"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if ty == "Extension" {
                    p.extensions
                        .insert(url.to_string(), summarize_extension(url, r, &elements));
                }
                if r["derivation"] == "constraint" {
                    p.by_url
                        .insert(url.to_string(), Profile::new(url, ty, &pkg.name, elements));
                }
            }
        }
        p
    }

    /// Membership in a package value set; `None` when the packages do not enumerate it.
    pub(crate) fn value_set_contains(
        &self,
        url: &str,
        system: Option<&str>,
        code: &str,
    ) -> Option<bool> {
        let codes = self.value_sets.get(strip_version(url))?;
        Some(
            codes
                .iter()
                .any(|(s, c)| c == code && system.is_none_or(|x| x == s)),
        )
    }

    /// Every constraint expression of the loaded profiles.
    pub(crate) fn constraint_expressions(&self) -> impl Iterator<Item = &str> {
        self.by_url
            .values()
            .flat_map(|p| p.elements.iter())
            .flat_map(|e| e["constraint"].as_array().into_iter().flatten())
            .filter_map(|c| c["expression"].as_str())
    }

    pub(crate) fn has(&self, url: &str) -> bool {
        self.by_url.contains_key(strip_version(url))
    }

    pub(crate) fn extension(&self, url: &str) -> Option<&ExtensionDef> {
        self.extensions.get(url)
    }

    /// Checks `meta.profile` and the requested profiles of the root resource.
    /// Checks every resource met (root, contained, Bundle entries) against its `meta.profile`,
    /// and the root against the requested profiles.
    pub(crate) fn check(&self, run: &mut Run, root: &Value, requested: &[String]) {
        let root_name = root
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let locs = run.resource_locs.clone();
        for (idx, loc) in locs.iter().enumerate() {
            let Some(resource) = super::invariant::node(root, root_name, loc) else {
                continue;
            };
            let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
                continue;
            };
            let mut urls: Vec<&str> = Vec::new();
            if idx == 0 {
                urls.extend(requested.iter().map(String::as_str));
            }
            if let Some(Value::Array(ps)) = resource.pointer("/meta/profile") {
                urls.extend(ps.iter().filter_map(Value::as_str));
            }
            for url in urls {
                let url = strip_version(url);
                if url == format!("http://hl7.org/fhir/StructureDefinition/{rt}") {
                    continue;
                }
                let Some(profile) = self.by_url.get(url) else {
                    run.push(
                        Issue::information(
                            IssueType::NotSupported,
                            format!("profile {url} is not loaded: not checked"),
                        ),
                        loc,
                    );
                    continue;
                };
                if profile.ty != rt {
                    run.push(
                        Issue::error(
                            IssueType::Invalid,
                            format!("profile {url} is for {}, not {rt}", profile.ty),
                        ),
                        loc,
                    );
                    continue;
                }
                super::slicing::check_profile(run, self, profile, resource, loc, idx);
            }
        }
    }

    pub(crate) fn get(&self, url: &str) -> Option<&Profile> {
        self.by_url.get(strip_version(url))
    }

    /// The missing package dependencies of `package`, for "not loaded" diagnostics.
    pub(crate) fn missing_deps(&self, package: &str) -> Vec<&str> {
        self.missing
            .iter()
            .filter(|(p, _)| p == package)
            .map(|(_, d)| d.as_str())
            .collect()
    }
}

fn strip_version(url: &str) -> &str {
    url.split('|').next().unwrap_or(url)
}

/// An extension StructureDefinition in the summary form core uses.
fn summarize_extension(url: &str, sd: &Value, elements: &[Value]) -> ExtensionDef {
    let contexts = sd["context"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or("element").to_string(),
                c["expression"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut value_types = Vec::new();
    let mut children = Vec::new();
    let mut min = 0;
    let mut max = None;
    for e in elements {
        let id = e["id"].as_str().unwrap_or_default();
        if id == "Extension" {
            min = e["min"].as_u64().unwrap_or(0) as u32;
            max = e["max"].as_str().and_then(|m| m.parse().ok());
        }
        if id == "Extension.value[x]" && e["max"] != "0" {
            value_types = e["type"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["code"].as_str().map(str::to_string))
                .collect();
        }
        if let Some(slice) = id.strip_prefix("Extension.extension:")
            && !slice.contains('.')
        {
            let curl = elements
                .iter()
                .find(|x| x["id"].as_str() == Some(&format!("{id}.url")))
                .and_then(|x| x["fixedUri"].as_str())
                .unwrap_or(slice)
                .to_string();
            children.push((
                curl,
                e["min"].as_u64().unwrap_or(0) as u32,
                e["max"].as_str().and_then(|m| m.parse().ok()),
            ));
        }
    }
    ExtensionDef {
        url: url.to_string(),
        name: sd["name"].as_str().unwrap_or_default().to_string(),
        contexts,
        value_types,
        min,
        max,
        children,
    }
}

/// The codes of a value set whose compose only lists concepts or includes whole code systems
/// known here (core or the same package); `None` when filters or other value sets are involved.
fn enumerate(vs: &Value, defs: &Definitions, resources: &[Value]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    if vs["compose"]["exclude"].is_array() {
        return None;
    }
    for inc in vs["compose"]["include"].as_array()? {
        if inc.get("filter").is_some() || inc.get("valueSet").is_some() {
            return None;
        }
        let system = inc["system"].as_str()?;
        if let Some(concepts) = inc["concept"].as_array() {
            out.extend(
                concepts
                    .iter()
                    .filter_map(|c| Some((system.to_string(), c["code"].as_str()?.to_string()))),
            );
        } else if let Some(cs) = defs.code_system(system) {
            out.extend(
                cs.concepts
                    .iter()
                    .map(|c| (system.to_string(), c.code.clone())),
            );
        } else {
            let cs = resources.iter().find(|r| {
                r["resourceType"] == "CodeSystem"
                    && r["url"] == system
                    && r["content"] == "complete"
            })?;
            let mut stack: Vec<&Value> = cs["concept"].as_array()?.iter().collect();
            while let Some(c) = stack.pop() {
                if let Some(code) = c["code"].as_str() {
                    out.push((system.to_string(), code.to_string()));
                }
                stack.extend(c["concept"].as_array().into_iter().flatten());
            }
        }
    }
    Some(out)
}
