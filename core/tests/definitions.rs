//! What the embedded R4 definitions must contain, and how lookups answer.

use firn_core::definitions::{Definitions, Membership, SearchParamType, TypeKind};

fn defs() -> &'static Definitions {
    Definitions::r4()
}

#[test]
fn first_use_is_fast() {
    // Decoding happens once per process; measure a fresh decode of the embedded artifact.
    let bytes = include_bytes!("../src/definitions/r4.defs");
    let t = std::time::Instant::now();
    let d = Definitions::from_artifact_bytes(bytes).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "definitions: artifact {} bytes compressed, first use (decode + index) {ms:.1} ms",
        bytes.len()
    );
    assert!(
        bytes.len() <= 3 * 1024 * 1024,
        "artifact over the 3 MB budget"
    );
    assert_eq!(d.artifact().types.len(), defs().artifact().types.len());
    // Budget is 30 ms for optimized builds; unoptimized test builds get slack.
    let budget = if cfg!(debug_assertions) { 300.0 } else { 30.0 };
    assert!(
        ms <= budget,
        "first use took {ms:.1} ms (budget {budget} ms)"
    );
}

#[test]
fn counts() {
    let d = defs();
    let resources: Vec<&str> = d.resource_types().collect();
    // R4 4.0.1 has 146 concrete resource types (the official fhir.schema.json lists the same 146;
    // the spec's prose says "145" because it does not count Parameters... the schema is the truth).
    assert_eq!(resources.len(), 146, "{resources:?}");
    assert!(
        !resources.contains(&"SubscriptionStatus"),
        "R4B addition must be dropped"
    );
    for base in ["Resource", "DomainResource"] {
        let t = d.type_def(base).unwrap();
        assert!(t.is_abstract && t.kind == TypeKind::Resource);
    }
    assert_eq!(
        d.type_def("MetadataResource").unwrap().kind,
        TypeKind::Logical
    );
    let primitives = d.types().filter(|t| t.kind == TypeKind::Primitive).count();
    assert_eq!(primitives, 20);
    let complex = d.types().filter(|t| t.kind == TypeKind::Complex).count();
    assert_eq!(complex, 43);
    assert_eq!(d.artifact().search_params.len(), 1375);
    let required: std::collections::BTreeSet<&str> = d
        .types()
        .flat_map(|t| &t.elements)
        .filter_map(|e| e.binding.as_ref())
        .filter(|b| b.strength == firn_core::definitions::BindingStrength::Required)
        .filter_map(|b| b.value_set.as_deref())
        .collect();
    assert_eq!(
        required.len(),
        226,
        "distinct value sets behind required bindings"
    );
    let expanded = required
        .iter()
        .filter(|u| d.value_set(u).is_some_and(|v| v.expanded))
        .count();
    println!(
        "definitions: {} of {} required-binding value sets expanded",
        expanded,
        required.len()
    );
    // Not expandable offline: UCUM, BCP-13 mime types, ISO 4217 currencies, and two value sets
    // bound in the input but absent from it (LOINC LL379-9, a later-version characteristic-combination).
    let missing: Vec<&&str> = required
        .iter()
        .filter(|u| !d.value_set(u).is_some_and(|v| v.expanded))
        .collect();
    assert_eq!(missing.len(), 5, "{missing:?}");
    assert_eq!(d.artifact().patient_compartment.len(), 145);
    assert_eq!(d.artifact().extensions.len(), 393);
}

#[test]
fn no_non_standard_content() {
    let d = defs();
    let all = format!("{:?}", d.artifact());
    assert!(!all.contains("medplum.com"));
    let meta: Vec<&str> = d.children("Meta").map(|e| e.name()).collect();
    assert_eq!(
        meta,
        [
            "id",
            "extension",
            "versionId",
            "lastUpdated",
            "source",
            "profile",
            "security",
            "tag"
        ]
    );
}

#[test]
fn hierarchy() {
    let d = defs();
    assert!(d.is_a("Age", "Quantity"));
    assert!(d.is_a("SimpleQuantity", "Quantity"));
    assert!(d.is_a("Patient", "DomainResource"));
    assert!(d.is_a("Patient", "Resource"));
    assert!(d.is_a("Bundle", "Resource"));
    assert!(!d.is_a("Bundle", "DomainResource"));
    assert!(d.is_a("code", "string"));
    assert!(d.is_a("positiveInt", "integer"));
    assert!(!d.is_a("Quantity", "Age"));
    assert!(d.is_primitive("dateTime"));
    assert!(!d.is_primitive("HumanName"));
    assert!(d.is_resource_type("Patient") && !d.is_resource_type("DomainResource"));
}

#[test]
fn choice_type_resolution() {
    let d = defs();
    let table = [
        (
            "Observation",
            "valueQuantity",
            "Observation.value[x]",
            "Quantity",
            "Quantity",
        ),
        (
            "Observation",
            "valueString",
            "Observation.value[x]",
            "string",
            "string",
        ),
        (
            "Observation",
            "valueCodeableConcept",
            "Observation.value[x]",
            "CodeableConcept",
            "CodeableConcept",
        ),
        (
            "Observation",
            "effectiveDateTime",
            "Observation.effective[x]",
            "dateTime",
            "dateTime",
        ),
        (
            "Observation",
            "effectivePeriod",
            "Observation.effective[x]",
            "Period",
            "Period",
        ),
        (
            "Patient",
            "deceasedBoolean",
            "Patient.deceased[x]",
            "boolean",
            "boolean",
        ),
        (
            "Patient",
            "multipleBirthInteger",
            "Patient.multipleBirth[x]",
            "integer",
            "integer",
        ),
        ("Extension", "valueUri", "Extension.value[x]", "uri", "uri"),
        (
            "MedicationRequest",
            "medicationReference",
            "MedicationRequest.medication[x]",
            "Reference",
            "Reference",
        ),
        (
            "Observation.component",
            "valueQuantity",
            "Observation.component.value[x]",
            "Quantity",
            "Quantity",
        ),
    ];
    for (ctx, key, path, ty, child_ctx) in table {
        let c = d.child(ctx, key).unwrap_or_else(|| panic!("{ctx}.{key}"));
        assert_eq!(
            (c.element.path.as_str(), c.type_code, c.context, c.is_choice),
            (path, ty, child_ctx, true),
            "{ctx}.{key}"
        );
    }
    assert!(d.child("Observation", "valueFoo").is_none());
    assert!(d.child("Observation", "value").is_none());
    assert!(d.child("Observation", "value[x]").is_none());
}

#[test]
fn plain_children_and_groups() {
    let d = defs();
    let c = d.child("Patient", "contact").unwrap();
    assert_eq!(
        (c.type_code, c.context, c.element.is_array()),
        ("BackboneElement", "Patient.contact", true)
    );
    let n = d.child(c.context, "name").unwrap();
    assert_eq!(
        (n.element.path.as_str(), n.type_code, n.context),
        ("Patient.contact.name", "HumanName", "HumanName")
    );
    let g = d.child("HumanName", "given").unwrap();
    assert_eq!(
        (g.type_code, g.element.min, g.element.max),
        ("string", 0, None)
    );
    let id = d.child("Patient", "id").unwrap();
    assert_eq!(
        (id.element.path.as_str(), id.type_code),
        ("Patient.id", "string")
    );
    // Inline groups typed Element inside datatypes.
    let r = d.child("Timing", "repeat").unwrap();
    assert_eq!(r.context, "Timing.repeat");
    assert_eq!(
        d.child(r.context, "boundsDuration").unwrap().type_code,
        "Duration"
    );
    // contentReference is followed.
    let item = d.child("Questionnaire.item", "item").unwrap();
    assert_eq!(
        (item.context, item.type_code),
        ("Questionnaire.item", "BackboneElement")
    );
    assert_eq!(d.child(item.context, "linkId").unwrap().type_code, "string");
    // Constraint profiles answer with their base type's children.
    assert_eq!(
        d.child("SimpleQuantity", "value").unwrap().type_code,
        "decimal"
    );
    // A primitive's own value has a System type.
    assert_eq!(
        d.element("date.value").unwrap().types[0].code,
        "System.Date"
    );
    assert!(d.child("Patient", "_birthDate").is_none());
    let names: Vec<&str> = d.children("HumanName").map(|e| e.name()).collect();
    assert_eq!(
        names,
        [
            "id",
            "extension",
            "use",
            "text",
            "family",
            "given",
            "prefix",
            "suffix",
            "period"
        ]
    );
    let contact: Vec<&str> = d.children("Patient.contact").map(|e| e.name()).collect();
    assert_eq!(
        contact,
        [
            "id",
            "extension",
            "modifierExtension",
            "relationship",
            "name",
            "telecom",
            "address",
            "gender",
            "organization",
            "period"
        ]
    );
}

#[test]
fn elements_and_constraints() {
    let d = defs();
    let status = d.element("Observation.status").unwrap();
    assert_eq!(
        (status.min, status.max, status.is_modifier),
        (1, Some(1), true)
    );
    let b = status.binding.as_ref().unwrap();
    assert_eq!(
        b.value_set.as_deref(),
        Some("http://hl7.org/fhir/ValueSet/observation-status")
    );
    let root = d.element("Patient").unwrap();
    let keys: Vec<&str> = d.constraints(root).map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["dom-2", "dom-3", "dom-4", "dom-5", "dom-6"]);
    let dom6 = d.constraints(root).find(|c| c.key == "dom-6").unwrap();
    assert_eq!(dom6.severity, "warning");
    assert_eq!(dom6.expression.as_deref(), Some("text.`div`.exists()"));
    let ref_type = &d.element("Observation.subject").unwrap().types[0];
    assert_eq!(ref_type.code, "Reference");
    assert!(
        ref_type
            .target_profiles
            .iter()
            .any(|p| p.ends_with("/Patient"))
    );
    assert_eq!(d.primitive_regex("id"), Some("[A-Za-z0-9\\-\\.]{1,64}"));
    assert!(d.primitive_regex("date").is_some());
}

#[test]
fn search_parameters() {
    let d = defs();
    let code = d.search_param("Observation", "code").unwrap();
    assert_eq!(code.kind, SearchParamType::Token);
    assert!(
        code.expression
            .as_deref()
            .unwrap()
            .contains("Observation.code")
    );
    // Inherited from Resource and DomainResource.
    for common in [
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_security",
        "_source",
        "_text",
        "_content",
    ] {
        assert!(d.search_param("Observation", common).is_some(), "{common}");
    }
    assert!(
        d.search_param("Bundle", "_text").is_none(),
        "Bundle is not a DomainResource"
    );
    let subject = d.search_param("Observation", "subject").unwrap();
    assert!(subject.targets.contains(&"Patient".to_string()));
    let composite = d
        .search_param("Observation", "code-value-quantity")
        .unwrap();
    assert_eq!(composite.kind, SearchParamType::Composite);
    assert_eq!(composite.components.len(), 2);
    assert!(
        d.search_param_by_url(&composite.components[0].definition)
            .is_some()
    );
    assert!(d.search_param("Observation", "nonsense").is_none());
    assert!(d.search_params("Patient").count() > 20);
}

#[test]
fn value_set_membership() {
    let d = defs();
    let cases = [
        (
            "http://hl7.org/fhir/ValueSet/administrative-gender",
            Some("http://hl7.org/fhir/administrative-gender"),
            "female",
            Membership::Member,
        ),
        (
            "http://hl7.org/fhir/ValueSet/administrative-gender",
            None,
            "unknown",
            Membership::Member,
        ),
        (
            "http://hl7.org/fhir/ValueSet/administrative-gender",
            None,
            "F",
            Membership::NotMember,
        ),
        (
            "http://hl7.org/fhir/ValueSet/administrative-gender",
            Some("http://other"),
            "female",
            Membership::NotMember,
        ),
        (
            "http://hl7.org/fhir/ValueSet/observation-status|4.0.1",
            None,
            "final",
            Membership::Member,
        ),
        (
            "http://hl7.org/fhir/ValueSet/observation-status",
            None,
            "done",
            Membership::NotMember,
        ),
        (
            "http://hl7.org/fhir/ValueSet/bundle-type",
            None,
            "transaction",
            Membership::Member,
        ),
        (
            "http://hl7.org/fhir/ValueSet/request-status",
            None,
            "active",
            Membership::Member,
        ),
        (
            "http://hl7.org/fhir/ValueSet/publication-status",
            None,
            "retired",
            Membership::Member,
        ),
        // Built from a v3 code system with an is-a style compose.
        (
            "http://hl7.org/fhir/ValueSet/marital-status",
            Some("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"),
            "M",
            Membership::Member,
        ),
        // External code systems cannot be expanded offline: no verdict, never a false error.
        (
            "http://hl7.org/fhir/ValueSet/ucum-units",
            None,
            "mg",
            Membership::NotExpanded,
        ),
        (
            "http://hl7.org/fhir/ValueSet/mimetypes",
            None,
            "text/plain",
            Membership::NotExpanded,
        ),
        (
            "http://example.org/unknown",
            None,
            "x",
            Membership::NotExpanded,
        ),
    ];
    for (vs, system, code, expected) in cases {
        assert_eq!(
            d.value_set_contains(vs, system, code),
            expected,
            "{vs} {system:?} {code}"
        );
    }
}

#[test]
fn patient_compartment() {
    let d = defs();
    assert_eq!(
        d.compartment_params("Observation").unwrap(),
        ["subject", "performer"]
    );
    assert_eq!(d.compartment_params("Encounter").unwrap(), ["subject"]);
    assert!(d.compartment_params("Organization").is_none());
    assert!(d.compartment_params("Nonsense").is_none());
    for t in d
        .artifact()
        .patient_compartment
        .iter()
        .flat_map(|c| c.params.iter().map(move |p| (c, p)))
    {
        let (c, p) = t;
        // Every inclusion parameter is a real search parameter of its type ("{def}" is Patient's own id).
        assert!(
            p == "{def}" || d.search_param(&c.resource_type, p).is_some(),
            "{} {p}",
            c.resource_type
        );
    }
}

#[test]
fn extensions() {
    let d = defs();
    let bp = d
        .extension("http://hl7.org/fhir/StructureDefinition/patient-birthPlace")
        .unwrap();
    assert_eq!(bp.value_types, ["Address"]);
    assert!(bp.contexts.iter().any(|(_, e)| e == "Patient"));
    let race = d
        .extension("http://hl7.org/fhir/StructureDefinition/patient-nationality")
        .unwrap();
    assert!(race.value_types.is_empty());
    assert!(race.children.iter().any(|(u, _, _)| u == "code"));
}

#[test]
fn element_trees() {
    let d = defs();
    insta::assert_snapshot!("patient_tree", d.render_tree("Patient").unwrap());
    insta::assert_snapshot!("observation_tree", d.render_tree("Observation").unwrap());
    insta::assert_snapshot!("bundle_tree", d.render_tree("Bundle").unwrap());
    insta::assert_snapshot!(
        "observation_value",
        d.render_element("Observation.value[x]").unwrap()
    );
}

#[test]
fn bounded_children_are_the_children_a_cardinality_check_needs() {
    // Every type and inline group, plus constraint profiles (SimpleQuantity → Quantity's children).
    let d = defs();
    let mut contexts: Vec<&str> = d.types().map(|t| t.name.as_str()).collect();
    for t in d.types() {
        contexts.extend(t.elements.iter().map(|e| e.path.as_str()));
    }
    let mut nonempty = 0;
    for c in contexts {
        let want: Vec<&str> = d
            .children(c)
            .filter(|e| e.min > 0 || e.max.is_some_and(|m| m > 1))
            .map(|e| e.path.as_str())
            .collect();
        let got: Vec<&str> = d.bounded_children(c).map(|e| e.path.as_str()).collect();
        assert_eq!(got, want, "{c}");
        nonempty += usize::from(!got.is_empty());
    }
    assert!(nonempty > 300, "{nonempty} contexts with bounded children");
    let sq: Vec<&str> = d
        .bounded_children("SimpleQuantity")
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        sq,
        d.bounded_children("Quantity")
            .map(|e| e.path.as_str())
            .collect::<Vec<_>>()
    );
}

#[test]
fn children_carry_the_definition_of_their_type() {
    // Every key of every context reachable from a type: the child's pre-resolved type
    // definition is the one its type code names.
    let defs = defs();
    let mut contexts: Vec<String> = defs.types().map(|t| t.name.clone()).collect();
    let mut seen = std::collections::HashSet::new();
    let (mut checked, mut inline) = (0, 0);
    while let Some(ctx) = contexts.pop() {
        if !seen.insert(ctx.clone()) {
            continue;
        }
        let Some(table) = defs.child_table(&ctx) else {
            continue;
        };
        for el in defs.children(&ctx) {
            let keys: Vec<String> = match el.name().strip_suffix("[x]") {
                Some(stem) => el
                    .types
                    .iter()
                    .map(|t| {
                        let mut c = t.code.chars();
                        let first = c.next().map(|f| f.to_ascii_uppercase());
                        format!("{stem}{}{}", first.unwrap_or_default(), c.as_str())
                    })
                    .collect(),
                None => vec![el.name().to_string()],
            };
            for key in keys {
                let child = table.get(&key).unwrap_or_else(|| panic!("{ctx}.{key}"));
                assert_eq!(
                    child.type_def.map(|t| t.name.as_str()),
                    defs.type_def(child.type_code).map(|t| t.name.as_str()),
                    "{ctx}.{key}"
                );
                // Only FHIRPath's System types (`string.value`) have no definition.
                assert!(
                    child.type_def.is_some() || child.type_code.contains("System."),
                    "{ctx}.{key}: {}",
                    child.type_code
                );
                if child.context != child.type_code {
                    inline += 1;
                    contexts.push(child.context.to_string());
                }
                checked += 1;
            }
        }
    }
    println!(
        "definitions: {checked} child keys carry their type definition ({inline} inline groups)"
    );
    assert!(checked > 8_000 && inline > 500, "{checked} / {inline}");
}
