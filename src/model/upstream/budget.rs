//! The provider NAT's rule for this host, as plain data: how many ports it
//! gives the host per destination, how long a port stays taken after its
//! connection closed, and which destinations do not pass the NAT at all.
//! `--upstream-nat` and `--upstream-nat-exclude` produce it (see
//! `options::upstream`); the provider's own numbers are in
//! docs/upstream-nat.md.

use std::net::IpAddr;

/// What one port of the budget is spent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Per {
    /// Destination address, port and protocol (Cloud NAT, AWS, Azure TCP).
    Destination,
    /// Destination address and protocol, whatever the port (Azure's UDP).
    Address,
}

impl Per {
    pub fn name(self) -> &'static str {
        match self {
            Per::Destination => "destination",
            Per::Address => "address",
        }
    }
}

/// The provider NAT's budget for this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The profile it came from, if any (`gcp`, `azure-lb`, ...).
    pub profile: Option<&'static str>,
    /// Ports per destination key for this host.
    pub ports: u32,
    /// Seconds a port stays taken after its connection closed, whoever
    /// closed it.
    pub hold_s: u32,
    /// What a TCP port is spent on, and a UDP port.
    pub tcp_per: Per,
    pub udp_per: Per,
    /// Whether IPv6 destinations pass the NAT.
    pub ipv6: bool,
}

impl Budget {
    pub fn hold_ms(&self) -> u32 {
        self.hold_s.saturating_mul(1000)
    }
}

/// An address block, `ADDR/PREFIX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Destinations that never pass a provider's NAT: RFC 1918, shared
/// address space (RFC 6598), loopback, link-local (the metadata server),
/// multicast, "this network" and the reserved block. IPv6 is left out by
/// [`Budget::ipv6`] as a whole.
pub const DEFAULT_EXCLUDES: [Cidr; 10] = [
    v4([10, 0, 0, 0], 8),
    v4([172, 16, 0, 0], 12),
    v4([192, 168, 0, 0], 16),
    v4([100, 64, 0, 0], 10),
    v4([127, 0, 0, 0], 8),
    v4([169, 254, 0, 0], 16),
    v4([224, 0, 0, 0], 4),
    v4([0, 0, 0, 0], 8),
    v4([240, 0, 0, 0], 4),
    // IPv6 where a budget lets it through: ULA, link-local, multicast.
    Cidr {
        addr: IpAddr::V6(std::net::Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)),
        prefix: 7,
    },
];

const fn v4(o: [u8; 4], prefix: u8) -> Cidr {
    Cidr {
        addr: IpAddr::V4(std::net::Ipv4Addr::new(o[0], o[1], o[2], o[3])),
        prefix,
    }
}

/// Which destinations pass the NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub ipv6: bool,
    /// The defaults and every `--upstream-nat-exclude`.
    pub excluded: Vec<Cidr>,
}

impl Route {
    pub fn new(budget: &Budget, extra: &[Cidr]) -> Route {
        let mut excluded = DEFAULT_EXCLUDES.to_vec();
        excluded.extend_from_slice(extra);
        Route {
            ipv6: budget.ipv6,
            excluded,
        }
    }

    /// Whether a connection to `addr` goes through the NAT.
    pub fn passes(&self, addr: IpAddr) -> bool {
        let special_v6 = match addr {
            IpAddr::V6(a) => {
                !self.ipv6 || a.is_loopback() || a.is_unspecified() || a.is_multicast() || {
                    // fe80::/10
                    a.segments()[0] & 0xffc0 == 0xfe80
                }
            }
            IpAddr::V4(_) => false,
        };
        !special_v6 && !self.excluded.iter().any(|c| c.contains(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_destinations_do_not_pass() {
        let budget = Budget {
            profile: None,
            ports: 64,
            hold_s: 120,
            tcp_per: Per::Destination,
            udp_per: Per::Destination,
            ipv6: false,
        };
        let extra = [Cidr {
            addr: "198.51.100.128".parse().unwrap(),
            prefix: 25,
        }];
        let route = Route::new(&budget, &extra);
        let passes = |a: &str| route.passes(a.parse().unwrap());
        for inside in [
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "100.127.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "239.1.1.1",
            "0.1.2.3",
            "255.255.255.255",
            "198.51.100.200",
            "2001:db8::1",
        ] {
            assert!(!passes(inside), "{inside}");
        }
        for outside in [
            "198.51.100.9",
            "203.0.113.7",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
        ] {
            assert!(passes(outside), "{outside}");
        }
        let route = Route::new(
            &Budget {
                ipv6: true,
                ..budget
            },
            &[],
        );
        assert!(route.passes("2001:db8::1".parse().unwrap()));
        for inside in ["fd00::1", "fe80::1", "::1", "ff02::1"] {
            assert!(!route.passes(inside.parse().unwrap()), "{inside}");
        }
    }

    #[test]
    fn a_block_of_every_size() {
        let block = |a: &str, p| Cidr {
            addr: a.parse().unwrap(),
            prefix: p,
        };
        assert!(block("0.0.0.0", 0).contains("1.2.3.4".parse().unwrap()));
        assert!(!block("0.0.0.0", 0).contains("::1".parse().unwrap()));
        assert!(block("1.2.3.4", 32).contains("1.2.3.4".parse().unwrap()));
        assert!(!block("1.2.3.4", 32).contains("1.2.3.5".parse().unwrap()));
        assert!(block("::", 0).contains("::1".parse().unwrap()));
        assert!(block("2001:db8::", 32).contains("2001:db8:1::1".parse().unwrap()));
    }
}
