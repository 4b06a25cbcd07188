//! Reading the command line's inputs: one place that turns a path (or `-` for standard input)
//! into bytes or JSON, with errors that name the file.

use serde_json::Value;
use std::path::Path;

/// The file's bytes; `-` reads standard input.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The file parsed as JSON; `-` reads standard input.
pub fn read_json(path: &Path) -> Result<Value, String> {
    serde_json::from_slice(&read_bytes(path)?).map_err(|e| format!("{}: {e}", path.display()))
}
