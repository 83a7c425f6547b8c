//! HCL2's JSON syntax: `*.pkr.json` templates mixed with `*.pkr.hcl` in one directory,
//! `*.auto.pkrvars.json` and `-var-file x.json`, and diagnostics that point into the JSON.

mod support;

use std::path::Path;

use kiln_template::{load, LoadOptions, VarArg};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn options(var_args: Vec<VarArg>) -> LoadOptions {
    LoadOptions {
        var_args,
        env: vec![],
        cwd: std::env::current_dir().unwrap(),
        defer_remote_data: false,
    }
}

#[test]
fn json_and_native_files_make_one_template_and_json_variable_files_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "variables.pkr.hcl",
        "variable \"greeting\" {\n  type = string\n}\nvariable \"count\" {\n  type    = number\n  default = 1\n}\n",
    );
    write(
        dir.path(),
        "build.pkr.json",
        r#"{
  "source": {"null": {"a": {"communicator": "none"}}},
  "build": {
    "sources": ["source.null.a"],
    "provisioner": {"shell": {"inline": ["echo ${var.greeting} ${var.count}"]}}
  }
}"#,
    );
    write(
        dir.path(),
        "a.auto.pkrvars.hcl",
        "greeting = \"from hcl\"\n",
    );
    // JSON auto files are read after every native one, whatever their names.
    write(
        dir.path(),
        "0.auto.pkrvars.json",
        r#"{"greeting": "from json"}"#,
    );
    let extra = dir.path().join("extra.json");
    std::fs::write(&extra, r#"{"count": 3}"#).unwrap();

    let loaded = load(dir.path(), &options(vec![VarArg::File(extra)])).unwrap();
    let builds = &loaded.plan.builds;
    assert_eq!(builds.len(), 1);
    let step = &builds[0].provisioners[0];
    assert_eq!(
        step.block.config["inline"],
        serde_json::json!(["echo from json 3"])
    );
}

#[test]
fn errors_in_json_point_at_the_json() {
    let (_dir, path) = support::template(
        "t.pkr.json",
        "{\n  \"variable\": {\"v\": {\"type\": \"string\", \"default\": 1}},\n  \"locals\": {\n    \"x\": \"${var.nope}\"\n  }\n}\n",
    );
    let errs = load(&path, &options(vec![])).unwrap_err();
    let text = errs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("t.pkr.json:4:10"), "{text}");
    assert!(text.contains("\"x\": \"${var.nope}\""), "{text}");
}
