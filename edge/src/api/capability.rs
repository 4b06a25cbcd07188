//! The CapabilityStatement at `/metadata`, generated from what the handler implements: every R4
//! resource type with the same interactions, the search parameters `firn-core` indexes for it,
//! and `$validate`.

use super::Api;
use crate::store::Store;
use firn_core::definitions::Definitions;
use firn_core::search::SearchRegistry;
use serde_json::{Value, json};

fn kind(k: &firn_core::definitions::SearchParamType) -> String {
    format!("{k:?}").to_ascii_lowercase()
}

/// The server's CapabilityStatement.
pub fn capability_statement<S: Store>(api: &Api<S>) -> Value {
    let defs = Definitions::r4();
    let mut types: Vec<&str> = defs.resource_types().collect();
    types.sort_unstable();
    let interactions: Vec<Value> = [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ]
    .iter()
    .map(|c| json!({"code": c}))
    .collect();
    let resources: Vec<Value> = types
        .iter()
        .map(|ty| {
            let params: Vec<Value> = SearchRegistry::r4()
                .params(ty)
                .iter()
                .map(|p| {
                    json!({"name": p.param.code, "definition": p.param.url,
                           "type": kind(&p.param.kind)})
                })
                .collect();
            json!({
                "type": ty,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "logical"],
                "searchInclude": ["*"],
                "searchRevInclude": ["*"],
                "searchParam": params,
                "operation": [{"name": "validate",
                               "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}],
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": super::http::instant(api.now()),
        "kind": "instance",
        "software": {"name": "Firn", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Firn FHIR R4 server (embedded SQLite store)",
                           "url": api.config.base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            "operation": [{"name": "validate",
                           "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}],
        }],
    })
}
