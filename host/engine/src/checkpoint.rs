//! Each provisioner's identity for its checkpoint key ([`kiln_core::checkpoint`]): a
//! SHA-256 over, in this order,
//!
//! 1. the step's type and the digest of its component's bytes;
//! 2. its configuration as JSON, variables resolved (sensitive values included: they are
//!    hashed, never stored);
//! 3. the build's name, source type and source name (a step learns them);
//! 4. its effective grant (the template's, plus the paths a builtin's configuration
//!    names), and the values of the host environment variables it is granted;
//! 5. the content of every host path it may read: for a file its mode, size and bytes,
//!    for a directory each entry by name, for a symbolic link its target.
//!
//! A step whose result those cannot pin down is not keyed: one that runs commands on
//! this host, connects to the network from the host, writes host files, sees the host's
//! clock or random numbers, and a breakpoint. It ends the steps a build can resume past,
//! unless the template writes `cacheable = true` on it.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use kiln_core::artifact::hex;
use kiln_core::checkpoint::StepIdentity;
use kiln_core::plan::StepPlan;
use kiln_core::Grant;
use kiln_runtime::{PreparedComponent, Runtime};

use crate::check::{ReadyBuild, StepRunner};
use crate::request::{request_with, Target};
use crate::{grants, values};

/// The identity of each provisioner of `build`, in order.
pub(crate) async fn identities(
    build: &ReadyBuild,
    runtime: &Runtime,
    cwd: &Path,
) -> Vec<StepIdentity> {
    let mut out = Vec::with_capacity(build.steps.len());
    for (step, runner) in &build.steps {
        out.push(match runner {
            StepRunner::Breakpoint(_) => {
                StepIdentity::Unkeyable("a breakpoint waits for a person".into())
            }
            StepRunner::Component(c) => identity(build, step, c, runtime, cwd).await,
        });
    }
    out
}

async fn identity(
    build: &ReadyBuild,
    step: &StepPlan,
    component: &PreparedComponent,
    runtime: &Runtime,
    cwd: &Path,
) -> StepIdentity {
    let config = values::config_json(&step.block, None);
    let target = Target {
        build: &build.plan,
        sensitive: &build.sensitive,
        machine: None,
        ui: Arc::new(kiln_core::ui::DiscardUi),
        cwd,
        cancel: CancellationToken::new(),
    };
    let req = request_with(step.into(), target, None, config.clone());
    let needs = match runtime.check_all(component, &[req]).await.pop() {
        Some(Ok(check)) => check.needs,
        Some(Err(e)) => return StepIdentity::Unkeyable(format!("its check failed: {e}")),
        None => None,
    };
    let grant = grants::effective(component, &step.grant, needs.as_ref(), cwd);
    if !step.cacheable {
        if let Some(why) = unkeyable(&grant) {
            return StepIdentity::Unkeyable(why);
        }
    }
    let mut h = Sha256::new();
    let field = |h: &mut Sha256, name: &str, value: &[u8]| {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    field(&mut h, "kiln-step", b"1");
    field(&mut h, "type", step.kind.as_bytes());
    field(&mut h, "component", component.sha256().as_bytes());
    field(&mut h, "config", config.as_bytes());
    let plan = &build.plan;
    field(&mut h, "build", plan.name.as_bytes());
    field(&mut h, "source_type", plan.source_type.as_bytes());
    field(&mut h, "source_name", plan.source_name.as_bytes());
    field(&mut h, "grant", grant.to_hcl_lines().join("\n").as_bytes());
    for name in &grant.env {
        let value = std::env::var_os(name).unwrap_or_default();
        field(&mut h, "env", name.as_bytes());
        field(&mut h, "value", value.as_encoded_bytes());
    }
    let mut reads = grant.read.clone();
    reads.sort();
    reads.dedup();
    for path in &reads {
        field(&mut h, "read", path.as_os_str().as_encoded_bytes());
        hash_tree(path, &mut h);
    }
    StepIdentity::Keyed(hex(&h.finalize()))
}

/// Why a step with `grant` cannot be keyed, if it cannot.
fn unkeyable(grant: &Grant) -> Option<String> {
    if grant.exec_host {
        return Some("it runs commands on this host".into());
    }
    if !grant.network.is_empty() {
        return Some(format!(
            "it may connect to the network ({})",
            grant.network.join(", ")
        ));
    }
    if !grant.write.is_empty() {
        let paths: Vec<String> = grant
            .write
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Some(format!("it writes host files ({})", paths.join(", ")));
    }
    if grant.clock_host {
        return Some("it sees this host's clock".into());
    }
    if grant.random_host {
        return Some("it gets this host's random numbers".into());
    }
    None
}

/// Feeds `path`'s content into `h`: a file's mode, size and bytes; a directory's
/// entries by name, each in turn; a symbolic link's target; an absent path as such.
fn hash_tree(path: &Path, h: &mut Sha256) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        h.update(b"absent\0");
        return;
    };
    let mode = meta.permissions().mode() & 0o7777;
    h.update(mode.to_le_bytes());
    if meta.file_type().is_symlink() {
        h.update(b"link\0");
        if let Ok(target) = std::fs::read_link(path) {
            h.update(target.as_os_str().as_encoded_bytes());
        }
    } else if meta.is_dir() {
        h.update(b"dir\0");
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
            .unwrap_or_default();
        names.sort();
        for name in names {
            h.update(name.as_encoded_bytes());
            h.update([0]);
            hash_tree(&path.join(&name), h);
        }
        h.update(b"end\0");
    } else if meta.is_file() {
        h.update(b"file\0");
        h.update(meta.len().to_le_bytes());
        if let Ok(mut f) = std::fs::File::open(path) {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
    } else {
        h.update(b"special\0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(path: &Path) -> String {
        let mut h = Sha256::new();
        hash_tree(path, &mut h);
        hex(&h.finalize())
    }

    #[test]
    fn a_tree_digest_changes_with_a_byte_a_mode_or_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a"), "one").unwrap();
        let first = digest(&root);
        assert_eq!(first, digest(&root), "the same tree, the same digest");
        std::fs::write(root.join("sub/a"), "onf").unwrap();
        let byte = digest(&root);
        assert_ne!(first, byte);
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(root.join("sub/a"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let mode = digest(&root);
        assert_ne!(byte, mode);
        std::fs::rename(root.join("sub/a"), root.join("sub/b")).unwrap();
        assert_ne!(mode, digest(&root));
    }

    #[test]
    fn what_ends_the_steps_that_can_be_resumed() {
        assert_eq!(unkeyable(&Grant::default()), None);
        let exec = Grant {
            exec_host: true,
            ..Grant::default()
        };
        assert!(unkeyable(&exec).unwrap().contains("commands on this host"));
        let net = Grant {
            network: vec!["example.com:443".into()],
            ..Grant::default()
        };
        assert!(unkeyable(&net).unwrap().contains("example.com:443"));
        let write = Grant {
            write: vec!["/out".into()],
            ..Grant::default()
        };
        assert!(unkeyable(&write).unwrap().contains("/out"));
    }
}
