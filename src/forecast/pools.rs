//! What the forecast needs of each connect, bind and TCP NAT pool, taken
//! from the model, and the forecast of a pool.
//!
//! A connect pool's entries are its tuple's TIME_WAITs; where `connect()`
//! takes entries over (TIME_WAIT reuse), only those younger than the reuse
//! delay block it, and for that long. A bind pool's entries are every
//! TIME_WAIT of its address, each holding its port for the whole minute
//! (reuse does not help `bind()`); where the connections that leave them
//! reuse TIME_WAIT, the `connect()` walk decides how many ports they touch.

use std::collections::HashMap;
use std::net::IpAddr;

use super::trend::Previous;
use super::{Ages, BUCKETS, Forecast, Limits, PoolNow, Walk};
use crate::model::{Kind, Model, NatKey, Pool, PoolName, TIME_WAIT_MS, Tuple, TwAges};
use crate::read::socket::Protocol;

/// The TIME_WAIT entries of one local address (or of all, for the
/// wildcards), and whether every connection that left them reuses
/// TIME_WAIT.
#[derive(Clone, Debug)]
struct AddrAges {
    ages: Ages,
    reuse: bool,
}

impl AddrAges {
    fn new() -> AddrAges {
        AddrAges {
            ages: Ages::new(TIME_WAIT_MS),
            reuse: true,
        }
    }

    fn add(&mut self, a: &TwAges, reuse: bool) {
        a.add_to(&mut self.ages.buckets, BUCKETS);
        self.reuse &= reuse;
    }
}

/// Forecasts the pools of one model.
pub struct Forecaster<'a> {
    model: &'a Model,
    /// `net.ipv4.tcp_max_tw_buckets`, where it could be read.
    max_tw_buckets: Option<u32>,
    /// Per local address, summed once from the tuples.
    addrs: HashMap<IpAddr, AddrAges>,
    /// Every entry: what blocks the wildcards.
    all: AddrAges,
    /// The previous run's state, with `--trend`.
    previous: Option<&'a Previous>,
}

impl<'a> Forecaster<'a> {
    pub fn new(model: &'a Model, max_tw_buckets: Option<u32>) -> Forecaster<'a> {
        let mut addrs: HashMap<IpAddr, AddrAges> = HashMap::new();
        let mut all = AddrAges::new();
        for (t, a) in model.tuple_ages() {
            if a.is_empty() {
                continue;
            }
            let reuse = model.tw_policy().applies(t.source, t.destination);
            addrs
                .entry(t.source)
                .or_insert_with(AddrAges::new)
                .add(a, reuse);
            all.add(a, reuse);
        }
        Forecaster {
            model,
            max_tw_buckets,
            addrs,
            all,
            previous: None,
        }
    }

    /// Adds the growth since `previous` to every forecast.
    pub fn with_previous(mut self, previous: Option<&'a Previous>) -> Forecaster<'a> {
        self.previous = previous;
        self
    }

    /// The forecast of a connect or bind pool; `None` for the others.
    pub fn of(&self, pool: &Pool) -> Option<Forecast> {
        if pool.kind == Kind::Upstream {
            // Counted and forecast by the upstream model, over the
            // provider's hold; --trend's bound is already in it.
            return super::upstream::forecast(self.model.upstream.as_ref()?, &pool.name);
        }
        let now = self.input(pool)?;
        let pool_tw = now.ages.total();
        let others = self
            .model
            .totals
            .time_wait
            .saturating_sub(u64::from(pool_tw));
        // tcp_max_tw_buckets bounds the sockets' TIME_WAITs, not conntrack's.
        let max_tw_buckets = self.max_tw_buckets.filter(|_| pool.kind != Kind::Nat);
        let limits = Limits {
            max_entries: max_tw_buckets.map(|max| {
                u32::try_from(u64::from(max).saturating_sub(others)).unwrap_or(u32::MAX)
            }),
        };
        let f = super::forecast(&now, limits);
        let growth = self
            .previous
            .and_then(|p| p.growth(pool.kind, &pool.name, f.holders));
        Some(match growth {
            Some(g) => f.with_growth(pool.capacity, g),
            None => f,
        })
    }

    /// What the forecast needs of `pool`.
    pub fn input(&self, pool: &Pool) -> Option<PoolNow> {
        match (pool.kind, pool.name) {
            (Kind::Connect, PoolName::Tuple(t)) => Some(self.connect_input(pool, t)),
            (Kind::Connect, _) => Some(self.plain(pool, Ages::new(TIME_WAIT_MS))),
            (Kind::Bind, PoolName::Address(addr)) => Some(self.bind_input(pool, addr)),
            (Kind::Nat, PoolName::Nat(k)) if k.protocol == Protocol::Tcp => self.nat_input(pool, k),
            _ => None,
        }
    }

    fn plain(&self, pool: &Pool, ages: Ages) -> PoolNow {
        let held = ages.total().min(pool.used());
        PoolNow {
            capacity: pool.capacity,
            holders: pool.used() - held,
            ages,
            walk: None,
        }
    }

    /// A TCP NAT pool: its conntrack TIME_WAIT entries, each holding its
    /// port for the whole `nf_conntrack_tcp_timeout_time_wait` (no reuse is
    /// modelled: the kernel's search may evict a TIME_WAIT entry only in the
    /// last tries of a round, see the README).
    fn nat_input(&self, pool: &Pool, key: NatKey) -> Option<PoolNow> {
        let nat = self.model.nat.as_ref()?;
        let hold_ms = nat.time_wait_hold_s().saturating_mul(1000);
        let mut ages = Ages::new(hold_ms);
        for left_s in nat.time_wait_left(&key) {
            // The kernel reports whole seconds left, rounded down.
            ages.add_remaining(left_s.saturating_mul(1000).saturating_add(500));
        }
        Some(self.plain(pool, ages))
    }

    fn connect_input(&self, pool: &Pool, t: Tuple) -> PoolNow {
        let tw = self.model.tw_policy();
        let (hold_ms, below_s) = if tw.applies(t.source, t.destination) {
            (tw.delay_ms, (tw.delay_ms.div_ceil(1000) as usize).max(1))
        } else {
            (TIME_WAIT_MS, BUCKETS)
        };
        let mut ages = Ages::new(hold_ms);
        if let Some(a) = self.model.ages_of(&t) {
            a.add_to(&mut ages.buckets, below_s);
        }
        self.plain(pool, ages)
    }

    fn bind_input(&self, pool: &Pool, addr: IpAddr) -> PoolNow {
        let seen = if addr.is_unspecified() {
            Some(&self.all)
        } else {
            self.addrs.get(&addr)
        };
        let Some(seen) = seen else {
            return self.plain(pool, Ages::new(TIME_WAIT_MS));
        };
        let mut now = self.plain(pool, seen.ages.clone());
        // The walk applies where every connection that left an entry here
        // could take entries over.
        if seen.reuse && seen.ages.total() > 0 {
            let delay_ms = self.model.tw_policy().delay_ms;
            now.ages.censored_after_ms = Some(delay_ms.max(1000));
            now.walk = Some(Walk { delay_ms });
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::nat::tests::{entry, range};
    use crate::model::{NatBuilder, PoolsBuilder, PortClass};
    use crate::read::conntrack::TableFigures;
    use crate::read::conntrack::entry::CT_TCP_TIME_WAIT;
    use crate::read::ports::PortRange;
    use crate::read::settings::{KernelSettings, TwReuse};

    #[test]
    fn a_pace_that_began_fifteen_seconds_ago_keeps_its_rate() {
        // 20 closes a second for 15 s: with 1 s buckets the pace is read
        // where it began, not smeared over a 10 s bucket.
        let mut tw = TwAges::default();
        for age_ms in (0..15_000).step_by(50) {
            tw.add(age_ms);
        }
        let mut ages = Ages::new(TIME_WAIT_MS);
        tw.add_to(&mut ages.buckets, BUCKETS);
        assert_eq!(ages.total(), 300);
        let p = super::super::pace(&ages);
        assert!((p.per_second - 20.0).abs() < 1.0, "{p:?}");
    }

    /// Two closes a second for the last 10 s into a 100-port range whose
    /// TIME_WAIT lasts 60 s: nothing expires before 50 s, so the pool is
    /// full when 20 + 2 t entries reach 100, at t = 40 s.
    /// Twenty TIME_WAIT entries closed over ten seconds, two a second, from
    /// source ports `from` on, on NAT ports `first` on, with a timeout of
    /// 60 s: the model of a node with only those, and its first NAT pool.
    fn closing_at_two_a_second(ports: Option<PortRange>, from: u16, first: u16) -> (Model, Pool) {
        let mut b = NatBuilder::new(ports);
        for i in 0..20u16 {
            let mut e = entry(from + i, "10.0.0.1", first + i, 443, CT_TCP_TIME_WAIT);
            e.timeout_s = 60 - u32::from(i / 2) - 1;
            b.add(&e);
        }
        let m = b.finish(TableFigures {
            time_wait_timeout_s: Some(60),
            ..TableFigures::default()
        });
        let settings = KernelSettings {
            range: range(32768, 60999),
            reserved: Default::default(),
            tw_reuse: TwReuse::LoopbackOnly,
            timestamps: true,
            tw_reuse_delay_ms: Some(1000),
        };
        let mut model = PoolsBuilder::new(&settings).finish();
        model.nat = Some(m);
        let pool = model.nat.as_ref().unwrap().pools[0];
        (model, pool)
    }

    #[test]
    fn a_steady_pace_of_closes_fills_a_nat_pool_on_schedule() {
        let (model, pool) = closing_at_two_a_second(Some(range(40000, 40099)), 20000, 40000);
        assert_eq!(pool.kind, Kind::Nat);
        let f = Forecaster::new(&model, Some(10)).of(&pool).unwrap();
        assert!((f.pace.per_second - 2.0).abs() < 0.3, "{f:?}");
        let full = f.full_in_s.unwrap();
        assert!((full - 40.0).abs() < 6.0, "{f:?}");
    }

    /// The same closes from low source ports, the rule naming no range:
    /// the forecast is the low class's, against its 511 ports.
    #[test]
    fn a_port_class_is_forecast_as_its_own_pool() {
        let (model, pool) = closing_at_two_a_second(None, 1, 1);
        assert!(matches!(pool.name, PoolName::Nat(k) if k.class == PortClass::Low));
        assert_eq!((pool.capacity, pool.free), (511, 491));
        let f = Forecaster::new(&model, Some(10)).of(&pool).unwrap();
        assert!((f.pace.per_second - 2.0).abs() < 0.3, "{f:?}");
    }
}
