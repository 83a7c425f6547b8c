//! `kiln fmt`: rewrites HCL2 templates and variable files in the canonical layout
//! `packer fmt` gives them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status of `-check` when some input is not formatted (as Packer's).
const EXIT_UNFORMATTED: u8 = 3;

/// What `kiln fmt` was asked to do.
#[derive(Debug, Clone)]
pub struct FmtOptions {
    /// Report unformatted files and fail, changing nothing.
    pub check: bool,
    /// Print a unified diff of each change.
    pub diff: bool,
    /// Write the result back (ignored with `check`).
    pub write: bool,
    /// Descend into subdirectories.
    pub recursive: bool,
}

/// Formats `target`: a file, a directory, or `-` for stdin to stdout.
pub fn run(target: &Path, opts: &FmtOptions) -> ExitCode {
    if target == Path::new("-") {
        let mut source = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut source) {
            eprintln!("Error: reading stdin: {e}");
            return ExitCode::from(1);
        }
        return match kiln_template::fmt::format_hcl(&source, "<stdin>") {
            Ok(formatted) => {
                if opts.check {
                    return if formatted == source {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(EXIT_UNFORMATTED)
                    };
                }
                if opts.diff {
                    print!("{}", unified_diff("<stdin>", &source, &formatted));
                } else {
                    let _ = std::io::stdout().write_all(formatted.as_bytes());
                }
                ExitCode::SUCCESS
            }
            Err(d) => {
                eprintln!("{d}");
                ExitCode::from(1)
            }
        };
    }
    let files = match files(target, opts.recursive) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error: {}: {e}", target.display());
            return ExitCode::from(1);
        }
    };
    let (mut failed, mut unformatted) = (false, false);
    for file in files {
        let source = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("Error: {}: {e}", file.display());
                failed = true;
                continue;
            }
        };
        let name = file.display().to_string();
        let formatted = match kiln_template::fmt::format_hcl(&source, &name) {
            Ok(f) => f,
            Err(d) => {
                eprintln!("{d}\n");
                failed = true;
                continue;
            }
        };
        if formatted == source {
            continue;
        }
        unformatted = true;
        println!("{name}");
        if opts.diff {
            print!("{}", unified_diff(&name, &source, &formatted));
        }
        if opts.write && !opts.check {
            if let Err(e) = std::fs::write(&file, formatted) {
                eprintln!("Error: writing {name}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else if opts.check && unformatted {
        ExitCode::from(EXIT_UNFORMATTED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The HCL2 files `fmt` handles under `target`, sorted.
fn files(target: &Path, recursive: bool) -> std::io::Result<Vec<PathBuf>> {
    if !target.is_dir() {
        std::fs::metadata(target)?;
        return Ok(vec![target.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![target.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                if recursive && !name.starts_with('.') {
                    dirs.push(path);
                }
            } else if name.ends_with(".pkr.hcl") || name.ends_with(".pkrvars.hcl") {
                out.push(path);
            }
        }
    }
    // `kiln fmt .` names files as Packer does: `a.pkr.hcl`, not `./a.pkr.hcl`.
    let out = out
        .into_iter()
        .map(|p| p.strip_prefix("./").map(Path::to_owned).unwrap_or(p));
    let mut out: Vec<PathBuf> = out.collect();
    out.sort();
    Ok(out)
}

/// A unified diff with three lines of context, headed `old/NAME` and `new/NAME` as
/// Packer's.
fn unified_diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("old/{name}"), &format!("new/{name}"))
        .to_string()
}
