//! Templates Packer accepts that Kiln refused: each a minimal reproduction, named after
//! it. (Type conversion of arguments, single values for lists in JSON, `-only` globs and
//! the file builder's directory are checked where they happen: the decoder, the CLI
//! and the end-to-end tests.)

mod support;

use std::path::Path;
use support::shown;

use kiln_template::{load, load_source, LoadOptions, VarArg};

fn load_hcl(text: &str) -> Result<kiln_template::Loaded, String> {
    load_source("t.pkr.hcl", text, &LoadOptions::default()).map_err(|ds| shown(&ds))
}

fn names(loaded: &kiln_template::Loaded) -> Vec<&str> {
    loaded.plan.builds.iter().map(|b| b.name.as_str()).collect()
}

const NULL_SOURCE: &str = "source \"null\" \"a\" {\n  communicator = \"none\"\n}\n";

#[test]
fn required_version_is_checked_against_current_packer() {
    let text = format!(
        "packer {{\n  required_version = \">= 1.7.0\"\n}}\n{NULL_SOURCE}build {{\n  sources = [\"source.null.a\"]\n}}\n"
    );
    load_hcl(&text).unwrap();
    let text = text.replace(">= 1.7.0", ">= 1.10.0, < 2.0.0");
    load_hcl(&text).unwrap();
    let too_new = text.replace(">= 1.10.0, < 2.0.0", ">= 99.0");
    let e = load_hcl(&too_new).unwrap_err();
    assert!(
        e.contains("t.pkr.hcl:2:22") && e.contains("Unsupported Packer Core version"),
        "{e}"
    );
    assert!(e.contains(kiln_template::PACKER_VERSION), "{e}");
    // `packer.version` is that version too.
    let major: u32 = kiln_template::PACKER_VERSION
        .split('.')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(major >= 7);
}

#[test]
fn dynamic_source_and_provisioner_blocks_inside_build() {
    let text = r#"
source "null" "base" {
  communicator = "none"
}

locals {
  steps = { first = "one", second = "two" }
}

build {
  dynamic "source" {
    for_each = ["w1", "w2"]
    labels   = ["source.null.base"]
    content {
      name = source.value
    }
  }
  dynamic "provisioner" {
    for_each = local.steps
    iterator = s
    labels   = ["shell-local"]
    content {
      inline = ["echo ${s.key}=${s.value} on ${source.name}"]
    }
  }
  dynamic "post-processor" {
    for_each = ["a.txt"]
    labels   = ["checksum"]
    content {
      output = post-processor.value
    }
  }
}
"#;
    let loaded = load_hcl(text).unwrap();
    assert_eq!(names(&loaded), ["null.w1", "null.w2"]);
    let b = &loaded.plan.builds[1];
    let inline: Vec<_> = b
        .provisioners
        .iter()
        .map(|p| (p.kind.as_str(), p.block.config["inline"].clone()))
        .collect();
    assert_eq!(
        inline,
        [
            ("shell-local", serde_json::json!(["echo first=one on w2"])),
            ("shell-local", serde_json::json!(["echo second=two on w2"])),
        ]
    );
    assert_eq!(b.post_processors[0][0].kind, "checksum");
    assert_eq!(b.post_processors[0][0].block.config["output"], "a.txt");
    // A provisioner made by `dynamic` is located at the dynamic block's label.
    assert_eq!(b.provisioners[0].block.location.line, 18);
    // `kiln inspect` lists what the dynamic blocks made.
    let summary = &loaded.inspection.builds[0];
    assert_eq!(summary.sources, ["null.base", "null.base"]);
    assert_eq!(summary.provisioners, ["shell-local", "shell-local"]);
}

#[test]
fn dynamic_blocks_in_a_build_without_labels_or_of_other_kinds_are_errors() {
    let text = format!(
        "{NULL_SOURCE}build {{\n  sources = [\"source.null.a\"]\n  dynamic \"provisioner\" {{\n    for_each = [1]\n    content {{}}\n  }}\n  dynamic \"sauce\" {{\n    for_each = [1]\n    labels = [\"x\"]\n    content {{}}\n  }}\n}}\n"
    );
    let e = load_hcl(&text).unwrap_err();
    assert!(
        e.contains("t.pkr.hcl:6:3") && e.contains("needs labels"),
        "{e}"
    );
    assert!(
        e.contains("t.pkr.hcl:10:11") && e.contains("no \"sauce\" blocks"),
        "{e}"
    );
}

#[test]
fn sources_take_any_three_part_reference() {
    let text = format!(
        "{NULL_SOURCE}build {{\n  sources = [\"sources.null.a\"]\n}}\nbuild {{\n  name = \"b\"\n  sources = [\"anything.null.a\", \"null.a\"]\n}}\n"
    );
    let loaded = load_hcl(&text).unwrap();
    assert_eq!(names(&loaded), ["null.a", "b.null.a", "b.null.a"]);
    let bad = text.replace("anything.null.a", "too.many.parts.here");
    let e = load_hcl(&bad).unwrap_err();
    assert!(e.contains("invalid source reference"), "{e}");
}

#[test]
fn a_null_only_or_except_means_not_set() {
    let text = format!(
        "{NULL_SOURCE}build {{\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {{\n    inline = [\"true\"]\n    except = false ? [\"null.a\"] : null\n    only   = null\n  }}\n  post-processor \"checksum\" {{\n    except = null\n  }}\n}}\n"
    );
    let loaded = load_hcl(&text).unwrap();
    assert_eq!(loaded.plan.builds[0].provisioners.len(), 1);
    assert_eq!(loaded.plan.builds[0].post_processors.len(), 1);
    // A list still selects.
    let except = text.replace("false ? [\"null.a\"] : null", "[\"null.a\"]");
    assert!(load_hcl(&except).unwrap().plan.builds[0]
        .provisioners
        .is_empty());
}

#[test]
fn an_unset_required_variable_is_reported_once() {
    let text = format!(
        "variable \"fruit\" {{\n  type = string\n}}\nlocals {{\n  fruit = var.fruit\n  again = \"${{var.fruit}}-x\"\n}}\n{NULL_SOURCE}build {{\n  sources = [\"source.null.a\"]\n}}\n"
    );
    let e = load_hcl(&text).unwrap_err();
    assert_eq!(e.matches("Error:").count(), 1, "{e}");
    assert!(
        e.contains("t.pkr.hcl:1:10: Unset variable \"fruit\""),
        "{e}"
    );
    assert!(!e.contains("undeclared"), "{e}");
    // A variable that is not declared at all is still named at its use.
    let undeclared = text.replace("var.fruit\n", "var.fruits\n");
    let e = load_hcl(&undeclared).unwrap_err();
    assert!(
        e.contains("Reference to undeclared input variable \"fruits\""),
        "{e}"
    );
}

#[test]
fn required_plugins_are_recorded_for_the_engine_to_name_their_missing_types() {
    let text = format!(
        "packer {{\n  required_plugins {{\n    amazon = {{\n      version = \">= 1.2.0\"\n      source  = \"github.com/hashicorp/amazon\"\n    }}\n  }}\n}}\n{NULL_SOURCE}build {{\n  sources = [\"source.null.a\"]\n}}\n"
    );
    let loaded = load_hcl(&text).unwrap();
    // No warning that the plugin "is not needed": the engine says which of its types
    // Kiln lacks, where a template uses them.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let p = &loaded.plan.plugins[0];
    assert_eq!(p.source, "github.com/hashicorp/amazon");
    assert_eq!((p.location.line, p.location.col), (3, 5));
    assert!(p.provides("amazon-ebs") && p.provides("amazon") && !p.provides("amazonian"));
}

#[test]
fn unknown_data_source_types_are_one_error_listing_each_use() {
    let text = format!(
        "data \"amazon-secretsmanager\" \"a\" {{\n  owners = [\"x\"]\n}}\ndata \"amazon-secretsmanager\" \"b\" {{}}\ndata \"host-info\" \"h\" {{}}\n{NULL_SOURCE}build {{\n  sources = [\"source.null.a\"]\n}}\n"
    );
    let e = load_hcl(&text).unwrap_err();
    assert_eq!(e.matches("Error:").count(), 1, "{e}");
    assert!(
        e.contains(
            "t.pkr.hcl:1:6: Kiln does not run the data source types \"amazon-secretsmanager\", \"host-info\""
        ),
        "{e}"
    );
    assert!(
        e.contains("data \"amazon-secretsmanager\": t.pkr.hcl:1:6, t.pkr.hcl:4:6"),
        "{e}"
    );
}

#[test]
fn hcp_packer_registry_is_accepted_with_a_warning() {
    let text = format!(
        "{NULL_SOURCE}build {{\n  hcp_packer_registry {{\n    bucket_name = \"b\"\n    bucket_labels = {{ os = \"linux\" }}\n  }}\n  sources = [\"source.null.a\"]\n}}\n"
    );
    let loaded = load_hcl(&text).unwrap();
    assert_eq!(names(&loaded), ["null.a"]);
    let w = shown(&loaded.warnings);
    assert!(
        w.contains("t.pkr.hcl:5:3") && w.contains("hcp_packer_registry"),
        "{w}"
    );
}

fn load_json(dir: &Path, text: &str, vars: Vec<VarArg>) -> Result<kiln_template::Loaded, String> {
    let path = dir.join("t.json");
    std::fs::write(&path, text).unwrap();
    let opts = LoadOptions {
        var_args: vars,
        ..Default::default()
    };
    load(&path, &opts).map_err(|ds| shown(&ds))
}

#[test]
fn json_user_variables_are_rendered_in_passes_as_packer_renders_them() {
    let dir = tempfile::tempdir().unwrap();
    // `a` reads an unset `b`; `c` reads `d`: while `c` renders, Packer leaves `a` unset.
    let text = r#"{"variables":{"a":"x={{user `b`}}","c":"{{user `d`}}","d":"1"},
 "builders":[{"type":"null","communicator":"none"}],
 "provisioners":[{"type":"shell-local","inline":["{{user `c`}}[{{user `a`}}]"]}]}"#;
    let loaded = load_json(dir.path(), text, vec![]).unwrap();
    let inline = &loaded.plan.builds[0].provisioners[0].block.config["inline"];
    assert_eq!(inline, &serde_json::json!(["1[]"]));
    // With no variable that reads another and renders, Packer fails, and so does Kiln.
    let alone = r#"{"variables":{"a":"x={{user `b`}}","d":"1"},
 "builders":[{"type":"null","communicator":"none"}]}"#;
    let e = load_json(dir.path(), alone, vec![]).unwrap_err();
    assert!(e.contains("variable not set: b"), "{e}");
    // Given on the command line, `b` is read.
    let given = load_json(dir.path(), text, vec![VarArg::Pair("b".into(), "y".into())]).unwrap();
    let inline = &given.plan.builds[0].provisioners[0].block.config["inline"];
    assert_eq!(inline, &serde_json::json!(["1[x=y]"]));
}

#[test]
fn json_only_and_except_take_a_single_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{"builders":[{"type":"null","name":"a","communicator":"none"},
                  {"type":"null","name":"b","communicator":"none"}],
 "post-processors":[{"type":"checksum","only":"a","keep_input_artifact":true}]}"#;
    let loaded = load_json(dir.path(), text, vec![]).unwrap();
    let pps: Vec<usize> = loaded
        .plan
        .builds
        .iter()
        .map(|b| b.post_processors.len())
        .collect();
    assert_eq!(pps, [1, 0]);
    assert_eq!(
        loaded.plan.builds[0].post_processors[0][0].keep_input_artifact,
        Some(true)
    );
}

#[test]
fn json_variable_files_auto_json_files_and_pkr_var_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("t.pkr.hcl"),
        "variable \"name\" {\n  type = string\n}\nvariable \"count\" {\n  type = number\n}\n\
variable \"tags\" {\n  type = list(string)\n}\nvariable \"opts\" {\n  type = map(string)\n}\n\
variable \"on\" {\n  type = bool\n}\nvariable \"auto\" {\n  type = string\n  default = \"no\"\n}\n\
source \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n\
  provisioner \"shell-local\" {\n    inline = [\"${var.name} ${var.count} ${join(\",\", var.tags)} ${var.opts[\"k\"]} ${var.on} ${var.auto}\"]\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("vars.json"),
        r#"{"name": "fromjson", "count": 3, "tags": ["a", "b"], "opts": {"k": "v"}, "on": true}"#,
    )
    .unwrap();
    std::fs::write(d.join("x.auto.pkrvars.json"), r#"{"auto": "yes"}"#).unwrap();
    let inline = |opts: LoadOptions| {
        let loaded = load(d, &opts).unwrap_or_else(|ds| panic!("{}", shown(&ds)));
        loaded.plan.builds[0].provisioners[0].block.config["inline"][0].clone()
    };
    let from_file = inline(LoadOptions {
        var_args: vec![VarArg::File(d.join("vars.json"))],
        cwd: d.to_owned(),
        ..Default::default()
    });
    assert_eq!(from_file, "fromjson 3 a,b v true yes");
    let env = |k: &str, v: &str| (format!("PKR_VAR_{k}"), v.to_owned());
    let from_env = inline(LoadOptions {
        env: vec![
            env("name", "env"),
            env("count", "7"),
            env("tags", r#"["x","y"]"#),
            env("opts", r#"{k="w"}"#),
            env("on", "false"),
        ],
        cwd: d.to_owned(),
        ..Default::default()
    });
    assert_eq!(from_env, "env 7 x,y w false yes");
}
