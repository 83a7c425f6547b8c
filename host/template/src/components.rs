//! `packer { required_components { ... } }`: the components a template uses beyond the
//! builtins, each named by the step type that runs it and pinned to where it comes from.
//!
//! ```hcl
//! packer {
//!   required_components {
//!     motd  = { source = "registry.example:5000/kiln/motd:1.0" } # an OCI reference
//!     local = { source = "./components/local.wasm" }            # a file (relative to the template)
//!   }
//! }
//! build {
//!   provisioner "motd" { message = "hello" }
//! }
//! ```
//!
//! A source is a file when it ends in `.wasm` or starts with `./`, `../` or `/`;
//! anything else is an OCI reference. `kiln init` pulls the references and locks their
//! digests; the entries are literals, read without variables, so `kiln init` can read
//! them from a template whose variables are not set yet.

use std::path::{Path, PathBuf};

use hcl::edit::expr::Expression;
use hcl::edit::structure::{Block, Structure};
use hcl::edit::Span;
use kiln_core::diag::did_you_mean;
use kiln_core::plan::{ComponentSource, RequiredComponent};
use kiln_core::Diagnostic;

use crate::files::{self, SourceFile, TemplateKind};
use crate::At;

/// The keys of one entry.
const KEYS: &[&str] = &["source"];

/// Reads the entries of one `required_components` block into `out`.
pub(crate) fn collect(
    at: &At<'_>,
    block: &Block,
    template_dir: &Path,
    out: &mut Vec<RequiredComponent>,
    errors: &mut Vec<Diagnostic>,
) {
    if let Err(d) = at.labels(block, &[]) {
        errors.push(d);
    }
    let example = "such as `motd = { source = \"registry.example/kiln/motd:1.0\" }`";
    for s in block.body.iter() {
        let attr = match s {
            Structure::Attribute(a) => a,
            Structure::Block(b) => {
                errors.push(at.unsupported_block(b, &[]));
                continue;
            }
        };
        let name = attr.key.as_str().to_owned();
        let Expression::Object(object) = &attr.value else {
            errors.push(
                at.err(attr.value.span(), format!("Invalid component \"{name}\""))
                    .with_hint(format!(
                        "Each entry is an object with a `source`, {example}."
                    )),
            );
            continue;
        };
        let (mut source, mut invalid) = (None, false);
        for (key, value) in object.iter() {
            let key_text = match key {
                hcl::edit::expr::ObjectKey::Ident(i) => i.as_str().to_owned(),
                hcl::edit::expr::ObjectKey::Expression(e) => {
                    e.to_string().trim().trim_matches('"').to_owned()
                }
            };
            if key_text != "source" {
                let mut d = at.err(
                    key.span(),
                    format!("Unsupported argument \"{key_text}\" in component \"{name}\""),
                );
                d = match (
                    key_text.as_str(),
                    did_you_mean(&key_text, KEYS.iter().copied()),
                ) {
                    ("version", _) => d.with_hint(
                        "A component's version is its reference's tag or digest, written in \
                         `source` (`registry.example/kiln/motd:1.2`).",
                    ),
                    (_, Some(s)) => d.with_hint(format!("Did you mean \"{s}\"?")),
                    _ => d.with_hint("The only argument is `source`."),
                };
                errors.push(d);
                invalid = true;
                continue;
            }
            match value.expr() {
                Expression::String(s) if !s.value().trim().is_empty() => {
                    source = Some((s.value().trim().to_owned(), value.expr().span()))
                }
                other => {
                    invalid = true;
                    errors.push(
                        at.err(
                            other.span(),
                            format!("Invalid source of component \"{name}\""),
                        )
                        .with_hint(
                            "`source` is a literal string: an OCI reference \
                                 (registry.example/kiln/motd:1.0) or a .wasm file path.",
                        ),
                    )
                }
            }
        }
        let Some((text, span)) = source else {
            if !invalid {
                errors.push(
                    at.err(
                        attr.key.span(),
                        format!("Component \"{name}\" has no source"),
                    )
                    .with_hint(format!("Write where it comes from, {example}.")),
                );
            }
            continue;
        };
        let location = at.loc(span);
        if let Some(first) = out.iter().find(|c| c.name == name) {
            errors.push(
                at.err(attr.key.span(), format!("Duplicate component \"{name}\""))
                    .with_hint(format!("The first definition is at {}.", first.location)),
            );
            continue;
        }
        out.push(RequiredComponent {
            name,
            source: classify(&text, template_dir),
            location,
        });
    }
}

/// A file path or an OCI reference.
fn classify(source: &str, template_dir: &Path) -> ComponentSource {
    let is_path =
        source.ends_with(".wasm") || ["./", "../", "/"].iter().any(|p| source.starts_with(p));
    if !is_path {
        return ComponentSource::Oci(source.to_owned());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = crate::grants::absolute(template_dir, &cwd);
    ComponentSource::File(crate::grants::absolute(Path::new(source), &dir))
}

/// The `required_components` of the template at `path` (a file or a directory of
/// HCL2 files), read without evaluating anything else: what `kiln init` needs.
pub fn required_components(path: &Path) -> Result<Vec<RequiredComponent>, Vec<Diagnostic>> {
    if files::kind(path) == TemplateKind::LegacyJson {
        return Ok(Vec::new());
    }
    let (template_paths, _) = files::discover(path).map_err(|d| vec![d])?;
    let template_dir = crate::template_dir(path);
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for p in &template_paths {
        let file = match SourceFile::load(p) {
            Ok(f) => f,
            Err(d) => {
                errors.push(d);
                continue;
            }
        };
        let at = At { file: &file };
        for block in file.body.iter().filter_map(Structure::as_block) {
            if block.ident.as_str() != "packer" {
                continue;
            }
            for inner in block.body.iter().filter_map(Structure::as_block) {
                if inner.ident.as_str() == "required_components" {
                    collect(&at, inner, &template_dir, &mut out, &mut errors);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The path of the lock file of the template at `path`: `kiln.lock.json` in a template
/// directory, `<file>.lock.json` next to a template file.
pub fn lock_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("kiln.lock.json")
    } else {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".lock.json");
        path.with_file_name(name)
    }
}
