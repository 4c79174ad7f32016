//! Building the model: the socket records taken in one pass, each folded
//! into the counts of the pools it belongs to as it arrives.

use std::collections::{HashMap, HashSet};

use super::*;

/// When a TIME_WAIT entry stops blocking its tuple (`tcp_twsk_unique`).
#[derive(Clone, Copy, Debug)]
pub struct TwPolicy {
    reuse: TwReuse,
    timestamps: bool,
    pub delay_ms: u32,
}

impl TwPolicy {
    /// Whether `connect()` takes over old TIME_WAIT entries between these
    /// addresses (an interface bound with SO_BINDTODEVICE aside).
    pub fn applies(&self, local: IpAddr, remote: IpAddr) -> bool {
        self.timestamps
            && match self.reuse {
                TwReuse::Never => false,
                TwReuse::Always => true,
                TwReuse::LoopbackOnly => local.is_loopback() || remote.is_loopback(),
            }
    }

    /// The kernel cannot tell user space whether a TIME_WAIT had timestamps;
    /// this assumes it had them exactly when `tcp_timestamps` is on now.
    fn reusable(&self, s: &Socket) -> bool {
        let applies = match self.reuse {
            TwReuse::Never => false,
            TwReuse::Always => true,
            TwReuse::LoopbackOnly => {
                s.local.is_loopback()
                    || s.remote.is_loopback()
                    || s.bound_dev_if == LOOPBACK_IFINDEX
            }
        };
        let age_ms = TIME_WAIT_MS.saturating_sub(s.expires_ms);
        s.state == TcpState::TIME_WAIT && applies && self.timestamps && age_ms > self.delay_ms
    }
}

const LOOPBACK_IFINDEX: u32 = 1;

/// Which connected TCP sockets are entries of their tuple's connect pool.
/// `connect()` picks only candidate ports (in the range, not reserved) that
/// no `bind()` has marked, so a socket on any other port is in no connect
/// pool. Readers hand every mark over before the first connected socket
/// (see [`Sink`]), so `counts` is final once `mark` has seen them all.
#[derive(Clone, Debug)]
pub struct Connectable {
    range: PortRange,
    /// The candidates, less the ports marked so far.
    ports: PortBits,
}

impl Connectable {
    pub fn new(range: PortRange, candidates: &PortBits) -> Connectable {
        Connectable {
            range,
            ports: candidates.clone(),
        }
    }

    /// Takes out the port of a socket handed to [`Sink::marked`].
    pub fn mark(&mut self, s: &Socket) {
        if s.protocol == Protocol::Tcp && self.range.contains(s.local_port) {
            self.ports.remove(self.range.index(s.local_port));
        }
    }

    /// Whether `s` is a connected TCP socket that counts in its tuple's
    /// connect pool.
    pub fn counts(&self, s: &Socket) -> bool {
        s.protocol == Protocol::Tcp
            && !s.state.is_unconnected()
            && s.remote_port != 0
            && self.range.contains(s.local_port)
            && self.ports.contains(self.range.index(s.local_port))
    }
}

/// Takes the socket records in one pass; `finish` turns them into pools.
pub struct PoolsBuilder {
    /// Connections the previous `--trend` run saw bound explicitly: their
    /// TIME_WAIT still marks the port.
    bound_before: HashSet<FourTuple>,
    /// Connections bound explicitly now, for the next run.
    bound_now: Vec<FourTuple>,
    range: PortRange,
    candidates: PortBits,
    connectable: Connectable,
    tw: TwPolicy,
    tuples: HashMap<Tuple, TupleEntry, FastHash>,
    tcp: Table,
    udp: Table,
    totals: Totals,
}

impl PoolsBuilder {
    pub fn new(settings: &KernelSettings) -> PoolsBuilder {
        let range = settings.range;
        let len = range.len();
        let candidates = PortBits::candidates(range, &settings.reserved);
        PoolsBuilder {
            bound_before: HashSet::new(),
            bound_now: Vec::new(),
            range,
            connectable: Connectable::new(range, &candidates),
            candidates,
            tw: TwPolicy {
                reuse: settings.tw_reuse,
                timestamps: settings.timestamps,
                delay_ms: settings
                    .tw_reuse_delay_ms
                    .unwrap_or(OLD_KERNEL_REUSE_DELAY_MS),
            },
            tuples: HashMap::default(),
            tcp: Table::new(len),
            udp: Table::new(len),
            totals: Totals::default(),
        }
    }

    /// The connections a previous run saw bound explicitly (`--trend`).
    pub fn remember_bound(&mut self, bound: &[FourTuple]) {
        self.bound_before.extend(bound.iter().copied());
    }

    pub fn finish(self) -> Model {
        let connect_base = &self.connectable.ports;
        let quirk = Quirk::new(self.range);
        let candidate_count = self.candidates.count() as u32;
        let base_count = connect_base.count() as u32;
        let last = connect_base.len() - 1;
        Model {
            quirk,
            range: self.range,
            candidate_count,
            capacity: quirk.sure(&self.candidates),
            bind_marked: candidate_count - base_count,
            connect_base: ConnectBase {
                count: base_count,
                lo_free: connect_base.contains(0),
                hi_free: connect_base.contains(last),
            },
            candidates: self.candidates,
            tuples: self.tuples,
            tcp: self.tcp,
            udp: self.udp,
            totals: self.totals,
            tw: self.tw,
            nat: None,
            upstream: None,
            sockets_read: true,
            bound: self.bound_now,
        }
    }

    /// Forgets every UDP record, so a failed UDP read can be done again
    /// from another source.
    pub fn reset_udp(&mut self) {
        self.udp = Table::new(self.candidates.len());
        self.totals.sockets -= self.totals.udp_sockets;
        self.totals.udp_sockets = 0;
    }

    /// Forgets every TCP record, marks included, so a failed TCP read can
    /// be done again from another source.
    pub fn reset_tcp(&mut self) {
        self.connectable = Connectable::new(self.range, &self.candidates);
        self.bound_now.clear();
        self.tuples.clear();
        self.tcp = Table::new(self.candidates.len());
        let udp_sockets = self.totals.udp_sockets;
        self.totals = Totals {
            sockets: udp_sockets,
            udp_sockets,
            ..Totals::default()
        };
    }

    fn position(&self, s: &Socket) -> Option<usize> {
        self.range
            .contains(s.local_port)
            .then(|| self.range.index(s.local_port))
    }
}

impl Sink for PoolsBuilder {
    fn discard(&mut self, protocol: Protocol) {
        match protocol {
            Protocol::Tcp => self.reset_tcp(),
            Protocol::Udp => self.reset_udp(),
        }
    }

    fn marked(&mut self, s: &Socket) {
        let Some(i) = self.position(s) else { return };
        if s.protocol != Protocol::Tcp {
            return;
        }
        self.connectable.mark(s);
        if !s.state.is_unconnected() && s.remote_port != 0 && self.bound_now.len() < MAX_BOUND {
            self.bound_now.push(four_tuple(s));
        }
        // Listeners and bound-only sockets reach the model only here.
        if s.state.is_unconnected() {
            self.tcp.add(s, i);
            self.totals.sockets += 1;
            self.totals.tcp_sockets += 1;
        }
    }

    fn socket(&mut self, s: &Socket) {
        let Some(i) = self.position(s) else { return };
        self.totals.sockets += 1;
        if s.protocol == Protocol::Udp {
            self.totals.udp_sockets += 1;
            self.udp.add(s, i);
            return;
        }
        self.totals.tcp_sockets += 1;
        self.tcp.add(s, i);
        if s.state == TcpState::TIME_WAIT {
            self.totals.time_wait += 1;
            if !self.bound_before.is_empty() && self.bound_before.contains(&four_tuple(s)) {
                // Bound explicitly when the previous run saw it: its port
                // stays marked for every tuple, as a mark it counts.
                self.connectable.mark(s);
                self.totals.bound_time_wait += 1;
                return;
            }
        }
        if !self.connectable.counts(s) {
            return;
        }
        let reusable = self.tw.reusable(s);
        if s.state != TcpState::TIME_WAIT {
            self.totals.autobound_connected += 1;
        }
        self.totals.time_wait_reusable += u64::from(reusable);
        let last = self.candidates.len() - 1;
        let tuple = Tuple {
            source: s.local,
            destination: s.remote,
            port: s.remote_port,
        };
        let entry = self.tuples.entry(tuple).or_default();
        entry.counts.add(s.state, reusable);
        if s.state == TcpState::TIME_WAIT {
            let age_ms = TIME_WAIT_MS.saturating_sub(s.expires_ms);
            entry.ages.add(age_ms);
        }
        if !reusable {
            entry.blocking += 1;
            entry.ends |= u8::from(i == 0) | (u8::from(i == last) << 1);
        }
    }
}

/// At most this many explicitly bound connections are kept.
pub const MAX_BOUND: usize = 1000;

/// A connection's 4-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
}

fn four_tuple(s: &Socket) -> FourTuple {
    FourTuple {
        local: s.local,
        local_port: s.local_port,
        remote: s.remote,
        remote_port: s.remote_port,
    }
}

/// FxHash: socket tables are local data, no hash flooding to fear, and the
/// tuple map is touched once per socket.
pub(super) type FastHash = rustc_hash::FxBuildHasher;
