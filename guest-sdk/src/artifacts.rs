//! A post-processor's files: its input artifact (read-only) and its output directory
//! (read-write), reached through the host. Hashing and archiving run in the host while
//! it streams the files, so large artifacts never pass through the component.

use crate::bindings::kiln::plugin::artifact_files as host;
use crate::Error;

pub use host::{ArchiveEntry, ArchiveFormat, HashAlgorithm};

/// The hex digest of `path` for each of `algorithms`, in order, in one pass.
pub fn hash_file(path: &str, algorithms: &[HashAlgorithm]) -> Result<Vec<String>, Error> {
    host::hash_file(path, algorithms)
}

/// Writes `entries` into the archive `dest` and returns its size.
pub fn write_archive(
    entries: &[ArchiveEntry],
    dest: &str,
    format: ArchiveFormat,
    level: Option<i32>,
) -> Result<u64, Error> {
    host::write_archive(entries, dest, format, level)
}

/// Creates or replaces the small file `dest` with `data`.
pub fn write_file(dest: &str, data: &[u8]) -> Result<(), Error> {
    host::write_file(dest, data)
}

/// Holds the output file `path` for this step alone until [`unlock_file`] or the end of
/// the call: for a read, change and write of a file parallel builds share.
pub fn lock_file(path: &str) -> Result<(), Error> {
    host::lock_file(path)
}

/// Lets go of what [`lock_file`] holds.
pub fn unlock_file(path: &str) {
    host::unlock_file(path)
}

/// Removes the host file `path` that this step wrote itself (with [`write_file`] or
/// [`write_archive`]); any other file is refused.
pub fn remove_file(path: &str) -> Result<(), Error> {
    host::remove_file(path)
}

/// Reads the small file `path` whole.
pub fn read_file(path: &str) -> Result<Vec<u8>, Error> {
    host::read_file(path)
}

/// The size of `path` in bytes.
pub fn file_size(path: &str) -> Result<u64, Error> {
    host::file_size(path)
}

/// Renders the `{{.Name}}` placeholders of a Packer output template (`output =
/// "packer_{{.BuildName}}_{{.ChecksumType}}.checksum"`) from `vars`; spaces inside the
/// braces are allowed, as Go's templates allow them. An unknown name is an error that
/// lists the known ones.
pub fn render_output(template: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed \"{{{{\" in {template:?}"))?;
        let name = after[..end].trim();
        let key = name.strip_prefix('.').unwrap_or(name);
        match vars.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => out.push_str(v),
            None => {
                let known: Vec<String> =
                    vars.iter().map(|(k, _)| format!("{{{{.{k}}}}}")).collect();
                return Err(format!(
                    "unknown variable {{{{{name}}}}} in {template:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The build variable `name` (`PACKER_BUILDER_TYPE`, `PACKER_RUN_UUID`, ...), if set.
pub fn variable<'a>(build: &'a crate::BuildInfo, name: &str) -> Option<&'a str> {
    build
        .variables
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The build's name as Packer's `{{.BuildName}}` and `PACKER_BUILD_NAME` give it.
pub fn build_name(build: &crate::BuildInfo) -> &str {
    variable(build, "PACKER_BUILD_NAME").unwrap_or(build.build_name.as_str())
}

/// The last component of `path` (`a/b/c.img` → `c.img`).
pub fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// `text` made safe inside an XML element or attribute (a descriptor a step writes):
/// `&`, `<`, `>`, `"` and `'` escaped.
pub fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
