//! Shared by the end-to-end tests of the `firn` binary: run a command ([`firn`]), write temporary
//! inputs, start the real `firn serve` on a free port (`--port 0`; the address is read from its
//! first stdout line), a tiny blocking HTTP/1.1 client, and JSON redaction for snapshots.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `firn serve`; killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub addr: String,
    pub data: PathBuf,
    /// Keep the data directory when dropped (the test restarts on it).
    keep_data: bool,
}

/// Runs `firn` with `args`: (exit code, stdout, stderr).
pub fn firn(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_firn"))
        .args(args)
        .output()
        .expect("the firn binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `text` to a file `name` in a fresh temporary directory.
pub fn temp_file(tag: &str, name: &str, text: &str) -> PathBuf {
    let p = temp_dir(tag).join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A fresh temporary directory (unique per call).
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "firn-e2e-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Server {
    /// The `next` link of a Bundle, as a path on this server (`None` on the last page).
    pub fn next_page(&self, bundle: &Value) -> Option<String> {
        let link = bundle["link"].as_array()?;
        let next = link.iter().find(|l| l["relation"] == "next")?;
        Some(
            next["url"]
                .as_str()?
                .trim_start_matches(&self.base)
                .to_string(),
        )
    }

    pub fn start(tag: &str) -> Server {
        Server::start_with(tag, &[])
    }

    pub fn start_with(tag: &str, extra: &[&str]) -> Server {
        let data = temp_dir(tag);
        Server::start_on(data, extra)
    }

    pub fn start_on(data: PathBuf, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firn"))
            .args(["serve", "--port", "0", "--data"])
            .arg(&data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start firn serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            base.starts_with("http://"),
            "unexpected first line: {line:?}"
        );
        let addr = base.trim_start_matches("http://").to_string();
        Server {
            child,
            base,
            addr,
            data,
            keep_data: false,
        }
    }

    pub fn req(&self, method: &str, path: &str) -> Req<'_> {
        Req {
            server: self,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path).send()
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.req("POST", path).json(body).send()
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.req("PUT", path).json(body).send()
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path).send()
    }

    /// Sends SIGTERM and waits (up to 10 s) for a clean exit; returns whether it exited with 0.
    pub fn terminate(mut self) -> bool {
        self.keep_data = true;
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sends SIGKILL and waits.
    pub fn kill(mut self) -> PathBuf {
        self.keep_data = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.data.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

pub struct Req<'a> {
    server: &'a Server,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req<'_> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn json(mut self, v: &Value) -> Self {
        self.headers
            .push(("content-type".into(), "application/fhir+json".into()));
        self.body = serde_json::to_vec(v).unwrap();
        self
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .push(("content-type".into(), content_type.into()));
        self.body = body.into();
        self
    }
    pub fn send(self) -> Resp {
        send(
            &self.server.addr,
            &self.method,
            &self.path,
            &self.headers,
            &self.body,
        )
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .get(&k.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Asserts the body is an OperationOutcome with an error issue; returns the first issue.
    pub fn outcome(&self) -> Value {
        let v = self.json();
        assert_eq!(v["resourceType"], "OperationOutcome", "{v}");
        let issue = v["issue"][0].clone();
        assert!(
            issue["severity"].is_string()
                && issue["code"].is_string()
                && issue["diagnostics"].is_string(),
            "{v}"
        );
        issue
    }
}

/// One HTTP/1.1 exchange on a fresh connection.
pub fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    try_send(addr, method, path, headers, body)
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP response"))
}

/// Like [`send`], `None` when the connection fails or no response comes back.
pub fn try_send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) before reading a large body; ignore write errors then.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    raw.windows(4)
        .any(|w| w == b"\r\n\r\n")
        .then(|| parse_response(&raw))
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// Replaces volatile values for snapshots: the base URL, instants, server-assigned ids (each
/// distinct id becomes `[id1]`, `[id2]`, ... in order of appearance) and the history snapshot.
pub fn redact(v: &Value, base: &str) -> Value {
    let mut ids: Vec<String> = Vec::new();
    redact_in(v, base, &mut ids)
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

fn redact_str(s: &str, base: &str, ids: &mut Vec<String>) -> String {
    let mut out = s.replace(base, "[base]");
    // instants
    if out.len() >= 20
        && out.as_bytes().get(4) == Some(&b'-')
        && out.contains('T')
        && out.ends_with('Z')
    {
        return "[instant]".into();
    }
    // uuids anywhere in the string
    let mut i = 0;
    while i + 36 <= out.len() {
        let cand = &out[i..i + 36];
        if looks_like_uuid(cand) && cand.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let n = match ids.iter().position(|x| x == cand) {
                Some(n) => n + 1,
                None => {
                    ids.push(cand.to_string());
                    ids.len()
                }
            };
            let rep = format!("[id{n}]");
            out = format!("{}{}{}", &out[..i], rep, &out[i + 36..]);
            i += rep.len();
        } else {
            i += 1;
        }
    }
    if let Some(p) = out.find("_snapshot=") {
        let end = out[p..].find('&').map_or(out.len(), |e| p + e);
        out = format!("{}_snapshot=[seq]{}", &out[..p], &out[end..]);
    }
    out
}

fn redact_in(v: &Value, base: &str, ids: &mut Vec<String>) -> Value {
    match v {
        Value::String(s) => Value::String(redact_str(s, base, ids)),
        Value::Array(a) => Value::Array(a.iter().map(|x| redact_in(x, base, ids)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match k.as_str() {
                        "lastUpdated" | "timestamp" | "date" if x.is_string() => {
                            Value::String("[instant]".into())
                        }
                        _ => redact_in(x, base, ids),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The reference data directory (Synthea), or None (test prints a skip line).
pub fn shared() -> Option<PathBuf> {
    firn_tests::shared_or_skip("firn-edge server tests")
}

pub fn synthea(shared: &Path) -> Vec<Value> {
    firn_tests::synthea_resources(shared)
}
