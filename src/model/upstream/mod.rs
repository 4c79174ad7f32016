//! Upstream pools: the budget a provider's NAT (Cloud NAT, Azure's SNAT, an
//! AWS NAT gateway) gives this host, one pool per destination key, shared
//! by every local address of the host and by every namespace (the provider
//! sees one VM). Built from the same socket records as the other pools and,
//! where conntrack is active, from its entries; the rule is the `budget`.
//!
//! A pool's used ports are what the provider's rule counts, as far as the
//! host can see it:
//! - every connection to the key that holds a port now (any state but
//!   listening or bound-only);
//! - closes younger than the hold: the host's TIME_WAIT entries (age = 60 s
//!   less the time left), or conntrack's closing entries where conntrack is
//!   active, which keep connections the peer closed too;
//! - for a hold longer than what the entries show (60 s for TIME_WAIT,
//!   `nf_conntrack_tcp_timeout_time_wait` for conntrack), the closes the
//!   entries no longer show, at the pace the oldest visible ones had;
//! - with `--trend`, the new connections the kernel counted between runs
//!   that no entry shows (the peer closed them): a bound, never less.
//!
//! The forecast is the pace of closes projected over the hold instead of
//! 60 s: the forecast stage's (`forecast::upstream`).

use std::collections::HashMap;
use std::net::IpAddr;

mod budget;
pub mod count;
mod tally;

pub use budget::{Budget, Cidr, DEFAULT_EXCLUDES, Per, Route};
pub use count::{Counted, count};
pub use tally::{Closes, Sources, Tally};

use super::build::FastHash;
use super::nat::DEFAULT_TIME_WAIT_S;
use super::{Kind, Pool, PoolName, StateCounts};
use crate::read::conntrack::Entry;
use crate::read::conntrack::entry::{CT_TCP_CLOSE, CT_TCP_TIME_WAIT, IPPROTO_TCP, IPPROTO_UDP};
use crate::read::nat::NatRead;
use crate::read::socket::{Protocol, Sink, Socket, TcpState};

/// TCP_TIMEWAIT_LEN in seconds: how long the host shows a close.
pub const HOST_TIME_WAIT_S: u32 = 60;
/// `nf_conntrack_tcp_timeout_close`: a TCP entry closed by a reset.
const CT_CLOSE_S: u32 = 10;
/// Ages are kept to the second up to this many seconds; a hold or a
/// conntrack timeout beyond it reads the rest from the pace.
pub const MAX_AGE_S: u32 = 600;

/// What `--trend` keeps of a run for the bound on unseen closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opens {
    pub active_opens: u64,
    pub host_open: u64,
}

/// What one port of the budget is spent on: a destination and, per
/// destination, its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamKey {
    pub protocol: Protocol,
    pub destination: IpAddr,
    /// `None` where the budget is per destination address.
    pub port: Option<u16>,
}

/// What an upstream pool is the pool of: its key and where its
/// connections leave from (`None`: no connection yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamName {
    pub key: UpstreamKey,
    pub sources: Option<Sources>,
}

/// The pools of one host (or namespace, summed later), built record by
/// record.
#[derive(Clone, Debug)]
pub struct UpstreamModel {
    pub budget: Budget,
    pub route: Route,
    /// One tally per key, looked up for every connection read: the fast
    /// hash the model's other pool maps use.
    pub tallies: HashMap<UpstreamKey, Tally, FastHash>,
    /// `nf_conntrack_tcp_timeout_time_wait` where conntrack entries were
    /// read in every namespace summed: its closing entries are counted.
    pub conntrack_tw_s: Option<u32>,
    /// Namespaces summed, and of them those whose conntrack was read.
    pub namespaces: u32,
    pub namespaces_with_conntrack: u32,
    /// Whether a conntrack table with entries could not be read (no
    /// CAP_NET_ADMIN) in some namespace summed.
    pub conntrack_unread: bool,
    /// TIME_WAIT entries of the whole host (every destination), for the
    /// bound on unseen closes.
    pub host_time_wait: u64,
    /// Connected TCP sockets of the whole host (every destination), for
    /// the same bound: new connections still open are not closes.
    pub host_open: u64,
    /// The kernel's count of connections opened (`Tcp: ActiveOpens`),
    /// summed over the namespaces, where every one could be read.
    pub active_opens: Option<u64>,
    /// The pools and their counts, once [`UpstreamModel::finish`] ran.
    pub pools: Vec<(Pool, Counted)>,
    /// The count of a destination with no connection seen: what the bound
    /// on unseen closes alone may hold of it.
    pub idle: Option<Counted>,
    /// The bound on closes no entry shows, per second, where `--trend`
    /// gave one.
    pub unseen_per_s: Option<f64>,
}

impl UpstreamModel {
    pub fn new(budget: Budget, route: Route) -> UpstreamModel {
        UpstreamModel {
            budget,
            route,
            tallies: HashMap::default(),
            conntrack_tw_s: None,
            namespaces: 1,
            namespaces_with_conntrack: 0,
            conntrack_unread: false,
            host_time_wait: 0,
            host_open: 0,
            active_opens: None,
            pools: Vec::new(),
            idle: None,
            unseen_per_s: None,
        }
    }

    /// The pools once every table is read: whether conntrack kept the
    /// closes (`nat`, the conntrack read), the kernel's count of opens now,
    /// and with `--trend` the bound on closes no entry shows from the
    /// previous run's count (`before`, and the seconds since).
    pub fn finish_read(
        &mut self,
        nat: &NatRead,
        active_opens: Option<u64>,
        before: Option<(Opens, f64)>,
    ) {
        if nat.read.is_some() {
            let figures = nat.figures.unwrap_or_default();
            self.conntrack_read(figures.time_wait_timeout_s.unwrap_or(DEFAULT_TIME_WAIT_S));
        } else {
            // Entries handed on before a failure are not to be trusted.
            self.forget_conntrack();
            self.conntrack_unread = nat.unread.is_some();
        }
        self.active_opens = active_opens;
        // Where conntrack keeps every close, nothing is unseen to bound.
        let bound = before
            .filter(|_| !self.sees_peer_closes())
            .and_then(|(opens, seconds)| self.unseen_bound(&opens, seconds));
        self.finish(bound);
    }

    /// Counts the pools; `unseen_per_s` is the bound on closes no entry
    /// shows (`--trend`).
    pub fn finish(&mut self, unseen_per_s: Option<f64>) {
        self.unseen_per_s = unseen_per_s;
        let ports = self.budget.ports;
        self.pools = self
            .tallies
            .iter()
            .map(|(key, tally)| {
                let f = count(self, tally, unseen_per_s);
                let pool = Pool {
                    kind: Kind::Upstream,
                    name: PoolName::Upstream(UpstreamName {
                        key: *key,
                        sources: tally.sources(),
                    }),
                    capacity: ports,
                    free: ports.saturating_sub(f.used),
                    counts: StateCounts {
                        established: f.open,
                        time_wait: f.closes,
                        time_wait_reusable: 0,
                        other: f.inferred.saturating_add(f.unseen),
                    },
                    fail_ppm: None,
                };
                (pool, f)
            })
            .collect();
        self.idle = Some(count(self, &Tally::default(), unseen_per_s));
    }

    /// The count of an upstream pool, or of a destination with no
    /// connection yet.
    pub fn counted(&self, name: &PoolName) -> Option<&Counted> {
        let PoolName::Upstream(n) = name else {
            return None;
        };
        self.pools
            .iter()
            .find(|(p, _)| matches!(p.name, PoolName::Upstream(m) if m.key == n.key))
            .map(|(_, f)| f)
            .or(self.idle.as_ref())
    }

    /// A pool with no connection yet, where none matched: the whole budget
    /// free, less what the bound on unseen closes may hold.
    pub fn stand_in(&self, destination: Option<(IpAddr, Option<u16>)>) -> Pool {
        let (addr, port) =
            destination.unwrap_or((IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), None));
        let used = self.idle.as_ref().map_or(0, |f| f.used);
        Pool {
            kind: Kind::Upstream,
            name: PoolName::Upstream(UpstreamName {
                key: UpstreamKey {
                    protocol: Protocol::Tcp,
                    destination: addr,
                    port,
                },
                sources: None,
            }),
            capacity: self.budget.ports,
            free: self.budget.ports.saturating_sub(used),
            counts: StateCounts {
                other: used,
                ..StateCounts::default()
            },
            fail_ppm: None,
        }
    }

    /// The bound on closes no entry shows, per second, from the kernel's
    /// count of opens now and `seconds` ago (`--trend`): the new
    /// connections, less those still open (`open_before` then) and those
    /// the TIME_WAIT entries show (a minute's worth of the host's closes).
    pub fn unseen_bound(&self, before: &Opens, seconds: f64) -> Option<f64> {
        let now = self.active_opens?;
        if seconds <= 0.0 || now < before.active_opens {
            return None;
        }
        let opened = (now - before.active_opens) as f64;
        let still_open = self.host_open.saturating_sub(before.host_open) as f64;
        let per_s = (opened - still_open).max(0.0) / seconds;
        let seen_per_s = self.host_time_wait as f64 / f64::from(HOST_TIME_WAIT_S);
        Some((per_s - seen_per_s).max(0.0))
    }

    /// The key of a connection to `destination:port`, if it passes the NAT.
    fn key(&self, protocol: Protocol, destination: IpAddr, port: u16) -> Option<UpstreamKey> {
        if port == 0 || !self.route.passes(destination) {
            return None;
        }
        let per = match protocol {
            Protocol::Tcp => self.budget.tcp_per,
            Protocol::Udp => self.budget.udp_per,
        };
        Some(UpstreamKey {
            protocol,
            destination,
            port: (per == Per::Destination).then_some(port),
        })
    }

    /// A socket record: TCP connected or TIME_WAIT, or connected UDP.
    pub fn socket(&mut self, s: &Socket) {
        if s.protocol == Protocol::Tcp {
            match s.state {
                TcpState::TIME_WAIT => self.host_time_wait += 1,
                st if !st.is_unconnected() => self.host_open += 1,
                _ => {}
            }
        }
        if s.state.is_unconnected() && s.protocol == Protocol::Tcp {
            return;
        }
        let Some(key) = self.key(s.protocol, s.remote, s.remote_port) else {
            return;
        };
        let hold = self.budget.hold_s;
        let tally = self.tallies.entry(key).or_default();
        tally.source(s.local);
        if s.protocol == Protocol::Tcp && s.state == TcpState::TIME_WAIT {
            let left_s = s.expires_ms.div_ceil(1000).min(HOST_TIME_WAIT_S);
            tally
                .host_closes
                .add(HOST_TIME_WAIT_S - left_s, hold.min(MAX_AGE_S));
        } else {
            tally.open = tally.open.saturating_add(1);
        }
    }

    /// Conntrack was read in this namespace; its TCP entries stay in
    /// TIME_WAIT for `time_wait_s`.
    pub fn conntrack_read(&mut self, time_wait_s: u32) {
        self.conntrack_tw_s = Some(time_wait_s);
        self.namespaces_with_conntrack = 1;
    }

    /// A conntrack entry of a connection this namespace made (or forwarded:
    /// it leaves through the same NAT).
    pub fn conntrack_entry(&mut self, e: &Entry) {
        let protocol = match e.protocol {
            IPPROTO_TCP => Protocol::Tcp,
            IPPROTO_UDP => Protocol::Udp,
            _ => return,
        };
        let Some(key) = self.key(protocol, e.orig.dst, e.orig.dst_port) else {
            return;
        };
        let hold = self.budget.hold_s.min(MAX_AGE_S);
        let tw_s = self.conntrack_tw_s.unwrap_or(120);
        let tally = self.tallies.entry(key).or_default();
        tally.source(e.orig.src);
        match e.tcp_state {
            Some(CT_TCP_TIME_WAIT) => tally
                .ct_closes
                .add(tw_s.saturating_sub(e.timeout_s), hold.min(tw_s)),
            Some(CT_TCP_CLOSE) => tally
                .ct_closes
                .add(CT_CLOSE_S.saturating_sub(e.timeout_s), hold),
            _ => tally.ct_open = tally.ct_open.saturating_add(1),
        }
    }

    /// What `--trend` keeps for the next run, where the count was read.
    pub fn opens(&self) -> Option<Opens> {
        Some(Opens {
            active_opens: self.active_opens?,
            host_open: self.host_open,
        })
    }

    /// Conntrack's entries could not all be read: count without them.
    pub fn forget_conntrack(&mut self) {
        self.conntrack_tw_s = None;
        self.namespaces_with_conntrack = 0;
        for t in self.tallies.values_mut() {
            t.ct_open = 0;
            t.ct_closes = Closes::default();
        }
        self.tallies
            .retain(|_, t| t.open > 0 || t.host_closes.total() > 0);
    }

    /// Adds another namespace's pools: the provider sees one VM.
    pub fn merge(&mut self, other: &UpstreamModel) {
        for (k, t) in &other.tallies {
            match self.tallies.get_mut(k) {
                Some(mine) => mine.merge(t),
                None => {
                    self.tallies.insert(*k, t.clone());
                }
            }
        }
        self.namespaces += other.namespaces;
        self.namespaces_with_conntrack += other.namespaces_with_conntrack;
        self.conntrack_unread |= other.conntrack_unread;
        self.conntrack_tw_s = match (self.conntrack_tw_s, other.conntrack_tw_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.host_time_wait += other.host_time_wait;
        self.host_open += other.host_open;
        self.active_opens = match (self.active_opens, other.active_opens) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        };
    }

    /// Whether every namespace summed had its conntrack read: then closes
    /// the peer made are counted.
    pub fn sees_peer_closes(&self) -> bool {
        self.namespaces_with_conntrack == self.namespaces && self.conntrack_tw_s.is_some()
    }
}

/// The socket tables hand their records to the upstream pools too.
impl Sink for UpstreamModel {
    fn marked(&mut self, _: &Socket) {}

    fn socket(&mut self, socket: &Socket) {
        UpstreamModel::socket(self, socket);
    }

    /// A failed dump is read again: forget what it gave (conntrack is read
    /// after the tables, so only socket records are here).
    fn discard(&mut self, protocol: Protocol) {
        self.tallies.retain(|k, _| k.protocol != protocol);
        if protocol == Protocol::Tcp {
            self.host_time_wait = 0;
            self.host_open = 0;
        }
    }
}
