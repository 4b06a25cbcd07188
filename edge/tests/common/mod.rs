//! Shared by the CLI end-to-end tests: run the real `firn` binary, write temporary inputs.
#![allow(dead_code)] // each test binary uses a subset

use std::path::PathBuf;
use std::process::Command;

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

/// Writes `text` to `name` in a per-process temporary directory for test binary `tag`.
pub fn temp(tag: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firn-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
