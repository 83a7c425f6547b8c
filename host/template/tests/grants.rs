//! Kiln's `grant` and `limits` of a step (a provisioner, the error-cleanup provisioner,
//! a post-processor): every key read into the plan, values evaluated in the step's
//! context, paths made absolute against the template's directory, errors at the place
//! written; in HCL2, in HCL2's JSON syntax, in legacy JSON templates and through
//! `hcl2_upgrade`.

mod support;

use support::{places, shown};

use std::path::{Path, PathBuf};

use kiln_core::plan::BuildPlan;
use kiln_core::{Diagnostic, Grant, Limits};
use kiln_template::{hcl2_upgrade, load, LoadOptions};

/// A template written as `name` in a directory of its own.
struct Template {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Template {
    fn new(name: &str, text: &str) -> Template {
        let (dir, path) = support::template(name, text);
        Template { dir, path }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn options(&self) -> LoadOptions {
        LoadOptions {
            cwd: self.dir().to_owned(),
            ..Default::default()
        }
    }

    fn builds(&self) -> Vec<BuildPlan> {
        match load(&self.path, &self.options()) {
            Ok(loaded) => loaded.plan.builds,
            Err(errors) => panic!("rejected:\n{}", shown(&errors)),
        }
    }

    fn errors(&self) -> Vec<Diagnostic> {
        match load(&self.path, &self.options()) {
            Ok(_) => panic!(
                "accepted:\n{}",
                std::fs::read_to_string(&self.path).unwrap()
            ),
            Err(errors) => errors,
        }
    }
}

fn hints(errors: &[Diagnostic]) -> Vec<Option<&str>> {
    errors.iter().map(|d| d.hint.as_deref()).collect()
}

const SOURCES: &str = r#"
source "null" "a" {
  communicator = "none"
}

source "null" "b" {
  communicator = "none"
}
"#;

const GRANT_KEYS: &str =
    "A step can be granted: read, write, env, network, exec_host, clock, random.";
const LIMIT_KEYS: &str =
    "A step's limits are: memory, ui_output, calls_in_flight, message_size, cpu, disk.";

#[test]
fn every_key_is_read_into_the_plan_and_left_out_of_the_config() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
variable "certs" {{
  default = "/etc/ssl/certs"
}}

variable "proxy" {{
  default = "HTTP_PROXY"
}}

variable "mem" {{
  default = 512
}}

locals {{
  mirror = "mirror.example"
}}

build {{
  sources = ["source.null.a"]

  provisioner "shell" {{
    inline = ["echo hi"]
    grant {{
      read      = ["files/", "${{var.certs}}/ca-certificates.crt", "./a/../b", "/abs/./x/.."]
      write     = ["output/", "../sibling"]
      env       = ["HOME", var.proxy]
      network   = ["${{local.mirror}}:443", "10.0.0.5:*", "[::1]:8080"]
      exec_host = true
      clock     = "host"
      random    = "host"
    }}
    limits {{
      memory          = "${{var.mem}}MiB"
      ui_output       = "1MiB"
      calls_in_flight = 2 * 2
      message_size    = 8388608
      cpu             = "90s"
      disk            = "2TiB"
    }}
  }}
}}
"#
        ),
    );
    let builds = t.builds();
    let step = &builds[0].provisioners[0];
    let dir = t.dir();
    assert_eq!(
        step.grant,
        Grant {
            read: vec![
                dir.join("files"),
                "/etc/ssl/certs/ca-certificates.crt".into(),
                dir.join("b"),
                "/abs".into(),
            ],
            write: vec![dir.join("output"), dir.parent().unwrap().join("sibling")],
            env: vec!["HOME".into(), "HTTP_PROXY".into()],
            network: vec![
                "mirror.example:443".into(),
                "10.0.0.5:*".into(),
                "[::1]:8080".into()
            ],
            exec_host: true,
            clock_host: true,
            random_host: true,
        }
    );
    assert_eq!(
        step.limits,
        Limits {
            memory: Some(512 << 20),
            ui_output: Some(1 << 20),
            calls_in_flight: Some(4),
            message_size: Some(8 << 20),
            cpu: Some(std::time::Duration::from_secs(90)),
            disk: Some(2 << 40),
        }
    );
    assert_eq!(
        step.block.config.keys().collect::<Vec<_>>(),
        ["inline"],
        "grant and limits are not the component's"
    );
    assert_eq!(step.block.fields.keys().collect::<Vec<_>>(), ["inline"]);
}

#[test]
fn a_step_without_grant_or_limits_gets_the_defaults_and_fixed_means_the_default() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  provisioner "shell" {{
    inline = ["echo"]
  }}

  provisioner "shell" {{
    inline = ["echo"]
    grant {{
      clock  = "fixed"
      random = "fixed"
    }}
    limits {{
    }}
  }}

  post-processor "checksum" {{
  }}
}}
"#
        ),
    );
    let builds = t.builds();
    let b = &builds[0];
    for step in &b.provisioners {
        assert_eq!(step.grant, Grant::default());
        assert_eq!(step.limits, Limits::default());
    }
    assert_eq!(b.post_processors[0][0].grant, Grant::default());
    assert_eq!(b.post_processors[0][0].limits, Limits::default());
}

#[test]
fn sizes_take_every_unit() {
    let sizes = [
        ("\"7B\"", 7),
        ("\"2KiB\"", 2 << 10),
        ("\"3MiB\"", 3 << 20),
        ("\"4GiB\"", 4 << 30),
        ("\"5KB\"", 5_000),
        ("\"6MB\"", 6_000_000),
        ("\"7GB\"", 7_000_000_000),
        ("\"64 MiB\"", 64 << 20),
        ("\"4096\"", 4096),
        ("4096", 4096),
    ];
    let steps: String = sizes
        .iter()
        .map(|(s, _)| {
            format!(
                "  provisioner \"shell\" {{\n    limits {{\n      memory       = {s}\n      ui_output    = {s}\n      message_size = {s}\n    }}\n  }}\n"
            )
        })
        .collect();
    let t = Template::new(
        "t.pkr.hcl",
        &format!("{SOURCES}\nbuild {{\n  sources = [\"source.null.a\"]\n{steps}}}\n"),
    );
    let builds = t.builds();
    let got: Vec<(Option<u64>, Option<u64>, Option<u64>)> = builds[0]
        .provisioners
        .iter()
        .map(|p| (p.limits.memory, p.limits.ui_output, p.limits.message_size))
        .collect();
    let want: Vec<(Option<u64>, Option<u64>, Option<u64>)> = sizes
        .iter()
        .map(|(_, n)| (Some(*n), Some(*n), Some(*n)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn error_cleanup_provisioners_and_post_processors_take_both_in_either_form() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
build {{
  sources = ["source.null.a", "source.null.b"]

  error-cleanup-provisioner "shell-local" {{
    inline = ["echo cleanup"]
    grant {{
      exec_host = true
      write     = ["${{path.root}}/logs/${{source.name}}"]
    }}
    limits {{
      calls_in_flight = "3"
    }}
  }}

  post-processor "shell-local" {{
    inline = ["echo pp"]
    grant = {{
      exec_host = true
      env       = ["USER"]
    }}
    limits = {{
      memory = "1GiB"
    }}
  }}

  post-processors {{
    post-processor "compress" {{
      output = "out.tar.gz"
      grant {{
        write = ["dist/${{source.name}}/"]
      }}
      limits {{
        message_size = "16MiB"
      }}
    }}
  }}
}}
"#
        ),
    );
    let builds = t.builds();
    let dir = t.dir();
    for (b, name) in builds.iter().zip(["a", "b"]) {
        let cleanup = b.error_cleanup.as_ref().unwrap();
        assert!(cleanup.grant.exec_host);
        assert_eq!(cleanup.grant.write, [dir.join("logs").join(name)]);
        assert_eq!(cleanup.limits.calls_in_flight, Some(3));
        assert_eq!(cleanup.block.config.keys().collect::<Vec<_>>(), ["inline"]);

        let local = &b.post_processors[0][0];
        assert!(local.grant.exec_host);
        assert_eq!(local.grant.env, ["USER"]);
        assert_eq!(local.limits.memory, Some(1 << 30));
        assert_eq!(local.block.config.keys().collect::<Vec<_>>(), ["inline"]);

        let compress = &b.post_processors[1][0];
        assert_eq!(compress.grant.write, [dir.join("dist").join(name)]);
        assert_eq!(compress.limits.message_size, Some(16 << 20));
        assert_eq!(compress.block.config.keys().collect::<Vec<_>>(), ["output"]);
        assert!(!compress.block.fields.contains_key("grant"));
        assert!(!compress.block.fields.contains_key("limits"));
    }
}

#[test]
fn unknown_keys_are_errors_with_a_hint_listing_the_keys() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  provisioner "shell" {{
    inline = ["echo"]
    grant {{
      reed  = ["files/"]
      spawn = true
    }}
    limits {{
      memroy = "1GiB"
      cpus   = 2
    }}
  }}

  error-cleanup-provisioner "shell" {{
    grant {{
      enviroment = ["HOME"]
    }}
  }}

  post-processor "checksum" {{
    limits = {{ ui_ouput = "1MiB" }}
  }}
}}
"#
        ),
    );
    let errors = t.errors();
    assert_eq!(
        places(&errors),
        [
            "t.pkr.hcl:16:7: unknown grant \"reed\"",
            "t.pkr.hcl:17:7: unknown grant \"spawn\"",
            "t.pkr.hcl:20:7: unknown limit \"memroy\"",
            "t.pkr.hcl:21:7: unknown limit \"cpus\"",
            "t.pkr.hcl:27:7: unknown grant \"enviroment\"",
            "t.pkr.hcl:32:16: unknown limit \"ui_ouput\"",
        ]
    );
    assert_eq!(
        hints(&errors),
        [
            Some(format!("Did you mean \"read\"? {GRANT_KEYS}").as_str()),
            Some(GRANT_KEYS),
            Some(format!("Did you mean \"memory\"? {LIMIT_KEYS}").as_str()),
            Some(format!("Did you mean \"cpu\"? {LIMIT_KEYS}").as_str()),
            Some(GRANT_KEYS),
            Some(format!("Did you mean \"ui_output\"? {LIMIT_KEYS}").as_str()),
        ]
    );
}

#[test]
fn bad_values_are_errors_at_the_value_saying_the_expected_form() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  provisioner "shell" {{
    grant {{
      network = ["mirror.example:443", "mirror.example", "h:70000", "h:*"]
      clock   = "bogus"
      random  = true
      read    = "files/"
      write   = [""]
      env     = ["HOME", "A=B"]
    }}
    limits {{
      memory          = "12XB"
      ui_output       = 0
      calls_in_flight = 0
      message_size    = "1.5MiB"
    }}
  }}

  post-processor "shell-local" {{
    grant  = ["exec_host"]
    limits = "big"
  }}
}}
"#
        ),
    );
    let errors = t.errors();
    let size = |key: &str, v: &str| {
        format!(
            "`{key}` must be a size greater than 0: a number of bytes, or a string such as \
             \"512MiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), not {v}"
        )
    };
    let want = [
        "t.pkr.hcl:15:40: `network` entry \"mirror.example\" is not \"host:port\": it has no port; write \"host:443\", or \"host:*\" for any port".to_owned(),
        "t.pkr.hcl:16:17: `clock` must be \"host\" or \"fixed\" (the build's fixed clock, the default), not \"bogus\"".to_owned(),
        "t.pkr.hcl:17:17: `random` must be \"host\" or \"fixed\" (a seeded generator, the default), not true".to_owned(),
        "t.pkr.hcl:18:17: `read` must be a list of host paths, such as [\"files/\", \"/etc/hosts\"]".to_owned(),
        "t.pkr.hcl:19:18: `write` lists an empty path: write a host path, such as \"files/\"".to_owned(),
        "t.pkr.hcl:20:26: `env` lists \"A=B\", which is not a variable name: write the name alone, such as \"A\"; the step sees its host value".to_owned(),
        format!("t.pkr.hcl:23:25: {}", size("memory", "\"12XB\"")),
        format!("t.pkr.hcl:24:25: {}", size("ui_output", "0")),
        "t.pkr.hcl:25:25: `calls_in_flight` must be a whole number greater than 0, such as 4, not 0".to_owned(),
        format!("t.pkr.hcl:26:25: {}", size("message_size", "\"1.5MiB\"")),
        "t.pkr.hcl:31:14: `grant` must be an object, such as { exec_host = true }".to_owned(),
        "t.pkr.hcl:32:14: `limits` must be an object, such as { memory = \"512MiB\" }".to_owned(),
    ];
    assert_eq!(places(&errors), want);
}

#[test]
fn each_bad_network_entry_is_named() {
    let cases = [
        ("h:70000", "the port \"70000\" is not a number from 1 to 65535, or * for any port"),
        ("h:0", "the port \"0\" is not a number from 1 to 65535, or * for any port"),
        (":443", "the host is missing"),
        ("::1:443", "\"::1\" is not a host name or address (an IPv6 address goes in brackets: \"[::1]:443\")"),
    ];
    for (entry, why) in cases {
        let t = Template::new(
            "t.pkr.hcl",
            &format!(
                "{SOURCES}\nbuild {{\n  sources = [\"source.null.a\"]\n  provisioner \"shell\" {{\n    grant {{\n      network = [\"{entry}\"]\n    }}\n  }}\n}}\n"
            ),
        );
        assert_eq!(
            places(&t.errors()),
            [format!(
                "t.pkr.hcl:14:18: `network` entry \"{entry}\" is not \"host:port\": {why}"
            )]
        );
    }
}

#[test]
fn a_second_grant_or_limits_in_a_step_is_an_error() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
build {{
  sources = ["source.null.a"]

  provisioner "shell" {{
    grant {{
      exec_host = true
    }}
    grant {{
      env = ["HOME"]
    }}
  }}

  error-cleanup-provisioner "shell" {{
    limits {{
      memory = "1GiB"
    }}
    limits = {{ memory = "2GiB" }}
  }}

  post-processor "shell-local" {{
    grant = {{ exec_host = true }}
    grant {{
      exec_host = true
    }}
  }}
}}
"#
        ),
    );
    let errors = t.errors();
    assert_eq!(
        places(&errors),
        [
            "t.pkr.hcl:17:5: Duplicate grant block",
            "t.pkr.hcl:26:5: Duplicate limits block",
            "t.pkr.hcl:31:5: Duplicate grant block",
        ]
    );
    let dir = t.dir().display().to_string();
    assert_eq!(
        hints(&errors),
        [
            Some(
                format!("A step takes one `grant`; the first is at {dir}/t.pkr.hcl:14:5.").as_str()
            ),
            Some(
                format!("A step takes one `limits`; the first is at {dir}/t.pkr.hcl:23:5.")
                    .as_str()
            ),
            Some(
                format!("A step takes one `grant`; the first is at {dir}/t.pkr.hcl:30:5.").as_str()
            ),
        ]
    );
}

#[test]
fn problems_of_a_step_planned_for_several_sources_are_reported_once() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            r#"{SOURCES}
build {{
  sources = ["source.null.a", "source.null.b"]

  provisioner "shell" {{
    inline = ["echo ${{source.name}}"]
    grant {{
      clock = "wall"
    }}
  }}

  post-processor "checksum" {{
    limits {{
      memory = "lots"
    }}
  }}
}}
"#
        ),
    );
    assert_eq!(
        places(&t.errors())
            .iter()
            .map(|p| p.split(": ").next().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["t.pkr.hcl:16:15", "t.pkr.hcl:22:16"]
    );
}

#[test]
fn an_undeclared_variable_in_a_grant_is_reported_where_it_is() {
    let t = Template::new(
        "t.pkr.hcl",
        &format!(
            "{SOURCES}\nbuild {{\n  sources = [\"source.null.a\"]\n  provisioner \"shell\" {{\n    grant {{\n      read = [var.nope]\n    }}\n  }}\n}}\n"
        ),
    );
    let errors = t.errors();
    assert_eq!(
        places(&errors),
        ["t.pkr.hcl:14:14: Reference to undeclared input variable \"nope\""]
    );
}

const PKR_JSON: &str = r#"{
  "variable": {"home": {"default": "HOME"}},
  "source": {"null": {"a": {"communicator": "none"}}},
  "build": {
    "sources": ["source.null.a"],
    "provisioner": [
      {"shell": {
        "inline": ["echo"],
        "grant": {"read": ["files/"], "env": ["${var.home}"], "network": ["mirror:443"], "clock": "host"},
        "limits": {"memory": "256MiB", "calls_in_flight": 8}
      }}
    ],
    "error-cleanup-provisioner": {
      "shell-local": {"inline": ["echo"], "grant": {"exec_host": true}}
    },
    "post-processor": {
      "compress": {"output": "o.tgz", "grant": {"write": ["dist"]}, "limits": {"message_size": "1MB"}}
    }
  }
}
"#;

#[test]
fn hcl_json_syntax_gives_grant_and_limits_as_objects() {
    let t = Template::new("t.pkr.json", PKR_JSON);
    let builds = t.builds();
    let b = &builds[0];
    let p = &b.provisioners[0];
    assert_eq!(p.grant.read, [t.dir().join("files")]);
    assert_eq!(p.grant.env, ["HOME"]);
    assert_eq!(p.grant.network, ["mirror:443"]);
    assert!(p.grant.clock_host);
    assert_eq!(p.limits.memory, Some(256 << 20));
    assert_eq!(p.limits.calls_in_flight, Some(8));
    assert_eq!(p.block.config.keys().collect::<Vec<_>>(), ["inline"]);
    assert!(b.error_cleanup.as_ref().unwrap().grant.exec_host);
    let pp = &b.post_processors[0][0];
    assert_eq!(pp.grant.write, [t.dir().join("dist")]);
    assert_eq!(pp.limits.message_size, Some(1_000_000));
    assert_eq!(pp.block.config.keys().collect::<Vec<_>>(), ["output"]);
}

#[test]
fn hcl_json_syntax_errors_point_into_the_json() {
    let text = PKR_JSON
        .replace("\"clock\": \"host\"", "\"clok\": \"host\"")
        .replace("\"mirror:443\"", "\"mirror\"")
        .replace("\"1MB\"", "\"1MiB!\"");
    let t = Template::new("t.pkr.json", &text);
    let errors = t.errors();
    assert_eq!(
        places(&errors),
        [
            "t.pkr.json:9:75: `network` entry \"mirror\" is not \"host:port\": it has no port; write \"host:443\", or \"host:*\" for any port",
            "t.pkr.json:9:86: unknown grant \"clok\"",
            "t.pkr.json:17:96: `message_size` must be a size greater than 0: a number of bytes, or a string such as \"512MiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), not \"1MiB!\"",
        ]
    );
    assert_eq!(
        errors[1].hint.as_deref(),
        Some(format!("Did you mean \"clock\"? {GRANT_KEYS}").as_str())
    );
}

const LEGACY: &str = r#"{
  "variables": {"cache": "cache", "mem": "64"},
  "builders": [
    {"type": "null", "name": "web", "communicator": "none"},
    {"type": "null", "name": "db", "communicator": "none"}
  ],
  "provisioners": [
    {
      "type": "shell",
      "inline": ["echo {{build_name}}"],
      "grant": {
        "read": ["files/", "{{user `cache`}}/{{build_name}}"],
        "env": ["HOME"],
        "network": ["mirror.example:443"],
        "random": "host"
      },
      "limits": {"memory": "{{user `mem`}}MiB", "calls_in_flight": 2}
    }
  ],
  "error-cleanup-provisioner": {
    "type": "shell-local",
    "inline": ["echo cleanup"],
    "grant": {"exec_host": true, "clock": "host"}
  },
  "post-processors": [
    {"type": "shell-local", "inline": ["echo pp"], "grant": {"exec_host": true}, "limits": {"ui_output": "2KB"}},
    [
      {"type": "compress", "output": "out.tgz", "only": ["web"], "grant": {"write": ["dist/"]}}
    ]
  ]
}
"#;

#[test]
fn legacy_json_takes_grant_and_limits_as_kiln_keys() {
    let t = Template::new("t.json", LEGACY);
    let builds = t.builds();
    let dir = t.dir();
    assert_eq!(builds.len(), 2);
    for b in &builds {
        let p = &b.provisioners[0];
        assert_eq!(
            p.grant,
            Grant {
                read: vec![dir.join("files"), dir.join("cache").join(&b.name)],
                env: vec!["HOME".into()],
                network: vec!["mirror.example:443".into()],
                random_host: true,
                ..Grant::default()
            }
        );
        assert_eq!(p.limits.memory, Some(64 << 20));
        assert_eq!(p.limits.calls_in_flight, Some(2));
        assert_eq!(p.block.config.keys().collect::<Vec<_>>(), ["inline"]);
        let cleanup = b.error_cleanup.as_ref().unwrap();
        assert!(cleanup.grant.exec_host && cleanup.grant.clock_host);
        assert_eq!(cleanup.block.config.keys().collect::<Vec<_>>(), ["inline"]);
        let local = &b.post_processors[0][0];
        assert!(local.grant.exec_host);
        assert_eq!(local.limits.ui_output, Some(2000));
        assert_eq!(local.block.config.keys().collect::<Vec<_>>(), ["inline"]);
    }
    let compress = &builds[0].post_processors[1][0];
    assert_eq!(compress.grant.write, [dir.join("dist")]);
    assert_eq!(compress.block.config.keys().collect::<Vec<_>>(), ["output"]);
}

#[test]
fn legacy_json_errors_point_at_the_key_or_value() {
    let text = LEGACY
        .replace("\"random\": \"host\"", "\"randon\": \"host\"")
        .replace("\"calls_in_flight\": 2", "\"calls_in_flight\": -2")
        .replace("\"mirror.example:443\"", "\"mirror.example:https\"")
        .replace(
            "\"grant\": {\"exec_host\": true, \"clock\": \"host\"}",
            "\"grant\": [\"exec_host\"]",
        )
        .replace("\"2KB\"", "\"2 KiBs\"");
    let t = Template::new("t.json", &text);
    let errors = t.errors();
    assert_eq!(
        places(&errors),
        [
            "t.json:15:9: unknown grant \"randon\"",
            "t.json:23:14: `grant` must be an object, such as {\"exec_host\": true}",
        ],
        "keys are checked as the template is read"
    );
    assert_eq!(
        errors[0].hint.as_deref(),
        Some(format!("Did you mean \"random\"? {GRANT_KEYS}").as_str())
    );

    let text = text
        .replace("\"randon\"", "\"random\"")
        .replace("[\"exec_host\"]", "{\"exec_host\": \"yes\"}");
    let t = Template::new("t.json", &text);
    assert_eq!(
        places(&t.errors()),
        [
            "t.json:14:21: `network` entry \"mirror.example:https\" is not \"host:port\": the port \"https\" is not a number from 1 to 65535, or * for any port",
            "t.json:17:68: `calls_in_flight` must be a whole number greater than 0, such as 4, not -2",
            "t.json:23:28: `exec_host` must be true or false",
            "t.json:26:106: `ui_output` must be a size greater than 0: a number of bytes, or a string such as \"512MiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), not \"2 KiBs\"",
        ],
        "values are checked once interpolated, each problem once"
    );
}

#[test]
fn hcl2_upgrade_writes_grant_and_limits_as_blocks_meaning_the_same() {
    let t = Template::new("t.json", LEGACY);
    let hcl = hcl2_upgrade(&t.path).unwrap_or_else(|d| panic!("{}", shown(&d)));
    for expected in [
        "    grant {\n      env     = [\"HOME\"]\n      network = [\"mirror.example:443\"]\n      random  = \"host\"\n      read    = [\"files/\", \"${var.cache}/${source.name}\"]\n    }\n",
        "    limits {\n      calls_in_flight = 2\n      memory          = \"${var.mem}MiB\"\n    }\n",
        "    grant {\n      clock     = \"host\"\n      exec_host = true\n    }\n",
        "    limits {\n      ui_output = \"2KB\"\n    }\n",
        "    grant {\n      write = [\"dist/\"]\n    }\n",
    ] {
        assert!(hcl.contains(expected), "{expected}\nis not in\n{hcl}");
    }
    assert!(!hcl.contains("grant ="), "{hcl}");
    assert!(!hcl.contains("limits ="), "{hcl}");

    let upgraded = t.dir().join("t.pkr.hcl");
    std::fs::write(&upgraded, &hcl).unwrap();
    let from_hcl = load(&upgraded, &t.options())
        .unwrap_or_else(|d| panic!("{}\n{hcl}", shown(&d)))
        .plan;
    let from_json = t.builds();
    let steps = |builds: &[BuildPlan]| {
        let mut out: Vec<(String, Vec<(Grant, Limits)>)> = builds
            .iter()
            .map(|b| {
                let mut steps: Vec<(Grant, Limits)> = b
                    .provisioners
                    .iter()
                    .chain(&b.error_cleanup)
                    .map(|p| (p.grant.clone(), p.limits))
                    .collect();
                steps.extend(
                    b.post_processors
                        .iter()
                        .flatten()
                        .map(|p| (p.grant.clone(), p.limits)),
                );
                (b.source_name.clone(), steps)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    assert_eq!(steps(&from_json), steps(&from_hcl.builds));
}

#[test]
fn relative_paths_and_path_root_both_mean_the_template_directory() {
    // Loaded by a relative path, as `kiln build dir/t.pkr.hcl` does: `path.root` is
    // relative to the working directory, yet in a grant it is the template's directory.
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let opts = LoadOptions {
        cwd: crate_dir.clone(),
        ..Default::default()
    };
    let loaded = load(Path::new("tests/grants/path-root.pkr.hcl"), &opts)
        .unwrap_or_else(|d| panic!("{}", shown(&d)));
    let step = &loaded.plan.builds[0].provisioners[0];
    let dir = crate_dir.join("tests/grants");
    assert_eq!(step.grant.read, [dir.join("files"), dir.join("data")]);
    assert_eq!(step.grant.write, [crate_dir.join("out")]);
    assert_eq!(
        step.block.config["inline"],
        serde_json::json!(["echo tests/grants"]),
        "elsewhere path.root is as Packer has it"
    );
}

/// `cacheable` (Kiln's, for step checkpoints): read in HCL2 and legacy JSON, left out of
/// the step's configuration, kept by `hcl2_upgrade`, and a value that is not a boolean
/// is refused where it is written.
#[test]
fn cacheable_is_read_in_either_form_and_kept_by_hcl2_upgrade() {
    let hcl = Template::new(
        "t.pkr.hcl",
        &format!(
            "{SOURCES}\nbuild {{\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {{\n    inline    = [\"echo\"]\n    cacheable = true\n  }}\n  provisioner \"shell-local\" {{\n    inline = [\"echo\"]\n  }}\n}}\n"
        ),
    );
    let builds = hcl.builds();
    let steps = &builds[0].provisioners;
    assert_eq!((steps[0].cacheable, steps[1].cacheable), (true, false));
    assert!(!steps[0].block.config.contains_key("cacheable"));

    let json = Template::new(
        "t.json",
        r#"{
  "builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [
    {"type": "shell-local", "inline": ["echo"], "cacheable": true},
    {"type": "shell-local", "inline": ["echo"]}
  ]
}
"#,
    );
    let builds = json.builds();
    let steps = &builds[0].provisioners;
    assert_eq!((steps[0].cacheable, steps[1].cacheable), (true, false));
    assert!(!steps[0].block.config.contains_key("cacheable"));
    let upgraded = hcl2_upgrade(&json.path).unwrap_or_else(|d| panic!("{}", shown(&d)));
    assert!(upgraded.contains("cacheable = true"), "{upgraded}");
    std::fs::write(json.dir().join("u.pkr.hcl"), &upgraded).unwrap();
    let again = load(&json.dir().join("u.pkr.hcl"), &json.options())
        .unwrap_or_else(|d| panic!("{}\n{upgraded}", shown(&d)))
        .plan;
    assert!(again.builds[0].provisioners[0].cacheable);

    let bad = Template::new(
        "t.pkr.hcl",
        &format!(
            "{SOURCES}\nbuild {{\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {{\n    inline    = [\"echo\"]\n    cacheable = \"often\"\n  }}\n}}\n"
        ),
    );
    let errors = places(&bad.errors());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("t.pkr.hcl:14:")
            && errors[0].contains("`cacheable` must be true or false"),
        "{errors:?}"
    );
}
