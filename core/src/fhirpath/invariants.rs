//! The validator's invariant engine, backed by this FHIRPath implementation.
//!
//! [`validate`](crate::validate) only knows the [`InvariantEngine`] trait, so it can be tested
//! with tiny engines and so a host can swap in another FHIRPath implementation. This adapter is
//! the one every [`Validator`](crate::validate::Validator) uses unless told otherwise.
//!
//! Semantics follow the FHIR validator: the expression is evaluated with the element as focus
//! and `%context`, the enclosing resource as `%resource`; an empty result means the invariant
//! holds (nothing to check), a single boolean is the verdict, any other single item counts as
//! `true`, and several items are an evaluation error (reported as "not checked", never as a
//! violation). `as(T)` over several items filters like `ofType(T)` ([`Env::lenient_as`]), which
//! R4's dom-3 needs.
//!
//! ```
//! use firn_core::fhirpath::invariants::FhirPathInvariants;
//! use firn_core::validate::InvariantEngine;
//! use serde_json::json;
//! let pat1 = FhirPathInvariants.compile(
//!     "name.exists() or telecom.exists() or address.exists() or organization.exists()").unwrap();
//! let patient = json!({"resourceType": "Patient", "contact": [{"gender": "male"}]});
//! let contact = &patient["contact"][0];
//! assert_eq!(pat1.holds(&patient, contact, "Patient.contact"), Ok(false));
//! ```

use super::{Env, Expression};
use crate::validate::{CompiledInvariant, InvariantEngine};
use serde_json::Value;

/// Compiles invariants with [`Expression::compile`] and evaluates them with
/// [`Expression::evaluate_at`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FhirPathInvariants;

impl InvariantEngine for FhirPathInvariants {
    fn compile(&self, expression: &str) -> Result<Box<dyn CompiledInvariant>, String> {
        Expression::compile(expression)
            .map(|e| Box::new(Compiled(e)) as Box<dyn CompiledInvariant>)
            .map_err(|e| e.to_string())
    }
}

struct Compiled(Expression);

impl CompiledInvariant for Compiled {
    fn holds(&self, resource: &Value, focus: &Value, context: &str) -> Result<bool, String> {
        // Values only: a verdict needs no item locations.
        let env = Env::default().lenient_as(true).locations(false);
        let items = self
            .0
            .evaluate_at(resource, focus, context, &env)
            .map_err(|e| e.to_string())?;
        Ok(super::eval::singleton_bool(&items)
            .map_err(|e| e.to_string())?
            .unwrap_or(true))
    }
}
