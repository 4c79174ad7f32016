//! What a pool is: its kind, its name (the tuple, address or NAT key it is
//! the pool of), its capacity and free ports, and its sockets by state.

use std::net::IpAddr;

use super::NatKey;
use crate::read::socket::TcpState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub port: u16,
}

/// The sockets of a pool by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub established: u32,
    pub time_wait: u32,
    /// TIME_WAIT entries a new `connect()` may take over now.
    pub time_wait_reusable: u32,
    pub other: u32,
}

impl StateCounts {
    pub(super) fn add(&mut self, state: TcpState, reusable: bool) {
        match state {
            TcpState::ESTABLISHED => self.established += 1,
            TcpState::TIME_WAIT => {
                self.time_wait += 1;
                self.time_wait_reusable += u32::from(reusable);
            }
            _ => self.other += 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Connect,
    Bind,
    Udp,
    Nat,
    Upstream,
}

impl Kind {
    /// Every kind, in the order the report lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Connect,
        Kind::Bind,
        Kind::Udp,
        Kind::Nat,
        Kind::Upstream,
    ];
    /// The kinds judged when `--pools` is not given (`upstream` joins them
    /// when `--upstream-nat` is).
    pub const DEFAULT: [Kind; 4] = [Kind::Connect, Kind::Bind, Kind::Udp, Kind::Nat];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Bind => "bind",
            Kind::Udp => "udp",
            Kind::Nat => "nat",
            Kind::Upstream => "upstream",
        }
    }
}

/// What a pool is the pool of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolName {
    Tuple(Tuple),
    /// A tuple that holds no socket yet; what is known of it.
    NewTuple {
        source: Option<IpAddr>,
        destination: Option<IpAddr>,
        port: Option<u16>,
    },
    /// A local address, or a wildcard (`0.0.0.0`, `::`).
    Address(IpAddr),
    /// The NAT ports of a masquerading node towards one destination port.
    Nat(NatKey),
    /// The provider NAT's ports for this host towards one destination.
    Upstream(super::upstream::UpstreamName),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kind: Kind,
    pub name: PoolName,
    /// Ports a caller can get when nothing else holds any.
    pub capacity: u32,
    /// Ports a caller is sure to get now.
    pub free: u32,
    pub counts: StateCounts,
    /// Where the kernel's search for a port is bounded (NAT ranges of more
    /// than 128 ports): the chance, in parts per million, that a new
    /// connection finds no port at this fill although some are free.
    pub fail_ppm: Option<u32>,
}

impl Pool {
    pub fn used(&self) -> u32 {
        self.capacity - self.free
    }

    /// Used share of the capacity in percent, to two decimals; a pool with
    /// no capacity at all is 100 % used.
    pub fn used_pct(&self) -> f64 {
        if self.capacity == 0 {
            return 100.0;
        }
        let pct = f64::from(self.used()) * 100.0 / f64::from(self.capacity);
        (pct * 100.0).round() / 100.0
    }
}
