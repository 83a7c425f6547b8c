//! `dynamic` blocks, `packer.version` and `required_plugins` in real templates.

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
