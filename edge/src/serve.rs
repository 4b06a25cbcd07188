//! The native host of the FHIR handler: `firn serve`.
//!
//! axum/hyper HTTP/1.1 on tokio, the embedded SQLite store under `--data`, structured logs
//! through `tracing` (`RUST_LOG=firn_edge=debug` logs every request), graceful shutdown on
//! Ctrl-C / SIGTERM (in-flight requests finish; every write is already committed or rolled back),
//! and optional loading of a data directory at start-up.

use crate::api::{Api, ApiConfig, ApiError, Request, SystemEnv};
use crate::store::sqlite::SqliteStore;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// `firn serve` options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: String,
    /// 0 picks a free port (the address is printed on stdout).
    pub port: u16,
    /// Directory holding `firn.db`.
    pub data: PathBuf,
    /// A directory of NDJSON files / Bundles to load before serving.
    pub load: Option<PathBuf>,
    /// The public base URL (default `http://host:port`).
    pub base_url: Option<String>,
    /// FHIR packages (`.tgz`) for validation (profiles, value sets, extensions).
    pub packages: Vec<PathBuf>,
}

type Shared = Arc<Api<SqliteStore>>;

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(opts: ServeOptions) -> Result<(), String> {
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(serve(opts))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn serve(opts: ServeOptions) -> Result<(), String> {
    std::fs::create_dir_all(&opts.data).map_err(|e| format!("{}: {e}", opts.data.display()))?;
    let db = opts.data.join("firn.db");
    let store = SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", opts.host, opts.port))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let base_url = opts
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let config = ApiConfig {
        base_url: base_url.clone(),
        ..ApiConfig::default()
    };
    let mut packages = Vec::new();
    for p in &opts.packages {
        packages.push(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    let api = Api::with_packages(store, Box::new(SystemEnv::default()), config, packages)
        .map_err(|e| format!("cannot load the FHIR packages: {e}"))?;
    let api: Shared = Arc::new(api);
    if !opts.packages.is_empty() {
        tracing::info!(
            packages = opts.packages.len(),
            "FHIR packages loaded for validation"
        );
    }
    tracing::info!(database = %db.display(), "store opened");
    if let Some(dir) = opts.load.clone() {
        let started = Instant::now();
        let a = api.clone();
        let report = tokio::task::spawn_blocking(move || crate::load::load_dir(&a, &dir))
            .await
            .map_err(|e| format!("loading failed: {e}"))?
            .map_err(|e| format!("loading failed: {e}"))?;
        tracing::info!(
            files = report.files,
            stored = report.stored,
            failed = report.failed,
            seconds = started.elapsed().as_secs_f64(),
            "data loaded"
        );
        for e in &report.errors {
            tracing::warn!("load: {e}");
        }
    }
    let app = axum::Router::new().fallback(handler).with_state(api);
    println!("firn serve listening on {base_url}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, base = %base_url, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

fn outcome_response(e: ApiError) -> axum::response::Response {
    let body = e.outcome().to_json().to_string();
    let mut r = axum::response::Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    r
}

async fn handler(
    State(api): State<Shared>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let limit = api.config.max_body;
    let too_large = || {
        outcome_response(ApiError::TooLarge(format!(
            "request body is larger than the limit of {limit} bytes"
        )))
    };
    if parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit)
    {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.to_vec(),
    };
    let method = request.method.clone();
    let path = request.path.clone();
    let a = api.clone();
    let resp = match tokio::task::spawn_blocking(move || a.handle_blocking(&request)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "handler task failed");
            return outcome_response(ApiError::Store(crate::store::StoreError::Backend(
                "internal error while handling the request".into(),
            )));
        }
    };
    tracing::debug!(
        %method,
        %path,
        status = resp.status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    let mut r = axum::response::Response::new(Body::from(resp.body));
    *r.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            r.headers_mut().append(k, v);
        }
    }
    r
}
