//! Table-driven search cases from the FHIR R4 search page's rules and examples, evaluated by
//! both the set evaluator (in-memory index) and the one-resource matcher, which must agree.

mod common;

macro_rules! cases {
    ($($name:ident: $ty:literal, $q:literal => [$($id:literal),*];)*) => {
        $(
            #[test]
            fn $name() {
                let mut want: Vec<String> = vec![$($id.to_string()),*];
                want.sort();
                assert_eq!(common::run($ty, $q), want, "{}?{}", $ty, $q);
            }
        )*
    };
}

// string: default starts-with, folded for case and accents; :exact; :contains; :text; HumanName parts.
cases! {
    string_name_given: "Patient", "name=peter" => ["p1"];
    string_case_insensitive: "Patient", "name=PETER" => ["p1"];
    string_family_prefix: "Patient", "family=chal" => ["p1", "p3"];
    string_family_full: "Patient", "family=chalmers" => ["p1", "p3"];
    string_accent_folded_query: "Patient", "family=muller" => ["p2"];
    string_accent_in_query: "Patient", "family=Müller" => ["p2"];
    string_given_accent: "Patient", "given=emilie" => ["p2"];
    string_not_substring_by_default: "Patient", "family=almers" => [];
    string_exact_match: "Patient", "family:exact=Chalmers" => ["p1", "p3"];
    string_exact_case_sensitive: "Patient", "family:exact=chalmers" => [];
    string_exact_accent_sensitive: "Patient", "family:exact=Muller" => [];
    string_exact_accented: "Patient", "family:exact=Müller" => ["p2"];
    string_contains: "Patient", "family:contains=alm" => ["p1", "p3"];
    string_contains_mid_word: "Patient", "family:contains=der" => ["p4"];
    string_text_word_prefix: "Patient", "name:text=berg" => ["p4"];
    string_or: "Patient", "family=chalmers,muller" => ["p1", "p2", "p3"];
    string_and: "Patient", "family=chalmers&given=eve" => ["p3"];
    string_given_not_family: "Patient", "family=eve" => [];
    string_name_text_element: "Patient", "name=jan van" => ["p4"];
    string_missing_true: "Patient", "name:missing=true" => ["p5"];
    string_missing_false: "Patient", "name:missing=false" => ["p1", "p2", "p3", "p4"];
    string_address_city: "Patient", "address-city=pleasant" => ["p1"];
    string_address_any_part: "Patient", "address=zurich" => ["p2"];
    string_address_postal: "Patient", "address-postalcode=3999" => ["p1"];
    string_org_name_accent: "Organization", "name=zurich" => ["org2"];
    string_value_string: "Observation", "value-string=patient" => ["o5"];
    string_choice_as_string: "Condition", "abatement-string=res" => ["c2"];
    string_practitioner_address: "Practitioner", "address-city=PLEASANTVILLE" => ["dr1"];
}

// token: code, system|code, |code, system|, :not, :text, :in, :not-in, :of-type, :above/:below, :missing.
cases! {
    token_code: "Patient", "gender=male" => ["p1"];
    token_or: "Patient", "gender=male,female" => ["p1", "p2", "p3"];
    token_not: "Patient", "gender:not=male" => ["p2", "p3", "p4", "p5"];
    token_not_or: "Patient", "gender:not=male,female" => ["p4", "p5"];
    token_missing: "Patient", "active:missing=true" => ["p2", "p4", "p5"];
    token_boolean_true: "Patient", "active=true" => ["p1"];
    token_boolean_false: "Patient", "active=false" => ["p3"];
    token_deceased_datetime: "Patient", "deceased=true" => ["p3"];
    token_deceased_false: "Patient", "deceased=false" => ["p1", "p2", "p4", "p5"];
    token_identifier_value: "Patient", "identifier=12345" => ["p1"];
    token_identifier_system_value: "Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|12345" => ["p1"];
    token_identifier_wrong_system: "Patient", "identifier=urn:oid:9|12345" => [];
    token_identifier_no_system: "Patient", "identifier=|12345" => [];
    token_identifier_system_only: "Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|" => ["p1"];
    token_identifier_escaped: "Patient", "identifier=a\\,b\\$c\\|d" => ["p4"];
    token_identifier_escaped_with_system: "Patient", "identifier=http://hospital.example/mrn|a\\,b\\$c\\|d" => ["p4"];
    token_of_type: "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345" => ["p1"];
    token_of_type_wrong_value: "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|999" => [];
    token_of_type_wrong_type: "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|DL|12345" => [];
    token_identifier_text: "Patient", "identifier:text=medical record" => ["p1"];
    token_coding_code: "Observation", "code=8480-6" => ["o1", "o7"];
    token_coding_system_code: "Observation", "code=http://loinc.org|8480-6" => ["o1", "o7"];
    token_coding_wrong_system: "Observation", "code=http://snomed.info/sct|8480-6" => [];
    token_second_coding: "Observation", "code=http://snomed.info/sct|104142005" => ["o4"];
    token_system_only: "Observation", "code=http://snomed.info/sct|" => ["o4"];
    token_text_display: "Observation", "code:text=systolic" => ["o1", "o7"];
    token_text_word: "Observation", "code:text=blood" => ["o1", "o6", "o7"];
    token_text_cc_text: "Observation", "code:text=free text" => ["o5"];
    token_below_is_equality_without_hierarchy: "Observation", "code:below=http://loinc.org|8480-6" => ["o1", "o7"];
    token_above_is_equality_without_hierarchy: "Observation", "code:above=http://loinc.org|718-7" => ["o4"];
    token_in_value_set: "Observation", "status:in=http://hl7.org/fhir/ValueSet/observation-status" => ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9"];
    token_not_in_value_set: "Observation", "status:not-in=http://hl7.org/fhir/ValueSet/observation-status" => [];
    token_in_gender: "Patient", "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender" => ["p1", "p2", "p3", "p4", "p5"];
    token_status_or: "Observation", "status=preliminary,amended" => ["o3", "o4"];
    token_status_not: "Observation", "status:not=final" => ["o3", "o4", "o5", "o9"];
    token_category: "Observation", "category=vital-signs" => ["o1"];
    token_codeable_concept_status: "Condition", "clinical-status=active" => ["c1"];
    token_contact_point: "Patient", "phone=(03) 5555 6473" => ["p1"];
    token_telecom_system_value: "Patient", "telecom=phone|(03) 5555 6473" => ["p1"];
    token_telecom_email_none: "Patient", "email=(03) 5555 6473" => [];
    token_tag: "Patient", "_tag=http://example.org/tags|vip" => ["p1"];
    token_tag_not: "Patient", "_tag:not=http://example.org/tags|vip" => ["p2", "p3", "p4", "p5"];
    token_id: "Patient", "_id=p1" => ["p1"];
    token_id_or: "Patient", "_id=p1,p3,nope" => ["p1", "p3"];
    token_id_missing_false: "Organization", "_id:missing=false" => ["org1", "org2"];
    token_encounter_class: "Encounter", "class=AMB" => ["e1"];
    token_and_same_param: "Observation", "code=8480-6&code=http://loinc.org|8480-6" => ["o1", "o7"];
    token_and_disjoint: "Observation", "code=8480-6&code=718-7" => [];
}

// reference: id, Type/id, :[type], absolute, versioned canonical, :identifier, :missing, conditional.
cases! {
    reference_type_id: "Observation", "subject=Patient/p1" => ["o1", "o2", "o8"];
    reference_bare_id: "Observation", "subject=p1" => ["o1", "o2", "o8"];
    reference_patient_param: "Observation", "patient=p1" => ["o1", "o2", "o8"];
    reference_type_modifier: "Observation", "subject:Patient=p1" => ["o1", "o2", "o8"];
    reference_wrong_type_modifier: "Observation", "subject:Group=p1" => [];
    reference_unknown: "Observation", "subject=Patient/p999" => [];
    reference_or: "Observation", "subject=Patient/p2,Patient/p4" => ["o3", "o5", "o6"];
    reference_absolute_foreign: "Observation", "subject=http://other.org/fhir/Patient/p1" => ["o9"];
    reference_identifier: "Observation", "subject:identifier=urn:oid:1.2.36.146.595.217.0.1|12345" => ["o9"];
    reference_identifier_value_only: "Observation", "subject:identifier=12345" => ["o9"];
    reference_performer: "Observation", "performer=Practitioner/dr1" => ["o1"];
    reference_encounter: "Observation", "encounter=Encounter/e1" => ["o1"];
    reference_missing: "Observation", "encounter:missing=true" => ["o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9"];
    reference_conditional_identifier: "Encounter", "practitioner:identifier=http://hl7.org/fhir/sid/us-npi|999" => ["e1"];
    reference_canonical_any_version: "QuestionnaireResponse", "questionnaire=http://example.org/Questionnaire/q1" => ["qr1", "qr2"];
    reference_canonical_version: "QuestionnaireResponse", "questionnaire=http://example.org/Questionnaire/q1|1.0" => ["qr1"];
    reference_canonical_below: "QuestionnaireResponse", "questionnaire:below=http://example.org/Questionnaire" => ["qr1", "qr2"];
    reference_organization_partof: "Organization", "partof=org1" => ["org2"];
    reference_general_practitioner: "Patient", "general-practitioner=Practitioner/dr2" => ["p2"];
}

// uri: equality, :below, :above (path-segment aware).
cases! {
    uri_equal: "ValueSet", "url=http://example.org/fhir/ValueSet/colors" => ["vs1"];
    uri_below: "ValueSet", "url:below=http://example.org/fhir/ValueSet" => ["vs1", "vs2"];
    uri_below_self: "ValueSet", "url:below=http://example.org/fhir/ValueSet/colors" => ["vs1", "vs2"];
    uri_below_segment_boundary: "ValueSet", "url:below=http://example.org/fhir/Value" => [];
    uri_above: "ValueSet", "url:above=http://example.org/fhir/ValueSet/colors/extra/more" => ["vs1", "vs2"];
    uri_above_self: "ValueSet", "url:above=http://example.org/fhir/ValueSet/colors" => ["vs1"];
    uri_profile: "Patient", "_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient" => ["p3"];
    uri_profile_below: "Patient", "_profile:below=http://hl7.org/fhir/us/core" => ["p3"];
    uri_version_token: "ValueSet", "version=2.0" => ["vs1"];
}

// number: implicit precision ranges and every prefix.
cases! {
    number_eq_integer_precision: "RiskAssessment", "probability=100" => ["ra1", "ra2"];
    number_eq_decimal_precision: "RiskAssessment", "probability=100.0" => ["ra1"];
    number_eq_exponent_precision: "RiskAssessment", "probability=1e2" => ["ra1", "ra2", "ra3"];
    number_eq_explicit: "RiskAssessment", "probability=eq100" => ["ra1", "ra2"];
    number_gt: "RiskAssessment", "probability=gt100" => ["ra2"];
    number_lt: "RiskAssessment", "probability=lt100" => ["ra3", "ra4"];
    number_ge: "RiskAssessment", "probability=ge100" => ["ra1", "ra2"];
    number_le: "RiskAssessment", "probability=le100" => ["ra1", "ra3", "ra4"];
    number_ne: "RiskAssessment", "probability=ne100" => ["ra3", "ra4"];
    number_sa: "RiskAssessment", "probability=sa100" => ["ra2"];
    number_eb: "RiskAssessment", "probability=eb100" => ["ra3", "ra4"];
    number_ap: "RiskAssessment", "probability=ap100" => ["ra1", "ra2", "ra3"];
    number_small: "RiskAssessment", "probability=0.02" => ["ra4"];
    number_small_precision: "RiskAssessment", "probability=0.020" => ["ra4"];
    number_or: "RiskAssessment", "probability=0.02,gt100" => ["ra2", "ra4"];
    number_range_and: "RiskAssessment", "probability=gt99&probability=lt100.2" => ["ra1", "ra3"];
}

// date: implicit ranges for every precision (year, month, day, minute, second, millisecond),
// time zones, periods with open ends, and every prefix.
cases! {
    date_year_contains_day: "Patient", "birthdate=1974" => ["p1"];
    date_month_contains_day: "Patient", "birthdate=1974-12" => ["p1"];
    date_day_equal: "Patient", "birthdate=1974-12-25" => ["p1"];
    date_day_other: "Patient", "birthdate=1974-12-24" => [];
    date_year_contains_month_and_year: "Patient", "birthdate=1980" => ["p2", "p3"];
    date_month_not_containing_year: "Patient", "birthdate=1980-05" => ["p2"];
    date_day_not_containing_month: "Patient", "birthdate=1980-05-15" => [];
    date_gt_month: "Patient", "birthdate=gt1980-04" => ["p2", "p3"];
    date_lt_month: "Patient", "birthdate=lt1980-05" => ["p1", "p3"];
    date_ge_month: "Patient", "birthdate=ge1980-05" => ["p2", "p3"];
    date_le_day: "Patient", "birthdate=le1974-12-25" => ["p1"];
    date_sa_day: "Patient", "birthdate=sa1979-12-31" => ["p2", "p3"];
    date_eb_year: "Patient", "birthdate=eb1980" => ["p1"];
    date_ne_year: "Patient", "birthdate=ne1980" => ["p1"];
    date_ap_day: "Patient", "birthdate=ap1980-05-15" => ["p2", "p3"];
    date_missing: "Patient", "birthdate:missing=true" => ["p4", "p5"];
    date_obs_day: "Observation", "date=2021-03-15" => ["o1", "o2"];
    date_obs_timezone_next_day: "Observation", "date=2021-03-16" => ["o7"];
    date_obs_minute: "Observation", "date=2021-03-15T10:30" => ["o1"];
    date_obs_second: "Observation", "date=2021-03-15T10:30:00Z" => ["o1"];
    date_obs_second_other: "Observation", "date=2021-03-15T10:30:01Z" => [];
    date_obs_millisecond_narrower_than_target: "Observation", "date=2021-03-15T10:30:00.000Z" => [];
    date_obs_offset: "Observation", "date=2021-03-15T05:30:00-05:00" => ["o1"];
    date_obs_offset_plus: "Observation", "date=2022-07-01T06:00:00Z" => ["o6"];
    date_obs_period_in_year: "Observation", "date=2020" => ["o3", "o8"];
    date_obs_gt: "Observation", "date=gt2021-03-15" => ["o6", "o7"];
    date_obs_lt: "Observation", "date=lt2020-01-01" => ["o4"];
    date_obs_ge_period_end: "Observation", "date=ge2020-06-30" => ["o1", "o2", "o6", "o7", "o8"];
    date_obs_le: "Observation", "date=le2019-02" => ["o4"];
    date_obs_sa: "Observation", "date=sa2021-03-15" => ["o6", "o7"];
    date_obs_eb: "Observation", "date=eb2020-01-01" => ["o4"];
    date_obs_eb_period: "Observation", "date=eb2020-07-01" => ["o3", "o4"];
    date_obs_day_not_containing_month: "Observation", "date=2019-02-10" => [];
    date_obs_ne: "Observation", "date=ne2021" => ["o3", "o4", "o6", "o8"];
    date_obs_missing: "Observation", "date:missing=true" => ["o5", "o9"];
    date_obs_range_and: "Observation", "date=ge2021-01-01&date=lt2022" => ["o1", "o2", "o7"];
    date_obs_or: "Observation", "date=2019,2022" => ["o4", "o6"];
    date_period_open_end_ge: "Encounter", "date=ge2030" => ["e2"];
    date_period_open_end_not_contained: "Encounter", "date=2021-06" => [];
    date_period_lt: "Encounter", "date=lt2021-06-02" => ["e1", "e2"];
    date_period_within_day: "Encounter", "date=2021-03-15" => ["e1"];
    date_period_sa: "Encounter", "date=sa2021-03-15T09:00:00Z" => ["e1", "e2"];
    date_last_updated: "Patient", "_lastUpdated=gt2020-06" => ["p2"];
    date_last_updated_day: "Patient", "_lastUpdated=2020-01-15" => ["p1"];
    date_condition_onset_year: "Condition", "onset-date=2010" => ["c1"];
}

// quantity: value, system|code, unit fallback, canonical UCUM conversion, prefixes.
cases! {
    quantity_value_only: "Observation", "value-quantity=120" => ["o1"];
    quantity_gt_any_unit: "Observation", "value-quantity=gt100" => ["o1", "o2"];
    quantity_system_code: "Observation", "value-quantity=120|http://unitsofmeasure.org|mm[Hg]" => ["o1"];
    quantity_code_only: "Observation", "value-quantity=120||mm[Hg]" => ["o1"];
    quantity_unit_fallback: "Observation", "value-quantity=120||mmHg" => ["o1"];
    quantity_lt_with_unit: "Observation", "value-quantity=lt100|http://unitsofmeasure.org|mm[Hg]" => ["o7"];
    quantity_canonical_kg_matches_pounds: "Observation", "value-quantity=84|http://unitsofmeasure.org|kg" => ["o2", "o3"];
    quantity_canonical_grams_precision: "Observation", "value-quantity=84000|http://unitsofmeasure.org|g" => ["o3"];
    quantity_canonical_gt: "Observation", "value-quantity=gt80|http://unitsofmeasure.org|kg" => ["o2", "o3"];
    quantity_canonical_mass_concentration: "Observation", "value-quantity=135|http://unitsofmeasure.org|g/L" => ["o4"];
    quantity_canonical_temperature: "Observation", "value-quantity=99.5|http://unitsofmeasure.org|[degF]" => ["o8"];
    quantity_wrong_system: "Observation", "value-quantity=120|http://example.org|mm[Hg]" => [];
    quantity_ap: "Observation", "value-quantity=ap110||mm[Hg]" => ["o1"];
    quantity_ne: "Observation", "value-quantity=ne120||mm[Hg]" => ["o7"];
    quantity_missing: "Observation", "value-quantity:missing=true" => ["o5", "o6", "o9"];
    quantity_age_onset: "Condition", "onset-age=50|http://unitsofmeasure.org|a" => ["c2"];
    quantity_age_canonical_months: "Condition", "onset-age=gt500|http://unitsofmeasure.org|mo" => ["c2"];
}

// composite and special (plain text).
cases! {
    composite_component_code_value: "Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt130" => ["o6"];
    composite_component_same_component_only: "Observation", "component-code-value-quantity=http://loinc.org|8462-4$gt130" => [];
    composite_code_value: "Observation", "code-value-quantity=http://loinc.org|8480-6$lt100" => ["o7"];
    composite_combo: "Observation", "combo-code-value-quantity=8480-6$gt100" => ["o1", "o6"];
    composite_or: "Observation", "code-value-quantity=8480-6$lt100,718-7$13.5" => ["o4", "o7"];
    composite_code_value_string: "Observation", "code-value-string=free$fine" => [];
    special_text: "Patient", "_text=diabetes" => ["p1"];
    special_text_markup_stripped: "Patient", "_text=chalmers diabetes" => ["p1"];
    special_content: "Patient", "_content=pleasantville" => ["p1"];
    special_content_accent: "Patient", "_content=zurich" => ["p2"];
    special_content_observation: "Observation", "_content=fine" => ["o5"];
}

// chains (several levels, with and without type), reverse chains (_has, nested), _list.
cases! {
    chain_typed: "Observation", "subject:Patient.name=peter" => ["o1", "o2", "o8"];
    chain_untyped: "Observation", "subject.name=chalmers" => ["o1", "o2", "o4", "o7", "o8"];
    chain_token: "Observation", "patient.gender=female" => ["o3", "o4", "o5", "o7"];
    chain_two_levels: "Observation", "subject:Patient.organization.name=acme" => ["o1", "o2", "o4", "o7", "o8"];
    chain_three_levels: "Observation", "subject:Patient.organization.partof.name=acme" => ["o3", "o5", "o6"];
    chain_practitioner: "Observation", "subject:Patient.general-practitioner.family=zhivago" => ["o3", "o5"];
    chain_date: "Encounter", "subject.birthdate=1974" => ["e1"];
    chain_and_filter: "Observation", "subject:Patient.gender=male&code=8480-6" => ["o1"];
    chain_no_match: "Observation", "subject:Patient.name=nobody" => [];
    chain_identifier: "Observation", "subject:Patient.identifier=12345" => ["o1", "o2", "o8"];
    has_code: "Patient", "_has:Observation:patient:code=8480-6" => ["p1", "p3"];
    has_subject: "Patient", "_has:Observation:subject:code=85354-9" => ["p4"];
    has_condition: "Patient", "_has:Condition:subject:code=44054006" => ["p1"];
    has_status: "Patient", "_has:Observation:patient:status=cancelled" => ["p2"];
    has_none: "Patient", "_has:Observation:patient:code=0000-0" => [];
    has_with_filter: "Patient", "_has:Observation:patient:code=8480-6&gender=female" => ["p3"];
    has_nested: "Organization", "_has:Patient:organization:_has:Observation:patient:code=85354-9" => ["org2"];
    has_practitioner_performer: "Practitioner", "_has:Observation:performer:status=final" => ["dr1"];
    list_members: "Patient", "_list=l1" => ["p1", "p3"];
    list_unknown: "Patient", "_list=nope" => [];
}

// more of the R4 search page: common parameters, :missing on every type, composite with units.
cases! {
    common_security: "Patient", "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R" => ["p2"];
    common_security_not: "Patient", "_security:not=R" => ["p1", "p3", "p4", "p5"];
    common_source: "Patient", "_source=http://example.org/feeds/lab#42" => ["p2"];
    common_source_below: "Patient", "_source:below=http://example.org/feeds" => ["p2"];
    common_last_updated_missing: "Patient", "_lastUpdated:missing=true" => ["p3", "p4", "p5"];
    common_id_and_other: "Patient", "_id=p1,p2&gender=female" => ["p2"];
    missing_number: "RiskAssessment", "probability:missing=false" => ["ra1", "ra2", "ra3", "ra4"];
    missing_uri: "ValueSet", "url:missing=false" => ["vs1", "vs2"];
    missing_uri_true: "ValueSet", "version:missing=true" => ["vs2"];
    missing_composite: "Observation", "component-code-value-quantity:missing=false" => ["o6"];
    missing_token_identifier: "Patient", "identifier:missing=true" => ["p2", "p3", "p5"];
    missing_reference: "Patient", "organization:missing=true" => ["p5"];
    composite_with_units: "Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt130|http://unitsofmeasure.org|mm[Hg]" => ["o6"];
    composite_with_wrong_units: "Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt130|http://unitsofmeasure.org|kg" => [];
    quantity_micrograms_equal_kilograms: "Observation", "value-quantity=84000000|http://unitsofmeasure.org|mg" => ["o3"];
    chain_from_spec_subject_name: "Observation", "subject.name=peter" => ["o1", "o2", "o8"];
    chain_then_has: "Observation", "subject:Patient._has:Condition:subject:code=38341003" => ["o4", "o7"];
    has_then_chain: "Patient", "_has:Observation:subject:performer.family=welby" => ["p1"];
    reference_versioned: "Observation", "subject=Patient/p1/_history/1" => [];
    token_code_case_sensitive: "Patient", "gender=MALE" => [];
    string_empty_folds_to_prefix_of_all: "Patient", "family=c" => ["p1", "p3"];
}
