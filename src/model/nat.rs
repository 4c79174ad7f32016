//! NAT pools: the source ports a masquerading node (a container host, a NAT
//! gateway) allocates from, one pool per (protocol, NAT address,
//! destination, destination port, zone) and, where the rule names no port
//! range, per port class (`nat_class`), read from the conntrack table
//! (`nf_nat_core.c`).
//!
//! A new translated connection needs a port P in the NAT range such that the
//! reply tuple (destination:dport -> NAT address:P) is in no conntrack entry.
//! So every entry whose reply tuple comes back to a port of the range holds
//! that port, whether it was translated or not (the node's own connections
//! from its address count too). Pools are shown only where at least one
//! entry was source-translated, so inbound connections make none.
//!
//! The kernel's bounded search, and the chance that it fails at the
//! present fill, is `nat_search`'s.

use std::collections::HashMap;
use std::net::IpAddr;

use super::build::FastHash;
use super::nat_class::{PortClass, place};
use super::nat_search::fail_ppm;
use super::{Kind, Pool, PoolName, StateCounts};
use crate::read::conntrack::{Entry, Phase, TableFigures};
use crate::read::nat::NatRead;
use crate::read::ports::PortRange;
use crate::read::socket::Protocol;

/// `nf_conntrack_tcp_timeout_time_wait` by default: a TCP entry holds its
/// NAT port this long after the close.
pub const DEFAULT_TIME_WAIT_S: u32 = 120;

/// The range the kernel picks NAT ports from when the rule names none, for
/// an original source port of 1024 or more (`nf_nat_l4proto_unique_tuple`;
/// below 512 it is 1-511, below 1024 600-1023: see `nat_class`).
pub const DEFAULT_RANGE: PortRange = PortRange {
    lo: 1024,
    hi: 65535,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatKey {
    pub protocol: Protocol,
    /// The address the node translates to.
    pub address: IpAddr,
    pub destination: IpAddr,
    pub port: u16,
    /// The conntrack zone: the kernel looks for a free reply tuple within
    /// the zone of the new connection only (0 where zones are not used).
    pub zone: u16,
    /// The ports the pool hands out: a class of the kernel's defaults, or
    /// `Ordinary` for the one range of `--nat-ports`.
    pub class: PortClass,
}

#[derive(Debug, Default)]
struct Held {
    /// The NAT ports the pool's entries hold, one per entry.
    ports: Vec<u16>,
    translated: u32,
    counts: StateCounts,
    /// Seconds each TIME_WAIT entry still holds its port.
    time_wait_left_s: Vec<u32>,
}

/// Source-translated entries whose NAT port lies outside the range the
/// check assumes: evidence that `--nat-ports` is wrong or the rule changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strays {
    pub count: u64,
    /// The first by pool name (for a stable note): its pool, named without
    /// a class, and its port.
    pub example: Option<(NatKey, u16)>,
}

impl Strays {
    fn add(&mut self, key: NatKey, port: u16) {
        self.count += 1;
        if self.example.is_none_or(|e| (key, port) < e) {
            self.example = Some((key, port));
        }
    }
}

/// Takes conntrack entries one at a time; `finish` makes the pools.
#[derive(Debug)]
pub struct NatBuilder {
    /// The rule's own range (`--nat-ports`), if given.
    given: Option<PortRange>,
    pools: HashMap<NatKey, Held, FastHash>,
    strays: Strays,
    /// Every entry read, and those that were source-translated.
    pub entries: u64,
    pub translated: u64,
}

impl NatBuilder {
    /// `range`: the rule's own port range, if known; else the kernel's default.
    pub fn new(range: Option<PortRange>) -> NatBuilder {
        NatBuilder {
            given: range,
            pools: HashMap::default(),
            strays: Strays::default(),
            entries: 0,
            translated: 0,
        }
    }

    pub fn add(&mut self, e: &Entry) {
        self.entries += 1;
        let Some(protocol) = e.transport() else {
            return;
        };
        let translated = e.is_source_nat();
        self.translated += u64::from(translated);
        let port = e.reply.dst_port;
        let placed = place(self.given, e.orig.src_port, port, translated);
        let key = NatKey {
            protocol,
            address: e.reply.dst,
            destination: e.reply.src,
            port: e.reply.src_port,
            zone: e.zone,
            class: placed.class.unwrap_or(PortClass::Ordinary),
        };
        if placed.stray {
            // Named in the note without a class: it is the port that is
            // out of place.
            let named = NatKey {
                class: PortClass::Ordinary,
                ..key
            };
            self.strays.add(named, port);
        }
        if placed.class.is_none() {
            return;
        }
        let held = self.pools.entry(key).or_default();
        held.ports.push(e.reply.dst_port);
        held.translated += u32::from(translated);
        match e.phase() {
            Some(Phase::Established) => held.counts.established += 1,
            Some(Phase::TimeWait) => {
                held.counts.time_wait += 1;
                held.time_wait_left_s.push(e.timeout_s);
            }
            Some(_) => held.counts.other += 1,
            // UDP (and other protocols without states): in use.
            None => held.counts.established += 1,
        }
    }

    pub fn finish(self, table: TableFigures) -> NatModel {
        let given = self.given;
        let mut pools: Vec<(Pool, Vec<u32>)> = self
            .pools
            .into_iter()
            .filter(|(_, held)| held.translated > 0)
            .map(|(key, mut held)| {
                held.ports.sort_unstable();
                held.ports.dedup();
                let range = given.unwrap_or(key.class.range());
                let capacity = range.len() as u32;
                let used = held.ports.len() as u32;
                let pool = Pool {
                    kind: Kind::Nat,
                    name: PoolName::Nat(key),
                    capacity,
                    free: capacity.saturating_sub(used),
                    counts: held.counts,
                    fail_ppm: Some(fail_ppm(range, &held.ports)),
                };
                (pool, held.time_wait_left_s)
            })
            .collect();
        pools.sort_by_key(|(p, _)| match p.name {
            PoolName::Nat(k) => Some(k),
            _ => None,
        });
        let (pools, time_wait_left_s) = pools.into_iter().unzip();
        NatModel {
            range: given.unwrap_or(DEFAULT_RANGE),
            given: given.is_some(),
            pools,
            strays: self.strays,
            time_wait_left_s,
            table,
            entries: self.entries,
            translated: self.translated,
        }
    }
}

/// The NAT pools and the table they live in.
#[derive(Clone, Debug)]
pub struct NatModel {
    /// The rule's own range, or the kernel's for ordinary ports (a pool of
    /// another class has that class's range).
    pub range: PortRange,
    /// Whether `range` is the rule's own (`--nat-ports`) or the default.
    pub given: bool,
    pub pools: Vec<Pool>,
    /// Translated entries outside the range assumed.
    pub strays: Strays,
    /// For each pool (same order), the seconds each of its TIME_WAIT
    /// entries still holds a port (`nf_conntrack_tcp_timeout_time_wait`
    /// minus its age): when ports come back, for a forecast.
    pub time_wait_left_s: Vec<Vec<u32>>,
    pub table: TableFigures,
    pub entries: u64,
    pub translated: u64,
}

impl NatBuilder {
    /// The NAT model of what `read` gave: none without a table; where the
    /// entries could not be read, the table's figures alone (entries handed
    /// on before a failure are dropped).
    pub fn finish_read(self, read: &NatRead) -> Option<NatModel> {
        let figures = read.figures?;
        Some(if read.unread.is_some() {
            NatBuilder::new(self.given).finish(figures)
        } else {
            self.finish(figures)
        })
    }
}

impl NatModel {
    /// How long a TCP entry holds its NAT port in TIME_WAIT, in seconds.
    pub fn time_wait_hold_s(&self) -> u32 {
        self.table
            .time_wait_timeout_s
            .unwrap_or(DEFAULT_TIME_WAIT_S)
    }

    /// The seconds left of each TIME_WAIT entry of the pool `key`.
    pub fn time_wait_left(&self, key: &NatKey) -> &[u32] {
        let at = self
            .pools
            .binary_search_by_key(&Some(*key), |p| match p.name {
                PoolName::Nat(k) => Some(k),
                _ => None,
            });
        at.ok()
            .and_then(|i| self.time_wait_left_s.get(i))
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::read::conntrack::Tuple;
    use crate::read::conntrack::entry::{CT_TCP_ESTABLISHED, CT_TCP_TIME_WAIT};

    pub(crate) fn range(lo: u16, hi: u16) -> PortRange {
        PortRange { lo, hi }
    }

    /// A TCP entry from 10.200.1.2:`src_port` to 93.184.216.34:`dport`,
    /// its reply to `nat`:`nat_port`, in conntrack TCP state `state`.
    pub(crate) fn entry(src_port: u16, nat: &str, nat_port: u16, dport: u16, state: u8) -> Entry {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        Entry {
            protocol: 6,
            orig: Tuple {
                src: a("10.200.1.2"),
                dst: a("93.184.216.34"),
                src_port,
                dst_port: dport,
            },
            reply: Tuple {
                src: a("93.184.216.34"),
                dst: a(nat),
                src_port: dport,
                dst_port: nat_port,
            },
            status: 0,
            timeout_s: 100,
            tcp_state: Some(state),
            zone: 0,
        }
    }

    #[test]
    fn pools_per_destination_port_counting_every_entry_in_the_range() {
        let mut b = NatBuilder::new(Some(range(40000, 40009)));
        b.add(&entry(20001, "10.0.0.1", 40001, 443, CT_TCP_ESTABLISHED));
        b.add(&entry(20002, "10.0.0.1", 40002, 443, CT_TCP_TIME_WAIT));
        // The node's own connection: not translated, but holds 40003.
        let mut own = entry(40003, "10.0.0.1", 40003, 443, CT_TCP_ESTABLISHED);
        own.orig.src = own.reply.dst;
        b.add(&own);
        // Outside the range: holds nothing of it.
        b.add(&entry(20004, "10.0.0.1", 50000, 443, CT_TCP_ESTABLISHED));
        b.add(&entry(20005, "10.0.0.1", 40001, 8443, CT_TCP_ESTABLISHED));
        // Only untranslated entries: no pool.
        b.add(&own_to(80));
        let m = b.finish(TableFigures::default());
        assert_eq!(m.pools.len(), 2);
        let https = m
            .pools
            .iter()
            .find(|p| matches!(p.name, PoolName::Nat(k) if k.port == 443))
            .unwrap();
        assert_eq!((https.capacity, https.free), (10, 7));
        assert_eq!((https.counts.established, https.counts.time_wait), (2, 1));
        let at = m.pools.iter().position(|p| p == https).unwrap();
        assert_eq!(m.time_wait_left_s[at], [100]);
        assert_eq!((m.entries, m.translated), (6, 4));
    }

    #[test]
    fn each_zone_has_its_own_pools() {
        let mut b = NatBuilder::new(Some(range(40000, 40009)));
        let mut other = entry(20001, "10.0.0.1", 40001, 443, CT_TCP_ESTABLISHED);
        b.add(&other);
        other.zone = 7;
        b.add(&other);
        let m = b.finish(TableFigures::default());
        assert_eq!(m.pools.len(), 2);
        assert!(m.pools.iter().all(|p| p.free == 9));
    }

    #[test]
    fn without_a_rule_range_each_port_class_is_a_pool_of_its_own() {
        let mut b = NatBuilder::new(None);
        let mut add = |from: u16, to: u16| {
            b.add(&entry(from, "10.0.0.1", to, 443, CT_TCP_ESTABLISHED));
        };
        // Kept low ports, one remapped within its class.
        add(1, 1);
        add(2, 2);
        add(1, 300);
        // 512-1023: kept 700, and 550 kept where no search hands out.
        add(700, 700);
        add(550, 550);
        // Ordinary.
        add(20000, 20000);
        let m = b.finish(TableFigures::default());
        let by_class = |class| {
            m.pools
                .iter()
                .find(|p| matches!(p.name, PoolName::Nat(k) if k.class == class))
                .map(|p| (p.capacity, p.free))
        };
        assert_eq!(by_class(PortClass::Low), Some((511, 508)));
        assert_eq!(by_class(PortClass::Reserved), Some((424, 423)));
        assert_eq!(by_class(PortClass::Ordinary), Some((64512, 64511)));
        assert_eq!(m.pools.len(), 3);
        assert_eq!(m.strays, Strays::default());
    }

    #[test]
    fn ports_outside_the_range_assumed_are_strays() {
        let mut b = NatBuilder::new(Some(range(40000, 40004)));
        for (from, to) in [(20000, 40001), (20001, 40007), (20002, 40005)] {
            b.add(&entry(from, "10.0.0.1", to, 443, CT_TCP_ESTABLISHED));
        }
        // The node's own connection outside the range is no stray.
        b.add(&own_to(443));
        let m = b.finish(TableFigures::default());
        assert_eq!(m.strays.count, 2);
        assert_eq!(
            m.strays.example.map(|(k, p)| (k.port, p)),
            Some((443, 40005))
        );
        assert_eq!(m.pools[0].free, 4);
        // Without --nat-ports, a low port moved into the ordinary range.
        let mut b = NatBuilder::new(None);
        b.add(&entry(80, "10.0.0.1", 40003, 443, CT_TCP_ESTABLISHED));
        let m = b.finish(TableFigures::default());
        assert_eq!(m.strays.count, 1);
        assert!(matches!(m.pools[0].name, PoolName::Nat(k) if k.class == PortClass::Ordinary));
    }

    fn own_to(port: u16) -> Entry {
        let mut e = entry(40005, "10.0.0.1", 40005, port, CT_TCP_ESTABLISHED);
        e.orig.src = e.reply.dst;
        e
    }
}
