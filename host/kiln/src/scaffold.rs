//! The files of a new component crate (`kiln component new`): a cdylib on the guest
//! SDK that `cargo build --release` turns into a component (the target is set in
//! `.cargo/config.toml`), with a working step to start from.

use std::path::{Path, PathBuf};

/// Each file's path inside the crate, and its text.
pub fn files(name: &str, sdk: &Path, post_processor: bool) -> Vec<(PathBuf, String)> {
    let world = if post_processor {
        "post-processor"
    } else {
        "provisioner"
    };
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
kiln-guest-sdk = {{ path = "{sdk}" }}
serde = {{ version = "1.0", features = ["derive"] }}

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A crate of its own, outside any workspace around it.
[workspace]
"#,
        sdk = sdk.display()
    );
    let config = "# Components are built for WASI 0.2.\n[build]\ntarget = \"wasm32-wasip2\"\n";
    let lib = if post_processor {
        post_processor_lib(name)
    } else {
        provisioner_lib(name)
    };
    let readme = format!(
        "# {name}\n\nA Kiln {world} component.\n\n```sh\ncargo build --release   # -> target/wasm32-wasip2/release/{file}.wasm\n\
         kiln component inspect target/wasm32-wasip2/release/{file}.wasm\n\
         kiln component push target/wasm32-wasip2/release/{file}.wasm REGISTRY/REPOSITORY:TAG\n```\n\n\
         A template uses it by name:\n\n```hcl\npacker {{\n  required_components {{\n    {name} = {{ source = \"REGISTRY/REPOSITORY:TAG\" }}\n  }}\n}}\n```\n\n\
         then `kiln init` pulls and locks it.\n",
        file = name.replace('-', "_")
    );
    vec![
        ("Cargo.toml".into(), cargo),
        (".cargo/config.toml".into(), config.into()),
        ("src/lib.rs".into(), lib),
        ("README.md".into(), readme),
        (".gitignore".into(), "/target\n".into()),
    ]
}

fn provisioner_lib(name: &str) -> String {
    format!(
        r#"//! `{name}`: a Kiln provisioner. It runs in a sandbox and reaches the machine only
//! through `remote`, the person running the build only through `ui`.

use kiln_guest_sdk::{{remote, ui, BuildInfo, ConfigError, Provisioner, Step}};
use serde::Deserialize;

/// The template block's attributes; unknown ones are errors `kiln validate` reports.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {{
    /// Written to the machine's standard output.
    message: String,
}}

struct MyStep;

impl Step for MyStep {{
    type Config = Config;

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {{
        if config.message.is_empty() {{
            return Err(vec![ConfigError::on("message", "message must not be empty")]);
        }}
        Ok(())
    }}
}}

impl Provisioner for MyStep {{
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {{
        ui::say(&format!("{name} on {{}}", build.build_name));
        let quoted = config.message.replace('\'', r"'\''");
        remote::run_checked(&format!("echo '{{quoted}}'"), &[0])
    }}
}}

kiln_guest_sdk::provisioner!(MyStep);
"#
    )
}

fn post_processor_lib(name: &str) -> String {
    format!(
        r#"//! `{name}`: a Kiln post-processor. It sees only its input artifact's files (through
//! `kiln_guest_sdk::artifacts`) and writes only where its step was granted.

use kiln_guest_sdk::{{ui, Artifact, BuildInfo, PostProcessResult, PostProcessor, Step}};
use serde::Deserialize;

/// The template block's attributes; unknown ones are errors `kiln validate` reports.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {{}}

struct MyStep;

impl Step for MyStep {{
    type Config = Config;
}}

impl PostProcessor for MyStep {{
    fn post_process(
        _config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {{
        ui::say(&format!("{name}: {{}} has {{}} file(s)", build.build_name, input.files.len()));
        Ok(PostProcessResult {{
            artifact: input,
            keep_input: true,
        }})
    }}
}}

kiln_guest_sdk::post_processor!(MyStep);
"#
    )
}
