//! The FHIR R4 REST API as a host-agnostic handler: [`Api::handle`] turns a [`Request`] into a
//! [`Response`]. It holds no sockets, files or runtime — only a [`Store`] and an [`Env`] (clock
//! and id source) — so the native server ([`crate::serve`]) and a future Spin component wrap the
//! same code. Behaviour follows AWS HealthLake's REST API, with the FHIR specification deciding
//! where HealthLake is silent (see `docs/server.md`).
//!
//! - [`rest`]: instance and type interactions (create, read, vread, update, patch, delete, their
//!   conditional forms, history, search, `$validate`).
//! - [`bundle`]: `batch` and `transaction` Bundles.
//! - [`capability`]: the CapabilityStatement served at `/metadata`.
//! - [`http`]: request/response types and header helpers; [`error`]: typed failures.

pub mod bundle;
pub mod capability;
pub mod error;
pub mod http;
pub mod rest;

pub use error::ApiError;
pub use http::{Request, Response};

use crate::store::Store;
use firn_core::outcome::{Issue, IssueType, OperationOutcome};
use firn_core::validate::{Level, Validator};
use http::{Prefer, Return, etag, header_in, http_date};
use serde_json::Value;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What the handler needs from its host besides storage: a clock and fresh ids.
pub trait Env: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// A new server-assigned resource id.
    fn new_id(&self) -> String;
}

/// The system clock and random UUIDv4 ids (from the standard library's per-process random
/// hasher keys, a counter and the clock — unique, not a secret).
pub struct SystemEnv {
    counter: AtomicU64,
    state: std::collections::hash_map::RandomState,
}

impl Default for SystemEnv {
    fn default() -> Self {
        SystemEnv {
            counter: AtomicU64::new(0),
            state: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Env for SystemEnv {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut a = self.state.build_hasher();
        a.write_u64(n);
        a.write_i64(self.now_ms());
        let hi = a.finish();
        let mut b = self.state.build_hasher();
        b.write_u64(hi);
        b.write_u64(n ^ 0x9e37_79b9_7f4a_7c15);
        let lo = b.finish();
        let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x4000;
        let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }
}

/// Limits and identity of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The server's base URL, used in `Location`, `fullUrl` and paging links.
    pub base_url: String,
    /// Largest request body (HealthLake: 5 MB); larger gives 413.
    pub max_body: usize,
    /// Most entries in a batch or transaction Bundle (HealthLake: 500).
    pub max_bundle_entries: usize,
    /// Largest `_count` on history (search uses `firn-core`'s limits).
    pub max_history_count: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            base_url: "http://localhost:8080".into(),
            max_body: 5 * 1024 * 1024,
            max_bundle_entries: 500,
            max_history_count: 100,
        }
    }
}

/// The FHIR handler over a store.
pub struct Api<S: Store> {
    pub store: S,
    pub env: Box<dyn Env>,
    pub config: ApiConfig,
    validators: [Validator; 3],
    /// FHIR packages (`.tgz`) the validators know (profiles, value sets, extensions).
    packages: Vec<Vec<u8>>,
    /// `$validate?profile=` validators, built once per profile.
    profile_validators:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Validator>>>,
    last_now: AtomicI64,
}

/// A request inside the handler: the HTTP request, or a Bundle entry turned into one.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// An id chosen in advance (transaction `POST` entries whose `urn:uuid` others reference).
    pub assigned_id: Option<String>,
    pub in_bundle: bool,
}

impl<'a> Call<'a> {
    pub fn header(&self, name: &str) -> Option<&'a str> {
        header_in(self.headers, name)
    }

    pub fn prefer(&self) -> Prefer {
        Prefer::parse(self.header("prefer"))
    }

    fn from_request(req: &'a Request) -> Call<'a> {
        Call {
            method: &req.method,
            path: &req.path,
            query: &req.query,
            headers: &req.headers,
            body: &req.body,
            assigned_id: None,
            in_bundle: false,
        }
    }
}

/// A successful interaction, before `Prefer` and rendering.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    /// `Type/id/_history/vid`, for `Location` and bundle `response.location`.
    pub location: Option<String>,
    /// Version and last-updated (ms), for `ETag` and `Last-Modified`.
    pub version: Option<(u64, i64)>,
    /// An informational outcome (`Prefer: return=OperationOutcome`, bundle entries).
    pub outcome: Option<OperationOutcome>,
    /// The resource was stored despite validation errors (`minimal` level).
    pub validation_issues: bool,
    /// A create/update/patch: `Prefer: return` applies.
    pub write: bool,
}

impl Reply {
    pub fn ok(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            ..Reply::default()
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route<'a> {
    Metadata,
    Bundle,
    SystemHistory,
    SystemSearch,
    Search(&'a str),
    SearchPost(&'a str),
    Create(&'a str),
    ConditionalUpdate(&'a str),
    ConditionalDelete(&'a str),
    ConditionalPatch(&'a str),
    TypeHistory(&'a str),
    TypeValidate(&'a str),
    Read(&'a str, &'a str),
    Update(&'a str, &'a str),
    Patch(&'a str, &'a str),
    Delete(&'a str, &'a str),
    InstanceHistory(&'a str, &'a str),
    Vread(&'a str, &'a str, &'a str),
    InstanceValidate(&'a str, &'a str),
}

impl Route<'_> {
    /// True when the interaction writes (it runs in a write transaction).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Route::Create(_)
                | Route::ConditionalUpdate(_)
                | Route::ConditionalDelete(_)
                | Route::ConditionalPatch(_)
                | Route::Update(..)
                | Route::Patch(..)
                | Route::Delete(..)
        )
    }
}

fn not_allowed(method: &str, path: &str) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not supported on {path}"))
}

fn known_type(ty: &str) -> Result<&str, ApiError> {
    if firn_core::definitions::Definitions::r4().is_resource_type(ty) {
        Ok(ty)
    } else {
        Err(ApiError::NotFound(format!(
            "`{ty}` is not a FHIR R4 resource type"
        )))
    }
}

pub(crate) fn route<'a>(method: &str, path: &'a str) -> Result<Route<'a>, ApiError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m = method;
    let na = || not_allowed(m, path);
    Ok(match segs.as_slice() {
        [] => match m {
            "POST" => Route::Bundle,
            "GET" => Route::SystemSearch,
            _ => return Err(na()),
        },
        ["metadata"] => match m {
            "GET" => Route::Metadata,
            _ => return Err(na()),
        },
        ["_history"] => match m {
            "GET" => Route::SystemHistory,
            _ => return Err(na()),
        },
        [ty] => {
            let ty = known_type(ty)?;
            match m {
                "GET" => Route::Search(ty),
                "POST" => Route::Create(ty),
                "PUT" => Route::ConditionalUpdate(ty),
                "DELETE" => Route::ConditionalDelete(ty),
                "PATCH" => Route::ConditionalPatch(ty),
                _ => return Err(na()),
            }
        }
        [ty, "_search"] => {
            let ty = known_type(ty)?;
            match m {
                "POST" => Route::SearchPost(ty),
                "GET" => Route::Search(ty),
                _ => return Err(na()),
            }
        }
        [ty, "_history"] => {
            let ty = known_type(ty)?;
            match m {
                "GET" => Route::TypeHistory(ty),
                _ => return Err(na()),
            }
        }
        [ty, "$validate"] => {
            let ty = known_type(ty)?;
            match m {
                "POST" => Route::TypeValidate(ty),
                _ => return Err(na()),
            }
        }
        [ty, id] => {
            let ty = known_type(ty)?;
            match m {
                "GET" => Route::Read(ty, id),
                "PUT" => Route::Update(ty, id),
                "PATCH" => Route::Patch(ty, id),
                "DELETE" => Route::Delete(ty, id),
                _ => return Err(na()),
            }
        }
        [ty, id, "_history"] => {
            let ty = known_type(ty)?;
            match m {
                "GET" => Route::InstanceHistory(ty, id),
                _ => return Err(na()),
            }
        }
        [ty, id, "$validate"] => {
            let ty = known_type(ty)?;
            match m {
                "GET" | "POST" => Route::InstanceValidate(ty, id),
                _ => return Err(na()),
            }
        }
        [ty, id, "_history", vid] => {
            let ty = known_type(ty)?;
            match m {
                "GET" => Route::Vread(ty, id, vid),
                _ => return Err(na()),
            }
        }
        _ => return Err(ApiError::NotFound(format!("no FHIR endpoint at {path}"))),
    })
}

/// A reason phrase for bundle `response.status` values.
pub fn status_text(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    };
    if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    }
}

impl<S: Store> Api<S> {
    /// An API validating against FHIR R4 core only.
    pub fn new(store: S, env: Box<dyn Env>, config: ApiConfig) -> Api<S> {
        let v = |l| {
            Validator::builder()
                .level(l)
                .build()
                .unwrap_or_else(|_| Validator::new())
        };
        Api {
            store,
            env,
            config,
            validators: [v(Level::Strict), v(Level::StructureOnly), v(Level::Minimal)],
            packages: Vec::new(),
            profile_validators: Default::default(),
            last_now: AtomicI64::new(0),
        }
    }

    /// An API whose validators also know these FHIR packages (`.tgz`, e.g. US Core): resources
    /// claiming their profiles in `meta.profile` are checked against them at `strict`, and
    /// `$validate?profile=` accepts their profiles.
    pub fn with_packages(
        store: S,
        env: Box<dyn Env>,
        config: ApiConfig,
        packages: Vec<Vec<u8>>,
    ) -> Result<Api<S>, firn_core::validate::ValidateError> {
        let v = |l| {
            packages
                .iter()
                .fold(Validator::builder().level(l), |b, p| b.package(p.clone()))
                .build()
        };
        let validators = [
            v(Level::Strict)?,
            v(Level::StructureOnly)?,
            v(Level::Minimal)?,
        ];
        let mut api = Api::new(store, env, config);
        api.validators = validators;
        api.packages = packages;
        Ok(api)
    }

    /// A strict validator for one profile (cached).
    pub(crate) fn profile_validator(
        &self,
        profile: &str,
    ) -> Result<std::sync::Arc<Validator>, firn_core::validate::ValidateError> {
        if let Some(v) = self
            .profile_validators
            .lock()
            .ok()
            .and_then(|m| m.get(profile).cloned())
        {
            return Ok(v);
        }
        let v = std::sync::Arc::new(
            self.packages
                .iter()
                .fold(Validator::builder(), |b, p| b.package(p.clone()))
                .profile(profile)
                .build()?,
        );
        if let Ok(mut m) = self.profile_validators.lock() {
            m.insert(profile.to_string(), v.clone());
        }
        Ok(v)
    }

    pub(crate) fn validator(&self, level: Level) -> &Validator {
        match level {
            Level::Strict => &self.validators[0],
            Level::StructureOnly => &self.validators[1],
            Level::Minimal => &self.validators[2],
        }
    }

    /// The clock, never going backwards within this process.
    pub(crate) fn now(&self) -> i64 {
        let now = self.env.now_ms();
        let prev = self.last_now.fetch_max(now, Ordering::Relaxed);
        now.max(prev)
    }

    /// Handles one request. Async so hosts can await it; the work is synchronous storage calls.
    pub async fn handle(&self, req: Request) -> Response {
        self.handle_blocking(&req)
    }

    /// Handles one request on the calling thread (native hosts run this on a blocking pool).
    pub fn handle_blocking(&self, req: &Request) -> Response {
        let pretty = firn_core::search::query::decode_form(&req.query)
            .iter()
            .any(|(k, v)| k == "_pretty" && v == "true");
        let call = Call::from_request(req);
        let result = self.dispatch(&call);
        self.render(&call, result, pretty)
    }

    fn dispatch(&self, call: &Call<'_>) -> Result<Reply, ApiError> {
        if call.body.len() > self.config.max_body {
            return Err(ApiError::TooLarge(format!(
                "request body is {} bytes; the limit is {} bytes",
                call.body.len(),
                self.config.max_body
            )));
        }
        self.check_format(call)?;
        let route = route(call.method, call.path)?;
        match route {
            Route::Metadata => Ok(Reply::ok(200, capability::capability_statement(self))),
            Route::Bundle => self.bundle(call),
            _ => self.run(call, &route),
        }
    }

    /// Runs an interaction in its own session: a write transaction committed on success, or a
    /// read snapshot.
    pub(crate) fn run(&self, call: &Call<'_>, route: &Route<'_>) -> Result<Reply, ApiError> {
        if route.writes() {
            let mut s = self.store.writer()?;
            let reply = self.exec(&mut *s, call, route)?;
            s.commit()?;
            Ok(reply)
        } else {
            let mut s = self.store.reader()?;
            self.exec(&mut *s, call, route)
        }
    }

    /// `_format` and `Accept` asking for XML get 415 (Firn speaks JSON only).
    fn check_format(&self, call: &Call<'_>) -> Result<(), ApiError> {
        for (k, v) in firn_core::search::query::decode_form(call.query) {
            if k == "_format" && !http::is_json_type(&v) {
                return Err(http::unsupported_type("_format", &v));
            }
        }
        if let Some(accept) = call.header("accept") {
            let json_ok = accept.split(',').any(|a| {
                let a = a.split(';').next().unwrap_or("").trim();
                a.is_empty() || a == "*/*" || a == "application/*" || a.contains("json")
            });
            if !json_ok {
                return Err(http::unsupported_type("Accept", accept));
            }
        }
        Ok(())
    }

    fn render(&self, call: &Call<'_>, result: Result<Reply, ApiError>, pretty: bool) -> Response {
        let mut headers: Vec<(String, String)> = Vec::new();
        let (status, body) = match result {
            Err(e) => {
                let status = e.status();
                if status >= 500 {
                    tracing::error!(status, error = %e, "request failed");
                }
                (status, Some(e.outcome().to_json()))
            }
            Ok(reply) => {
                if let Some((v, at)) = reply.version {
                    headers.push(("etag".into(), etag(v)));
                    headers.push(("last-modified".into(), http_date(at)));
                }
                if let Some(loc) = &reply.location {
                    headers.push((
                        if reply.status == 201 {
                            "location"
                        } else {
                            "content-location"
                        }
                        .into(),
                        format!("{}/{loc}", self.config.base_url.trim_end_matches('/')),
                    ));
                }
                if reply.validation_issues {
                    headers.push(("x-amzn-healthlake-validation-issues".into(), "true".into()));
                }
                let body = if reply.write {
                    match call.prefer().ret {
                        Return::Minimal => None,
                        Return::Representation => reply.body,
                        Return::OperationOutcome => Some(
                            reply
                                .outcome
                                .unwrap_or_else(|| {
                                    OperationOutcome::single(Issue::information(
                                        IssueType::Informational,
                                        status_text(reply.status),
                                    ))
                                })
                                .to_json(),
                        ),
                    }
                } else {
                    reply.body
                };
                (reply.status, body)
            }
        };
        let body = match body {
            Some(v) if status != 204 && status != 304 => {
                headers.push(("content-type".into(), "application/fhir+json".into()));
                if pretty {
                    serde_json::to_vec_pretty(&v)
                } else {
                    serde_json::to_vec(&v)
                }
                .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Response {
            status,
            headers,
            body,
        }
    }
}
