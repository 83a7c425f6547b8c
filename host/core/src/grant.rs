//! What a component step may reach beyond the communicator and the UI, and the limits
//! its instance runs under.

use std::path::PathBuf;

/// The host resources a step was granted. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Grant {
    /// Host paths (files or directories) the step may read. Absolute.
    pub read: Vec<PathBuf>,
    /// Host paths (files or directories) the step may create or overwrite. Absolute.
    pub write: Vec<PathBuf>,
    /// Names of host environment variables passed through.
    pub env: Vec<String>,
    /// `host:port` pairs the step may connect to (`*` as the port: any port).
    pub network: Vec<String>,
    /// The step may run commands on the host (`shell-local`).
    pub exec_host: bool,
    /// The step sees the host's wall clock instead of the build's fixed one.
    pub clock_host: bool,
    /// The step gets the host's random numbers instead of a seeded generator.
    pub random_host: bool,
}

impl Grant {
    /// Adds everything `other` grants.
    pub fn extend(&mut self, other: &Grant) {
        self.read.extend(other.read.iter().cloned());
        self.write.extend(other.write.iter().cloned());
        self.env.extend(other.env.iter().cloned());
        self.network.extend(other.network.iter().cloned());
        self.exec_host |= other.exec_host;
        self.clock_host |= other.clock_host;
        self.random_host |= other.random_host;
    }

    /// Only the host paths of this grant (what it lets a step read and write).
    pub fn paths_only(&self) -> Grant {
        Grant {
            read: self.read.clone(),
            write: self.write.clone(),
            ..Grant::default()
        }
    }

    /// The part of a builtin's request that is granted without a `grant` block: its
    /// host paths, the registries its own configuration names (`docker-tag`'s
    /// `repository`, reached only through the host's `images` calls) and, when
    /// `exec_host` allows, host execution (the builtin `shell-local` runs on this host
    /// only what the template's author wrote).
    pub fn implied(&self, exec_host: bool) -> Grant {
        Grant {
            exec_host: self.exec_host && exec_host,
            network: self.network.clone(),
            ..self.paths_only()
        }
    }

    /// The rest of a builtin's request: what only a template can grant.
    pub fn not_implied(&self, exec_host: bool) -> Grant {
        Grant {
            exec_host: self.exec_host && !exec_host,
            network: vec![],
            ..self.without_paths()
        }
    }

    /// This grant without its host paths: what only a template can grant.
    pub fn without_paths(&self) -> Grant {
        Grant {
            read: vec![],
            write: vec![],
            ..self.clone()
        }
    }

    /// The grant as the lines of a `grant { }` block (`read = ["/srv"]`, ...), empty
    /// when it grants nothing.
    pub fn to_hcl_lines(&self) -> Vec<String> {
        let list = |items: Vec<String>| {
            let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
            quoted.join(", ")
        };
        let paths = |p: &[PathBuf]| list(p.iter().map(|p| p.display().to_string()).collect());
        let mut out = Vec::new();
        if !self.read.is_empty() {
            out.push(format!("read = [{}]", paths(&self.read)));
        }
        if !self.write.is_empty() {
            out.push(format!("write = [{}]", paths(&self.write)));
        }
        if !self.env.is_empty() {
            out.push(format!("env = [{}]", list(self.env.clone())));
        }
        if !self.network.is_empty() {
            out.push(format!("network = [{}]", list(self.network.clone())));
        }
        if self.exec_host {
            out.push("exec_host = true".into());
        }
        if self.clock_host {
            out.push("clock = \"host\"".into());
        }
        if self.random_host {
            out.push("random = \"host\"".into());
        }
        out
    }

    /// What `need` asks for beyond this grant, one line each in template syntax
    /// (`read = ["/etc/hosts"]`); empty when this grant covers it. A path is covered by
    /// a granted path equal to it or above it.
    pub fn missing(&self, need: &Grant) -> Vec<String> {
        let covered = |granted: &[PathBuf], p: &PathBuf| granted.iter().any(|g| p.starts_with(g));
        let mut out = Vec::new();
        for p in need.read.iter().filter(|p| !covered(&self.read, p)) {
            out.push(format!("read = [\"{}\"]", p.display()));
        }
        for p in need.write.iter().filter(|p| !covered(&self.write, p)) {
            out.push(format!("write = [\"{}\"]", p.display()));
        }
        for e in need.env.iter().filter(|e| !self.env.contains(e)) {
            out.push(format!("env = [\"{e}\"]"));
        }
        for n in need
            .network
            .iter()
            .filter(|n| !network_allows(&self.network, n))
        {
            out.push(format!("network = [\"{n}\"]"));
        }
        if need.exec_host && !self.exec_host {
            out.push("exec_host = true".into());
        }
        if need.clock_host && !self.clock_host {
            out.push("clock = \"host\"".into());
        }
        if need.random_host && !self.random_host {
            out.push("random = \"host\"".into());
        }
        out
    }
}

/// Whether the allow list `granted` (`host:port`, `host:*`) covers `addr` (`host:port`).
pub fn network_allows(granted: &[String], addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    granted.iter().any(|g| match g.rsplit_once(':') {
        Some((h, p)) => h.eq_ignore_ascii_case(host) && (p == "*" || p == port),
        None => false,
    })
}

/// Limits of one step's instance; `None` means the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, bytes (default 256 MiB).
    pub memory: Option<u64>,
    /// Everything the step prints through the UI, bytes (default 16 MiB).
    pub ui_output: Option<u64>,
    /// Remote commands started and not yet waited for (default 16).
    pub calls_in_flight: Option<u32>,
    /// The largest single message crossing the boundary (an upload buffer, a file
    /// written, a UI line, a returned error), bytes (default 64 MiB).
    pub message_size: Option<u64>,
    /// Time the component may spend computing in one call of one of its exports
    /// (`validate`, `provision`, `post-process`): time spent in host calls, such as
    /// waiting for a remote command or writing an archive, does not count (default 1m).
    pub cpu: Option<std::time::Duration>,
    /// Bytes a post-processor may write to the host in all (default: twice its input
    /// artifact's size, plus 1 GiB).
    pub disk: Option<u64>,
}

impl Limits {
    /// Default linear memory of an instance.
    pub const MEMORY: u64 = 256 << 20;
    /// Default total UI output of a step.
    pub const UI_OUTPUT: u64 = 16 << 20;
    /// Default remote commands in flight.
    pub const CALLS_IN_FLIGHT: u32 = 16;
    /// Default largest message.
    pub const MESSAGE_SIZE: u64 = 64 << 20;
    /// Default computing time per export call.
    pub const CPU: std::time::Duration = std::time::Duration::from_secs(60);
    /// What the default disk limit adds to twice the input's size.
    pub const DISK_BASE: u64 = 1 << 30;

    /// The memory limit in effect.
    pub fn memory(&self) -> u64 {
        self.memory.unwrap_or(Self::MEMORY)
    }
    /// The UI output limit in effect.
    pub fn ui_output(&self) -> u64 {
        self.ui_output.unwrap_or(Self::UI_OUTPUT)
    }
    /// The in-flight limit in effect.
    pub fn calls_in_flight(&self) -> u32 {
        self.calls_in_flight.unwrap_or(Self::CALLS_IN_FLIGHT)
    }
    /// The message size limit in effect.
    pub fn message_size(&self) -> u64 {
        self.message_size.unwrap_or(Self::MESSAGE_SIZE)
    }
    /// The computing time limit in effect.
    pub fn cpu(&self) -> std::time::Duration {
        self.cpu.unwrap_or(Self::CPU)
    }
    /// The disk limit in effect for a post-processor whose input artifact holds
    /// `input_bytes`.
    pub fn disk(&self, input_bytes: u64) -> u64 {
        self.disk.unwrap_or_else(|| {
            input_bytes
                .saturating_mul(2)
                .saturating_add(Self::DISK_BASE)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_what_is_not_covered() {
        let granted = Grant {
            read: vec!["/w/files".into()],
            network: vec!["example.com:443".into(), "mirror:*".into()],
            ..Grant::default()
        };
        let need = Grant {
            read: vec!["/w/files/a".into(), "/etc/hosts".into()],
            network: vec![
                "example.com:443".into(),
                "mirror:80".into(),
                "evil:1".into(),
            ],
            env: vec!["HOME".into()],
            exec_host: true,
            ..Grant::default()
        };
        assert_eq!(
            granted.missing(&need),
            [
                "read = [\"/etc/hosts\"]",
                "env = [\"HOME\"]",
                "network = [\"evil:1\"]",
                "exec_host = true"
            ]
        );
    }
}
