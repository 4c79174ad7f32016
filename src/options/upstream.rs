//! `--upstream-nat SPEC` and `--upstream-nat-exclude CIDR`: the provider
//! NAT's budget as a named profile or in the general form
//! `ports=N,hold=SECONDS[,per=destination|address][,ipv6=yes|no]`. Each
//! refusal names the part of the text that is wrong, on one line. The
//! profiles' numbers and their sources are in docs/upstream-nat.md; change
//! one only together with its section there.

use std::net::IpAddr;
use std::str::FromStr;

use crate::model::Kind;
use crate::model::upstream::{Budget, Cidr, Per, Route};

/// The most ports a budget may name: AWS's 55,000 per address times its
/// 8 addresses, rounded up to a bound no real gateway reaches.
pub const MAX_PORTS: u32 = 1_000_000;
/// The longest hold: an hour (Azure's idle timeouts reach two, but a hold
/// is the time after close, which no provider keeps that long).
pub const MAX_HOLD_S: u32 = 3600;

/// The profiles: name, default ports, the most ports `:N` may ask for,
/// hold, per for TCP and for UDP.
struct Profile {
    name: &'static str,
    ports: u32,
    max_ports: u32,
    hold_s: u32,
    tcp_per: Per,
    udp_per: Per,
}

const PROFILES: [Profile; 4] = [
    // Cloud NAT, static allocation: minPortsPerVm 64, per destination
    // IP, port and protocol; tcpTimeWaitTimeoutSec 120.
    Profile {
        name: "gcp",
        ports: 64,
        max_ports: 65_536,
        hold_s: 120,
        tcp_per: Per::Destination,
        udp_per: Per::Destination,
    },
    // Azure Load Balancer default outbound SNAT: 1,024 ports per VM for
    // pools of up to 50 VMs; TCP per destination IP and port, UDP per
    // destination IP; a port is reused 240 s after FIN (15 s after RST,
    // which the host cannot tell apart, so the longer hold).
    Profile {
        name: "azure-lb",
        ports: 1024,
        max_ports: 65_536,
        hold_s: 240,
        tcp_per: Per::Destination,
        udp_per: Per::Address,
    },
    // Azure NAT Gateway: 50,000 connections per public IP to one
    // destination endpoint; reuse to the same destination after 65 s (FIN).
    Profile {
        name: "azure-natgw",
        ports: 50_000,
        max_ports: 16 * 64_512,
        hold_s: 65,
        tcp_per: Per::Destination,
        udp_per: Per::Destination,
    },
    // AWS NAT gateway: 55,000 connections per address to each destination
    // IP, port and protocol. The hold after close is not documented: 120 s
    // is assumed, twice the host's TIME_WAIT and the Linux conntrack
    // default, so the forecast errs early rather than late.
    Profile {
        name: "aws-natgw",
        ports: 55_000,
        max_ports: 8 * 55_000,
        hold_s: 120,
        tcp_per: Per::Destination,
        udp_per: Per::Destination,
    },
];

/// The names `--upstream-nat` knows, for the help text and errors.
pub fn profile_names() -> String {
    let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
    names.join(", ")
}

impl FromStr for Budget {
    type Err = String;

    fn from_str(text: &str) -> Result<Budget, String> {
        if text.chars().any(char::is_control) {
            return Err("the SPEC holds a control character".into());
        }
        if text.contains('=') {
            return general(text);
        }
        let (name, count) = match text.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        let Some(profile) = PROFILES.iter().find(|p| p.name == name) else {
            return Err(format!(
                "{name:?} is neither a profile ({}) nor ports=N,hold=SECONDS",
                profile_names()
            ));
        };
        let ports = match count {
            None => profile.ports,
            Some(n) => whole(n, 1, profile.max_ports)
                .map_err(|e| format!("{name}:{n}: the port count {e}"))?,
        };
        Ok(Budget {
            profile: Some(profile.name),
            ports,
            hold_s: profile.hold_s,
            tcp_per: profile.tcp_per,
            udp_per: profile.udp_per,
            ipv6: false,
        })
    }
}

/// `ports=N,hold=SECONDS[,per=destination|address][,ipv6=yes|no]`.
fn general(text: &str) -> Result<Budget, String> {
    let (mut ports, mut hold, mut per, mut ipv6) = (None, None, None, None);
    for part in text.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("{part:?} is not KEY=VALUE"));
        };
        let twice = || format!("{key} is given twice");
        match key {
            "ports" => {
                let n = whole(value, 1, MAX_PORTS).map_err(|e| format!("ports={value}: {e}"))?;
                ports.replace(n).map_or(Ok(()), |_| Err(twice()))?;
            }
            "hold" => {
                let s = whole(value, 0, MAX_HOLD_S).map_err(|e| format!("hold={value}: {e}"))?;
                hold.replace(s).map_or(Ok(()), |_| Err(twice()))?;
            }
            "per" => {
                let p = match value {
                    "destination" => Per::Destination,
                    "address" => Per::Address,
                    _ => return Err(format!("per={value}: not destination or address")),
                };
                per.replace(p).map_or(Ok(()), |_| Err(twice()))?;
            }
            "ipv6" => {
                let v = match value {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("ipv6={value}: not yes or no")),
                };
                ipv6.replace(v).map_or(Ok(()), |_| Err(twice()))?;
            }
            _ => {
                return Err(format!("{key:?} is not one of ports, hold, per, ipv6"));
            }
        }
    }
    let ports = ports.ok_or("ports=N is missing (the ports per destination)")?;
    let hold_s = hold.ok_or("hold=SECONDS is missing (how long a port stays taken after close)")?;
    let per = per.unwrap_or(Per::Destination);
    Ok(Budget {
        profile: None,
        ports,
        hold_s,
        tcp_per: per,
        udp_per: per,
        ipv6: ipv6.unwrap_or(false),
    })
}

/// Decimal digits only (no sign, no blanks) from `lo` to `hi`.
fn whole(text: &str, lo: u32, hi: u32) -> Result<u32, String> {
    let digits = !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(n) if digits && (u64::from(lo)..=u64::from(hi)).contains(&n) => Ok(n as u32),
        _ => Err(format!("{text:?} is not a whole number from {lo} to {hi}")),
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDR/PREFIX`, or an address alone (a block of one).
    fn from_str(text: &str) -> Result<Cidr, String> {
        if text.chars().any(char::is_control) {
            return Err("the block holds a control character".into());
        }
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => whole(p, 0, max).map_err(|e| format!("prefix {e}"))?,
        };
        Ok(Cidr {
            addr,
            prefix: prefix as u8,
        })
    }
}

/// The budget and the destinations that pass the NAT, where upstream
/// pools are judged; a refusal where the options do not fit together.
pub(super) fn rule(
    budget: Option<Budget>,
    excluded: &[Cidr],
    kinds: &[Kind],
) -> Result<Option<(Budget, Route)>, String> {
    let judged = kinds.contains(&Kind::Upstream);
    match budget {
        None if judged => {
            Err("--pools upstream needs --upstream-nat SPEC: the provider NAT's budget".into())
        }
        // A budget for pools that are not judged would be ignored without
        // a word; an operator who gave it expects them judged.
        Some(_) if !judged => Err(
            "--upstream-nat applies to upstream pools, which --pools leaves out (add upstream)"
                .into(),
        ),
        None if !excluded.is_empty() => Err(
            "--upstream-nat-exclude applies to upstream pools, which are not judged (give --upstream-nat)"
                .into(),
        ),
        None => Ok(None),
        Some(budget) => {
            let route = Route::new(&budget, excluded);
            Ok(Some((budget, route)))
        }
    }
}

#[cfg(test)]
mod tests;
