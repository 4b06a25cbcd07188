//! The data model of the embedded definitions.
//!
//! These structs are what the generator (`cargo xtask gen-defs`) writes and what
//! [`Definitions`](super::Definitions) decodes. They keep only what Firn's engines ask about — no
//! narrative, mappings or long definitions — which is why the whole of R4 fits in a few hundred
//! kilobytes. The artifact is `postcard` (a compact, fast-to-decode serde format) compressed with
//! DEFLATE; both libraries are small, pure Rust and work on `wasm32-unknown-unknown`.

use serde::{Deserialize, Serialize};

/// Bumped whenever the model changes shape, so a stale artifact fails loudly instead of misdecoding.
pub const FORMAT_VERSION: u32 = 1;

/// The complete artifact.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Artifact {
    pub format_version: u32,
    /// FHIR version the definitions describe (`4.0.1`).
    pub fhir_version: String,
    /// Where the definitions came from, for humans.
    pub source: String,
    pub types: Vec<TypeDef>,
    /// Constraints shared by many elements (e.g. `ele-1` appears on every element): stored once and
    /// referenced by index from [`ElementDef::constraints`].
    pub constraints: Vec<Constraint>,
    pub search_params: Vec<SearchParam>,
    pub value_sets: Vec<ValueSetDef>,
    pub code_systems: Vec<CodeSystemDef>,
    /// The Patient CompartmentDefinition: resource type → inclusion search parameters.
    pub patient_compartment: Vec<CompartmentResource>,
    pub extensions: Vec<ExtensionDef>,
}

/// What a StructureDefinition defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TypeKind {
    Primitive,
    Complex,
    Resource,
    Logical,
}

/// A resource, datatype or primitive type: one StructureDefinition's snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TypeDef {
    /// The type name (`Patient`, `HumanName`, `dateTime`, `SimpleQuantity`).
    pub name: String,
    pub url: String,
    pub kind: TypeKind,
    pub is_abstract: bool,
    /// The base type's name (`DomainResource` for `Patient`, `Quantity` for `Age`).
    pub base: Option<String>,
    /// True for constraint profiles (`SimpleQuantity`, `MoneyQuantity`): their element paths start
    /// with the base type's name, and they add no new elements.
    pub is_constraint: bool,
    /// For primitive types: the regex the JSON value's string form must match.
    pub regex: Option<String>,
    /// The snapshot elements in document order; `elements[0]` is the root.
    pub elements: Vec<ElementDef>,
}

/// One element of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElementDef {
    /// The element path (`Observation.value[x]`, `Patient.contact.name`).
    pub path: String,
    /// `ElementDefinition.short`, for humans (CLI, diagnostics).
    pub short: String,
    pub min: u32,
    /// `None` means unbounded (`*`).
    pub max: Option<u32>,
    pub types: Vec<TypeRef>,
    /// `#Questionnaire.item`-style references, without the leading `#`.
    pub content_reference: Option<String>,
    pub binding: Option<Binding>,
    /// `fixed[x]`, as compact JSON text.
    pub fixed: Option<String>,
    /// `pattern[x]`, as compact JSON text.
    pub pattern: Option<String>,
    pub is_modifier: bool,
    pub is_summary: bool,
    /// Indices into the artifact's constraint table; use
    /// [`Definitions::constraints`](super::Definitions::constraints).
    pub constraints: Vec<u32>,
}

impl ElementDef {
    /// The element's own name: the last path segment (`value[x]` for `Observation.value[x]`).
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    /// True for choice elements (`value[x]`).
    pub fn is_choice(&self) -> bool {
        self.path.ends_with("[x]")
    }

    /// True when the element may repeat (max > 1 or `*`): its JSON form is an array.
    pub fn is_array(&self) -> bool {
        self.max.is_none_or(|m| m > 1)
    }

    /// The `max` as FHIR writes it (`1`, `*`).
    pub fn max_str(&self) -> String {
        self.max.map_or_else(|| "*".to_string(), |m| m.to_string())
    }
}

/// `ElementDefinition.type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRef {
    /// FHIR type name (`string`, `Reference`, `BackboneElement`), or `System.String`-style names for
    /// the `value` of primitive types.
    pub code: String,
    pub profiles: Vec<String>,
    pub target_profiles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BindingStrength {
    Required,
    Extensible,
    Preferred,
    Example,
}

impl BindingStrength {
    pub fn as_str(self) -> &'static str {
        match self {
            BindingStrength::Required => "required",
            BindingStrength::Extensible => "extensible",
            BindingStrength::Preferred => "preferred",
            BindingStrength::Example => "example",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub strength: BindingStrength,
    /// Canonical URL of the value set, version suffix (`|4.0.1`) removed.
    pub value_set: Option<String>,
}

/// `ElementDefinition.constraint`: an invariant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    pub key: String,
    /// `error` or `warning`.
    pub severity: String,
    pub human: String,
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SearchParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl SearchParamType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "number" => Self::Number,
            "date" => Self::Date,
            "string" => Self::String,
            "token" => Self::Token,
            "reference" => Self::Reference,
            "composite" => Self::Composite,
            "quantity" => Self::Quantity,
            "uri" => Self::Uri,
            "special" => Self::Special,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Date => "date",
            Self::String => "string",
            Self::Token => "token",
            Self::Reference => "reference",
            Self::Composite => "composite",
            Self::Quantity => "quantity",
            Self::Uri => "uri",
            Self::Special => "special",
        }
    }
}

/// A SearchParameter resource, reduced to what search evaluation needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchParam {
    pub url: String,
    pub code: String,
    pub base: Vec<String>,
    pub kind: SearchParamType,
    pub expression: Option<String>,
    pub targets: Vec<String>,
    pub modifiers: Vec<String>,
    pub comparators: Vec<String>,
    pub components: Vec<SearchComponent>,
    pub multiple_or: Option<bool>,
    pub multiple_and: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchComponent {
    /// Canonical URL of the component's SearchParameter.
    pub definition: String,
    pub expression: String,
}

/// A value set as far as the generator could expand it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValueSetDef {
    pub url: String,
    pub name: String,
    /// `false` when the compose uses something the generator cannot expand offline (an external
    /// code system such as UCUM or BCP-47, an unsupported filter): membership is then unknown.
    pub expanded: bool,
    pub includes: Vec<VsInclude>,
}

/// Codes from one system. `codes == None` means every code of the code system, which is stored
/// once in [`Artifact::code_systems`] instead of being copied into each value set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VsInclude {
    pub system: String,
    pub codes: Option<Vec<String>>,
}

/// A code system's codes (with displays and the is-a hierarchy flattened away).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeSystemDef {
    pub url: String,
    pub name: String,
    /// Codes are case-sensitive unless the CodeSystem says otherwise.
    pub case_sensitive: bool,
    pub concepts: Vec<ConceptDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConceptDef {
    pub code: String,
    pub display: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompartmentResource {
    pub resource_type: String,
    /// Search parameter codes that put a resource in the compartment; empty = never a member.
    pub params: Vec<String>,
}

/// A core extension definition, summarised for validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtensionDef {
    pub url: String,
    pub name: String,
    /// Where it may be used: `(type, expression)` from `StructureDefinition.context`
    /// (`("element", "Patient")`, `("fhirpath", "...")`).
    pub contexts: Vec<(String, String)>,
    /// Allowed `value[x]` types; empty for complex extensions (which have `children`).
    pub value_types: Vec<String>,
    pub min: u32,
    pub max: Option<u32>,
    /// Nested extensions of a complex extension: `(url, min, max)`.
    pub children: Vec<(String, u32, Option<u32>)>,
}
