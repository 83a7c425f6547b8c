//! IP network functions: cidrhost, cidrnetmask, cidrsubnet, cidrsubnets, for IPv4 and
//! IPv6 prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{self, invalid, string, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    cidrhost(2) cidrnetmask(1) cidrsubnet(3) cidrsubnets(1..)
};

/// A network prefix, its address widened to 128 bits.
#[derive(Clone, Copy)]
struct Net {
    addr: u128,
    /// 32 for IPv4, 128 for IPv6.
    bits: u32,
    prefix: u32,
}

/// A mask of the `n` lowest bits.
fn ones(n: u32) -> u128 {
    match n {
        0 => 0,
        n if n >= 128 => u128::MAX,
        n => (1u128 << n) - 1,
    }
}

impl Net {
    fn parse(text: &str) -> Result<Net> {
        let bad = || {
            invalid(
                "prefix",
                format!("invalid CIDR expression: invalid CIDR address: {text}"),
            )
        };
        let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
        let (addr, bits) = match ip.parse::<IpAddr>().map_err(|_| bad())? {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        let prefix: u32 = match prefix.bytes().all(|b| b.is_ascii_digit()) {
            true => prefix.parse().ok().filter(|&p| p <= bits).ok_or_else(bad)?,
            false => return Err(bad()),
        };
        Ok(Net {
            addr: addr & !ones(bits - prefix),
            bits,
            prefix,
        })
    }

    fn host_bits(&self) -> u32 {
        self.bits - self.prefix
    }

    fn last(&self) -> u128 {
        self.addr | ones(self.host_bits())
    }

    fn ip(&self, addr: u128) -> String {
        match self.bits {
            32 => Ipv4Addr::from(addr as u32).to_string(),
            _ => Ipv6Addr::from(addr).to_string(),
        }
    }

    fn protocol(&self) -> &'static str {
        if self.bits == 32 {
            "IPv4"
        } else {
            "IPv6"
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip(self.addr), self.prefix)
    }
}

/// `cidrhost(prefix, hostnum)`: a negative number counts back from the last address.
fn cidrhost(args: FuncArgs) -> Result<Value> {
    let net = Net::parse(&string(&args[0], "prefix")?)?;
    let hostnum = args::int(&args[1], "hostnum")?;
    let max = ones(net.host_bits());
    let offset = match hostnum {
        n if n >= 0 => Some(n as u128).filter(|&n| n <= max),
        n => max.checked_sub(n.unsigned_abs() as u128 - 1),
    };
    let offset = offset.ok_or_else(|| {
        invalid(
            "hostnum",
            format!(
                "prefix of {} does not accommodate a host numbered {hostnum}",
                net.prefix
            ),
        )
    })?;
    Ok(Value::String(net.ip(net.addr | offset)))
}

fn cidrnetmask(args: FuncArgs) -> Result<Value> {
    let net = Net::parse(&string(&args[0], "prefix")?)?;
    let mask = ones(net.bits) & !ones(net.host_bits());
    Ok(Value::String(net.ip(mask)))
}

/// `cidrsubnet(prefix, newbits, netnum)`.
fn cidrsubnet(args: FuncArgs) -> Result<Value> {
    let net = Net::parse(&string(&args[0], "prefix")?)?;
    let newbits = args::int(&args[1], "newbits")?;
    let netnum = args::int(&args[2], "netnum")?;
    if newbits < 0 {
        return Err(invalid("newbits", "must not be negative"));
    }
    if newbits > 32 {
        return Err(invalid(
            "newbits",
            "may not extend prefix by more than 32 bits",
        ));
    }
    let prefix = net.prefix + newbits as u32;
    if prefix > net.bits {
        return Err(invalid(
            "newbits",
            format!(
                "insufficient address space to extend prefix of {} by {newbits}",
                net.prefix
            ),
        ));
    }
    if netnum < 0 || netnum as u128 > ones(newbits as u32) {
        return Err(invalid(
            "netnum",
            format!(
                "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
            ),
        ));
    }
    let subnet = Net {
        addr: net.addr | ((netnum as u128) << (net.bits - prefix)),
        prefix,
        ..net
    };
    Ok(Value::String(subnet.to_string()))
}

/// `cidrsubnets(prefix, newbits...)`: consecutive subnets, each aligned to its size.
fn cidrsubnets(args: FuncArgs) -> Result<Value> {
    let net = Net::parse(&string(&args[0], "prefix")?)?;
    let mut cursor = Some(net.addr);
    let mut previous: Option<Net> = None;
    let mut out = Vec::new();
    for (i, arg) in args[1..].iter().enumerate() {
        let param = format!("newbits[{i}]");
        let newbits = args::int(arg, &param)?;
        if newbits < 1 {
            return Err(invalid(&param, "must extend prefix by at least one bit"));
        }
        if newbits > 32 {
            return Err(invalid(
                &param,
                "may not extend prefix by more than 32 bits",
            ));
        }
        let prefix = net.prefix + newbits as u32;
        if prefix > net.bits {
            return Err(invalid(
                &param,
                format!(
                    "would extend prefix to {prefix} bits, which is too long for an {} address",
                    net.protocol()
                ),
            ));
        }
        let host = ones(net.bits - prefix);
        // Round the cursor up to the next multiple of the subnet's size.
        let start = cursor.and_then(|c| c.checked_add(host)).map(|c| c & !host);
        let subnet = start
            .filter(|&s| s.checked_add(host).is_some_and(|end| end <= net.last()))
            .map(|addr| Net {
                addr,
                prefix,
                ..net
            })
            .ok_or_else(|| {
                invalid(
                    &param,
                    format!(
                        "not enough remaining address space for a subnet with a prefix of \
                         {prefix} bits after {}",
                        previous.unwrap_or(net)
                    ),
                )
            })?;
        cursor = subnet.last().checked_add(1);
        previous = Some(subnet);
        out.push(Value::String(subnet.to_string()));
    }
    Ok(Value::Array(out))
}
