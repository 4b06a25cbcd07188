//! FHIR NPM packages (`.tgz`), read from bytes.
//!
//! Core does no file I/O, so the caller hands over the package bytes. A package is a gzip'd tar
//! whose `package/*.json` files are conformance resources. Gzip is a thin header around DEFLATE
//! (inflated with `miniz_oxide`, already a dependency for the definitions), and tar is 512-byte
//! headers followed by contents, so a small reader here avoids two more crates.

use super::ValidateError;
use serde_json::Value;

/// A package's name, version, dependencies and JSON resources.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `(package name, version)` from `package/package.json`.
    pub dependencies: Vec<(String, String)>,
    /// Every JSON resource (StructureDefinition, ValueSet, CodeSystem ...) under `package/`.
    pub resources: Vec<Value>,
}

impl Package {
    /// Reads a `.tgz` FHIR package.
    ///
    /// ```
    /// use firn_core::validate::Package;
    /// assert!(Package::from_tgz(b"\x1f\x8b\x08 truncated").is_err());
    /// ```
    pub fn from_tgz(bytes: &[u8]) -> Result<Package, ValidateError> {
        let tar = gunzip(bytes)?;
        let mut name = String::new();
        let mut version = String::new();
        let mut dependencies = Vec::new();
        let mut resources = Vec::new();
        for (path, data) in tar_entries(&tar)? {
            if !path.ends_with(".json")
                || path.matches('/').count() != 1
                || !path.starts_with("package/")
            {
                continue;
            }
            let Ok(json) = serde_json::from_slice::<Value>(data) else {
                continue;
            };
            if path == "package/package.json" {
                name = json["name"].as_str().unwrap_or_default().to_string();
                version = json["version"].as_str().unwrap_or_default().to_string();
                if let Some(deps) = json["dependencies"].as_object() {
                    dependencies = deps
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect();
                }
            } else if json.get("resourceType").is_some() {
                resources.push(json);
            }
        }
        if name.is_empty() {
            return Err(ValidateError::Package(
                "no package/package.json with a name".into(),
            ));
        }
        Ok(Package {
            name,
            version,
            dependencies,
            resources,
        })
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, ValidateError> {
    let bad = |m: &str| ValidateError::Package(m.to_string());
    if bytes.len() < 18 || bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8 {
        return Err(bad("not a gzip file"));
    }
    let flags = bytes[3];
    let mut i = 10;
    if flags & 4 != 0 {
        let xlen = u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize; // len >= 18 > 11
        i += 2 + xlen;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            while i < bytes.len() && bytes[i] != 0 {
                i += 1;
            }
            i += 1;
        }
    }
    if flags & 2 != 0 {
        i += 2;
    }
    if i >= bytes.len() {
        return Err(bad("truncated gzip header"));
    }
    miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes[i..], 512 * 1024 * 1024)
        .map_err(|e| ValidateError::Package(format!("gzip data does not inflate: {e:?}")))
}

/// Regular files of a tar archive as (path, contents). Handles ustar prefixes and pax/GNU long names.
fn tar_entries(tar: &[u8]) -> Result<Vec<(String, &[u8])>, ValidateError> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut long_name: Option<String> = None;
    while i + 512 <= tar.len() {
        let h = &tar[i..i + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |a: usize, b: usize| {
            let f = &h[a..b];
            let end = f.iter().position(|&c| c == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = usize::from_str_radix(field(124, 136).trim(), 8)
            .map_err(|_| ValidateError::Package("corrupt tar header".into()))?;
        let typeflag = h[156];
        let data_start = i + 512;
        let data_end = data_start.saturating_add(size);
        if data_end > tar.len() {
            return Err(ValidateError::Package("truncated tar entry".into()));
        }
        let data = &tar[data_start..data_end];
        match typeflag {
            b'L' => {
                long_name = Some(
                    String::from_utf8_lossy(data)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            b'x' => {
                for rec in String::from_utf8_lossy(data).lines() {
                    if let Some(p) = rec.split_once(" path=").map(|x| x.1) {
                        long_name = Some(p.to_string());
                    }
                }
            }
            b'0' | 0 => {
                let name = long_name.take().unwrap_or_else(|| {
                    let prefix = field(345, 500);
                    let n = field(0, 100);
                    if prefix.is_empty() {
                        n
                    } else {
                        format!("{prefix}/{n}")
                    }
                });
                out.push((name, data));
            }
            _ => {}
        }
        i = data_start + size.div_ceil(512) * 512;
    }
    Ok(out)
}
