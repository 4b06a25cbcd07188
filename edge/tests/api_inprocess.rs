//! The handler without a host: `Api::handle` driven in-process (no tokio, no sockets) over the
//! SQLite store with a fixed clock and id source, so answers are fully deterministic — the same
//! code a Spin component will wrap.

use firn_edge::api::{Api, ApiConfig, Env, Request, Response};
use firn_edge::store::sqlite::SqliteStore;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

struct FixedEnv(AtomicU64);

impl Env for FixedEnv {
    fn now_ms(&self) -> i64 {
        1_700_000_000_000 + self.0.load(Ordering::Relaxed) as i64 * 1000
    }
    fn new_id(&self) -> String {
        format!("id-{}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// A minimal executor: the handler never awaits anything that is pending.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn api() -> Api<SqliteStore> {
    let dir = std::env::temp_dir().join(format!(
        "firn-inprocess-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("firn.db")).unwrap();
    Api::new(
        store,
        Box::new(FixedEnv(AtomicU64::new(0))),
        ApiConfig {
            base_url: "https://fhir.example.org/r4".into(),
            ..ApiConfig::default()
        },
    )
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn handler_runs_without_a_host_and_is_deterministic() {
    let api = api();
    let r = block_on(
        api.handle(
            Request::new("POST", "/Patient")
                .header("Content-Type", "application/fhir+json")
                .body(json!({"resourceType": "Patient", "gender": "female"}).to_string()),
        ),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some("https://fhir.example.org/r4/Patient/id-1/_history/1")
    );
    assert_eq!(
        r.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:21 GMT")
    );
    insta::assert_json_snapshot!("inprocess_create", body(&r));
    let r = block_on(api.handle(Request::new("GET", "/Patient?gender=female")));
    insta::assert_json_snapshot!("inprocess_search", body(&r));
    let r = block_on(api.handle(Request::new("GET", "/Patient/id-1/_history/7")));
    assert_eq!(r.status, 404);
    insta::assert_json_snapshot!("inprocess_missing_version", body(&r));
}
