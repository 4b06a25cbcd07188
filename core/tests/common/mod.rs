//! A small fixed data set for the search tests, modelled on the FHIR R4 search page's examples.
#![allow(dead_code)]

use firn_core::search::{
    FilterKind, MemoryIndex, NoResolver, Query, SearchConfig, SearchIndex, matches, search,
};
use serde_json::{Value, json};
use std::sync::OnceLock;

pub fn resources() -> Vec<Value> {
    vec![
        json!({"resourceType": "Patient", "id": "p1",
            "meta": {"lastUpdated": "2020-01-15T10:00:00Z", "tag": [{"system": "http://example.org/tags", "code": "vip"}]},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter Chalmers, <b>diabetes</b> patient</div>"},
            "identifier": [{"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}], "text": "Medical record number"},
                            "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
            "active": true,
            "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
            "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"}],
            "gender": "male", "birthDate": "1974-12-25",
            "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "state": "Vic", "postalCode": "3999"}],
            "generalPractitioner": [{"reference": "Practitioner/dr1"}],
            "managingOrganization": {"reference": "Organization/org1"}}),
        json!({"resourceType": "Patient", "id": "p2",
            "meta": {"lastUpdated": "2021-06-01T00:00:00Z", "source": "http://example.org/feeds/lab#42",
                     "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
            "name": [{"family": "Müller", "given": ["Émilie"]}],
            "gender": "female", "birthDate": "1980-05", "deceasedBoolean": false,
            "address": [{"city": "Zürich", "country": "CH"}],
            "generalPractitioner": [{"reference": "Practitioner/dr2"}],
            "managingOrganization": {"reference": "Organization/org2"}}),
        json!({"resourceType": "Patient", "id": "p3",
            "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
            "name": [{"family": "Chalmers", "given": ["Eve"]}],
            "gender": "female", "birthDate": "1980", "active": false, "deceasedDateTime": "2019-03-01",
            "managingOrganization": {"reference": "Organization/org1"}}),
        json!({"resourceType": "Patient", "id": "p4",
            "identifier": [{"system": "http://hospital.example/mrn", "value": "a,b$c|d"}],
            "name": [{"text": "Jan van der Berg", "family": "van der Berg", "given": ["Jan"]}],
            "gender": "unknown",
            "managingOrganization": {"reference": "Organization/org2"}}),
        json!({"resourceType": "Patient", "id": "p5", "gender": "other"}),
        json!({"resourceType": "Practitioner", "id": "dr1",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "999"}],
            "name": [{"family": "Welby", "given": ["Marcus"]}], "address": [{"city": "PleasantVille"}]}),
        json!({"resourceType": "Practitioner", "id": "dr2", "name": [{"family": "Zhivago", "given": ["Yuri"]}]}),
        json!({"resourceType": "Organization", "id": "org1", "name": "Acme Healthcare"}),
        json!({"resourceType": "Organization", "id": "org2", "name": "Zürich Klinik", "partOf": {"reference": "Organization/org1"}}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
            "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
            "performer": [{"reference": "Practitioner/dr1"}],
            "effectiveDateTime": "2021-03-15T10:30:00Z",
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}),
        json!({"resourceType": "Observation", "id": "o2", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2021-03-15",
            "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}),
        json!({"resourceType": "Observation", "id": "o3", "status": "preliminary",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": "Patient/p2"},
            "effectivePeriod": {"start": "2020-01-01", "end": "2020-06-30"},
            "valueQuantity": {"value": 84, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}),
        json!({"resourceType": "Observation", "id": "o4", "status": "amended",
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"},
                                {"system": "http://snomed.info/sct", "code": "104142005"}]},
            "subject": {"reference": "Patient/p3"}, "effectiveDateTime": "2019-02",
            "valueQuantity": {"value": 13.5, "unit": "g/dl", "system": "http://unitsofmeasure.org", "code": "g/dL"}}),
        json!({"resourceType": "Observation", "id": "o5", "status": "cancelled",
            "code": {"text": "Free text note"},
            "subject": {"reference": "Patient/p2"}, "valueString": "Patient feels fine"}),
        json!({"resourceType": "Observation", "id": "o6", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
            "subject": {"reference": "Patient/p4"}, "effectiveDateTime": "2022-07-01T08:00:00+02:00",
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 140, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": 90, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}),
        json!({"resourceType": "Observation", "id": "o7", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
            "subject": {"reference": "Patient/p3"}, "effectiveDateTime": "2021-03-15T23:30:00-05:00",
            "valueQuantity": {"value": 95, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}),
        json!({"resourceType": "Observation", "id": "o8", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2020",
            "valueQuantity": {"value": 37.5, "system": "http://unitsofmeasure.org", "code": "Cel"}}),
        json!({"resourceType": "Observation", "id": "o9", "status": "registered",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
            "subject": {"reference": "http://other.org/fhir/Patient/p1",
                        "identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}}}),
        json!({"resourceType": "Encounter", "id": "e1", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p1"},
            "participant": [{"individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999"}}],
            "period": {"start": "2021-03-15T10:00:00Z", "end": "2021-03-15T11:00:00Z"}}),
        json!({"resourceType": "Encounter", "id": "e2", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": "Patient/p2"}, "period": {"start": "2021-06-01"}}),
        json!({"resourceType": "Condition", "id": "c1",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes mellitus type 2"}]},
            "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2010"}),
        json!({"resourceType": "Condition", "id": "c2",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertensive disorder"}]},
            "subject": {"reference": "Patient/p3"},
            "onsetAge": {"value": 50, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"},
            "abatementString": "resolved"}),
        json!({"resourceType": "List", "id": "l1", "status": "current", "mode": "working",
            "entry": [{"item": {"reference": "Patient/p1"}}, {"item": {"reference": "Patient/p3"}}]}),
        json!({"resourceType": "RiskAssessment", "id": "ra1", "status": "final", "subject": {"reference": "Patient/p1"}, "prediction": [{"probabilityDecimal": 100}]}),
        json!({"resourceType": "RiskAssessment", "id": "ra2", "status": "final", "subject": {"reference": "Patient/p1"}, "prediction": [{"probabilityDecimal": 100.4}]}),
        json!({"resourceType": "RiskAssessment", "id": "ra3", "status": "final", "subject": {"reference": "Patient/p2"}, "prediction": [{"probabilityDecimal": 99.4}]}),
        json!({"resourceType": "RiskAssessment", "id": "ra4", "status": "final", "subject": {"reference": "Patient/p2"}, "prediction": [{"probabilityDecimal": 0.02}]}),
        json!({"resourceType": "ValueSet", "id": "vs1", "status": "active", "url": "http://example.org/fhir/ValueSet/colors", "version": "2.0"}),
        json!({"resourceType": "ValueSet", "id": "vs2", "status": "active", "url": "http://example.org/fhir/ValueSet/colors/extra"}),
        json!({"resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed", "questionnaire": "http://example.org/Questionnaire/q1|1.0"}),
        json!({"resourceType": "QuestionnaireResponse", "id": "qr2", "status": "completed", "questionnaire": "http://example.org/Questionnaire/q1|2.0"}),
    ]
}

pub fn index() -> &'static MemoryIndex {
    static IDX: OnceLock<MemoryIndex> = OnceLock::new();
    IDX.get_or_init(|| {
        let mut idx = MemoryIndex::new();
        for r in resources() {
            idx.insert(r).expect("fixture indexes");
        }
        idx
    })
}

pub fn ids(idx: &MemoryIndex, docs: &[u64]) -> Vec<String> {
    docs.iter()
        .map(|&d| idx.resource(d).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs `ty?query` with both evaluators (the set evaluator and the one-resource matcher over
/// every resource of the type) and checks they agree; returns the sorted ids.
pub fn run_with(ty: &str, query: &str, cfg: &SearchConfig) -> Vec<String> {
    let idx = index();
    let q = Query::parse(ty, query, cfg).unwrap_or_else(|e| panic!("{ty}?{query}: {e}"));
    let page = search(idx, &q).unwrap_or_else(|e| panic!("{ty}?{query}: {e}"));
    let mut set = ids(idx, &page.matches);
    set.sort();
    let mut one: Vec<String> = resources()
        .iter()
        .filter(|r| r["resourceType"] == ty)
        .filter(|r| matches(&q, r, idx).unwrap())
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    one.sort();
    assert_eq!(
        set, one,
        "set evaluator and matcher disagree on {ty}?{query}"
    );
    // Without a resolver, chains / _has / _list cannot match but must not fail; other queries
    // need no resolver at all and give the same answer.
    let needs_resolver = q.filters.iter().any(|f| {
        matches!(
            f.kind,
            FilterKind::Chain { .. } | FilterKind::Has { .. } | FilterKind::List(_)
        )
    });
    for r in resources().iter().filter(|r| r["resourceType"] == ty) {
        let alone = matches(&q, r, &NoResolver).unwrap();
        if !needs_resolver {
            assert_eq!(
                alone,
                set.iter().any(|id| r["id"] == id.as_str()),
                "{ty}?{query} without resolver"
            );
        }
    }
    set
}

pub fn run(ty: &str, query: &str) -> Vec<String> {
    run_with(ty, query, &SearchConfig::default())
}
