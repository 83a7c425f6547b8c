//! The network side of a step's grant.
//!
//! `grant.network` lists `host:port` pairs (`*` for any port). A step without one gets
//! no sockets and no name lookups. With one, wasmtime's socket address check lets TCP
//! connect only to the addresses the granted hosts resolve to, and name lookups are
//! gated here: a component may resolve only the host names it was granted (or an IP
//! literal, which needs no name server). Without that gate a lookup of any name would be
//! a message to the outside world (`<secret>.attacker.example` reaches the attacker's
//! name server) even when no connection is ever made.

use std::net::IpAddr;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{Host as _, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Network};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsView};
use wasmtime_wasi::WasiCtxBuilder;

use crate::host::StepState;

/// The WASI interface whose lookup function is replaced; the version is the one
/// wasmtime-wasi implements (a component importing an older 0.2 version is served by it).
const IP_NAME_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// A step's network grant, resolved when the step starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetworkGrant {
    /// Host names the step may look up (lower case, without a trailing dot).
    names: Vec<String>,
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
pub(crate) fn apply(granted: &[String], wasi: &mut WasiCtxBuilder) -> NetworkGrant {
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
        Box::pin(async move { ok })
    });
    NetworkGrant { names }
}

/// Replaces WASI's name lookup with one that refuses names the step was not granted and
/// hands the others to wasmtime-wasi's own.
pub(crate) fn gate_name_lookups(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = linker.instance(IP_NAME_LOOKUP).and_then(|mut instance| {
        instance.func_wrap(
            "resolve-addresses",
            |mut store: wasmtime::StoreContextMut<'_, StepState>,
             (network, name): (Resource<Network>, String)| {
                let state = store.data_mut();
                if !state.network.may_resolve(&name) {
                    tracing::warn!(name = %name, "a name lookup the step was not granted was refused");
                    let refused: Result<Resource<ResolveAddressStream>, ErrorCode> =
                        Err(ErrorCode::AccessDenied);
                    return Ok((refused,));
                }
                match state.sockets().resolve_addresses(network, name) {
                    Ok(stream) => Ok((Ok(stream),)),
                    Err(e) => Ok((Err(e.downcast()?),)),
                }
            },
        )
    });
    linker.allow_shadowing(false);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_names_and_literals_resolve() {
        let mut wasi = WasiCtxBuilder::new();
        let grant = apply(
            &[
                "Registry.Example:443".into(),
                "10.0.0.1:*".into(),
                "[::1]:22".into(),
            ],
            &mut wasi,
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
