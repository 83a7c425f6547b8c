//! `packer { required_components { ... } }`: where each component a template names comes
//! from, read by the loader and on its own for `kiln init`, with errors at their place.

mod support;

use std::path::{Path, PathBuf};

use kiln_core::plan::{ComponentSource, RequiredComponent};
use kiln_core::Diagnostic;
use kiln_template::{load_source, lock_path, required_components, LoadOptions};

fn components(text: &str) -> Vec<RequiredComponent> {
    match load_source("t.pkr.hcl", text, &LoadOptions::default()) {
        Ok(loaded) => loaded.plan.components,
        Err(errors) => panic!("rejected:\n{}", places(&errors).join("\n")),
    }
}

fn places(errors: &[Diagnostic]) -> Vec<String> {
    errors
        .iter()
        .map(|d| match &d.location {
            Some(l) => format!(
                "{}:{}:{}: {} ({})",
                l.file.display(),
                l.line,
                l.col,
                d.summary,
                d.hint.clone().unwrap_or_default()
            ),
            None => d.summary.clone(),
        })
        .collect()
}

fn rejected(text: &str) -> Vec<String> {
    match load_source("t.pkr.hcl", text, &LoadOptions::default()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => places(&errors),
    }
}

#[test]
fn references_and_files_are_told_apart() {
    let found = components(
        "packer {\n  required_components {\n    motd  = { source = \"registry.example:5000/kiln/motd:1.0\" }\n    \
         local = { source = \"./c/local.wasm\" }\n    other = { source = \"c/other.wasm\" }\n  }\n}\n",
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].name, "motd");
    assert_eq!(
        found[0].source,
        ComponentSource::Oci("registry.example:5000/kiln/motd:1.0".into())
    );
    assert_eq!(found[0].location.line, 3);
    assert_eq!(
        found[1].source,
        ComponentSource::File(cwd.join("c/local.wasm"))
    );
    assert_eq!(
        found[2].source,
        ComponentSource::File(cwd.join("c/other.wasm"))
    );
}

#[test]
fn bad_entries_are_errors_where_written() {
    let errors = rejected(
        "packer {\n  required_components {\n    a = \"registry.example/a:1\"\n    \
         b = { source = \"registry.example/b:1\", version = \"1.0\" }\n    c = { sorce = \"x\" }\n    \
         d = { source = var.x }\n  }\n}\npacker {\n  required_components {\n    b = { source = \"registry.example/b:2\" }\n    \
         e = { source = \"registry.example/e:1\" }\n  }\n}\npacker {\n  required_components {\n    \
         e = { source = \"registry.example/e:2\" }\n  }\n}\n",
    );
    let all = errors.join("\n");
    assert!(
        all.contains("t.pkr.hcl:3:9: Invalid component \"a\""),
        "{all}"
    );
    assert!(
        all.contains("t.pkr.hcl:4:44: Unsupported argument \"version\" in component \"b\"")
            && all.contains("its reference's tag"),
        "{all}"
    );
    assert!(all.contains("Did you mean \"source\"?"), "{all}");
    assert!(all.contains("Invalid source of component \"d\""), "{all}");
    assert!(
        all.contains("t.pkr.hcl:17:5: Duplicate component \"e\"")
            && all.contains("The first definition is at t.pkr.hcl:12:"),
        "{all}"
    );
    assert!(
        !all.contains("\"c\" has no source"),
        "one error per entry: {all}"
    );
}

#[test]
fn init_reads_them_without_variables_and_the_lock_sits_beside_the_template() {
    // A required variable without a value does not stop `kiln init`.
    let (dir, file) = support::template(
        "t.pkr.hcl",
        "variable \"needed\" {\n  type = string\n}\npacker {\n  required_components {\n    \
         motd = { source = \"registry.example/kiln/motd:1.0\" }\n  }\n}\n",
    );
    let found = required_components(&file).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].location.line, 6);
    assert_eq!(required_components(dir.path()).unwrap(), found);
    assert_eq!(lock_path(&file), dir.path().join("t.pkr.hcl.lock.json"));
    assert_eq!(lock_path(dir.path()), dir.path().join("kiln.lock.json"));
    assert_eq!(
        lock_path(Path::new("x.pkr.hcl")),
        PathBuf::from("x.pkr.hcl.lock.json")
    );
}
