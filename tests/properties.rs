//! Properties of the model over many random socket tables: no pool reports
//! more free ports than its capacity, used + free = capacity, adding a
//! socket never frees a port in any pool, and the answer does not depend on
//! the order of the dump.
//!
//! The tables are drawn by proptest's runner from its deterministic
//! generator, the same on every machine; a failure prints the table. The
//! generator is a function of the draws, not a composed strategy: what it
//! draws depends on what it drew (the range's length bounds the ports).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};

use crate::util::random_cases;
use check_ephemeral::judge::{self, Selection, Thresholds};
use check_ephemeral::model::{Kind, Model, Pool, PoolName, PoolsBuilder, Tuple};
use check_ephemeral::read::ports::PortRange;
use check_ephemeral::read::settings::{KernelSettings, TwReuse};
use check_ephemeral::read::socket::{Protocol, Sink, Socket, TcpState};
use check_ephemeral::report::{self, Context};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestRng, TestRunner};

/// How many random tables each property is checked on.
const SCENARIOS: u32 = 300;

/// What the property tests here draw.
trait Draw {
    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize;
    fn chance(&mut self, percent: u64) -> bool;
    fn pick<T: Copy>(&mut self, items: &[T]) -> T;
    fn shuffle<T>(&mut self, items: &mut [T]);
}

impl Draw for TestRng {
    fn below(&mut self, n: usize) -> usize {
        self.random_range(0..n.max(1))
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.random_range(0..100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

const LOCALS: [&str; 8] = [
    "127.0.0.1",
    "127.0.0.2",
    "10.0.0.5",
    "0.0.0.0",
    "::",
    "::1",
    "fd00::5",
    "::ffff:127.0.0.1",
];
const REMOTES: [&str; 4] = ["127.0.0.1", "10.0.0.9", "::1", "fd00::9"];
const REMOTE_PORTS: [u16; 3] = [5000, 443, 5432];
const RANGE_LENGTHS: [u16; 9] = [1, 2, 3, 10, 19, 20, 64, 65, 131];

/// One socket table: the kernel settings, the records of the marks dump and
/// those of the connected dump, in the order the readers hand them over.
#[derive(Clone, Debug)]
struct Table {
    settings: KernelSettings,
    marked: Vec<Socket>,
    sockets: Vec<Socket>,
}

fn addr(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Random tables, each with the generator that drew it for the choices a
/// property makes on it.
fn tables() -> impl Strategy<Value = (Table, TestRng)> {
    any::<()>().prop_perturb(|(), mut rng| (table(&mut rng), rng))
}

/// `property` holds for [`SCENARIOS`] random tables.
fn each(property: impl Fn(&Table, &mut TestRng)) {
    random_cases(SCENARIOS, tables(), |(t, mut rng)| property(&t, &mut rng));
}

fn table(rng: &mut TestRng) -> Table {
    let lo = 40000;
    let len = rng.pick(&RANGE_LENGTHS);
    let range = PortRange {
        lo,
        hi: lo + len - 1,
    };
    let reserved = if rng.chance(40) {
        let a = lo + rng.below(usize::from(len)) as u16;
        let b = a + rng.below(4) as u16;
        format!("{a}-{b},8080")
    } else {
        String::new()
    };
    let settings = KernelSettings {
        range,
        reserved: reserved.parse().expect("reserved ports"),
        tw_reuse: rng.pick(&[TwReuse::Never, TwReuse::Always, TwReuse::LoopbackOnly]),
        timestamps: rng.chance(80),
        tw_reuse_delay_ms: rng.pick(&[None, Some(1000), Some(0)]),
    };
    // Now and then a port just outside the range, which the model ignores.
    let port = |rng: &mut TestRng| {
        if rng.chance(5) {
            rng.pick(&[lo - 1, range.hi + 1])
        } else {
            lo + rng.below(usize::from(len)) as u16
        }
    };
    let mut t = Table {
        settings,
        marked: Vec::new(),
        sockets: Vec::new(),
    };
    // The kernel never holds two entries with the same 4-tuple.
    let mut four_tuples = HashSet::new();
    let marks = rng.below(usize::from(len) / 2 + 2);
    for _ in 0..marks {
        let local = addr(rng.pick(&LOCALS));
        let p = port(rng);
        let mut s = if rng.chance(30) && !local.is_unspecified() {
            // bind() to an explicit port, then connect(): marked, and a
            // connected socket in the second dump as well.
            let remote = (addr(rng.pick(&REMOTES)), rng.pick(&REMOTE_PORTS));
            if remote.0.is_ipv4() != local.to_canonical().is_ipv4()
                || !four_tuples.insert((local.to_canonical(), p, remote))
            {
                continue;
            }
            let s = Socket::new(Protocol::Tcp, TcpState::ESTABLISHED, (local, p), remote);
            t.sockets.push(s);
            s
        } else {
            let state = rng.pick(&[TcpState::LISTEN, TcpState::CLOSE, TcpState::BOUND_INACTIVE]);
            let none = if local.is_ipv4() {
                addr("0.0.0.0")
            } else {
                addr("::")
            };
            Socket::new(Protocol::Tcp, state, (local, p), (none, 0))
        };
        if s.local.is_ipv6() && rng.chance(50) {
            s.v6only = Some(rng.chance(50));
        }
        t.marked.push(s);
    }
    let count = rng.below(3 * usize::from(len) + 3);
    for _ in 0..count {
        let local = addr(rng.pick(&LOCALS));
        let p = port(rng);
        if rng.chance(20) {
            let state = rng.pick(&[TcpState(1), TcpState(7)]);
            let remote = if state == TcpState(1) {
                (addr(rng.pick(&REMOTES)), rng.pick(&REMOTE_PORTS))
            } else {
                (addr("0.0.0.0"), 0)
            };
            let mut s = Socket::new(Protocol::Udp, state, (local, p), remote);
            if s.local.is_ipv6() && rng.chance(50) {
                s.v6only = Some(true);
            }
            t.sockets.push(s);
            continue;
        }
        let remote = (addr(rng.pick(&REMOTES)), rng.pick(&REMOTE_PORTS));
        let local = if local.is_unspecified() {
            addr("127.0.0.1")
        } else {
            local
        };
        if remote.0.is_ipv4() != local.to_canonical().is_ipv4()
            || !four_tuples.insert((local.to_canonical(), p, remote))
        {
            continue;
        }
        let state = rng.pick(&[
            TcpState::ESTABLISHED,
            TcpState::TIME_WAIT,
            TcpState::TIME_WAIT,
            TcpState::SYN_SENT,
            TcpState::CLOSE_WAIT,
            TcpState::FIN_WAIT2,
        ]);
        let mut s = Socket::new(Protocol::Tcp, state, (local, p), remote);
        s.expires_ms = rng.below(60_001) as u32;
        s.bound_dev_if = rng.pick(&[0, 0, 1, 2]);
        t.sockets.push(s);
    }
    t
}

fn build(t: &Table) -> Model {
    let mut builder = PoolsBuilder::new(&t.settings);
    for s in &t.marked {
        builder.marked(s);
    }
    for s in &t.sockets {
        builder.socket(s);
    }
    builder.finish()
}

/// Every tuple and local address the table mentions, and the wildcards.
fn names(tables: &[&Table]) -> (Vec<Tuple>, Vec<IpAddr>) {
    let mut tuples = Vec::new();
    let mut addrs: Vec<IpAddr> = vec![addr("0.0.0.0"), addr("::")];
    for t in tables {
        for s in t.marked.iter().chain(&t.sockets) {
            addrs.push(s.local);
            if s.protocol == Protocol::Tcp && s.remote_port != 0 {
                tuples.push(Tuple {
                    source: s.local,
                    destination: s.remote,
                    port: s.remote_port,
                });
            }
        }
    }
    tuples.sort();
    tuples.dedup();
    addrs.sort();
    addrs.dedup();
    (tuples, addrs)
}

/// The pools of these tuples and addresses, a new tuple's and the UDP
/// pools, in the same order for every model.
fn named_pools(model: &Model, tuples: &[Tuple], addrs: &[IpAddr]) -> Vec<Pool> {
    let mut pools: Vec<Pool> = tuples.iter().map(|t| model.connect_pool(*t)).collect();
    pools.push(model.new_connect_pool(PoolName::NewTuple {
        source: None,
        destination: None,
        port: None,
    }));
    pools.extend(addrs.iter().map(|a| model.bind_pool(*a)));
    pools.extend(model.udp_pools());
    pools
}

/// The named pools and every pool the model lists itself.
fn all_pools(model: &Model, tuples: &[Tuple], addrs: &[IpAddr]) -> Vec<Pool> {
    let mut pools = named_pools(model, tuples, addrs);
    pools.extend(model.connect_pools());
    pools.extend(model.bind_addresses().map(|a| model.bind_pool(a)));
    pools
}

fn text(model: &Model) -> String {
    let thresholds = Thresholds {
        used_warning: "50".parse().ok(),
        used_critical: "80".parse().ok(),
        free_warning: "3:".parse().ok(),
        free_critical: None,
    };
    let selection = Selection {
        kinds: Kind::ALL.to_vec(),
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    let report = judge::judge(model, &selection, &thresholds, 100);
    let context = Context {
        verbose: 0,
        top: 100,
        ..Context::default()
    };
    report::render(&report, model, &thresholds, &context)
}

#[test]
fn free_never_exceeds_capacity_and_used_plus_free_is_capacity() {
    each(|t, _| {
        let model = build(t);
        let (tuples, addrs) = names(&[t]);
        let candidates = model.candidate_count();
        for pool in all_pools(&model, &tuples, &addrs) {
            let why = format!("{pool:?}");
            assert!(pool.free <= pool.capacity, "{why}");
            assert!(
                pool.capacity <= candidates && pool.capacity + 1 >= candidates,
                "{why}"
            );
            assert_eq!(
                u64::from(pool.used()) + u64::from(pool.free),
                u64::from(pool.capacity),
                "{why}"
            );
            let pct = pool.used_pct();
            assert!((0.0..=100.0).contains(&pct), "{why}: {pct}");
        }
        assert!(model.bind_marked() <= candidates);
    });
}

#[test]
fn adding_a_socket_never_frees_a_port() {
    each(|full, rng| {
        let records = full.marked.len() + full.sockets.len();
        if records == 0 {
            return;
        }
        // Up to eight tables with one socket fewer each.
        for _ in 0..records.min(8) {
            let mut fewer = full.clone();
            let i = rng.below(records);
            if i < fewer.marked.len() {
                let gone = fewer.marked.remove(i);
                // A marked socket with a peer is in both dumps: one socket.
                if gone.remote_port != 0 {
                    fewer.sockets.retain(|s| {
                        (s.local, s.local_port, s.remote, s.remote_port)
                            != (gone.local, gone.local_port, gone.remote, gone.remote_port)
                    });
                }
            } else {
                fewer.sockets.remove(i - fewer.marked.len());
            }
            let (tuples, addrs) = names(&[full, &fewer]);
            let with = named_pools(&build(full), &tuples, &addrs);
            let without = named_pools(&build(&fewer), &tuples, &addrs);
            let pairs = with.iter().zip(&without);
            for (a, b) in pairs {
                assert_eq!(a.name, b.name);
                assert!(
                    a.free <= b.free,
                    "adding a socket freed ports:\n with {a:?}\n without {b:?}"
                );
                assert_eq!(a.capacity, b.capacity);
            }
        }
    });
}

#[test]
fn results_do_not_depend_on_the_order_of_the_dump() {
    each(|t, rng| {
        let reference = build(t);
        let (tuples, addrs) = names(&[t]);
        let expected = all_pools(&reference, &tuples, &addrs);
        let expected_text = text(&reference);
        for _ in 0..3 {
            let mut shuffled = t.clone();
            // Marks always come first; within each dump any order is possible.
            rng.shuffle(&mut shuffled.marked);
            rng.shuffle(&mut shuffled.sockets);
            let model = build(&shuffled);
            let mut pools = all_pools(&model, &tuples, &addrs);
            let mut want = expected.clone();
            // connect_pools() and bind_addresses() follow hash order: compare as sets.
            let key = |p: &Pool| format!("{p:?}");
            pools.sort_by_key(key);
            want.sort_by_key(key);
            assert_eq!(pools, want);
            assert_eq!(model.totals, reference.totals);
            assert_eq!(model.tuple_count(), reference.tuple_count());
            assert_eq!(model.bind_marked(), reference.bind_marked());
            assert_eq!(text(&model), expected_text);
        }
    });
}

/// The pools worked out the slow way, port by port, straight from the
/// kernel's rules: a second opinion on the model's bit sets and counters.
struct Oracle<'a> {
    t: &'a Table,
    range: PortRange,
}

impl Oracle<'_> {
    fn in_range(&self, port: u16) -> bool {
        self.range.lo <= port && port <= self.range.hi
    }

    fn candidates(&self) -> Vec<u16> {
        (self.range.lo..=self.range.hi)
            .filter(|&p| !self.t.settings.reserved.contains(p))
            .collect()
    }

    /// With the global range, an odd-sized range of three or more ports
    /// leaves a free end port uncertain.
    fn sure(&self, free: &[u16]) -> u32 {
        let len = self.range.len();
        let quirk = len >= 3 && len % 2 == 1;
        let end_free = free.contains(&self.range.lo) || free.contains(&self.range.hi);
        free.len() as u32 - u32::from(quirk && end_free)
    }

    fn reusable(&self, s: &Socket) -> bool {
        let set = &self.t.settings;
        let applies = match set.tw_reuse {
            TwReuse::Never => false,
            TwReuse::Always => true,
            TwReuse::LoopbackOnly => {
                s.local.is_loopback() || s.remote.is_loopback() || s.bound_dev_if == 1
            }
        };
        let age = 60_000u32.saturating_sub(s.expires_ms);
        let delay = set.tw_reuse_delay_ms.unwrap_or(2000);
        s.state == TcpState::TIME_WAIT && applies && set.timestamps && age > delay
    }

    fn marked(&self) -> Vec<u16> {
        self.t
            .marked
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp && self.in_range(s.local_port))
            .map(|s| s.local_port)
            .collect()
    }

    fn connect(&self, tuple: Tuple) -> (u32, u32) {
        let marked = self.marked();
        let blocked: Vec<u16> = self
            .t
            .sockets
            .iter()
            .filter(|s| {
                s.protocol == Protocol::Tcp
                    && !s.state.is_unconnected()
                    && s.remote_port != 0
                    && (s.local, s.remote, s.remote_port)
                        == (tuple.source, tuple.destination, tuple.port)
                    && !self.reusable(s)
            })
            .map(|s| s.local_port)
            .collect();
        let c = self.candidates();
        let free: Vec<u16> = c
            .iter()
            .copied()
            .filter(|p| !marked.contains(p) && !blocked.contains(p))
            .collect();
        (self.sure(&c), self.sure(&free))
    }

    /// Every TCP socket the bind table holds: unconnected marks, and
    /// everything the connected dump hands over.
    fn tcp_table(&self) -> impl Iterator<Item = &Socket> {
        let marks = self.t.marked.iter().filter(|s| s.state.is_unconnected());
        let rest = self
            .t
            .sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp);
        marks
            .chain(rest)
            .filter(|s| s.protocol == Protocol::Tcp && self.in_range(s.local_port))
    }

    /// Whether a socket on `holder` keeps `bind(addr, 0)` off its port.
    fn conflicts(addr: IpAddr, holder: &Socket) -> bool {
        let v6only = holder.v6only == Some(true);
        let v6 = holder.local.is_ipv6();
        match addr {
            IpAddr::V4(a) if a.is_unspecified() => !(v6 && v6only),
            IpAddr::V6(a) if a.is_unspecified() => true,
            _ if holder.local == addr => true,
            IpAddr::V4(_) => match holder.local {
                IpAddr::V4(h) => h.is_unspecified(),
                IpAddr::V6(h) => h.is_unspecified() && !v6only,
            },
            IpAddr::V6(_) => holder.local == IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    fn bind(&self, addr: IpAddr) -> (u32, u32) {
        let taken: Vec<u16> = self
            .tcp_table()
            .filter(|s| Self::conflicts(addr, s))
            .map(|s| s.local_port)
            .collect();
        let c = self.candidates();
        let free: Vec<u16> = c.iter().copied().filter(|p| !taken.contains(p)).collect();
        (self.sure(&c), self.sure(&free))
    }

    fn udp(&self, wildcard: IpAddr) -> (u32, u32) {
        let taken: Vec<u16> = self
            .t
            .sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Udp && self.in_range(s.local_port))
            .filter(|s| Self::conflicts(wildcard, s))
            .map(|s| s.local_port)
            .collect();
        let c = self.candidates();
        let free = c.iter().filter(|p| !taken.contains(p)).count() as u32;
        (c.len() as u32, free)
    }
}

#[test]
fn the_model_agrees_with_a_port_by_port_count() {
    each(|t, _| {
        let model = build(t);
        let oracle = Oracle {
            t,
            range: t.settings.range,
        };
        let (tuples, addrs) = names(&[t]);
        for tuple in tuples {
            let p = model.connect_pool(tuple);
            let want = oracle.connect(tuple);
            assert_eq!((p.capacity, p.free), want, "{p:?}");
        }
        for addr in addrs {
            let p = model.bind_pool(addr);
            let want = oracle.bind(addr);
            assert_eq!((p.capacity, p.free), want, "{p:?}");
        }
        for p in model.udp_pools() {
            let PoolName::Address(wildcard) = p.name else {
                panic!("{p:?}");
            };
            assert_eq!((p.capacity, p.free), oracle.udp(wildcard), "{p:?}");
        }
    });
}

#[test]
fn the_generator_covers_what_the_properties_are_about() {
    // Guards against a generator that quietly stops making hard cases.
    let (mut marks, mut tuples, mut time_waits, mut udp, mut odd) = (0, 0, 0, 0, 0);
    let mut runner = TestRunner::deterministic();
    for _ in 0..SCENARIOS {
        let (t, _) = tables().new_tree(&mut runner).expect("a table").current();
        let model = build(&t);
        marks += model.bind_marked();
        tuples += model.tuple_count();
        time_waits += model.totals.time_wait_reusable;
        udp += model.totals.udp_sockets;
        odd += usize::from(t.settings.range.len() % 2 == 1 && t.settings.range.len() >= 3);
    }
    assert!(marks > 100 && tuples > 300 && time_waits > 50 && udp > 100 && odd > 30);
}
