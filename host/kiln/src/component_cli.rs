//! `kiln init` and `kiln component push | pull | inspect | login | new`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_registry::{Digest, Reference, RegistryAuth};
use kiln_runtime::{ComponentInfo, World};

use kiln_engine::components;

/// What `kiln component` does.
#[derive(Debug, clap::Subcommand)]
pub enum ComponentCommand {
    /// Publish a component to an OCI registry (Wasm OCI artifact layout); prints the
    /// manifest digest.
    Push {
        /// The component (.wasm).
        file: PathBuf,
        /// Where to: registry/repository:tag.
        reference: String,
        /// org.opencontainers.image.version (default: the tag).
        #[arg(long)]
        version: Option<String>,
        /// org.opencontainers.image.description.
        #[arg(long)]
        description: Option<String>,
        /// org.opencontainers.image.source: where its source code lives.
        #[arg(long)]
        source: Option<String>,
        /// org.opencontainers.image.licenses (an SPDX expression).
        #[arg(long)]
        licenses: Option<String>,
        /// Speak plain HTTP to this registry (loopback registries always are).
        #[arg(long)]
        insecure: bool,
    },
    /// Download a component from a registry, verifying its digest.
    Pull {
        /// registry/repository:tag or @sha256:...
        reference: String,
        /// Where to write it (default: the repository's last segment, .wasm).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Speak plain HTTP to this registry.
        #[arg(long)]
        insecure: bool,
    },
    /// Show a component's world, imports, exports, declared grants and digests.
    Inspect {
        /// A .wasm file, or a registry reference.
        target: String,
        /// Speak plain HTTP to this registry.
        #[arg(long)]
        insecure: bool,
    },
    /// Store credentials for a registry in the Docker config file.
    Login {
        /// The registry, host[:port].
        registry: String,
        /// The user name.
        #[arg(short = 'u', long)]
        username: String,
        /// The password (prefer --password-stdin).
        #[arg(short = 'p', long)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long = "password-stdin")]
        password_stdin: bool,
    },
    /// Create a new component crate that builds with `cargo build --release`.
    New {
        /// The crate's name (also its directory).
        name: String,
        /// A post-processor instead of a provisioner.
        #[arg(long = "post-processor")]
        post_processor: bool,
        /// The guest SDK to depend on (default: the one this Kiln was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("Error: {message}");
    ExitCode::from(1)
}

fn reference(text: &str) -> Result<Reference, ExitCode> {
    text.parse().map_err(|e: kiln_registry::Error| fail(e))
}

/// `kiln init [-upgrade] TEMPLATE`.
pub async fn init(template: &Path, upgrade: bool) -> ExitCode {
    match components::init(template, upgrade).await {
        Ok(lines) if lines.is_empty() => {
            println!("The template requires no components beyond Kiln's builtins.");
            ExitCode::SUCCESS
        }
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            println!(
                "Lock file: {}",
                kiln_template::lock_path(template).display()
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in diags {
                eprintln!("{d}\n");
            }
            ExitCode::from(1)
        }
    }
}

/// Runs one `kiln component` command.
pub async fn run(command: ComponentCommand) -> ExitCode {
    match command {
        ComponentCommand::Push {
            file,
            reference: r,
            version,
            description,
            source,
            licenses,
            insecure,
        } => {
            let r = match reference(&r) {
                Ok(r) => r,
                Err(code) => return code,
            };
            push(&file, &r, version, description, source, licenses, insecure).await
        }
        ComponentCommand::Pull {
            reference: r,
            output,
            insecure,
        } => match reference(&r) {
            Ok(r) => pull(&r, output, insecure).await,
            Err(code) => code,
        },
        ComponentCommand::Inspect { target, insecure } => inspect(&target, insecure).await,
        ComponentCommand::Login {
            registry,
            username,
            password,
            password_stdin,
        } => login(&registry, username, password, password_stdin),
        ComponentCommand::New {
            name,
            post_processor,
            sdk,
        } => new(&name, post_processor, sdk),
    }
}

/// The component's description, or why the file is not a component.
fn describe(file: &Path, bytes: &[u8]) -> Result<ComponentInfo, ExitCode> {
    kiln_runtime::component_info(bytes).map_err(|e| fail(format!("{}: {e}", file.display())))
}

/// The worlds a component implements, as `kiln:plugin/provisioner` (comma-separated).
fn kinds_name(kinds: &[World]) -> Option<String> {
    (!kinds.is_empty()).then(|| {
        kinds
            .iter()
            .map(|w| format!("kiln:plugin/{}", w.name()))
            .collect::<Vec<_>>()
            .join(",")
    })
}

async fn push(
    file: &Path,
    r: &Reference,
    version: Option<String>,
    description: Option<String>,
    source: Option<String>,
    licenses: Option<String>,
    insecure: bool,
) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("reading {}: {e}", file.display())),
    };
    let info = match describe(file, &bytes) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if info.kinds.is_empty() {
        return fail(format!(
            "{} is a component, but not a Kiln step: it exports {:?}; a step exports \
             `kiln:plugin/configure` and `kiln:plugin/provisioning` or \
             `kiln:plugin/post-processing`",
            file.display(),
            info.exports
        ));
    }
    let access = match components::access(r, insecure) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    let meta = kiln_registry::ComponentMeta {
        imports: info.imports,
        exports: info.exports,
        target: kinds_name(&info.kinds),
        title: file.file_name().map(|n| n.to_string_lossy().into_owned()),
        version: version.or_else(|| r.tag().map(str::to_owned)),
        description,
        source,
        licenses,
        created,
    };
    match kiln_registry::push_component(r, &access, file, &meta).await {
        Ok(pushed) => {
            println!("Pushed {r}");
            println!("Component: {} ({} bytes)", pushed.layer, pushed.size);
            println!("Digest: {}", pushed.manifest);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn pull(r: &Reference, output: Option<PathBuf>, insecure: bool) -> ExitCode {
    let store = match components::store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let access = match components::access(r, insecure) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let pulled = match kiln_registry::pull_component(r, &access, &store).await {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let output = output.unwrap_or_else(|| components::default_output(r));
    if let Err(e) = copy_blob(&store, &pulled.layer, &output) {
        return fail(e);
    }
    println!("Pulled {r}");
    println!("Digest: {}", pulled.manifest);
    println!(
        "Component: {} ({} bytes) -> {}",
        pulled.layer,
        pulled.size,
        output.display()
    );
    ExitCode::SUCCESS
}

/// Copies the blob `digest` out of the store to `output`, through a temporary file.
fn copy_blob(
    store: &kiln_registry::BlobStore,
    digest: &Digest,
    output: &Path,
) -> Result<(), String> {
    components::replace_file(output, |tmp| {
        std::fs::copy(store.path(digest), tmp).map(drop)
    })
    .map_err(|e| format!("writing {}: {e}", output.display()))
}

async fn inspect(target: &str, insecure: bool) -> ExitCode {
    let path = Path::new(target);
    let (bytes, registry_lines) = if path.is_file() {
        match std::fs::read(path) {
            Ok(b) => (b, Vec::new()),
            Err(e) => return fail(format!("reading {target}: {e}")),
        }
    } else {
        let r = match reference(target) {
            Ok(r) => r,
            Err(code) => {
                eprintln!("(`{target}` is neither a file nor a registry reference)");
                return code;
            }
        };
        let (store, access) = match (components::store(), components::access(&r, insecure)) {
            (Ok(s), Ok(a)) => (s, a),
            (Err(e), _) | (_, Err(e)) => return fail(e),
        };
        let pulled = match kiln_registry::pull_component(&r, &access, &store).await {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        let bytes = match std::fs::read(store.path(&pulled.layer)) {
            Ok(b) => b,
            Err(e) => return fail(format!("reading the cached component: {e}")),
        };
        let mut lines = vec![
            format!("Reference: {r}"),
            format!("Manifest digest: {}", pulled.manifest),
        ];
        for (k, v) in &pulled.annotations {
            lines.push(format!("Annotation {k}: {v}"));
        }
        (bytes, lines)
    };
    let info = match describe(path, &bytes) {
        Ok(i) => i,
        Err(code) => return code,
    };
    for line in registry_lines {
        println!("{line}");
    }
    println!("Component digest: {}", Digest::of(&bytes));
    println!("Size: {} bytes", bytes.len());
    println!(
        "World: {}",
        kinds_name(&info.kinds).unwrap_or_else(|| "none (it is not a Kiln step)".to_owned())
    );
    println!("Exports:");
    for e in &info.exports {
        println!("  {e}");
    }
    println!("Imports:");
    for i in &info.imports {
        println!("  {i}");
    }
    match &info.declared {
        None => println!("Declared grants: none (it needs only the communicator and the UI)"),
        Some(g) => {
            println!("Declared grants:");
            for line in g.to_hcl_lines() {
                println!("  {line}");
            }
        }
    }
    ExitCode::SUCCESS
}

fn login(
    registry: &str,
    username: String,
    password: Option<String>,
    password_stdin: bool,
) -> ExitCode {
    let password = match (password, password_stdin) {
        (Some(p), false) => p,
        (None, true) => {
            let mut p = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut p) {
                return fail(format!("reading the password from stdin: {e}"));
            }
            p.trim_end_matches(['\n', '\r']).to_owned()
        }
        _ => return fail("give the password with exactly one of -p and --password-stdin"),
    };
    if password.is_empty() {
        return fail("the password is empty");
    }
    let auth = RegistryAuth { username, password };
    match kiln_registry::store_login(registry, &auth) {
        Ok(path) => {
            println!("Stored credentials for {registry} in {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// The guest SDK this Kiln was built from, when its source is still there.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().unwrap_or(sdk))
}

fn new(name: &str, post_processor: bool, sdk: Option<PathBuf>) -> ExitCode {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !valid {
        return fail(format!(
            "`{name}` is not a usable crate name: lowercase letters, digits, - and _, starting with a letter"
        ));
    }
    let dir = PathBuf::from(name);
    if dir.exists() {
        return fail(format!("{} already exists", dir.display()));
    }
    let Some(sdk) = sdk.or_else(default_sdk) else {
        return fail(
            "the guest SDK is not where this Kiln was built from; give its path with --sdk",
        );
    };
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    let files = crate::scaffold::files(name, &sdk, post_processor);
    for (rel, text) in &files {
        let path = dir.join(rel);
        let written = std::fs::create_dir_all(path.parent().expect("a file in the crate"))
            .and_then(|()| std::fs::write(&path, text));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dir);
            return fail(format!("writing {}: {e}", path.display()));
        }
    }
    let file = name.replace('-', "_");
    println!(
        "Created {}/ ({} files). Build it with:",
        dir.display(),
        files.len()
    );
    println!("  cd {name} && cargo build --release");
    println!("The component is target/wasm32-wasip2/release/{file}.wasm; publish it with:");
    println!(
        "  kiln component push target/wasm32-wasip2/release/{file}.wasm REGISTRY/REPOSITORY:TAG"
    );
    ExitCode::SUCCESS
}
