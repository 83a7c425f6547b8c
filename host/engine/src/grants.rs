//! What a step may reach on the host. A step gets its template `grant`; Kiln's builtins
//! also get the host paths and registries their configuration names (they say which
//! through `needs`).
//! Everything else a component asks for, in its `needs` or its `kiln:grants` section,
//! the template must grant: otherwise the step is refused before anything runs, naming
//! exactly what is missing.

use std::path::Path;

use kiln_core::{Diagnostic, Grant, Location};
use kiln_runtime::PreparedComponent;

/// `g` with its paths made absolute against `cwd` and normalized, as grants compare.
fn absolute(g: &Grant, cwd: &Path) -> Grant {
    let mut g = g.clone();
    for p in g.read.iter_mut().chain(g.write.iter_mut()) {
        *p = kiln_runtime::normalize(&cwd.join(&*p));
    }
    g
}

/// What `component` asks for beyond what the template's `granted` gives it: from its
/// `needs` for this configuration (paths excepted for a builtin) and from its declared
/// `kiln:grants`. One line each, in template syntax.
pub fn missing(
    component: &PreparedComponent,
    granted: &Grant,
    needs: Option<&Grant>,
    cwd: &Path,
) -> Vec<String> {
    let mut required = Grant::default();
    if let Some(needs) = needs {
        if component.is_granted_its_paths() {
            required.extend(&needs.not_implied(component.implies_exec_host()));
        } else {
            required.extend(&absolute(needs, cwd));
        }
    }
    if let Some(declared) = &component.declared {
        required.extend(&absolute(declared, cwd));
    }
    let mut lines = granted.missing(&required);
    let mut seen = std::collections::HashSet::new();
    lines.retain(|l| seen.insert(l.clone()));
    lines
}

/// The refusal of a step that asks for `missing`.
pub fn refusal(what: &str, location: &Location, missing: &[String]) -> Diagnostic {
    Diagnostic::error(
        format!(
            "{what} needs grants the template does not give it: {}",
            missing.join(", ")
        ),
        Some(location.clone()),
    )
    .with_hint(format!(
        "The step says what it needs; Kiln runs it only with all of it. If you trust it, \
         add to the step: grant {{ {} }}",
        missing.join(" ")
    ))
}

/// The grant a step runs with, as `kiln inspect` shows it: the template's, plus, for a
/// builtin, the paths its configuration names.
pub fn effective(
    component: &PreparedComponent,
    granted: &Grant,
    needs: Option<&Grant>,
    cwd: &Path,
) -> Grant {
    let mut g = granted.clone();
    if let (true, Some(needs)) = (component.is_granted_its_paths(), needs) {
        g.extend(&absolute(
            &needs.implied(component.implies_exec_host()),
            cwd,
        ));
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_runtime::Runtime;

    /// `wasm` with a top-level custom section `name` holding `data` appended.
    fn with_section(wasm: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
        fn leb(mut n: usize, out: &mut Vec<u8>) {
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    return;
                }
                out.push(byte | 0x80);
            }
        }
        let mut body = Vec::new();
        leb(name.len(), &mut body);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        let mut out = wasm.to_vec();
        out.push(0);
        leb(body.len(), &mut out);
        out.extend(body);
        out
    }

    #[test]
    fn a_component_that_needs_more_than_granted_is_refused_naming_the_grant() {
        let shell = kiln_builtins::component("shell").unwrap();
        let wasm = with_section(
            shell,
            kiln_runtime::GRANTS_SECTION,
            br#"{"env": ["HOME"], "network": ["mirror.example:443"], "read": ["files"], "clock": "host"}"#,
        );
        let runtime = Runtime::new(None).unwrap();
        let component = runtime
            .prepare("needy", &wasm, kiln_runtime::World::Provisioner)
            .unwrap();
        let cwd = Path::new("/w");
        let location = kiln_core::Location::default();
        let granted = kiln_core::Grant {
            read: vec!["/w/files".into()],
            env: vec!["HOME".into()],
            ..Default::default()
        };
        let lines = missing(&component, &granted, None, cwd);
        let d = refusal("provisioner \"needy\"", &location, &lines);
        assert_eq!(
            d.summary,
            "provisioner \"needy\" needs grants the template does not give it: \
             network = [\"mirror.example:443\"], clock = \"host\""
        );
        let everything = kiln_core::Grant {
            network: vec!["mirror.example:*".into()],
            clock_host: true,
            ..granted
        };
        assert!(missing(&component, &everything, None, cwd).is_empty());

        let bad = with_section(
            shell,
            kiln_runtime::GRANTS_SECTION,
            br#"{"clock": "sometimes"}"#,
        );
        let err = runtime
            .prepare("bad", &bad, kiln_runtime::World::Provisioner)
            .unwrap_err();
        assert!(err.to_string().contains("clock = \"sometimes\""), "{err}");
    }

    #[test]
    fn a_builtin_gets_the_paths_it_names_and_nothing_else() {
        let runtime = Runtime::new(None).unwrap();
        let shell_local = runtime
            .prepare(
                "shell-local",
                kiln_builtins::post_processor("shell-local").unwrap(),
                kiln_runtime::World::PostProcessor,
            )
            .unwrap()
            .granted_its_paths();
        let cwd = Path::new("/w");
        let needs = Grant {
            read: vec!["scripts/a.sh".into()],
            exec_host: true,
            ..Default::default()
        };
        assert_eq!(
            missing(&shell_local, &Grant::default(), Some(&needs), cwd),
            ["exec_host = true"]
        );
        let granted = Grant {
            exec_host: true,
            ..Default::default()
        };
        assert!(missing(&shell_local, &granted, Some(&needs), cwd).is_empty());
        assert_eq!(
            effective(&shell_local, &granted, Some(&needs), cwd).read,
            [std::path::PathBuf::from("/w/scripts/a.sh")]
        );
        // The same bytes from elsewhere get nothing they ask for.
        let foreign = runtime
            .prepare(
                "local",
                kiln_builtins::post_processor("shell-local").unwrap(),
                kiln_runtime::World::PostProcessor,
            )
            .unwrap();
        assert_eq!(
            missing(&foreign, &granted, Some(&needs), cwd),
            ["read = [\"/w/scripts/a.sh\"]"]
        );
    }

    /// What builtin `name` (a step of `world`) asks of the host with `config`, as the
    /// grant it runs with in `/w`.
    fn asked(name: &str, world: kiln_runtime::World, config: serde_json::Value) -> Grant {
        let runtime = Runtime::new(None).unwrap();
        let kind = match world {
            kiln_runtime::World::Provisioner => kiln_builtins::Kind::Provisioner,
            kiln_runtime::World::PostProcessor => kiln_builtins::Kind::PostProcessor,
        };
        let component = runtime
            .prepare(name, kiln_builtins::find(kind, name).unwrap(), world)
            .unwrap()
            .granted_its_paths();
        let req = kiln_runtime::StepRequest {
            cwd: "/w".into(),
            ..kiln_runtime::StepRequest::new(config.to_string())
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let check = rt
            .block_on(runtime.check_all(&component, &[req]))
            .pop()
            .unwrap()
            .unwrap();
        let needs = check.needs.expect("the configuration decodes");
        effective(&component, &Grant::default(), Some(&needs), Path::new("/w"))
    }

    #[test]
    fn post_processors_write_only_where_their_output_goes() {
        use kiln_runtime::World::PostProcessor;
        use serde_json::json;
        use std::path::PathBuf;
        assert_eq!(
            asked(
                "compress",
                PostProcessor,
                json!({"output": "out/{{.BuildName}}.tar.gz"})
            )
            .write,
            [PathBuf::from("/w/out/")]
        );
        assert_eq!(
            asked("manifest", PostProcessor, json!({})).write,
            [PathBuf::from("/w/packer-manifest.json")]
        );
        assert_eq!(
            asked("checksum", PostProcessor, json!({})).write,
            [PathBuf::from("/w")]
        );
        let artifice = asked("artifice", PostProcessor, json!({"files": ["a.img"]}));
        assert_eq!(artifice.read, [PathBuf::from("/w/a.img")]);
        assert!(artifice.write.is_empty());
    }

    #[test]
    fn file_grant_is_exactly_the_named_paths() {
        use kiln_runtime::World::Provisioner;
        use serde_json::json;
        use std::path::PathBuf;
        let g = asked(
            "file",
            Provisioner,
            json!({"sources": ["a.txt", "dir/"], "destination": "/tmp/x"}),
        );
        assert_eq!(g.read, [PathBuf::from("/w/a.txt"), PathBuf::from("/w/dir")]);
        assert!(g.write.is_empty());
        let g = asked(
            "file",
            Provisioner,
            json!({"source": "/etc/x", "destination": "out/", "direction": "download"}),
        );
        assert_eq!(g.write, [PathBuf::from("/w/out/")]);
        assert!(g.read.is_empty());
    }
}
