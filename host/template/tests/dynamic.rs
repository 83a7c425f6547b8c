//! `dynamic` blocks, `packer.version` and `required_plugins` in real templates, and the
//! step types a template names once parsed.

use kiln_template::{load_source, LoadOptions};

#[test]
fn dynamic_blocks_expand_into_one_block_per_element() {
    let text = r#"
variable "disks" {
  default = { data = 10, logs = 2 }
}

source "null" "web" {
  communicator = "none"
  dynamic "disk" {
    for_each = var.disks
    content {
      name = disk.key
      size = disk.value * 1024
    }
  }
  dynamic "tag" {
    for_each = ["a", "b"]
    iterator = t
    content {
      value = "${t.key}:${t.value}:${packer.version}"
    }
  }
}

build {
  sources = ["source.null.web"]
}
"#;
    let loaded = load_source("t.pkr.hcl", text, &LoadOptions::default()).unwrap();
    let config = &loaded.plan.builds[0].source.config;
    assert_eq!(
        config["disk"],
        serde_json::json!([{ "name": "data", "size": 10240 }, { "name": "logs", "size": 2048 }])
    );
    assert_eq!(
        config["tag"],
        serde_json::json!([{ "value": "0:a:1.15.2" }, { "value": "1:b:1.15.2" }])
    );
}

#[test]
fn a_dynamic_block_without_content_is_an_error_at_its_place() {
    let text = "source \"null\" \"web\" {\n  dynamic \"disk\" {\n    for_each = [1]\n  }\n}\n\
                build {\n  sources = [\"source.null.web\"]\n}\n";
    let errors = load_source("t.pkr.hcl", text, &LoadOptions::default()).unwrap_err();
    let shown = errors
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        shown.contains("t.pkr.hcl:2:3") && shown.contains("needs for_each and a content block"),
        "{shown}"
    );
}

#[test]
fn required_plugins_are_accepted_and_recorded_for_the_engine() {
    let text = r#"
packer {
  required_plugins {
    docker = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/docker"
    }
    amazon = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
"#;
    let loaded = load_source("t.pkr.hcl", text, &LoadOptions::default()).unwrap();
    // Kiln has no plugins: the engine names the types of a plugin that Kiln lacks
    // where the template uses them (the kiln e2e tests), and says nothing of the rest.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let plugins: Vec<(&str, usize, usize)> = loaded
        .plan
        .plugins
        .iter()
        .map(|p| (p.source.as_str(), p.location.line, p.location.col))
        .collect();
    assert_eq!(
        plugins,
        [
            ("github.com/hashicorp/docker", 4, 5),
            ("github.com/hashicorp/amazon", 8, 5)
        ]
    );
}

#[test]
fn provisioner_override_replaces_attributes_for_one_source() {
    let text = r#"
source "null" "web" {
  communicator = "none"
}

source "null" "db" {
  communicator = "none"
}

build {
  sources = ["source.null.web", "source.null.db"]
  provisioner "shell" {
    inline = ["echo default"]
    override = {
      "null.db" = {
        inline = ["echo for db"]
      }
    }
  }
}
"#;
    let loaded = load_source("t.pkr.hcl", text, &LoadOptions::default()).unwrap();
    let inline = |i: usize| loaded.plan.builds[i].provisioners[0].block.config["inline"].clone();
    assert_eq!(loaded.plan.builds[0].source_name, "web");
    assert_eq!(inline(0), serde_json::json!(["echo default"]));
    assert_eq!(inline(1), serde_json::json!(["echo for db"]));
    assert!(loaded.plan.builds[1].provisioners[0]
        .block
        .config
        .get("override")
        .is_none());
}

/// Steps that depend on the source in their own attributes are planned in full for the
/// first source and re-evaluated in those attributes for the others: every source must
/// get what planning it alone gives, also where a meta-argument, a nested block or a
/// `build.*` value depends on the source, and an error must be reported for the
/// source it happens in.
#[test]
fn steps_that_name_the_source_get_each_sources_values() {
    let body = r#"
variable "greeting" {
  default = "hi"
}
source "null" "web" {
  communicator = "none"
}
source "null" "db" {
  communicator = "none"
}
source "null" "cache" {
  communicator = "none"
}
build {
  sources = ["source.null.web", "source.null.db", "source.null.cache"]
  provisioner "shell" {
    inline           = ["echo ${var.greeting} ${source.name}"]
    environment_vars = ["NAME=${upper(source.name)}", "TYPE=${source.type}"]
    execute_command  = "sh '{{.Path}}'"
  }
  provisioner "shell" {
    name   = "for ${source.name}"
    inline = ["echo ${source.name}"]
  }
  provisioner "file" {
    content     = "${source.name} at ${build.Host} in ${build.ID}"
    destination = "/tmp/${source.name}"
  }
  provisioner "shell" {
    inline = ["echo ${source.name}"]
    grant {
      env = [upper(source.name)]
    }
  }
  provisioner "shell" {
    inline           = ["echo ${source.name}"]
    environment_vars = ["N=${source["name"]}", "L=${lookup(source, "type", "")}", "RUN=${uuidv4()}"]
  }
  provisioner "shell" {
    inline = ["ssh ${source.name}@${build["Host"]}"]
  }
  provisioner "shell" {
    inline = ["echo ${jsonencode(source)}"]
  }
}
"#;
    let loaded = load_source("t.pkr.hcl", body, &LoadOptions::default()).unwrap();
    let names = ["cache", "db", "web"];
    let mut seen = Vec::new();
    let mut runs: Vec<String> = Vec::new();
    for build in &loaded.plan.builds {
        let name = build.source_name.as_str();
        seen.push(name.to_owned());
        let steps = &build.provisioners;
        let config = |i: usize| serde_json::Value::Object(steps[i].block.config.clone());
        assert_eq!(
            config(0),
            serde_json::json!({
                "inline": [format!("echo hi {name}")],
                "environment_vars": [format!("NAME={}", name.to_uppercase()), "TYPE=null"],
                "execute_command": "sh '{{.Path}}'",
            }),
            "{name}"
        );
        // The fields keep where each attribute was written.
        assert_eq!(steps[0].block.fields["environment_vars"].line, 18);
        // The source named without a dot, and a new value per source from uuidv4.
        let env = &config(4)["environment_vars"];
        assert_eq!(env[0], format!("N={name}"));
        assert_eq!(env[1], "L=null");
        let run = env[2].as_str().unwrap().to_owned();
        assert!(!runs.contains(&run), "{name}: {run} again");
        runs.push(run);
        let host = steps[5].block.resolved(&|_| "10.0.0.9".to_owned());
        assert_eq!(host["inline"][0], format!("ssh {name}@10.0.0.9"));
        assert!(config(6)["inline"][0].as_str().unwrap().contains(name));
        assert_eq!(
            steps[1].name.as_deref(),
            Some(format!("for {name}").as_str())
        );
        assert_eq!(
            config(1)["inline"],
            serde_json::json!([format!("echo {name}")])
        );
        assert_eq!(config(2)["destination"], format!("/tmp/{name}"));
        let resolved = steps[2].block.resolved(&|_| "10.0.0.9".to_owned());
        assert_eq!(
            resolved["content"],
            format!("{name} at 10.0.0.9 in null.{name}"),
            "{name}"
        );
        assert_eq!(steps[3].grant.env, [name.to_uppercase()]);
    }
    seen.sort();
    assert_eq!(seen, names);

    // Words in attribute names, literal text and comments are not the source: such
    // steps are planned once and shared by the builds, and their errors said once.
    let shared = r#"
source "null" "web" {
  communicator = "none"
}
source "null" "db" {
  communicator = "none"
}
build {
  sources = ["source.null.web", "source.null.db"]
  provisioner "file" {
    source      = "a.txt"
    destination = "/tmp/a.txt"
  }
  provisioner "shell" {
    # build the source tree
    inline = ["source ~/.bashrc", "docker build .", "echo source.name build.ID"]
  }
}
"#;
    let loaded = load_source("t.pkr.hcl", shared, &LoadOptions::default()).unwrap();
    let builds = &loaded.plan.builds;
    for i in 0..2 {
        assert!(
            std::sync::Arc::ptr_eq(&builds[0].provisioners[i], &builds[1].provisioners[i]),
            "step {i} is planned per source"
        );
    }
    let broken = shared.replace("destination = \"/tmp/a.txt\"", "destination = upper(1, 2)");
    let errors = match load_source("t.pkr.hcl", &broken, &LoadOptions::default()) {
        Ok(_) => panic!("the template loaded"),
        Err(d) => d,
    };
    assert_eq!(errors.len(), 1, "{errors:#?}");

    // An error in an attribute that depends on the source is reported for each source
    // it happens in.
    let failing = r#"
variable "ports" {
  default = { web = "80" }
}
source "null" "web" {
  communicator = "none"
}
source "null" "db" {
  communicator = "none"
}
build {
  sources = ["source.null.web", "source.null.db"]
  provisioner "shell" {
    inline = ["echo ${var.ports[source.name]}"]
  }
}
"#;
    let errors = match load_source("t.pkr.hcl", failing, &LoadOptions::default()) {
        Ok(_) => panic!("the template loaded"),
        Err(d) => d,
    };
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let text = errors[0].to_string();
    assert!(text.contains("db"), "{text}");
    assert_eq!(
        errors[0].location.as_ref().map(|l| l.line),
        Some(14),
        "{text}"
    );

    // A `dynamic` block's iterator may take the name `source`: there it is the iterator.
    let iterated = r#"
source "null" "web" {
  communicator = "none"
}
source "null" "db" {
  communicator = "none"
}
build {
  sources = ["source.null.web", "source.null.db"]
  dynamic "provisioner" {
    labels   = ["shell"]
    for_each = ["a", "b"]
    iterator = source
    content {
      inline = ["echo ${source.value}"]
    }
  }
}
"#;
    let loaded = load_source("t.pkr.hcl", iterated, &LoadOptions::default()).unwrap();
    for build in &loaded.plan.builds {
        let inline: Vec<_> = build
            .provisioners
            .iter()
            .map(|s| s.block.config["inline"][0].clone())
            .collect();
        assert_eq!(inline, ["echo a", "echo b"], "{}", build.source_name);
    }
}

/// What a command can start loading before the template is evaluated: the step types
/// the build blocks name as written, each once; a `dynamic` block's are not known yet.
#[test]
fn a_parsed_template_names_its_step_types() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.pkr.hcl"),
        r#"
source "null" "web" {
  communicator = "none"
}
build {
  sources = ["source.null.web"]
  provisioner "shell" {
    inline = ["true"]
  }
  provisioner "file" {
    content     = "x"
    destination = "/tmp/x"
  }
  provisioner "shell" {
    inline = ["false"]
  }
  error-cleanup-provisioner "shell-local" {
    inline = ["true"]
  }
  dynamic "provisioner" {
    labels   = ["ansible"]
    for_each = []
    content {}
  }
  post-processor "checksum" {}
  post-processors {
    post-processor "compress" {}
    post-processor "checksum" {}
  }
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.pkr.hcl"),
        "build {\n  sources = [\"source.null.web\"]\n  provisioner \"breakpoint\" {}\n}\n",
    )
    .unwrap();
    let parsed = kiln_template::parse(dir.path()).unwrap();
    let types = parsed.step_types();
    assert_eq!(
        types.provisioners,
        ["shell", "file", "shell-local", "breakpoint"]
    );
    assert_eq!(types.post_processors, ["checksum", "compress"]);
    // Loading what was parsed gives what loading the path gives.
    let loaded = parsed.load(&LoadOptions::default()).unwrap();
    assert_eq!(loaded.plan.builds.len(), 2);

    // A JSON template is read when it is loaded: no types before.
    let json = dir.path().join("t.json");
    std::fs::write(
        &json,
        r#"{"builders": [{"type": "null", "communicator": "none"}]}"#,
    )
    .unwrap();
    let parsed = kiln_template::parse(&json).unwrap();
    assert_eq!(parsed.step_types(), kiln_template::StepTypes::default());
    assert_eq!(
        parsed
            .load(&LoadOptions::default())
            .unwrap()
            .plan
            .builds
            .len(),
        1
    );

    // Syntax errors are reported by the parse, where they are.
    std::fs::write(dir.path().join("b.pkr.hcl"), "build {\n  sources = [\n").unwrap();
    let errors = match kiln_template::parse(dir.path()) {
        Ok(_) => panic!("parsed"),
        Err(e) => e,
    };
    assert!(
        errors.iter().any(|d| d
            .location
            .as_ref()
            .is_some_and(|l| l.file.ends_with("b.pkr.hcl"))),
        "{errors:#?}"
    );
}
