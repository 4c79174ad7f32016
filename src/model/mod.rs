//! Stage 2, the model: the pools the kernel really allocates ephemeral
//! ports from, built in one pass over the records `read` hands on (see the
//! README's "What it answers" and the kernel's `__inet_hash_connect`,
//! `inet_csk_find_open_port` and `udp_lib_get_port`). Hands a [`Model`] to
//! `forecast` and `judge`. A new kind of pool goes here.
//!
//! - a **connect pool** per (source, destination, destination port): the
//!   candidate ports minus those marked by `bind()` minus the tuple's own
//!   entries, where a TIME_WAIT the kernel may take over does not count;
//! - a **bind pool** per local address, and the wildcards: what
//!   `bind(addr, 0)` can still get, under the kernel's address-conflict rules;
//! - a **UDP pool** per wildcard family: what an unbound UDP socket can
//!   still autobind;
//! - a **NAT pool** per (protocol, NAT address, destination, destination
//!   port, port class) of a masquerading node, from the conntrack table
//!   (`nat`, `nat_class`);
//! - an **upstream pool** per destination of the provider's NAT in front of
//!   the host (`--upstream-nat`), shared by every local address and
//!   namespace (`upstream`).

use std::collections::HashMap;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::read::ports::PortRange;
use crate::read::settings::{KernelSettings, TwReuse};
use crate::read::socket::{Protocol, Sink, Socket, TcpState};

mod ages;
mod build;
pub mod nat;
pub mod nat_class;
pub mod nat_search;
mod pool;
pub mod ports;
pub mod upstream;

pub use ages::TwAges;
use build::FastHash;
pub use build::TwPolicy;
pub use build::{Connectable, FourTuple, MAX_BOUND, PoolsBuilder};
pub use nat::{NatBuilder, NatKey, NatModel};
pub use nat_class::PortClass;
pub use pool::{Kind, Pool, PoolName, StateCounts, Tuple};
pub use ports::{PortBits, PortSet};

/// TCP_TIMEWAIT_LEN: a TIME_WAIT lasts 60 s, so its age is 60 s minus what
/// the kernel reports as left.
pub const TIME_WAIT_MS: u32 = 60_000;
/// Kernels without `tcp_tw_reuse_delay` reuse after one to two seconds;
/// two is when reuse is certain.
const OLD_KERNEL_REUSE_DELAY_MS: u32 = 2_000;

/// The odd-size quirk: with the global range, `connect()` and
/// `bind(addr, 0)` scan `size & !1` ports from a random start, so one of the
/// two end ports is skipped by each call. A free end port is therefore not
/// certain to be handed out.
#[derive(Clone, Copy, Debug)]
struct Quirk {
    applies: bool,
}

impl Quirk {
    fn new(range: PortRange) -> Quirk {
        Quirk {
            applies: range.len() >= 3 && range.len() % 2 == 1,
        }
    }

    /// Ports sure to be handed out from the set `free`.
    fn sure(self, free: &PortBits) -> u32 {
        let count = free.count() as u32;
        let ends_free = free.contains(0) || free.contains(free.len().saturating_sub(1));
        count - u32::from(self.applies && ends_free)
    }
}

/// Per local address of one protocol's table: the ports each address
/// holds, and the ports held by sockets that conflict with every address.
#[derive(Debug)]
struct Table {
    addrs: HashMap<IpAddr, (PortSet, StateCounts), FastHash>,
    /// Held by a socket that every specific IPv4 binder conflicts with:
    /// `0.0.0.0`, or `::` without IPV6_V6ONLY.
    any_v4: PortBits,
    /// Held by `::`, which every specific IPv6 binder conflicts with.
    any_v6: PortBits,
    /// Held by anything but an IPV6_V6ONLY socket: blocks `bind(0.0.0.0, 0)`.
    all_but_v6only: PortBits,
    /// Held by anything: blocks `bind(::, 0)`.
    all: PortBits,
    counts: StateCounts,
}

impl Table {
    fn new(len: usize) -> Table {
        Table {
            addrs: HashMap::default(),
            any_v4: PortBits::new(len),
            any_v6: PortBits::new(len),
            all_but_v6only: PortBits::new(len),
            all: PortBits::new(len),
            counts: StateCounts::default(),
        }
    }

    /// The kernel's `inet_rcv_saddr_equal` with wildcards matching, folded
    /// into bit sets: IPv4-mapped addresses arrive as IPv4.
    fn add(&mut self, s: &Socket, i: usize) {
        let v6only = s.v6only == Some(true);
        match s.local {
            IpAddr::V4(a) if a.is_unspecified() => self.any_v4.insert(i),
            IpAddr::V6(a) if a.is_unspecified() => {
                self.any_v6.insert(i);
                if !v6only {
                    self.any_v4.insert(i);
                }
            }
            addr => {
                let len = self.all.len();
                let entry = self.addrs.entry(addr).or_default();
                entry.0.insert(i, len);
                entry.1.add(s.state, false);
            }
        }
        self.all.insert(i);
        if !(s.local.is_ipv6() && v6only) {
            self.all_but_v6only.insert(i);
        }
        self.counts.add(s.state, false);
    }

    /// The `candidates` that `bind(addr, 0)` (or autobind, for the
    /// wildcards) can still take, and the sockets of `addr`.
    fn free_for(&self, addr: IpAddr, candidates: &PortBits) -> (PortBits, StateCounts) {
        let mut free = candidates.clone();
        match addr {
            IpAddr::V4(a) if a.is_unspecified() => {
                free.remove_all(&self.all_but_v6only);
                (free, self.counts)
            }
            IpAddr::V6(a) if a.is_unspecified() => {
                free.remove_all(&self.all);
                (free, self.counts)
            }
            _ => {
                free.remove_all(if addr.is_ipv4() {
                    &self.any_v4
                } else {
                    &self.any_v6
                });
                match self.addrs.get(&addr) {
                    Some((ports, counts)) => {
                        ports.remove_from(&mut free);
                        (free, *counts)
                    }
                    None => (free, StateCounts::default()),
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct TupleEntry {
    counts: StateCounts,
    /// Entries that keep their port from this tuple.
    blocking: u32,
    /// Bit 0: the first port of the range is blocked; bit 1: the last.
    ends: u8,
    /// The tuple's TIME_WAIT entries by age, for the forecast.
    ages: TwAges,
}

/// Totals over everything read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sockets with the local port in the range, TCP and UDP.
    pub sockets: u64,
    pub tcp_sockets: u64,
    pub udp_sockets: u64,
    pub time_wait: u64,
    pub time_wait_reusable: u64,
    /// Connected TCP sockets whose port was chosen automatically: the ones
    /// user space cannot tell from `bind(addr, 0)` + `connect()`.
    pub autobound_connected: u64,
    /// TIME_WAIT entries of connections the previous `--trend` run saw
    /// bound explicitly, counted as marks.
    pub bound_time_wait: u64,
}

/// Candidates not marked by `bind()`: what a new tuple can get.
#[derive(Clone, Copy, Debug)]
struct ConnectBase {
    count: u32,
    /// Whether the first and the last port of the range are among them.
    lo_free: bool,
    hi_free: bool,
}

/// The pools, ready to be asked.
pub struct Model {
    range: PortRange,
    quirk: Quirk,
    candidates: PortBits,
    candidate_count: u32,
    /// Capacity of the pools the odd-size quirk applies to.
    capacity: u32,
    connect_base: ConnectBase,
    bind_marked: u32,
    tuples: HashMap<Tuple, TupleEntry, FastHash>,
    tcp: Table,
    udp: Table,
    pub totals: Totals,
    /// When a TIME_WAIT stops blocking `connect()`, for the forecast.
    tw: TwPolicy,
    /// The NAT pools and the conntrack table, where they were read.
    pub nat: Option<NatModel>,
    /// The provider NAT's pools, with `--upstream-nat`.
    pub upstream: Option<upstream::UpstreamModel>,
    /// Whether the socket tables were read; not when only NAT pools were
    /// asked for, and then the socket pools are not shown at all.
    pub sockets_read: bool,
    /// Connected sockets bound to an explicit port (`--trend` keeps them).
    bound: Vec<FourTuple>,
}

impl Model {
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// `|C|`: the range minus the reserved ports.
    pub fn candidate_count(&self) -> u32 {
        self.candidate_count
    }

    /// The ports of the range that are not reserved, by index.
    pub fn candidates(&self) -> &PortBits {
        &self.candidates
    }

    /// Connected sockets bound to an explicit port, at most
    /// [`MAX_BOUND`].
    pub fn explicitly_bound(&self) -> &[FourTuple] {
        &self.bound
    }

    /// When a TIME_WAIT stops blocking `connect()`.
    pub fn tw_policy(&self) -> &TwPolicy {
        &self.tw
    }

    /// Every tuple with its TIME_WAIT entries by age.
    pub fn tuple_ages(&self) -> impl Iterator<Item = (&Tuple, &TwAges)> {
        self.tuples.iter().map(|(t, e)| (t, &e.ages))
    }

    /// The TIME_WAIT entries of one tuple by age, if it has any socket.
    pub fn ages_of(&self, tuple: &Tuple) -> Option<&TwAges> {
        self.tuples.get(tuple).map(|e| &e.ages)
    }

    /// Candidate ports marked by `bind()`, which `connect()` skips.
    pub fn bind_marked(&self) -> u32 {
        self.bind_marked
    }

    pub fn tuple_count(&self) -> usize {
        self.tuples.len()
    }

    pub fn connect_pools(&self) -> impl Iterator<Item = Pool> + '_ {
        self.tuples
            .iter()
            .map(|(tuple, entry)| self.connect_pool_from(PoolName::Tuple(*tuple), entry))
    }

    /// The pool of `tuple`, also when it holds no socket yet.
    pub fn connect_pool(&self, tuple: Tuple) -> Pool {
        match self.tuples.get(&tuple) {
            Some(entry) => self.connect_pool_from(PoolName::Tuple(tuple), entry),
            None => self.new_connect_pool(PoolName::Tuple(tuple)),
        }
    }

    /// A tuple with no socket: what a connection to a new destination gets.
    pub fn new_connect_pool(&self, name: PoolName) -> Pool {
        self.connect_pool_from(name, &TupleEntry::default())
    }

    fn connect_pool_from(&self, name: PoolName, entry: &TupleEntry) -> Pool {
        let base = self.connect_base;
        let lo_free = base.lo_free && entry.ends & 1 == 0;
        let hi_free = base.hi_free && entry.ends & 2 == 0;
        let skipped_end = u32::from(self.quirk.applies && (lo_free || hi_free));
        let free = base
            .count
            .saturating_sub(entry.blocking)
            .saturating_sub(skipped_end);
        Pool {
            kind: Kind::Connect,
            name,
            capacity: self.capacity,
            free,
            counts: entry.counts,
            fail_ppm: None,
        }
    }

    /// Local addresses that hold TCP ports, then the wildcards.
    pub fn bind_addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.tcp.addrs.keys().copied().chain(WILDCARDS)
    }

    pub fn bind_pool(&self, addr: IpAddr) -> Pool {
        self.table_pool(Kind::Bind, addr)
    }

    /// What an unbound UDP socket of each family can still autobind.
    pub fn udp_pools(&self) -> impl Iterator<Item = Pool> + '_ {
        WILDCARDS
            .into_iter()
            .map(|addr| self.table_pool(Kind::Udp, addr))
    }

    /// A bind pool of the TCP table, or a UDP pool. UDP scans the whole
    /// range: no odd-size quirk.
    fn table_pool(&self, kind: Kind, addr: IpAddr) -> Pool {
        let table = if kind == Kind::Udp {
            &self.udp
        } else {
            &self.tcp
        };
        let (free, counts) = table.free_for(addr, &self.candidates);
        let (capacity, free) = if kind == Kind::Udp {
            (self.candidate_count, free.count() as u32)
        } else {
            (self.capacity, self.quirk.sure(&free))
        };
        Pool {
            kind,
            name: PoolName::Address(addr),
            capacity,
            free,
            counts,
            fail_ppm: None,
        }
    }
}

const WILDCARDS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_pools_take_candidate_ports_no_bind_marked() {
        let range = PortRange::new(40000, 40009).unwrap();
        let candidates = PortBits::candidates(range, &"40009".parse().unwrap());
        let mut connectable = Connectable::new(range, &candidates);
        let local: IpAddr = "10.0.0.1".parse().unwrap();
        let remote: IpAddr = "10.0.0.2".parse().unwrap();
        let tcp = |state, port| Socket::new(Protocol::Tcp, state, (local, port), (remote, 5000));
        let established = |port| tcp(TcpState::ESTABLISHED, port);
        connectable.mark(&established(40001));
        connectable.mark(&Socket::new(
            Protocol::Udp,
            TcpState::CLOSE,
            (local, 40002),
            (remote, 0),
        ));
        assert!(!connectable.counts(&established(40001)), "marked");
        assert!(connectable.counts(&established(40002)), "UDP marks nothing");
        assert!(connectable.counts(&tcp(TcpState::TIME_WAIT, 40003)));
        assert!(!connectable.counts(&established(40009)), "reserved");
        assert!(!connectable.counts(&established(39999)), "out of range");
        assert!(!connectable.counts(&tcp(TcpState::LISTEN, 40004)));
        let udp = Socket::new(
            Protocol::Udp,
            TcpState::ESTABLISHED,
            (local, 40005),
            (remote, 53),
        );
        assert!(!connectable.counts(&udp));
    }
}
