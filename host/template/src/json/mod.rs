//! Packer's legacy JSON templates, read as Packer 1.6.6 reads them, into the same
//! [`Plan`](kiln_core::plan::Plan) HCL2 gives, and turned into HCL2 text by
//! [`hcl2_upgrade`].
//!
//! Reading goes: [`reader`] (JSON with the position of every key and value) →
//! [`template`] (the sections, checked as Packer's parser and validator check them) →
//! [`vars`] (user variables) → [`plan`] (one build per builder, every string
//! interpolated by [`interpolate`], Packer's Go-template subset), with the provisioners
//! and post-processor chains whose `only` / `except` let them run in it.

mod checks;
mod interpolate;
mod plan;
pub(crate) mod reader;
mod scalars;
mod source;
mod template;
mod upgrade;
mod vars;

use std::path::Path;

use kiln_core::plan::Plan;
use kiln_core::Diagnostic;

use crate::{LoadOptions, Loaded};
use source::JsonFile;

pub use upgrade::hcl2_upgrade;

/// A `*.pkr.json` file holding a legacy template (a top-level `builders` array)
/// rather than HCL2's JSON syntax, loaded as the legacy template it is, with a warning
/// that Packer reads such names as HCL2; `None` when the file is not one.
pub fn load_legacy_pkr_json(
    path: &Path,
    opts: &LoadOptions,
) -> Option<Result<Loaded, Vec<Diagnostic>>> {
    let text = String::from_utf8(crate::files::read_regular(path).ok()?).ok()?;
    if !crate::hcl_json::looks_legacy(&text) {
        return None;
    }
    let warning = Diagnostic::warning(
        format!("{} is a legacy JSON template, read as one", path.display()),
        None,
    )
    .with_hint(
        "Packer reads *.pkr.json files as HCL2 in JSON syntax and rejects a legacy \
         template under that name. Rename it to *.json, or convert it with \
         `kiln hcl2_upgrade`.",
    );
    Some(load_json(path, opts).map(|mut loaded| {
        loaded.warnings.insert(0, warning);
        loaded
    }))
}

/// Loads a legacy JSON template (`*.json`, or a `*.pkr.json` holding one) into the
/// same Plan HCL2 gives.
pub fn load_json(path: &Path, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let file = JsonFile::read(path).map_err(|d| vec![d])?;
    let root = file.parse().map_err(|d| vec![d])?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let t = template::read(&file, &root, &mut errors);
    if errors.is_empty() {
        template::validate(&file, &t, &mut errors);
    }
    if !errors.is_empty() {
        return Err(dedup(errors));
    }

    let template_dir = path
        .parent()
        .map(Path::to_owned)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| ".".into());
    let cwd = if opts.cwd.as_os_str().is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        opts.cwd.clone()
    };
    let abs_dir = crate::grants::absolute(&template_dir, &cwd)
        .display()
        .to_string();
    let pwd = cwd.display().to_string();
    let clock = interpolate::Clock::from_env(&opts.env);
    let var_scope = interpolate::Scope {
        env: Some(&opts.env),
        build: None,
        template_dir: &abs_dir,
        pwd: &pwd,
        packer_version: None,
        clock,
    };
    let vars = vars::resolve(
        &file,
        &t,
        &opts.var_args,
        &var_scope,
        &mut errors,
        &mut warnings,
    );
    if !errors.is_empty() {
        return Err(dedup(errors));
    }
    let common = plan::Common {
        file: &file,
        template_dir: &abs_dir,
        pwd: &pwd,
        clock,
        vars: &vars.values,
    };
    let builds = plan::builds(&common, &t, &mut errors, &mut warnings);
    if !errors.is_empty() {
        return Err(dedup(errors));
    }
    let inspection = crate::Inspection {
        variables: vars
            .values
            .iter()
            .map(|(name, value)| crate::inspect::Value {
                name: name.clone(),
                value: Some(serde_json::Value::String(value.clone())),
                sensitive: t.sensitive.contains(name),
            })
            .collect(),
        locals: vec![],
        builds: vec![],
        legacy: Some(crate::inspect::LegacyJson {
            builders: t
                .builders
                .iter()
                .map(|b| (b.name.clone(), b.ty.clone()))
                .collect(),
            provisioners: t.provisioners.iter().map(|p| p.ty.clone()).collect(),
        }),
    };
    Ok(Loaded {
        plan: Plan {
            template_dir,
            builds,
            sensitive: vars.sensitive,
            components: Vec::new(),
            plugins: Vec::new(),
        },
        warnings: dedup(warnings),
        inspection,
        console: None,
    })
}

/// Drops repeats (a provisioner's problem is found once per build it runs in).
fn dedup(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    for d in diags {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{self, TemplateKind};

    #[test]
    fn diagnostics_show_the_offending_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(
            &path,
            "{\n  \"builders\": [{\"type\": \"null\"}],\n  \"provisoners\": []\n}\n",
        )
        .unwrap();
        let errs = load_json(&path, &LoadOptions::default()).unwrap_err();
        let text = errs[0].to_string();
        assert!(
            text.contains("t.json:3:3: Unknown root level key in template: 'provisoners'"),
            "{text}"
        );
        assert!(
            text.contains("  3 |   \"provisoners\": []\n    |   ^^^^^^^^^^^^^"),
            "{text}"
        );
        assert_eq!(
            errs[0].hint.as_deref(),
            Some("Did you mean \"provisioners\"?")
        );
    }

    #[test]
    fn template_kinds_follow_the_name() {
        assert_eq!(files::kind(Path::new("x.pkr.json")), TemplateKind::HclJson);
        assert_eq!(files::kind(Path::new("a/b.json")), TemplateKind::LegacyJson);
        assert_eq!(files::kind(Path::new("b.pkr.hcl")), TemplateKind::Hcl);
    }
}
