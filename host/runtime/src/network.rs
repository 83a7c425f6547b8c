//! The network side of a step's grant.
//!
//! `grant.network` lists `host:port` pairs (`*` for any port). A step without one gets
//! no sockets and no name lookups. With one, wasmtime's socket address check lets TCP
//! connect only to the addresses the granted hosts resolve to, and name lookups are
//! gated here: a component may resolve only the host names it was granted (or an IP
//! literal, which needs no name server). Without that gate a lookup of any name would be
//! a message to the outside world (`<secret>.attacker.example` reaches the attacker's
//! name server) even when no connection is ever made.
//!
//! Sockets are host resources (each a file descriptor of Kiln's), so the sockets a step
//! holds open at once count against its `calls_in_flight` limit, as its remote commands
//! do. What the sandbox refuses here (a socket, a connection, a name, the environment)
//! WASI reports to the component in its own words only; Kiln also tells the person, once
//! per step and kind, what the component tried and which grant would allow it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{Host as _, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily, Network};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host as _;
use wasmtime_wasi::p2::TcpSocket;
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsView};
use wasmtime_wasi::WasiCtxBuilder;

use kiln_core::Ui;

use crate::host::StepState;

/// The WASI interfaces whose functions are replaced; the version is the one
/// wasmtime-wasi implements (a component importing an older 0.2 version is served by it).
const IP_NAME_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.2.12";
const TCP_CREATE_SOCKET: &str = "wasi:sockets/tcp-create-socket@0.2.12";
const UDP_CREATE_SOCKET: &str = "wasi:sockets/udp-create-socket@0.2.12";
const ENVIRONMENT: &str = "wasi:cli/environment@0.2.12";

/// What the sandbox refused a step, said to the person once per step and kind.
#[derive(Clone)]
pub(crate) struct Told(Arc<ToldInner>);

struct ToldInner {
    component: String,
    ui: Arc<dyn Ui>,
    /// Granted environment variables the host does not have.
    env_unset: Vec<String>,
    env_granted: bool,
    env: AtomicBool,
    socket: AtomicBool,
    connect: AtomicBool,
    lookup: AtomicBool,
    exec: AtomicBool,
}

impl std::fmt::Debug for Told {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Told")
            .field("component", &self.0.component)
            .finish_non_exhaustive()
    }
}

impl Told {
    pub(crate) fn new(
        component: &str,
        ui: Arc<dyn Ui>,
        env_granted: &[String],
        env_unset: Vec<String>,
    ) -> Self {
        Told(Arc::new(ToldInner {
            component: component.to_owned(),
            ui,
            env_unset,
            env_granted: !env_granted.is_empty(),
            env: AtomicBool::new(false),
            socket: AtomicBool::new(false),
            connect: AtomicBool::new(false),
            lookup: AtomicBool::new(false),
            exec: AtomicBool::new(false),
        }))
    }

    fn once(&self, flag: &AtomicBool, what: String) {
        if !flag.swap(true, Ordering::Relaxed) {
            self.0
                .ui
                .error(&format!("component `{}` {what}", self.0.component));
        }
    }

    /// The component read its environment.
    fn env(&self) {
        if !self.0.env_granted {
            self.once(
                &self.0.env,
                "read its environment, which is empty: this step is granted no                  environment variables (grant { env = [\"NAME\"] } passes one by name)"
                    .into(),
            );
        } else if !self.0.env_unset.is_empty() {
            self.once(
                &self.0.env,
                format!(
                    "read its environment; granted but not set on this host: {}",
                    self.0.env_unset.join(", ")
                ),
            );
        }
    }

    /// The component tried to open a socket the step is not granted.
    fn socket(&self, protocol: &str) {
        let how = if protocol == "UDP" {
            "UDP is never granted"
        } else {
            "this step is granted no network (grant { network = [\"host:port\"] } allows \
             connections to one host)"
        };
        self.once(
            &self.0.socket,
            format!("tried to open a {protocol} socket: {how}"),
        );
    }

    /// The component tried to connect where it is not granted.
    fn connect(&self, addr: SocketAddr) {
        self.once(
            &self.0.connect,
            format!(
                "tried to connect to {addr}, which this step is not granted \
                 (grant {{ network = [\"{addr}\"] }} allows it)"
            ),
        );
    }

    /// The component tried to run a command on the host without the grant.
    pub(crate) fn host_exec(&self) {
        self.once(
            &self.0.exec,
            "tried to run a command on this host, which this step is not granted \
             (grant { exec_host = true } allows it)"
                .into(),
        );
    }

    /// The component tried to look up a name it is not granted.
    fn lookup(&self, name: &str) {
        self.once(
            &self.0.lookup,
            format!(
                "tried to look up the host name {name:?}, which this step is not granted \
                 (grant {{ network = [\"{name}:PORT\"] }} allows it)"
            ),
        );
    }
}

/// A step's network grant, resolved when the step starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetworkGrant {
    /// Host names the step may look up (lower case, without a trailing dot).
    names: Vec<String>,
    /// Whether the step has a network grant at all.
    granted: bool,
}

impl NetworkGrant {
    /// Whether the component may look `name` up.
    pub(crate) fn may_resolve(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<IpAddr>().is_ok() || self.names.contains(&name)
    }
}

/// Splits `host:port` (`[v6]:port`, port `*` for any) into host and port.
fn split(entry: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = entry.rsplit_once(':')?;
    let port = if port == "*" {
        None
    } else {
        Some(port.parse().ok()?)
    };
    Some((host.trim_start_matches('[').trim_end_matches(']'), port))
}

/// Sets up sockets and lookups for the granted `host:port` pairs, and returns what the
/// lookup gate needs. Names are resolved now, so that the socket check compares
/// addresses.
pub(crate) fn apply(granted: &[String], wasi: &mut WasiCtxBuilder, told: &Told) -> NetworkGrant {
    if granted.is_empty() {
        return NetworkGrant::default();
    }
    use std::net::ToSocketAddrs;
    let mut allowed: Vec<(IpAddr, Option<u16>)> = Vec::new();
    let mut names = Vec::new();
    for entry in granted {
        let Some((host, port)) = split(entry) else {
            continue;
        };
        if host.parse::<IpAddr>().is_err() {
            names.push(host.trim_end_matches('.').to_ascii_lowercase());
        }
        match (host, port.unwrap_or(0)).to_socket_addrs() {
            Ok(addrs) => allowed.extend(addrs.map(|a| (a.ip(), port))),
            Err(e) => {
                tracing::warn!(entry = %entry, error = %e, "a granted network host does not resolve")
            }
        }
    }
    wasi.allow_tcp(true);
    wasi.allow_ip_name_lookup(true);
    let told = told.clone();
    wasi.socket_addr_check(move |addr, use_| {
        let ok = match use_ {
            // A connect binds the wildcard address on an ephemeral port first.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => allowed
                .iter()
                .any(|(ip, port)| *ip == addr.ip() && port.is_none_or(|p| p == addr.port())),
            // Listening and UDP are never granted.
            _ => false,
        };
        if !ok && matches!(use_, SocketAddrUse::TcpConnect) {
            told.connect(addr);
        }
        Box::pin(async move { ok })
    });
    NetworkGrant {
        names,
        granted: true,
    }
}

/// Replaces four WASI functions with gates: name lookups refuse names the step was not
/// granted and hand the others to wasmtime-wasi's own; TCP sockets are counted against
/// the step's `calls_in_flight`; UDP sockets and sockets without a grant are refused;
/// the environment is the granted one. Each refusal is also told to the person.
pub(crate) fn install_gates(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = gates(linker);
    linker.allow_shadowing(false);
    result
}

fn gates(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    linker.instance(IP_NAME_LOOKUP)?.func_wrap(
        "resolve-addresses",
        |mut store: wasmtime::StoreContextMut<'_, StepState>,
         (network, name): (Resource<Network>, String)| {
            let state = store.data_mut();
            if !state.network.may_resolve(&name) {
                state.told.lookup(&name);
                let refused: Result<Resource<ResolveAddressStream>, ErrorCode> =
                    Err(ErrorCode::AccessDenied);
                return Ok((refused,));
            }
            match state.sockets().resolve_addresses(network, name) {
                Ok(stream) => Ok((Ok(stream),)),
                Err(e) => Ok((Err(e.downcast()?),)),
            }
        },
    )?;
    linker.instance(TCP_CREATE_SOCKET)?.func_wrap(
        "create-tcp-socket",
        |mut store: wasmtime::StoreContextMut<'_, StepState>, (family,): (IpAddressFamily,)| {
            let state = store.data_mut();
            if !state.network.granted {
                state.told.socket("TCP");
                let refused: Result<Resource<TcpSocket>, ErrorCode> = Err(ErrorCode::AccessDenied);
                return Ok((refused,));
            }
            let open = state
                .table
                .iter_mut()
                .filter(|entry| entry.downcast_ref::<TcpSocket>().is_some())
                .count();
            let max = state.step_limits.calls_in_flight();
            if open >= max as usize {
                return Err(crate::budget::limit_hit(
                    "calls_in_flight",
                    max,
                    "the step held more network sockets and remote commands open at once",
                ));
            }
            match state.sockets().create_tcp_socket(family) {
                Ok(socket) => Ok((Ok(socket),)),
                Err(e) => Ok((Err(e.downcast()?),)),
            }
        },
    )?;
    linker.instance(UDP_CREATE_SOCKET)?.func_wrap(
        "create-udp-socket",
        |mut store: wasmtime::StoreContextMut<'_, StepState>, (_family,): (IpAddressFamily,)| {
            store.data_mut().told.socket("UDP");
            let refused: Result<Resource<wasmtime_wasi::p2::UdpSocket>, ErrorCode> =
                Err(ErrorCode::AccessDenied);
            Ok((refused,))
        },
    )?;
    linker.instance(ENVIRONMENT)?.func_wrap(
        "get-environment",
        |mut store: wasmtime::StoreContextMut<'_, StepState>, (): ()| {
            let state = store.data_mut();
            state.told.env();
            Ok((state.env.clone(),))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_names_and_literals_resolve() {
        let mut wasi = WasiCtxBuilder::new();
        let told = Told::new("test", Arc::new(kiln_core::DiscardUi), &[], vec![]);
        let grant = apply(
            &[
                "Registry.Example:443".into(),
                "10.0.0.1:*".into(),
                "[::1]:22".into(),
            ],
            &mut wasi,
            &told,
        );
        assert!(grant.may_resolve("registry.example"));
        assert!(grant.may_resolve("REGISTRY.example."));
        assert!(
            grant.may_resolve("192.0.2.7"),
            "an IP literal needs no name server"
        );
        assert!(grant.may_resolve("::1"));
        assert!(!grant.may_resolve("other.example"));
        assert!(!grant.may_resolve("registry.example.attacker.example"));
        assert!(!NetworkGrant::default().may_resolve("registry.example"));
    }

    #[test]
    fn entries_split_into_host_and_port() {
        assert_eq!(split("a.example:80"), Some(("a.example", Some(80))));
        assert_eq!(split("[::1]:*"), Some(("::1", None)));
        assert_eq!(split("a.example"), None);
        assert_eq!(split("a.example:http"), None);
    }
}
