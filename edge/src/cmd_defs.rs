//! `firn defs <Type|Path>`: browse the embedded R4 definitions.

use firn_core::definitions::Definitions;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DefsArgs {
    /// A type (`Patient`, `HumanName`), an inline group (`Patient.contact`) or an element path
    /// (`Observation.value[x]`, `Observation.valueQuantity`). Without it: a summary of what is embedded.
    pub target: Option<String>,
    /// Print one element's full definition even when the path also names a group.
    #[arg(long)]
    pub element: bool,
}

pub fn run(args: DefsArgs) -> ExitCode {
    let defs = Definitions::r4();
    let Some(target) = args.target else {
        let art = defs.artifact();
        println!(
            "FHIR {} definitions embedded in firn-core",
            defs.fhir_version()
        );
        println!("  resource types:    {}", defs.resource_types().count());
        println!("  types (all kinds): {}", art.types.len());
        println!("  search parameters: {}", art.search_params.len());
        println!(
            "  value sets:        {} ({} expanded here)",
            art.value_sets.len(),
            art.value_sets.iter().filter(|v| v.expanded).count()
        );
        println!("  code systems:      {}", art.code_systems.len());
        println!("  extensions:        {}", art.extensions.len());
        println!("Try `firn defs Patient` or `firn defs Observation.value[x]`.");
        return ExitCode::SUCCESS;
    };
    let path = resolve_path(defs, &target);
    let as_element = args.element || (path.contains('.') && !has_children(defs, &path));
    let out = if as_element {
        defs.render_element(&path)
    } else {
        defs.render_tree(&path)
    };
    match out {
        Some(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "error: `{target}` is not a FHIR R4 type or element path (try `firn defs Patient`)"
            );
            ExitCode::from(2)
        }
    }
}

/// `Observation.valueQuantity` → `Observation.value[x]`: resolve each step as a JSON key would be.
fn resolve_path(defs: &Definitions, target: &str) -> String {
    if defs.element(target).is_some() || defs.type_def(target).is_some() {
        return target.to_string();
    }
    let mut steps = target.split('.');
    let Some(first) = steps.next() else {
        return target.to_string();
    };
    let mut context = first.to_string();
    let mut path = first.to_string();
    for step in steps {
        match defs.child(&context, step) {
            Some(c) => {
                path = c.element.path.clone();
                context = c.context.to_string();
            }
            None => return target.to_string(),
        }
    }
    path
}

fn has_children(defs: &Definitions, path: &str) -> bool {
    defs.children(path).next().is_some()
}
