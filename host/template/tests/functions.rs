//! Packer's HCL2 functions through [`kiln_template::load`]: `tests/functions/` uses them in
//! variable defaults and validations, locals, a source and a provisioner; the evaluated
//! configuration must be what Packer would compute.

mod support;

use std::path::{Path, PathBuf};

use kiln_template::{load, LoadOptions};
use serde_json::json;

fn options(cwd: &Path) -> LoadOptions {
    LoadOptions {
        var_args: vec![],
        env: vec![],
        cwd: cwd.to_owned(),
        defer_remote_data: false,
    }
}

#[test]
fn functions_evaluate_in_locals_sources_and_provisioners() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/functions");
    let loaded = load(&dir, &options(&dir)).unwrap_or_else(|d| panic!("{d:#?}"));
    let build = &loaded.plan.builds[0];
    let source = serde_json::Value::Object(build.source.config.clone());
    assert_eq!(
        source,
        json!({
            "communicator": "none",
            "image_name": "EU-WEST-1-20240305-1007",
            "hosts": ["web-01", "db-02"],
            "motd": "web-01 (eu-west-1)\ndb-02 (eu-west-1)\n",
            "debug": false,
            "subnet": "10.0.1.0/24",
            "host_ip": "10.0.0.10",
            "tags": { "env": "test", "id": "1776fae2-3566-5238-b9ea-e87a752dc868" },
            "checksum": "5dbad7dd0b9b122dcd9956884390f4aac4738caba8ff53498a7ab6718b176c30",
            "port": 8080,
        })
    );
    let step = &build.provisioners[0].block.config;
    assert_eq!(step["inline"], json!(["sh setup.sh"]));
    assert_eq!(step["env"], json!({ "GREETING": "echo hello" }));
}

/// Writes `text` as the only template of a fresh directory.
fn template(text: &str) -> (tempfile::TempDir, PathBuf) {
    support::template("t.pkr.hcl", text)
}

fn load_errors(text: &str) -> Vec<kiln_core::Diagnostic> {
    let (dir, path) = template(text);
    match load(&path, &options(dir.path())) {
        Ok(_) => panic!("the template loaded"),
        Err(diags) => diags,
    }
}

#[test]
fn env_outside_a_variable_default_is_explained() {
    let diags = load_errors(r#"locals { home = env("HOME") }"#);
    assert_eq!(diags[0].summary, "Call to unknown function \"env\"");
    let hint = diags[0].hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("only allowed in a variable's default value"),
        "{hint}"
    );
}

#[test]
fn unknown_functions_suggest_close_names() {
    let diags = load_errors(r#"locals { name = uper("x") }"#);
    assert_eq!(diags[0].summary, "Call to unknown function \"uper\"");
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("There is no function named \"uper\". Did you mean \"upper\"?")
    );
}

#[test]
fn failing_validations_can_use_functions() {
    let diags = load_errors(
        r#"
variable "ami" {
  default = "img-123"
  validation {
    condition     = can(regex("^ami-", var.ami))
    error_message = "The ami must start with \"ami-\"."
  }
}
"#,
    );
    assert_eq!(diags[0].summary, "Invalid value for variable \"ami\"");
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("The ami must start with \"ami-\".")
    );
}

#[test]
fn function_errors_point_at_the_expression() {
    let diags = load_errors(r#"locals { n = parseint("zz", 10) }"#);
    let d = &diags[0];
    assert!(
        d.summary
            .contains("cannot parse \"zz\" as a base 10 integer"),
        "{}",
        d.summary
    );
    assert_eq!(d.location.as_ref().map(|l| l.line), Some(1));
}
