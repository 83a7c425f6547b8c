//! Filesystem functions: abspath, basename, dirname, file, filebase64, fileexists,
//! fileset, pathexpand, templatefile.
//!
//! Like Packer, `file`, `filebase64`, `fileexists`, `fileset` and `templatefile` resolve
//! a relative path against the template's directory. hcl-rs functions are plain `fn`s
//! that cannot capture it, so [`super::evaluate`] publishes the context's `path.root`
//! for the duration of an evaluation on the evaluating thread ([`TemplateDir`]); without
//! one, relative paths resolve against the working directory. `abspath`, as in Packer,
//! always uses the working directory. Paths are cleaned lexically as Go's `filepath`
//! cleans them.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use base64::Engine;
use globset::GlobBuilder;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{Expression, Traversal, Variable};
use hcl::template::Template;
use hcl::Value;

use super::args::{invalid, object, string, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    abspath(1) basename(1) dirname(1) file(1) filebase64(1) fileexists(1) fileset(2)
    pathexpand(1) templatefile(2)
};

thread_local! {
    static TEMPLATE_DIR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// While alive, makes a context's `path.root` the directory relative paths resolve
/// against on this thread.
pub(super) struct TemplateDir {
    previous: Option<Option<String>>,
}

impl TemplateDir {
    /// Publishes `path.root` of `ctx`, if it declares one.
    pub(super) fn enter(ctx: &Context<'_>) -> TemplateDir {
        let root = Traversal::builder(Variable::unchecked("path"))
            .attr("root")
            .build();
        let previous = match Expression::from(root).evaluate(ctx) {
            Ok(Value::String(dir)) => Some(TEMPLATE_DIR.replace(Some(dir))),
            _ => None,
        };
        TemplateDir { previous }
    }
}

impl Drop for TemplateDir {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            TEMPLATE_DIR.set(previous);
        }
    }
}

/// `path` with `~` expanded and, when relative, joined to the template's directory.
///
/// When the template's directory is itself relative (`kiln build subdir`), a path that
/// starts with it was built from `path.root` and is already relative to the working
/// directory, so it is not joined twice (Packer would look in `subdir/subdir`).
fn resolve(path: &str) -> Result<String> {
    let path = clean(&expand_home(path)?);
    if path.starts_with('/') {
        return Ok(path);
    }
    match TEMPLATE_DIR.with_borrow(|dir| dir.as_deref().map(clean)) {
        Some(base) if path != base && !path.starts_with(&format!("{base}/")) => {
            Ok(clean(&format!("{base}/{path}")))
        }
        _ => Ok(path),
    }
}

/// Go's `filepath.Clean`: removes `.` and doubled slashes and resolves `..` lexically.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// go-homedir's `Expand`: `~` and `~/...` become the home directory.
fn expand_home(path: &str) -> Result<String> {
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.to_owned());
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return Err(invalid("path", "cannot expand user-specific home dir"));
    }
    let home = std::env::var("HOME")
        .ok()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("path", "cannot expand ~: $HOME is not set"))?;
    Ok(clean(&format!("{home}{rest}")))
}

fn abspath(args: FuncArgs) -> Result<Value> {
    let path = string(&args[0], "path")?;
    if path.starts_with('/') {
        return Ok(Value::String(clean(&path)));
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot find the working directory: {e}"))?;
    Ok(Value::String(clean(&format!("{}/{path}", cwd.display()))))
}

/// Go's `filepath.Base`.
fn basename(args: FuncArgs) -> Result<Value> {
    let path = string(&args[0], "path")?;
    let trimmed = path.trim_end_matches('/');
    Ok(Value::from(match (path.is_empty(), trimmed.is_empty()) {
        (true, _) => ".",
        (false, true) => "/",
        (false, false) => trimmed.rsplit('/').next().unwrap_or(trimmed),
    }))
}

/// Go's `filepath.Dir`.
fn dirname(args: FuncArgs) -> Result<Value> {
    let path = string(&args[0], "path")?;
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    Ok(Value::String(clean(dir)))
}

fn pathexpand(args: FuncArgs) -> Result<Value> {
    expand_home(&string(&args[0], "path")?).map(Value::String)
}

fn read(path: &str) -> Result<(String, Vec<u8>)> {
    let resolved = resolve(path)?;
    match crate::files::read_regular(std::path::Path::new(&resolved)) {
        Ok(bytes) => Ok((resolved, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("no file exists at {resolved}"))
        }
        Err(e) => Err(format!("failed to read {resolved}: {e}")),
    }
}

fn read_text(path: &str) -> Result<(String, String)> {
    let (resolved, bytes) = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "contents of {resolved} are not valid UTF-8; \
             use the filebase64 function to obtain the Base64 encoded contents"
        )
    })?;
    Ok((resolved, text))
}

fn file(args: FuncArgs) -> Result<Value> {
    read_text(&string(&args[0], "path")?).map(|(_, text)| Value::String(text))
}

fn filebase64(args: FuncArgs) -> Result<Value> {
    let (_, bytes) = read(&string(&args[0], "path")?)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

/// `fileexists(path)`: true for a regular file, false when nothing is there.
fn fileexists(args: FuncArgs) -> Result<Value> {
    let resolved = resolve(&string(&args[0], "path")?)?;
    match std::fs::metadata(&resolved) {
        Ok(meta) if meta.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(format!("{resolved} is not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(format!("failed to stat {resolved}: {e}")),
    }
}

/// `fileset(path, pattern)`: the regular files under `path` matching `pattern`, relative
/// to `path` with `/` separators, sorted. `*` and `?` stay within a directory, `**`
/// spans any number of them; `[...]` and `{a,b}` work as in shells.
fn fileset(args: FuncArgs) -> Result<Value> {
    let base = resolve(&string(&args[0], "path")?)?;
    let pattern = string(&args[1], "pattern")?;
    let full = clean(&format!("{base}/{}", pattern.trim_start_matches('/')));
    let matcher = GlobBuilder::new(&full)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| {
            invalid(
                "pattern",
                format!("failed to glob pattern ({pattern}): {e}"),
            )
        })?
        .compile_matcher();
    // Walk from the deepest directory the pattern names literally.
    let literal: Vec<&str> = full
        .split('/')
        .take_while(|part| !part.contains(['*', '?', '[', '{', '\\']))
        .collect();
    let root = match literal.join("/") {
        s if s.is_empty() && full.starts_with('/') => "/".to_owned(),
        s if s.is_empty() => ".".to_owned(),
        s => s,
    };
    let mut found = Vec::new();
    walk(Path::new(&root), &mut |file| {
        let file = clean(&file.to_string_lossy());
        if matcher.is_match(&file) {
            found.push(relative(&base, &file));
        }
    })
    .map_err(|e| format!("failed to glob pattern ({pattern}): {e}"))?;
    found.sort();
    found.dedup();
    Ok(Value::Array(found.into_iter().map(Value::from).collect()))
}

/// Calls `visit` with every regular file under `dir` (or `dir` itself when it is one);
/// symbolic links to files count, links to directories are not followed.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        if std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
            visit(dir);
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for entry in entries {
        walk(&entry, visit)?;
    }
    Ok(())
}

/// `target` relative to `base`, both clean; `..` where `target` is outside `base`.
fn relative(base: &str, target: &str) -> String {
    let split = |p: &'_ str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_owned)
            .collect()
    };
    let (base, target) = (split(base), split(target));
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts = vec!["..".to_owned(); base.len() - common];
    parts.extend(target[common..].iter().cloned());
    parts.join("/")
}

/// `templatefile(path, vars)`: the file rendered as an HCL string template with `vars`
/// as its variables and every function but `templatefile` itself.
fn templatefile(args: FuncArgs) -> Result<Value> {
    let (resolved, text) = read_text(&string(&args[0], "path")?)?;
    let vars = object(&args[1], "vars")
        .map_err(|_| invalid("vars", "invalid vars value: must be a map"))?;
    let template: Template = text
        .parse()
        .map_err(|e| format!("failed to parse {resolved} as a template: {e}"))?;
    let mut ctx = Context::new();
    super::declare(&mut ctx, false);
    ctx.declare_func(
        "templatefile",
        FuncDef::new(no_recursion, [ParamType::Any, ParamType::Any]),
    );
    for (name, value) in vars {
        if Variable::new(name.as_str()).is_err() {
            return Err(invalid(
                "vars",
                format!(
                    "invalid template variable name {name:?}: must start with a letter, \
                     followed by zero or more letters, digits, and underscores"
                ),
            ));
        }
        ctx.declare_var(name.as_str(), value.clone());
    }
    super::eval::evaluate_template(&template, &ctx).map_err(|e| format!("{resolved}: {e}"))
}

fn no_recursion(_: FuncArgs) -> Result<Value> {
    Err("cannot recursively call templatefile from inside templatefile call".to_owned())
}
