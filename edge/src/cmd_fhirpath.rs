//! `firn fhirpath '<expression>' <file.json>`: evaluate a FHIRPath expression on a resource.
//!
//! Prints the result collection as JSON, each item with its FHIR/System type and, for items taken
//! from the resource, its location (`Patient.name[0].given[1]`) — what validation messages and
//! FHIRPath Patch use. A malformed expression prints the expression with a caret under the
//! failing position.

use firn_core::fhirpath::{Env, Expression, FhirPathError};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct FhirPathArgs {
    /// The FHIRPath expression (`Patient.name.where(use = 'official').family`).
    pub expression: String,
    /// A FHIR resource as JSON (`-` reads standard input).
    pub file: PathBuf,
    /// A variable for `%name`: `name=value`, where value is JSON (`5`, `true`, `"x"`, `{...}`),
    /// `@file.json` for a resource from a file, or else a plain string. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Strict mode: names the type does not define and non-boolean criteria are errors.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: FhirPathArgs) -> ExitCode {
    match evaluate(&args) {
        Ok(out) => {
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_var(spec: &str) -> Result<(String, Value), String> {
    let (name, raw) = spec
        .split_once('=')
        .ok_or_else(|| format!("--var {spec}: expected NAME=VALUE"))?;
    let value = if let Some(file) = raw.strip_prefix('@') {
        crate::input::read_json(std::path::Path::new(file))?
    } else {
        serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
    };
    Ok((name.to_string(), value))
}

fn evaluate(args: &FhirPathArgs) -> Result<Value, String> {
    let resource = crate::input::read_json(&args.file)?;
    let vars = args
        .vars
        .iter()
        .map(|v| parse_var(v))
        .collect::<Result<Vec<_>, _>>()?;
    let expr = Expression::compile(&args.expression).map_err(|e| caret(&args.expression, &e))?;
    let mut env = Env::new().strict(args.strict);
    for (name, value) in &vars {
        env = env.var_ref(name.clone(), value);
    }
    let items = expr
        .evaluate(&resource, &env)
        .map_err(|e| caret(&args.expression, &e))?;
    Ok(Value::Array(
        items
            .iter()
            .map(|it| {
                let mut o = json!({"type": it.type_name(), "value": it.to_json()});
                if let Some(loc) = it.location() {
                    o["location"] = Value::String(loc);
                }
                o
            })
            .collect(),
    ))
}

/// The error, and for errors with a position the expression's line with a caret under it.
fn caret(src: &str, e: &FhirPathError) -> String {
    let Some(offset) = e.offset() else {
        return format!("error: {e}");
    };
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    let column = src[line_start..offset].chars().count();
    format!(
        "error: {e}\n  {}\n  {}^",
        &src[line_start..line_end],
        " ".repeat(column)
    )
}
