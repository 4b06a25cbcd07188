//! Typed failures of the REST API, each with its HTTP status and rendered as an OperationOutcome.

use crate::store::StoreError;
use firn_core::outcome::{IntoOutcome, Issue, IssueType, OperationOutcome};
use firn_core::patch::PatchError;
use firn_core::search::SearchError;

/// Every way an interaction can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (syntax, ids, parameters).
    #[error("{0}")]
    BadRequest(String),
    /// 400 with a prepared outcome (validation failures).
    #[error("the resource is not valid")]
    Invalid(OperationOutcome),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 410: the resource was deleted.
    #[error("{0}")]
    Gone(String),
    /// 412: `If-Match` / `If-None-Match` failed, or conditional criteria matched several.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 412 for criteria matching several resources.
    #[error("{0}")]
    MultipleMatches(String),
    /// 413: body over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the request is well-formed but cannot be applied.
    #[error("{0}")]
    Unprocessable(String),
    /// 422 with a prepared outcome (a patched resource that is no longer valid).
    #[error("the patched resource is not valid")]
    UnprocessableOutcome(OperationOutcome),
    /// 400 / 501: a feature Firn does not implement.
    #[error("{0}")]
    NotSupported(String),
    /// Any status with a prepared outcome (bundle entry failures keep their entry's status).
    #[error("request failed with status {0}")]
    Outcome(u16, OperationOutcome),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("{0}")]
    Patch(#[from] PatchError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) | ApiError::Invalid(_) | ApiError::Search(_) => 400,
            ApiError::Patch(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::Gone(_) => 410,
            ApiError::PreconditionFailed(_) | ApiError::MultipleMatches(_) => 412,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Unprocessable(_) | ApiError::UnprocessableOutcome(_) => 422,
            ApiError::NotSupported(_) => 400,
            ApiError::Outcome(s, _) => *s,
            ApiError::Store(StoreError::Busy) => 503,
            ApiError::Store(_) => 500,
        }
    }

    /// The OperationOutcome a client receives.
    pub fn outcome(&self) -> OperationOutcome {
        let code = match self {
            ApiError::Invalid(oo)
            | ApiError::UnprocessableOutcome(oo)
            | ApiError::Outcome(_, oo) => return oo.clone(),
            ApiError::Search(e) => return e.clone().into_outcome(),
            ApiError::Patch(e) => return e.clone().into_outcome(),
            ApiError::BadRequest(_) => IssueType::Invalid,
            ApiError::NotFound(_) => IssueType::NotFound,
            ApiError::MethodNotAllowed(_) => IssueType::NotSupported,
            ApiError::Conflict(_) => IssueType::Conflict,
            ApiError::Gone(_) => IssueType::Deleted,
            ApiError::PreconditionFailed(_) => IssueType::Conflict,
            ApiError::MultipleMatches(_) => IssueType::MultipleMatches,
            ApiError::TooLarge(_) => IssueType::TooLong,
            ApiError::UnsupportedMediaType(_) => IssueType::NotSupported,
            ApiError::Unprocessable(_) => IssueType::Processing,
            ApiError::NotSupported(_) => IssueType::NotSupported,
            ApiError::Store(StoreError::Busy) => IssueType::Transient,
            ApiError::Store(_) => IssueType::Exception,
        };
        OperationOutcome::single(Issue::error(code, self.to_string()))
    }

    /// Prefixes the diagnostics (used for bundle entries: `entry 3: ...`).
    pub fn context(self, prefix: &str) -> ApiError {
        let status = self.status();
        let mut oo = self.outcome();
        for i in &mut oo.issues {
            i.diagnostics = format!("{prefix}: {}", i.diagnostics);
        }
        ApiError::Outcome(status, oo)
    }
}
