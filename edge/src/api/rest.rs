//! Instance- and type-level interactions: create, read, vread, update (update-as-create), patch,
//! delete, their conditional forms, history, search and `$validate`.

use super::http::{parse_etag, unsupported_type, valid_id, valid_uuid};
use super::{Api, ApiError, Call, Reply, Route};
use crate::store::{Current, HistoryQuery, Session, SessionIndex, Store, Version};
use firn_core::outcome::{IntoOutcome, Issue, IssueType, OperationOutcome};
use firn_core::patch::PatchDocument;
use firn_core::search::query::decode_form;
use firn_core::search::value::parse_date;
use firn_core::search::{
    Entries, Query, SearchConfig, Summary, extract, search, subset, to_bundle,
};
use firn_core::validate::Level;
use serde_json::{Map, Value, json};

/// The extension HealthLake adds to resources stored despite validation errors (`minimal`).
pub const VALIDATION_ISSUE_URL: &str =
    "http://healthlake.amazonaws.com/fhir/StructureDefinition/validation-issue";

/// Parses a stored body.
pub(crate) fn parse_stored(v: &Version) -> Result<Value, ApiError> {
    let text = v.body.as_deref().unwrap_or("null");
    serde_json::from_str(text).map_err(|e| {
        ApiError::Store(crate::store::StoreError::Corrupt(format!(
            "{}/{} version {}: {e}",
            v.resource_type, v.id, v.version
        )))
    })
}

/// Puts `resourceType`, `id` and `meta` (with `versionId` and `lastUpdated`) first.
fn stamp(resource: Value, id: &str, version: u64, now: i64) -> Value {
    let Value::Object(mut m) = resource else {
        return resource;
    };
    let rt = m.remove("resourceType").unwrap_or(Value::Null);
    m.remove("id");
    let mut meta = match m.remove("meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.remove("versionId");
    meta.remove("lastUpdated");
    let mut new_meta = Map::new();
    new_meta.insert("versionId".into(), json!(version.to_string()));
    new_meta.insert("lastUpdated".into(), json!(super::http::instant(now)));
    new_meta.extend(meta);
    let mut out = Map::new();
    out.insert("resourceType".into(), rt);
    out.insert("id".into(), json!(id));
    out.insert("meta".into(), Value::Object(new_meta));
    out.extend(m);
    Value::Object(out)
}

fn versioned_reply(status: u16, resource: Option<Value>, v: &Version) -> Reply {
    Reply {
        status,
        body: resource,
        location: Some(format!(
            "{}/{}/_history/{}",
            v.resource_type, v.id, v.version
        )),
        version: Some((v.version, v.last_updated)),
        ..Reply::default()
    }
}

fn parse_summary(s: &str) -> Result<Summary, ApiError> {
    Summary::parse(s).ok_or_else(|| {
        ApiError::BadRequest(format!("invalid _summary `{s}`: {}", Summary::EXPECTED))
    })
}

impl<S: Store> Api<S> {
    pub(crate) fn exec(
        &self,
        s: &mut dyn Session,
        call: &Call<'_>,
        route: &Route<'_>,
    ) -> Result<Reply, ApiError> {
        match *route {
            Route::Read(ty, id) => self.read(s, ty, id, call),
            Route::Vread(ty, id, vid) => self.vread(s, ty, id, vid, call),
            Route::Create(ty) => {
                let res = self.body_resource(call, Some(ty))?;
                self.create(s, ty, res, call)
            }
            Route::Update(ty, id) => {
                if !valid_id(id) {
                    return Err(ApiError::BadRequest(format!(
                        "invalid id `{id}`: ids are 1-64 characters of A-Z a-z 0-9 - ."
                    )));
                }
                let res = self.body_resource(call, Some(ty))?;
                match res.get("id") {
                    Some(Value::String(b)) if b == id => {}
                    Some(Value::String(b)) => {
                        return Err(ApiError::BadRequest(format!(
                            "the resource id `{b}` differs from the id `{id}` in the URL"
                        )));
                    }
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "an update needs the resource's id in the body (expected \"id\": \"{id}\")"
                        )));
                    }
                }
                self.update(s, ty, id, res, call)
            }
            Route::ConditionalUpdate(ty) => self.conditional_update(s, ty, call),
            Route::Delete(ty, id) => self.delete(s, ty, id, call),
            Route::ConditionalDelete(ty) => self.conditional_delete(s, ty, call),
            Route::Patch(ty, id) => self.patch(s, ty, id, call),
            Route::ConditionalPatch(ty) => Err(ApiError::NotSupported(format!(
                "conditional PATCH (PATCH {ty}?criteria) is not supported; patch by id"
            ))),
            Route::Search(ty) => self.search(s, ty, call.query, call),
            Route::SearchPost(ty) => {
                let body = self.form_body(call)?;
                self.search(s, ty, &body, call)
            }
            Route::SystemSearch => self.system_search(s, call),
            Route::SystemHistory => self.history(s, None, None, call),
            Route::TypeHistory(ty) => self.history(s, Some(ty), None, call),
            Route::InstanceHistory(ty, id) => self.history(s, Some(ty), Some(id), call),
            Route::TypeValidate(ty) => self.validate_op(s, ty, None, call),
            Route::InstanceValidate(ty, id) => self.validate_op(s, ty, Some(id), call),
            Route::Metadata | Route::Bundle => Err(ApiError::NotSupported(
                "this interaction is not available here".into(),
            )),
        }
    }

    /// The JSON body as a resource (checks content type, syntax and `resourceType`).
    pub(crate) fn body_resource(
        &self,
        call: &Call<'_>,
        expect_type: Option<&str>,
    ) -> Result<Value, ApiError> {
        if let Some(ct) = call.header("content-type")
            && !super::http::is_json_type(ct)
        {
            return Err(unsupported_type("Content-Type", ct));
        }
        if call.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "the request needs a FHIR JSON resource in its body".into(),
            ));
        }
        let v: Value = serde_json::from_slice(call.body).map_err(|e| {
            let oo = OperationOutcome::single(
                Issue::error(
                    IssueType::Structure,
                    format!("the body is not valid JSON: {e}"),
                )
                .with_line_col(e.line() as u64, e.column() as u64),
            );
            ApiError::Invalid(oo)
        })?;
        let Some(rt) = v.get("resourceType").and_then(Value::as_str) else {
            return Err(ApiError::BadRequest(
                "the body is not a FHIR resource: it has no resourceType".into(),
            ));
        };
        if let Some(t) = expect_type
            && rt != t
        {
            return Err(ApiError::BadRequest(format!(
                "the body is a {rt} but the URL is for {t}"
            )));
        }
        Ok(v)
    }

    fn level(&self, call: &Call<'_>) -> Result<Level, ApiError> {
        match call.header("x-amzn-healthlake-fhir-validation-level") {
            None => Ok(Level::Strict),
            Some(v) => Level::parse(v.trim()).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid x-amzn-healthlake-fhir-validation-level `{v}`: expected strict, \
                     structure-only or minimal"
                ))
            }),
        }
    }

    /// Validates, stamps, indexes and writes a new version. Returns the stored resource, its
    /// version and whether it was stored with validation issues.
    fn store_version(
        &self,
        s: &mut dyn Session,
        (ty, id): (&str, &str),
        resource: Value,
        (version, method): (u64, &str),
        call: &Call<'_>,
    ) -> Result<(Value, Version, bool), ApiError> {
        let level = self.level(call)?;
        let now = self.now();
        let mut res = stamp(resource, id, version, now);
        let validation = self.validator(level).validate(&res);
        let mut issues = false;
        if validation.outcome.has_errors() {
            if !validation.accepted() {
                return Err(ApiError::Invalid(validation.outcome));
            }
            issues = true;
            let summary = OperationOutcome::single(Issue::error(
                IssueType::Processing,
                "FHIR resource in payload failed FHIR validation rules.",
            ));
            let mut oo = summary.to_json();
            oo["issue"][0]["details"] =
                json!({"text": "FHIR resource in payload failed FHIR validation rules."});
            if let Value::Object(m) = &mut res {
                let ext = m.entry("extension").or_insert_with(|| json!([]));
                if let Value::Array(a) = ext {
                    a.push(json!({"url": VALIDATION_ISSUE_URL, "valueString": oo.to_string()}));
                }
            }
        }
        let entries = match extract(&res) {
            Ok(e) => e,
            Err(_) if issues => Entries {
                resource_type: ty.to_string(),
                id: Some(id.to_string()),
                params: Vec::new(),
            },
            Err(e) => return Err(e.into()),
        };
        let body = serde_json::to_string(&res)
            .map_err(|e| ApiError::Unprocessable(format!("cannot serialize: {e}")))?;
        let v = Version {
            resource_type: ty.to_string(),
            id: id.to_string(),
            version,
            last_updated: now,
            method: method.to_string(),
            body: Some(body),
        };
        s.write(&v, Some(&entries))?;
        Ok((res, v, issues))
    }

    fn check_preconditions(
        &self,
        call: &Call<'_>,
        ty: &str,
        id: &str,
        live: Option<&Current>,
    ) -> Result<(), ApiError> {
        if let Some(m) = call.header("if-match") {
            let want = parse_etag(m)?;
            match live {
                None => {
                    return Err(ApiError::PreconditionFailed(format!(
                        "If-Match {m} given but {ty}/{id} does not exist"
                    )));
                }
                Some(c) if c.version.version != want => {
                    return Err(ApiError::PreconditionFailed(format!(
                        "If-Match {m} does not match the current version W/\"{}\" of {ty}/{id}",
                        c.version.version
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(m) = call.header("if-none-match")
            && let Some(c) = live
        {
            let hit = m.trim() == "*" || parse_etag(m).is_ok_and(|v| v == c.version.version);
            if hit {
                return Err(ApiError::PreconditionFailed(format!(
                    "If-None-Match {m}: {ty}/{id} exists (version {})",
                    c.version.version
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn read(
        &self,
        s: &dyn Session,
        ty: &str,
        id: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let cur = s
            .current(ty, id)?
            .ok_or_else(|| ApiError::NotFound(format!("{ty}/{id} is not known")))?;
        if cur.version.deleted() {
            return Err(ApiError::Gone(format!(
                "{ty}/{id} was deleted (version {})",
                cur.version.version
            )));
        }
        // Conditional read: the client's copy is current → 304 without a body.
        if let Some(m) = call.header("if-none-match")
            && m.split(',')
                .any(|t| parse_etag(t).is_ok_and(|v| v == cur.version.version))
        {
            let mut r = versioned_reply(304, None, &cur.version);
            r.location = None;
            return Ok(r);
        }
        let res = self.shape(parse_stored(&cur.version)?, call)?;
        let mut r = versioned_reply(200, Some(res), &cur.version);
        r.location = None;
        Ok(r)
    }

    /// `_summary` / `_elements` on reads.
    fn shape(&self, res: Value, call: &Call<'_>) -> Result<Value, ApiError> {
        let mut summary = None;
        let mut elements: Option<Vec<String>> = None;
        for (k, v) in decode_form(call.query) {
            match k.as_str() {
                "_summary" => summary = Some(parse_summary(&v)?),
                "_elements" => {
                    elements = Some(
                        v.split(',')
                            .map(|e| e.trim().to_string())
                            .filter(|e| !e.is_empty())
                            .collect(),
                    )
                }
                _ => {}
            }
        }
        if summary.is_none() && elements.is_none() {
            return Ok(res);
        }
        Ok(subset(&res, summary, elements.as_deref()))
    }

    fn vread(
        &self,
        s: &dyn Session,
        ty: &str,
        id: &str,
        vid: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let n: u64 = vid.parse().map_err(|_| {
            ApiError::NotFound(format!("version `{vid}` of {ty}/{id} is not known"))
        })?;
        let v = s
            .version(ty, id, n)?
            .ok_or_else(|| ApiError::NotFound(format!("{ty}/{id} has no version {vid}")))?;
        if v.deleted() {
            return Err(ApiError::Gone(format!(
                "version {vid} of {ty}/{id} is its deletion"
            )));
        }
        let res = self.shape(parse_stored(&v)?, call)?;
        let mut r = versioned_reply(200, Some(res), &v);
        r.location = None;
        Ok(r)
    }

    /// Create with a server-assigned id (or the transaction's pre-assigned one).
    pub(crate) fn create(
        &self,
        s: &mut dyn Session,
        ty: &str,
        res: Value,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let idem = if call.in_bundle {
            None
        } else {
            call.header("x-amz-fhir-idempotency-key")
        };
        if let Some(key) = idem {
            let key = key.trim();
            if !valid_uuid(key) {
                return Err(ApiError::BadRequest(format!(
                    "x-amz-fhir-idempotency-key `{key}` is not a UUID"
                )));
            }
            if let Some((t, id)) = s.idempotency(key)? {
                let mut reply = match s.current(&t, &id)? {
                    Some(c) if !c.version.deleted() => {
                        let res = parse_stored(&c.version)?;
                        versioned_reply(409, Some(res), &c.version)
                    }
                    _ => Reply {
                        status: 409,
                        ..Reply::default()
                    },
                };
                let oo = OperationOutcome::single(Issue::error(
                    IssueType::Duplicate,
                    format!(
                        "x-amz-fhir-idempotency-key {key} was already used to create {t}/{id}; \
                         nothing new was created"
                    ),
                ));
                if reply.body.is_none() {
                    reply.body = Some(oo.to_json());
                }
                reply.outcome = Some(oo);
                reply.location = None;
                return Ok(reply);
            }
        }
        if let Some(q) = call.header("if-none-exist") {
            let q = q.trim_start_matches(&format!("{ty}?")).to_string();
            let found = self.conditional(s, ty, &q, call)?;
            match found.len() {
                0 => {}
                1 => {
                    let c = s
                        .current(ty, &found[0])?
                        .ok_or_else(|| ApiError::NotFound(format!("{ty}/{} vanished", found[0])))?;
                    let res = parse_stored(&c.version)?;
                    let mut r = versioned_reply(200, Some(res), &c.version);
                    r.write = true;
                    r.outcome = Some(OperationOutcome::single(Issue::information(
                        IssueType::Duplicate,
                        format!(
                            "If-None-Exist matched {ty}/{}; nothing was created",
                            found[0]
                        ),
                    )));
                    return Ok(r);
                }
                _ => {
                    return Err(ApiError::MultipleMatches(format!(
                        "If-None-Exist `{q}` matches several {ty} resources"
                    )));
                }
            }
        }
        let id = call
            .assigned_id
            .clone()
            .unwrap_or_else(|| self.env.new_id());
        let (stored, v, issues) = self.store_version(s, (ty, &id), res, (1, "POST"), call)?;
        if let Some(key) = idem {
            s.remember(key.trim(), ty, &id, v.last_updated)?;
        }
        let mut r = versioned_reply(201, Some(stored), &v);
        r.write = true;
        r.validation_issues = issues;
        r.outcome = Some(OperationOutcome::single(Issue::information(
            IssueType::Informational,
            format!("created {ty}/{id} version 1"),
        )));
        Ok(r)
    }

    /// Update by id, creating when absent (201) — the body's id was checked by the caller.
    pub(crate) fn update(
        &self,
        s: &mut dyn Session,
        ty: &str,
        id: &str,
        res: Value,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let cur = s.current(ty, id)?;
        let live = cur.as_ref().filter(|c| !c.version.deleted());
        self.check_preconditions(call, ty, id, live)?;
        let existed = live.is_some();
        let next = cur.as_ref().map_or(1, |c| c.version.version + 1);
        let (stored, v, issues) = self.store_version(s, (ty, id), res, (next, "PUT"), call)?;
        let status = if existed { 200 } else { 201 };
        let mut r = versioned_reply(status, Some(stored), &v);
        r.write = true;
        r.validation_issues = issues;
        r.outcome = Some(OperationOutcome::single(Issue::information(
            IssueType::Informational,
            format!(
                "{} {ty}/{id} version {next}",
                if existed { "updated" } else { "created" }
            ),
        )));
        Ok(r)
    }

    /// The ids of the live resources of `ty` matching a conditional query (at most 2 are
    /// returned: enough to tell 0, 1 and several apart).
    pub(crate) fn conditional(
        &self,
        s: &dyn Session,
        ty: &str,
        query: &str,
        call: &Call<'_>,
    ) -> Result<Vec<String>, ApiError> {
        let cfg = self.search_config(call);
        let mut q = Query::parse(ty, query, &cfg)?;
        if q.filters.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "conditional criteria `{query}` select nothing: give at least one search parameter"
            )));
        }
        q.result.count = Some(2);
        q.result.offset = 0;
        q.result.sort.clear();
        q.result.include.clear();
        q.result.revinclude.clear();
        q.result.summary = None;
        let idx = SessionIndex::new(s);
        let page = search(&idx, &q)?;
        idx.check()?;
        let mut ids = Vec::new();
        for d in page.matches {
            if let Some(e) = firn_core::search::SearchIndex::entries(&idx, d)
                && let Some(id) = &e.id
            {
                ids.push(id.clone());
            }
        }
        idx.check()?;
        Ok(ids)
    }

    fn conditional_update(
        &self,
        s: &mut dyn Session,
        ty: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        if call.query.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "PUT {ty} needs an id (PUT {ty}/id) or search criteria (PUT {ty}?...)"
            )));
        }
        let mut res = self.body_resource(call, Some(ty))?;
        let body_id = res.get("id").and_then(Value::as_str).map(str::to_string);
        if let Some(b) = &body_id
            && !valid_id(b)
        {
            return Err(ApiError::BadRequest(format!(
                "invalid id `{b}` in the body"
            )));
        }
        let found = self.conditional(s, ty, call.query, call)?;
        match found.as_slice() {
            [] => match body_id {
                Some(id) => {
                    if s.lookup(ty, &id)?.is_some() {
                        return Err(ApiError::Conflict(format!(
                            "the criteria match no {ty}, but {ty}/{id} (the body's id) exists; \
                             refusing to overwrite it"
                        )));
                    }
                    self.update(s, ty, &id, res, call)
                }
                None => self.create(s, ty, res, call),
            },
            [m] => {
                if body_id.as_ref().is_some_and(|b| b != m) {
                    return Err(ApiError::Conflict(format!(
                        "the criteria match {ty}/{m} but the body's id is `{}`",
                        body_id.unwrap_or_default()
                    )));
                }
                if let Value::Object(o) = &mut res {
                    o.insert("id".into(), json!(m));
                }
                self.update(s, ty, m, res, call)
            }
            _ => Err(ApiError::MultipleMatches(format!(
                "the criteria `{}` match several {ty} resources; be more selective",
                call.query
            ))),
        }
    }

    pub(crate) fn delete(
        &self,
        s: &mut dyn Session,
        ty: &str,
        id: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let cur = s
            .current(ty, id)?
            .ok_or_else(|| ApiError::NotFound(format!("{ty}/{id} is not known")))?;
        if cur.version.deleted() {
            if call.header("if-match").is_some() {
                return Err(ApiError::PreconditionFailed(format!(
                    "If-Match given but {ty}/{id} is already deleted"
                )));
            }
            return Ok(Reply {
                status: 204,
                version: Some((cur.version.version, cur.version.last_updated)),
                ..Reply::default()
            });
        }
        self.check_preconditions(call, ty, id, Some(&cur))?;
        let v = Version {
            resource_type: ty.to_string(),
            id: id.to_string(),
            version: cur.version.version + 1,
            last_updated: self.now(),
            method: "DELETE".into(),
            body: None,
        };
        s.write(&v, None)?;
        Ok(Reply {
            status: 204,
            version: Some((v.version, v.last_updated)),
            ..Reply::default()
        })
    }

    fn conditional_delete(
        &self,
        s: &mut dyn Session,
        ty: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        if call.query.is_empty() {
            return Err(ApiError::MethodNotAllowed(format!(
                "DELETE {ty} needs an id (DELETE {ty}/id) or search criteria (DELETE {ty}?...)"
            )));
        }
        let found = self.conditional(s, ty, call.query, call)?;
        match found.as_slice() {
            [] => {
                let id_param = decode_form(call.query)
                    .into_iter()
                    .find(|(k, _)| k == "_id")
                    .map(|(_, v)| v);
                match id_param {
                    Some(id) => match s.current(ty, &id)? {
                        None => Err(ApiError::NotFound(format!("{ty}/{id} is not known"))),
                        Some(c) if c.version.deleted() => Ok(Reply {
                            status: 204,
                            ..Reply::default()
                        }),
                        Some(_) => Err(ApiError::Conflict(format!(
                            "{ty}/{id} exists but does not match the other criteria"
                        ))),
                    },
                    None => Err(ApiError::NotFound(format!(
                        "no {ty} matches `{}`",
                        call.query
                    ))),
                }
            }
            [m] => self.delete(s, ty, m, call),
            _ => Err(ApiError::MultipleMatches(format!(
                "the criteria `{}` match several {ty} resources; be more selective",
                call.query
            ))),
        }
    }

    pub(crate) fn patch(
        &self,
        s: &mut dyn Session,
        ty: &str,
        id: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let ct = call.header("content-type").ok_or_else(|| {
            ApiError::BadRequest(
                "PATCH needs a Content-Type: application/json-patch+json (JSON Patch) or \
                 application/fhir+json (FHIRPath Patch Parameters)"
                    .into(),
            )
        })?;
        if ct.to_ascii_lowercase().contains("xml") {
            return Err(unsupported_type("Content-Type", ct));
        }
        let doc = PatchDocument::parse(ct, call.body)?;
        let cur = s
            .current(ty, id)?
            .ok_or_else(|| ApiError::NotFound(format!("{ty}/{id} is not known")))?;
        if cur.version.deleted() {
            return Err(ApiError::Gone(format!("{ty}/{id} was deleted")));
        }
        self.check_preconditions(call, ty, id, Some(&cur))?;
        let mut res = parse_stored(&cur.version)?;
        doc.apply(&mut res)
            .map_err(|e| ApiError::Outcome(422, e.into_outcome()))?;
        if res.get("resourceType").and_then(Value::as_str) != Some(ty)
            || res.get("id").and_then(Value::as_str) != Some(id)
        {
            return Err(ApiError::Unprocessable(
                "a patch may not change resourceType or id".into(),
            ));
        }
        let (stored, v, issues) = self
            .store_version(s, (ty, id), res, (cur.version.version + 1, "PATCH"), call)
            .map_err(|e| match e {
                ApiError::Invalid(oo) => ApiError::UnprocessableOutcome(oo),
                e => e,
            })?;
        let mut r = versioned_reply(200, Some(stored), &v);
        r.write = true;
        r.validation_issues = issues;
        Ok(r)
    }

    pub(crate) fn search_config(&self, call: &Call<'_>) -> SearchConfig {
        SearchConfig {
            lenient: call.prefer().lenient,
            now: Some(self.now()),
            ..SearchConfig::default()
        }
    }

    fn form_body(&self, call: &Call<'_>) -> Result<String, ApiError> {
        let body = std::str::from_utf8(call.body)
            .map_err(|_| ApiError::BadRequest("the search body is not UTF-8".into()))?
            .trim()
            .to_string();
        if !body.is_empty() {
            if let Some(ct) = call.header("content-type")
                && !ct
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            {
                return Err(unsupported_type("Content-Type", ct));
            }
            let url_params = decode_form(call.query)
                .into_iter()
                .any(|(k, _)| k != "_format" && k != "_pretty");
            if url_params {
                return Err(ApiError::BadRequest(
                    "search parameters go in the URL or in the form body, not both".into(),
                ));
            }
            Ok(body)
        } else {
            Ok(call.query.to_string())
        }
    }

    pub(crate) fn search(
        &self,
        s: &dyn Session,
        ty: &str,
        query: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let cfg = self.search_config(call);
        let q = Query::parse(ty, query, &cfg)?;
        let idx = SessionIndex::new(s);
        let page = search(&idx, &q)?;
        idx.check()?;
        let bundle = to_bundle(&q, &page, &idx, &self.config.base_url);
        idx.check()?;
        Ok(Reply::ok(200, bundle))
    }

    fn history(
        &self,
        s: &dyn Session,
        ty: Option<&str>,
        id: Option<&str>,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        if let (Some(t), Some(i)) = (ty, id)
            && s.current(t, i)?.is_none()
        {
            return Err(ApiError::NotFound(format!("{t}/{i} is not known")));
        }
        let mut q = HistoryQuery {
            resource_type: ty.map(str::to_string),
            id: id.map(str::to_string),
            count: self.config.max_history_count,
            ..HistoryQuery::default()
        };
        let bad =
            |k: &str, v: &str, why: &str| ApiError::BadRequest(format!("invalid {k} `{v}`: {why}"));
        let mut kept: Vec<(String, String)> = Vec::new();
        for (k, v) in decode_form(call.query) {
            match k.as_str() {
                "_count" => {
                    let n: usize = v.parse().map_err(|_| bad(&k, &v, "expected a number"))?;
                    if n == 0 {
                        return Err(bad(&k, &v, "must be at least 1"));
                    }
                    q.count = n.min(self.config.max_history_count);
                    kept.push((k, q.count.to_string()));
                }
                "_since" => {
                    let d = parse_date(&v).ok_or_else(|| bad(&k, &v, "expected an instant"))?;
                    q.since = Some(d.low);
                    kept.push((k, v));
                }
                "_at" => {
                    let d = parse_date(&v).ok_or_else(|| bad(&k, &v, "expected a date"))?;
                    q.at = Some((d.low, d.high));
                    kept.push((k, v));
                }
                "_offset" => {
                    q.offset = v.parse().map_err(|_| bad(&k, &v, "expected a number"))?;
                }
                "_snapshot" => {
                    q.snapshot = Some(v.parse().map_err(|_| bad(&k, &v, "expected a number"))?);
                }
                "_format" | "_pretty" => kept.push((k, v)),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown _history parameter `{k}` (supported: _count, _since, _at)"
                    )));
                }
            }
        }
        let page = s.history(&q)?;
        let base = self.config.base_url.trim_end_matches('/');
        let path = match (ty, id) {
            (Some(t), Some(i)) => format!("{base}/{t}/{i}/_history"),
            (Some(t), None) => format!("{base}/{t}/_history"),
            _ => format!("{base}/_history"),
        };
        let link = |offset: usize| {
            let mut ps: Vec<String> = kept
                .iter()
                .map(|(k, v)| format!("{k}={}", firn_core::search::query::percent_encode(v)))
                .collect();
            ps.push(format!("_snapshot={}", page.snapshot));
            if offset > 0 {
                ps.push(format!("_offset={offset}"));
            }
            format!("{path}?{}", ps.join("&"))
        };
        let mut links = vec![json!({"relation": "self", "url": link(q.offset)})];
        if q.offset + page.versions.len() < page.total {
            links.push(json!({"relation": "next", "url": link(q.offset + q.count)}));
        }
        if q.offset > 0 {
            links.push(
                json!({"relation": "previous", "url": link(q.offset.saturating_sub(q.count))}),
            );
        }
        let mut entries = Vec::new();
        for v in &page.versions {
            let full = format!("{base}/{}/{}", v.resource_type, v.id);
            let (method, url, status) = match v.method.as_str() {
                "DELETE" => (
                    "DELETE",
                    format!("{}/{}", v.resource_type, v.id),
                    "204 No Content",
                ),
                "POST" => ("POST", v.resource_type.clone(), "201 Created"),
                m => (
                    if m == "PATCH" { "PATCH" } else { "PUT" },
                    format!("{}/{}", v.resource_type, v.id),
                    if v.version == 1 {
                        "201 Created"
                    } else {
                        "200 OK"
                    },
                ),
            };
            let mut e = Map::new();
            e.insert("fullUrl".into(), json!(full));
            if !v.deleted() {
                e.insert("resource".into(), parse_stored(v)?);
            }
            e.insert("request".into(), json!({"method": method, "url": url}));
            e.insert(
                "response".into(),
                json!({"status": status, "etag": super::http::etag(v.version),
                       "lastModified": super::http::instant(v.last_updated)}),
            );
            entries.push(Value::Object(e));
        }
        let mut b = Map::new();
        b.insert("resourceType".into(), json!("Bundle"));
        b.insert("type".into(), json!("history"));
        b.insert("total".into(), json!(page.total));
        b.insert("link".into(), Value::Array(links));
        if !entries.is_empty() {
            b.insert("entry".into(), Value::Array(entries));
        }
        Ok(Reply::ok(200, Value::Object(b)))
    }

    /// `$validate` (type or instance level, optional `profile`): always 200 with an outcome.
    fn validate_op(
        &self,
        s: &dyn Session,
        ty: &str,
        id: Option<&str>,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        let mut profile: Option<String> = decode_form(call.query)
            .into_iter()
            .find(|(k, _)| k == "profile")
            .map(|(_, v)| v);
        let resource = if call.body.iter().all(u8::is_ascii_whitespace) {
            let Some(id) = id else {
                return Err(ApiError::BadRequest(
                    "$validate needs a resource (or Parameters with a `resource` part) in the body"
                        .into(),
                ));
            };
            let cur = s
                .current(ty, id)?
                .ok_or_else(|| ApiError::NotFound(format!("{ty}/{id} is not known")))?;
            if cur.version.deleted() {
                return Err(ApiError::Gone(format!("{ty}/{id} was deleted")));
            }
            parse_stored(&cur.version)?
        } else {
            let body = self.body_resource(call, None)?;
            if body["resourceType"] == "Parameters" && ty != "Parameters" {
                let mut res = None;
                for p in body["parameter"].as_array().into_iter().flatten() {
                    match p["name"].as_str() {
                        Some("resource") => res = p.get("resource").cloned(),
                        Some("profile") => {
                            profile = ["valueUri", "valueCanonical", "valueString"]
                                .iter()
                                .find_map(|k| p.get(*k).and_then(Value::as_str))
                                .map(str::to_string)
                                .or(profile)
                        }
                        _ => {}
                    }
                }
                res.ok_or_else(|| {
                    ApiError::BadRequest(
                        "the Parameters body has no `resource` parameter to validate".into(),
                    )
                })?
            } else {
                body
            }
        };
        if resource.get("resourceType").and_then(Value::as_str) != Some(ty) {
            return Err(ApiError::BadRequest(format!(
                "$validate on {ty} got a {}",
                resource["resourceType"].as_str().unwrap_or("non-resource")
            )));
        }
        let validation = match &profile {
            None => self.validator(Level::Strict).validate(&resource),
            Some(p) => {
                let v = self
                    .profile_validator(p)
                    .map_err(|e| ApiError::Outcome(400, e.into_outcome()))?;
                v.validate(&resource)
            }
        };
        Ok(Reply::ok(200, validation.outcome.to_json()))
    }
}

impl<S: Store> Api<S> {
    /// Stores resources under their own ids (update-as-create) in one write transaction — the
    /// bulk path of `firn serve --load`. Each resource is validated and indexed as a PUT would
    /// be; the ones that fail are reported (`label: reason`) and skipped.
    pub fn put_many(
        &self,
        resources: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<(usize, Vec<String>), ApiError> {
        let mut s = self.store.writer()?;
        let call = Call {
            method: "PUT",
            path: "",
            query: "",
            headers: &[],
            body: &[],
            assigned_id: None,
            in_bundle: true,
        };
        let mut stored = 0;
        let mut errors = Vec::new();
        for (label, res) in resources {
            let ty = res
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let r = if !firn_core::definitions::Definitions::r4().is_resource_type(&ty) {
                Err(ApiError::BadRequest(format!(
                    "`{ty}` is not a resource type"
                )))
            } else {
                match res.get("id").and_then(Value::as_str).map(str::to_string) {
                    Some(id) if valid_id(&id) => self.update(&mut *s, &ty, &id, res, &call),
                    Some(id) => Err(ApiError::BadRequest(format!("invalid id `{id}`"))),
                    None => self.create(&mut *s, &ty, res, &call),
                }
            };
            match r {
                Ok(_) => stored += 1,
                Err(e) => errors.push(format!("{label}: {}", e.outcome())),
            }
        }
        s.commit()?;
        Ok((stored, errors))
    }
}

impl<S: Store> Api<S> {
    /// `GET [base]?_type=A,B&...`: the same query over several types (every type without
    /// `_type`), results in store order (the order resources were first written), offset paging.
    /// Only parameters every listed type has (`_id`, `_lastUpdated`, `_tag`, ...) make sense;
    /// `_sort`, `_include` and `_revinclude` are refused.
    fn system_search(&self, s: &dyn Session, call: &Call<'_>) -> Result<Reply, ApiError> {
        let mut types: Vec<String> = Vec::new();
        let mut rest: Vec<(String, String)> = Vec::new();
        let mut offset = 0usize;
        let mut count = SearchConfig::default().default_count;
        let mut summary_count = false;
        for (k, v) in decode_form(call.query) {
            match k.as_str() {
                "_type" => types.extend(
                    v.split(',')
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty()),
                ),
                "_offset" => {
                    offset = v.parse().map_err(|_| {
                        ApiError::BadRequest(format!("invalid _offset `{v}`: expected a number"))
                    })?
                }
                "_count" => {
                    let n: usize = v.parse().map_err(|_| {
                        ApiError::BadRequest(format!("invalid _count `{v}`: expected a number"))
                    })?;
                    if n == 0 {
                        return Err(ApiError::BadRequest("_count must be at least 1".into()));
                    }
                    count = n.min(SearchConfig::default().max_count);
                }
                "_summary" if v == "count" => summary_count = true,
                "_sort"
                | "_include"
                | "_revinclude"
                | "_include:iterate"
                | "_revinclude:iterate" => {
                    return Err(ApiError::NotSupported(format!(
                        "{k} is not supported in a system-level search; search one type"
                    )));
                }
                "_format" | "_pretty" => {}
                _ => rest.push((k, v)),
            }
        }
        if types.is_empty() {
            types = firn_core::definitions::Definitions::r4()
                .resource_types()
                .map(str::to_string)
                .collect();
        }
        let cfg = self.search_config(call);
        let idx = SessionIndex::new(s);
        let mut all: Vec<firn_core::search::DocId> = Vec::new();
        for ty in &types {
            let mut q = Query::from_pairs(ty, rest.clone(), &cfg)?;
            q.result.count = Some(usize::MAX);
            q.result.offset = 0;
            let page = search(&idx, &q)?;
            all.extend(page.matches);
        }
        idx.check()?;
        all.sort_unstable();
        let total = all.len();
        let page: Vec<_> = if summary_count {
            Vec::new()
        } else {
            all.iter().skip(offset).take(count).copied().collect()
        };
        let base = self.config.base_url.trim_end_matches('/');
        let enc = firn_core::search::query::percent_encode;
        let link = |off: usize| {
            let mut ps: Vec<String> = Vec::new();
            if !types.is_empty() && call.query.contains("_type") {
                ps.push(format!("_type={}", enc(&types.join(","))));
            }
            ps.extend(rest.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))));
            ps.push(format!("_count={count}"));
            if off > 0 {
                ps.push(format!("_offset={off}"));
            }
            format!("{base}/?{}", ps.join("&"))
        };
        let mut links = vec![json!({"relation": "self", "url": link(offset)})];
        if !summary_count && offset + page.len() < total {
            links.push(json!({"relation": "next", "url": link(offset + count)}));
        }
        if offset > 0 && !summary_count {
            links.push(json!({"relation": "previous", "url": link(offset.saturating_sub(count))}));
        }
        let mut entries = Vec::new();
        for d in page {
            if let Some(res) = firn_core::search::SearchIndex::resource(&idx, d) {
                let full = format!(
                    "{base}/{}/{}",
                    res["resourceType"].as_str().unwrap_or_default(),
                    res["id"].as_str().unwrap_or_default()
                );
                entries.push(json!({"fullUrl": full, "resource": res.into_owned(),
                                    "search": {"mode": "match"}}));
            }
        }
        idx.check()?;
        let mut b = Map::new();
        b.insert("resourceType".into(), json!("Bundle"));
        b.insert("type".into(), json!("searchset"));
        b.insert("total".into(), json!(total));
        b.insert("link".into(), Value::Array(links));
        if !entries.is_empty() {
            b.insert("entry".into(), Value::Array(entries));
        }
        Ok(Reply::ok(200, Value::Object(b)))
    }
}
