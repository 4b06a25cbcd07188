//! `batch` and `transaction` Bundles posted to the base URL.
//!
//! A batch runs each entry as its own interaction (its own transaction); failures are reported
//! per entry. A transaction runs every entry in one write transaction, in the specification's
//! order (DELETE, POST, PUT/PATCH, GET), after giving each POST entry its id in advance so
//! `urn:uuid:` references can be rewritten, and resolving conditional references
//! (`Patient?identifier=...`); any failure rolls everything back.

use super::http::{Prefer, Return, etag, instant, valid_id};
use super::{Api, ApiError, Call, Reply, Route, route, status_text};
use crate::store::Store;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// One entry's request, owned.
struct EntryRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    resource: Option<Value>,
    full_url: Option<String>,
    url: String,
}

impl EntryRequest {
    fn call(&self, assigned_id: Option<String>) -> Call<'_> {
        Call {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            assigned_id,
            in_bundle: true,
        }
    }

    fn resource_type(&self) -> &str {
        self.path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
    }
}

fn rank(method: &str) -> u8 {
    match method {
        "DELETE" => 0,
        "POST" => 1,
        "PUT" | "PATCH" => 2,
        _ => 3,
    }
}

/// Headers a bundle passes on to its entries (validation level, lenient handling).
fn inherited(call: &Call<'_>) -> Vec<(String, String)> {
    call.headers
        .iter()
        .filter(|(k, _)| {
            k.eq_ignore_ascii_case("x-amzn-healthlake-fhir-validation-level")
                || k.eq_ignore_ascii_case("prefer")
        })
        .cloned()
        .collect()
}

impl<S: Store> Api<S> {
    fn parse_entry(
        &self,
        i: usize,
        e: &Value,
        base_headers: &[(String, String)],
    ) -> Result<EntryRequest, ApiError> {
        let bad = |why: String| ApiError::BadRequest(format!("entry {i}: {why}"));
        let req = e
            .get("request")
            .ok_or_else(|| bad("has no request".into()))?;
        let method = req
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("request.method is missing".into()))?
            .to_ascii_uppercase();
        if !matches!(
            method.as_str(),
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE"
        ) {
            return Err(bad(format!(
                "request.method `{method}` is not an HTTP verb"
            )));
        }
        let url = req
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("request.url is missing".into()))?;
        let base = self.config.base_url.trim_end_matches('/');
        let rel = url.strip_prefix(base).unwrap_or(url);
        if rel.contains("://") {
            return Err(bad(format!("request.url `{url}` is not on this server")));
        }
        let rel = rel.trim_start_matches('/');
        let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
        let resource = e.get("resource").cloned();
        let mut headers = base_headers.to_vec();
        let method = if method == "HEAD" {
            "GET".into()
        } else {
            method
        };
        for (field, header) in [
            ("ifMatch", "if-match"),
            ("ifNoneMatch", "if-none-match"),
            ("ifNoneExist", "if-none-exist"),
            ("ifModifiedSince", "if-modified-since"),
        ] {
            if let Some(v) = req.get(field).and_then(Value::as_str) {
                headers.push((header.into(), v.into()));
            }
        }
        let body = match &resource {
            Some(r) if matches!(method.as_str(), "POST" | "PUT" | "PATCH") => {
                headers.push(("content-type".into(), "application/fhir+json".into()));
                serde_json::to_vec(r).unwrap_or_default()
            }
            None if matches!(method.as_str(), "POST" | "PUT" | "PATCH") => {
                return Err(bad(format!("a {method} entry needs a resource")));
            }
            _ => Vec::new(),
        };
        Ok(EntryRequest {
            method,
            path: format!("/{path}"),
            query: query.to_string(),
            headers,
            body,
            resource,
            full_url: e.get("fullUrl").and_then(Value::as_str).map(str::to_string),
            url: url.to_string(),
        })
    }

    pub(crate) fn bundle(&self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let b = self.body_resource(call, Some("Bundle"))?;
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        let transaction = match kind {
            "batch" => false,
            "transaction" => true,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "POST [base] takes a batch or transaction Bundle, not type `{other}`; \
                     to store a Bundle as a resource, POST it to [base]/Bundle"
                )));
            }
        };
        if call
            .header("prefer")
            .is_some_and(|p| p.contains("respond-async"))
        {
            return Err(ApiError::NotSupported(
                "asynchronous Bundle processing (Prefer: respond-async) is not supported".into(),
            ));
        }
        let entries: &[Value] = b
            .get("entry")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if entries.len() > self.config.max_bundle_entries {
            return Err(ApiError::Unprocessable(format!(
                "the Bundle has {} entries; the limit is {}",
                entries.len(),
                self.config.max_bundle_entries
            )));
        }
        let base_headers = inherited(call);
        let prefer = call.prefer();
        let show = call
            .header("prefer")
            .is_some_and(|p| p.contains("return=representation"));
        if transaction {
            self.transaction(entries, &base_headers, prefer, show)
        } else {
            self.batch(entries, &base_headers, prefer, show)
        }
    }

    fn entry_json(
        &self,
        er: Option<&EntryRequest>,
        r: Result<Reply, ApiError>,
        prefer: Prefer,
        show_writes: bool,
    ) -> Value {
        let mut e = Map::new();
        let mut resp = Map::new();
        match r {
            Ok(reply) => {
                let show = match er.map(|e| e.method.as_str()) {
                    Some("GET") | None => true,
                    _ => show_writes,
                };
                resp.insert("status".into(), json!(status_text(reply.status)));
                if let Some(loc) = &reply.location {
                    resp.insert("location".into(), json!(loc));
                }
                if let Some((v, at)) = reply.version {
                    resp.insert("etag".into(), json!(etag(v)));
                    resp.insert("lastModified".into(), json!(instant(at)));
                }
                if reply.validation_issues {
                    resp.insert(
                        "outcome".into(),
                        json!({"resourceType": "OperationOutcome", "issue": [
                            {"severity": "error", "code": "processing",
                             "details": {"text": "FHIR resource in payload failed FHIR validation rules."},
                             "diagnostics": "FHIR resource in payload failed FHIR validation rules."}]}),
                    );
                } else if prefer.ret == Return::OperationOutcome
                    && let Some(oo) = &reply.outcome
                {
                    resp.insert("outcome".into(), oo.to_json());
                }
                if show && let Some(body) = reply.body {
                    if let (Some(t), Some(id)) = (
                        body.get("resourceType").and_then(Value::as_str),
                        body.get("id").and_then(Value::as_str),
                    ) && body["resourceType"] != "Bundle"
                    {
                        e.insert(
                            "fullUrl".into(),
                            json!(format!(
                                "{}/{t}/{id}",
                                self.config.base_url.trim_end_matches('/')
                            )),
                        );
                    }
                    e.insert("resource".into(), body);
                }
            }
            Err(err) => {
                resp.insert("status".into(), json!(status_text(err.status())));
                resp.insert("outcome".into(), err.outcome().to_json());
            }
        }
        e.insert("response".into(), Value::Object(resp));
        Value::Object(e)
    }

    fn response_bundle(&self, kind: &str, entries: Vec<Value>, issues: bool) -> Reply {
        let mut reply = Reply::ok(
            200,
            json!({
                "resourceType": "Bundle",
                "type": kind,
                "timestamp": instant(self.now()),
                "entry": entries,
            }),
        );
        reply.validation_issues = issues;
        reply
    }

    fn batch(
        &self,
        entries: &[Value],
        base_headers: &[(String, String)],
        prefer: Prefer,
        show: bool,
    ) -> Result<Reply, ApiError> {
        let mut out = Vec::with_capacity(entries.len());
        let mut issues = false;
        for (i, e) in entries.iter().enumerate() {
            let er = match self.parse_entry(i, e, base_headers) {
                Ok(er) => er,
                Err(err) => {
                    out.push(self.entry_json(None, Err(err), prefer, show));
                    continue;
                }
            };
            let call = er.call(None);
            let r = match route(call.method, call.path) {
                Ok(Route::Bundle) => Err(ApiError::BadRequest(format!(
                    "entry {i}: a Bundle entry cannot post another batch or transaction"
                ))),
                Ok(Route::Metadata) => Ok(Reply::ok(
                    200,
                    super::capability::capability_statement(self),
                )),
                Ok(rt) => self.run(&call, &rt),
                Err(e) => Err(e),
            };
            if let Ok(r) = &r {
                issues |= r.validation_issues;
            }
            out.push(self.entry_json(Some(&er), r, prefer, show));
        }
        Ok(self.response_bundle("batch-response", out, issues))
    }

    fn transaction(
        &self,
        entries: &[Value],
        base_headers: &[(String, String)],
        prefer: Prefer,
        show: bool,
    ) -> Result<Reply, ApiError> {
        let mut reqs = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            reqs.push(self.parse_entry(i, e, base_headers)?);
        }
        let mut s = self.store.writer()?;
        let fail = |i: usize, er: &EntryRequest, e: ApiError| {
            e.context(&format!(
                "transaction rolled back at entry {i} ({} {})",
                er.method, er.url
            ))
        };
        // Ids in advance; urn:uuid -> Type/id; conditional creates resolved.
        let mut assigned: Vec<Option<String>> = vec![None; reqs.len()];
        let mut existing: Vec<bool> = vec![false; reqs.len()];
        let mut urns: HashMap<String, String> = HashMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, er) in reqs.iter().enumerate() {
            let call = er.call(None);
            let rt = route(&er.method, &er.path).map_err(|e| fail(i, er, e))?;
            match rt {
                Route::Create(ty) => {
                    let mut id = None;
                    if let Some(q) = call.header("if-none-exist") {
                        let q = q.trim_start_matches(&format!("{ty}?")).to_string();
                        let found = self
                            .conditional(&*s, ty, &q, &call)
                            .map_err(|e| fail(i, er, e))?;
                        match found.len() {
                            0 => {}
                            1 => {
                                id = Some(found[0].clone());
                                existing[i] = true;
                            }
                            _ => {
                                return Err(fail(
                                    i,
                                    er,
                                    ApiError::MultipleMatches(format!(
                                        "ifNoneExist `{q}` matches several {ty} resources"
                                    )),
                                ));
                            }
                        }
                    }
                    let id = id.unwrap_or_else(|| self.env.new_id());
                    if let Some(u) = &er.full_url {
                        urns.insert(u.clone(), format!("{ty}/{id}"));
                    }
                    assigned[i] = Some(id);
                }
                Route::Update(ty, id) | Route::Delete(ty, id) | Route::Patch(ty, id) => {
                    if !valid_id(id) {
                        return Err(fail(
                            i,
                            er,
                            ApiError::BadRequest(format!("invalid id `{id}`")),
                        ));
                    }
                    let key = format!("{ty}/{id}");
                    if let Some(j) = seen.insert(key.clone(), i) {
                        return Err(fail(
                            i,
                            er,
                            ApiError::BadRequest(format!(
                                "{key} is also the target of entry {j}; a transaction may \
                                 touch a resource once"
                            )),
                        ));
                    }
                    if let Some(u) = &er.full_url
                        && u.starts_with("urn:")
                    {
                        urns.insert(u.clone(), key);
                    }
                }
                Route::Bundle => {
                    return Err(fail(
                        i,
                        er,
                        ApiError::BadRequest(
                            "a Bundle entry cannot post another batch or transaction".into(),
                        ),
                    ));
                }
                _ => {}
            }
        }
        // Rewrite references.
        let mut cond_refs: HashMap<String, String> = HashMap::new();
        for (i, er) in reqs.iter_mut().enumerate() {
            let Some(mut res) = er.resource.take() else {
                continue;
            };
            let mut err = None;
            {
                let call = er.call(None);
                rewrite_refs(&mut res, &mut |r: &str| {
                    if let Some(t) = urns.get(r) {
                        return Some(t.clone());
                    }
                    let before_query = r.split('?').next().unwrap_or(r);
                    if r.starts_with("urn:") || before_query.contains("://") || !r.contains('?') {
                        return None;
                    }
                    if let Some(t) = cond_refs.get(r) {
                        return Some(t.clone());
                    }
                    let (ty, q) = r.split_once('?')?;
                    let found = match firn_core::definitions::Definitions::r4().is_resource_type(ty)
                    {
                        true => self.conditional(&*s, ty, q, &call),
                        false => Err(ApiError::BadRequest(format!(
                            "`{ty}` is not a resource type"
                        ))),
                    };
                    match found {
                        Ok(ids) if ids.len() == 1 => {
                            let t = format!("{ty}/{}", ids[0]);
                            cond_refs.insert(r.to_string(), t.clone());
                            Some(t)
                        }
                        Ok(ids) => {
                            err.get_or_insert(if ids.is_empty() {
                                ApiError::NotFound(format!(
                                    "conditional reference `{r}` matches no resource"
                                ))
                            } else {
                                ApiError::MultipleMatches(format!(
                                    "conditional reference `{r}` matches several resources"
                                ))
                            });
                            None
                        }
                        Err(e) => {
                            err.get_or_insert(e);
                            None
                        }
                    }
                });
            }
            if let Some(e) = err {
                return Err(fail(i, er, e));
            }
            if matches!(er.method.as_str(), "POST" | "PUT" | "PATCH") {
                er.body = serde_json::to_vec(&res).unwrap_or_default();
            }
            // ifNoneExist was resolved above, before any entry ran; running it again after
            // earlier POSTs could point the entry somewhere its urn:uuid does not.
            if er.method == "POST" {
                er.headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("if-none-exist"));
            }
            er.resource = Some(res);
        }
        // Run in the specification's order.
        let mut order: Vec<usize> = (0..reqs.len()).collect();
        order.sort_by_key(|&i| (rank(&reqs[i].method), i));
        let mut results: Vec<Option<Reply>> = vec![None; reqs.len()];
        let mut issues = false;
        for i in order {
            let er = &reqs[i];
            let call = er.call(assigned[i].clone());
            let rt = route(&er.method, &er.path).map_err(|e| fail(i, er, e))?;
            let r = if existing[i] {
                let ty = er.resource_type().to_string();
                let id = assigned[i].clone().unwrap_or_default();
                self.read(&*s, &ty, &id, &call).map(|mut r| {
                    r.location = Some(format!(
                        "{ty}/{id}/_history/{}",
                        r.version.map_or(1, |v| v.0)
                    ));
                    r
                })
            } else {
                match rt {
                    Route::Metadata => Ok(Reply::ok(
                        200,
                        super::capability::capability_statement(self),
                    )),
                    rt => self.exec(&mut *s, &call, &rt),
                }
            };
            let r = r.map_err(|e| fail(i, er, e))?;
            issues |= r.validation_issues;
            results[i] = Some(r);
        }
        s.commit()?;
        let out = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| match r {
                Some(r) => self.entry_json(Some(&reqs[i]), Ok(r), prefer, show),
                None => json!({"response": {"status": "200 OK"}}),
            })
            .collect();
        Ok(self.response_bundle("transaction-response", out, issues))
    }
}

/// Applies `f` to every `reference` string in a resource; `Some` replaces it.
fn rewrite_refs(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = x
                {
                    if let Some(n) = f(s) {
                        *s = n;
                    }
                } else {
                    rewrite_refs(x, f);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                rewrite_refs(x, f);
            }
        }
        _ => {}
    }
}
