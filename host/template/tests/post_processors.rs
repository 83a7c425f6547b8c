//! Post-processors in HCL2 templates: chains, Packer's meta-arguments (`name`, `only`,
//! `except`, `keep_input_artifact`), Kiln's `grant`, what `kiln inspect` shows, and
//! errors at the place they were written.

mod support;

use support::{places, shown};

use std::path::Path;

use kiln_core::plan::{BuildPlan, PostProcessorPlan};
use kiln_core::Diagnostic;
use kiln_template::{load, load_source, LoadOptions};
use serde_json::json;

fn plan(text: &str) -> Vec<BuildPlan> {
    match load_source("t.pkr.hcl", text, &LoadOptions::default()) {
        Ok(loaded) => loaded.plan.builds,
        Err(errors) => panic!("rejected:\n{}", shown(&errors)),
    }
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match load_source("t.pkr.hcl", text, &LoadOptions::default()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => errors,
    }
}

/// Each chain as the kinds (and names) of its post-processors.
fn chains(build: &BuildPlan) -> Vec<Vec<String>> {
    build
        .post_processors
        .iter()
        .map(|chain| {
            chain
                .iter()
                .map(|p| match &p.name {
                    Some(n) => format!("{}.{n}", p.kind),
                    None => p.kind.clone(),
                })
                .collect()
        })
        .collect()
}

const SOURCES: &str = r#"
source "null" "a" {
  communicator = "none"
}

source "null" "b" {
  communicator = "none"
}
"#;

#[test]
fn a_post_processor_is_a_chain_of_one_and_post_processors_one_chain() {
    let builds = plan(&format!(
        r#"{SOURCES}
build {{
  name    = "bld"
  sources = ["source.null.a"]

  post-processor "checksum" {{
    checksum_types = ["sha256"]
  }}

  post-processors {{
    post-processor "compress" {{
      output = "${{source.name}}-${{build.name}}.tar.gz"
    }}
    post-processor "manifest" {{
      output = "manifest.json"
      custom = {{ id = build.ID }}
    }}
  }}

  post-processors {{
  }}
}}
"#
    ));
    let b = &builds[0];
    assert_eq!(chains(b), [vec!["checksum"], vec!["compress", "manifest"]]);
    let checksum = &b.post_processors[0][0];
    assert_eq!(checksum.block.config["checksum_types"], json!(["sha256"]));
    assert_eq!(
        (checksum.block.location.line, checksum.block.location.col),
        (14, 18)
    );
    assert_eq!(checksum.block.fields["checksum_types"].line, 15);
    let chain = &b.post_processors[1];
    assert_eq!(
        chain[0].block.config["output"],
        json!("a-bld.tar.gz"),
        "source.* and build.* are known to a post-processor"
    );
    assert_eq!(
        chain[1].block.config["custom"],
        json!({ "id": "bld.null.a" })
    );
    for p in b.post_processors.iter().flatten() {
        assert_eq!(p.keep_input_artifact, None);
        assert!(p.name.is_none() && !p.grant.exec_host);
    }
}

#[test]
fn meta_arguments_are_applied_and_removed_from_the_config() {
    let builds = plan(&format!(
        r#"{SOURCES}
build {{
  sources = ["source.null.a", "source.null.b"]

  post-processor "checksum" {{
    name                = "sums"
    keep_input_artifact = true
    checksum_types      = ["md5"]
  }}

  post-processors {{
    post-processor "compress" {{
      only                = ["null.a"]
      keep_input_artifact = "false"
    }}
    post-processor "manifest" {{
      except = ["source.null.a"]
      output = "m.json"
    }}
  }}

  post-processors {{
    post-processor "shell-local" {{
      only   = ["null.b"]
      inline = ["echo b"]
    }}
  }}
}}
"#
    ));
    assert_eq!(builds.len(), 2);
    let (a, b) = (&builds[0], &builds[1]);
    assert_eq!(chains(a), [vec!["checksum.sums"], vec!["compress"]]);
    assert_eq!(
        chains(b),
        [vec!["checksum.sums"], vec!["manifest"], vec!["shell-local"]]
    );
    let sums = &a.post_processors[0][0];
    assert_eq!(sums.name.as_deref(), Some("sums"));
    assert_eq!(sums.keep_input_artifact, Some(true));
    assert_eq!(
        serde_json::Value::Object(sums.block.config.clone()),
        json!({ "checksum_types": ["md5"] })
    );
    assert_eq!(
        sums.block.fields.keys().collect::<Vec<_>>(),
        ["checksum_types"]
    );
    let compress = &a.post_processors[1][0];
    assert_eq!(compress.keep_input_artifact, Some(false));
    assert!(compress.block.config.is_empty());
    let manifest = &b.post_processors[1][0];
    assert_eq!(manifest.keep_input_artifact, None);
    assert_eq!(manifest.block.config.keys().collect::<Vec<_>>(), ["output"]);
}

#[test]
fn only_and_except_match_source_names_as_for_provisioners() {
    // A source renamed in the build is matched by its new name, for provisioners and
    // post-processors alike.
    let builds = plan(&format!(
        r#"{SOURCES}
build {{
  source "source.null.a" {{
    name = "renamed"
  }}
  sources = ["source.null.b"]

  provisioner "shell-local" {{
    only   = ["null.renamed"]
    inline = ["echo"]
  }}

  post-processor "checksum" {{
    only = ["null.renamed"]
  }}

  post-processor "manifest" {{
    except = ["null.renamed", "null.b"]
  }}
}}
"#
    ));
    let names: Vec<(&str, usize, Vec<Vec<String>>)> = builds
        .iter()
        .map(|b| (b.name.as_str(), b.provisioners.len(), chains(b)))
        .collect();
    assert_eq!(
        names,
        [
            ("null.renamed", 1, vec![vec!["checksum".to_owned()]]),
            ("null.b", 0, vec![]),
        ]
    );
}

#[test]
fn grant_lets_a_post_processor_run_host_commands_in_block_or_attribute_form() {
    let builds = plan(&format!(
        r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  post-processor "shell-local" {{
    inline = ["echo block"]
    grant {{
      exec_host = true
    }}
  }}

  post-processor "shell-local" {{
    inline = ["echo attribute"]
    grant  = {{ exec_host = true }}
  }}

  post-processor "shell-local" {{
    inline = ["echo none"]
    grant {{
      exec_host = false
    }}
  }}

  post-processor "checksum" {{
  }}
}}
"#
    ));
    let pps: Vec<&PostProcessorPlan> = builds[0].post_processors.iter().flatten().collect();
    assert_eq!(
        pps.iter().map(|p| p.grant.exec_host).collect::<Vec<_>>(),
        [true, true, false, false]
    );
    for p in pps {
        assert!(
            !p.block.config.contains_key("grant"),
            "{:?}",
            p.block.config
        );
        assert!(!p.block.fields.contains_key("grant"));
    }
}

#[test]
fn grant_in_hcl_json_syntax_is_an_object() {
    let (dir, path) = support::template(
        "t.pkr.json",
        r#"{
  "source": {"null": {"a": {"communicator": "none"}}},
  "build": {
    "sources": ["source.null.a"],
    "post-processor": {
      "shell-local": {"inline": ["echo hi"], "grant": {"exec_host": true}}
    },
    "post-processors": [
      {"post-processor": [
        {"checksum": {"keep_input_artifact": true}},
        {"manifest": {"name": "m", "grant": {"exec_hots": true}}}
      ]}
    ]
  }
}
"#,
    );
    let opts = LoadOptions {
        cwd: dir.path().to_owned(),
        ..Default::default()
    };
    let errors = load(&path, &opts).unwrap_err();
    let places = places(&errors);
    assert_eq!(places.len(), 1, "{places:?}");
    assert!(
        places[0].ends_with("t.pkr.json:11:46: unknown grant \"exec_hots\""),
        "{places:?}"
    );
    assert_eq!(
        errors[0].hint.as_deref(),
        Some("Did you mean \"exec_host\"? A step can be granted: read, write, env, network, exec_host, clock, random.")
    );

    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("exec_hots", "exec_host");
    std::fs::write(&path, text).unwrap();
    let builds = load(&path, &opts).unwrap().plan.builds;
    let pps: Vec<(&str, Option<&str>, Option<bool>, bool)> = builds[0]
        .post_processors
        .iter()
        .flatten()
        .map(|p| {
            (
                p.kind.as_str(),
                p.name.as_deref(),
                p.keep_input_artifact,
                p.grant.exec_host,
            )
        })
        .collect();
    assert_eq!(
        pps,
        [
            ("shell-local", None, None, true),
            ("checksum", None, Some(true), false),
            ("manifest", Some("m"), None, true),
        ]
    );
    assert_eq!(builds[0].post_processors.len(), 2);
}

#[test]
fn only_post_processor_blocks_belong_in_a_chain() {
    let errors = errors(&format!(
        r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  post-processors {{
    post-processor "checksum" {{
    }}
    provisioner "shell-local" {{
      inline = ["echo"]
    }}
    post-procesor "manifest" {{
    }}
    keep_input_artifact = true
  }}
}}
"#
    ));
    assert_eq!(
        places(&errors),
        [
            "t.pkr.hcl:16:5: Unsupported block type \"provisioner\"",
            "t.pkr.hcl:19:5: Unsupported block type \"post-procesor\"",
            "t.pkr.hcl:21:5: Unsupported argument \"keep_input_artifact\"",
        ]
    );
    assert_eq!(
        errors[0].hint.as_deref(),
        Some("Blocks of type \"provisioner\" are not expected here.")
    );
    assert_eq!(
        errors[1].hint.as_deref(),
        Some("Blocks of type \"post-procesor\" are not expected here. Did you mean \"post-processor\"?")
    );
}

#[test]
fn a_misspelt_post_processor_block_in_a_build_gets_a_hint() {
    let errors = errors(&format!(
        "{SOURCES}\nbuild {{\n  sources = [\"source.null.a\"]\n  post-processer \"checksum\" {{\n  }}\n}}\n"
    ));
    assert_eq!(
        places(&errors),
        ["t.pkr.hcl:12:3: Unsupported block type \"post-processer\""]
    );
    assert!(
        errors[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.ends_with("Did you mean \"post-processor\"?")),
        "{:?}",
        errors[0].hint
    );
}

#[test]
fn bad_meta_arguments_are_errors_where_they_are_written_reported_once() {
    // Two sources: each post-processor is planned twice, its problems shown once.
    let errors = errors(&format!(
        r#"{SOURCES}
build {{
  sources = ["source.null.a", "source.null.b"]

  post-processor "checksum" {{
    keep_input_artifact = "yes"
  }}

  post-processors {{
    post-processor "manifest" {{
      name = ["m"]
      only = "null.a"
    }}
  }}

  post-processor "post" {{
  }}

  post-processor {{
  }}
}}
"#
    ));
    assert_eq!(
        places(&errors),
        [
            "t.pkr.hcl:27:3: Block \"post-processor\" has 0 labels; it takes \"type\"",
            "t.pkr.hcl:14:27: `keep_input_artifact` must be true or false",
            "t.pkr.hcl:19:14: `name` must be a string",
            "t.pkr.hcl:20:14: `only` must be a list of source names",
        ]
    );
}

#[test]
fn unknown_grants_and_bad_grant_values_are_errors_where_they_are_written() {
    let errors = errors(&format!(
        r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  post-processor "shell-local" {{
    grant {{
      exec_host = "sure"
      network   = true
    }}
  }}

  post-processor "shell-local" {{
    grant = {{ exec_hots = true }}
  }}

  post-processor "shell-local" {{
    grant = true
  }}
}}
"#
    ));
    assert_eq!(
        places(&errors),
        [
            "t.pkr.hcl:15:19: `exec_host` must be true or false",
            "t.pkr.hcl:16:19: `network` must be a list of \"host:port\" entries, such as [\"mirror.example:443\", \"10.0.0.5:*\"]",
            "t.pkr.hcl:21:15: unknown grant \"exec_hots\"",
            "t.pkr.hcl:25:13: `grant` must be an object, such as { exec_host = true }",
        ]
    );
    assert_eq!(
        errors[2].hint.as_deref(),
        Some("Did you mean \"exec_host\"? A step can be granted: read, write, env, network, exec_host, clock, random.")
    );
}

#[test]
fn inspect_lists_chains_as_written_as_packer_does() {
    let text = format!(
        r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  post-processor "checksum" {{
    name = "checksum"
    only = ["null.b"]
  }}

  post-processors {{
  }}

  post-processors {{
    post-processor "compress" {{
    }}
    post-processor "manifest" {{
      name = "m"
    }}
  }}
}}

build {{
  sources = ["source.null.b"]
}}
"#
    );
    let loaded = load_source("t.pkr.hcl", &text, &LoadOptions::default()).unwrap();
    assert_eq!(
        chains(&loaded.plan.builds[0]),
        [vec!["compress", "manifest.m"]]
    );
    let shown = loaded.inspection.render();
    let expected = "    post-processors:\n\n\
                    \x20     0:\n        checksum.checksum\n\n\
                    \x20     1:\n\n\
                    \x20     2:\n        compress\n        manifest.m\n\n\
                    \x20 > <unnamed build 1>:\n";
    assert!(shown.contains(expected), "{shown}");
    assert!(
        shown.ends_with("    post-processors:\n\n      <no post-processor>\n\n"),
        "{shown}"
    );
}

#[test]
fn an_unknown_block_in_a_chain_is_reported_alongside_other_build_errors() {
    // The build has no sources either: both are reported.
    let errors = errors("build {\n  post-processors {\n    foo {\n    }\n  }\n}\n");
    let first = errors
        .iter()
        .find(|d| d.summary.contains("foo"))
        .expect("the unknown block is reported");
    let loc = first.location.as_ref().unwrap();
    assert_eq!(
        (&*loc.file, loc.line, loc.col),
        (Path::new("t.pkr.hcl"), 3, 5)
    );
}
