//! The forecast stage: what the pure forecast (`forecast`) needs of each
//! connect, bind and TCP NAT pool, taken from the model, and the forecast
//! of a pool.
//!
//! A connect pool's entries are its tuple's TIME_WAITs; where `connect()`
//! takes entries over (TIME_WAIT reuse), only those younger than the reuse
//! delay block it, and for that long. A bind pool's entries are every
//! TIME_WAIT of its address, each holding its port for the whole minute
//! (reuse does not help `bind()`); where the connections that leave them
//! reuse TIME_WAIT, the `connect()` walk decides how many ports they touch.

use std::collections::HashMap;
use std::net::IpAddr;

use super::forecast::{self, Ages, BUCKETS, Forecast, Limits, PoolNow, Walk};
use super::nat::NatKey;
use super::trend::Previous;
use super::{Kind, Model, Pool, PoolName, TIME_WAIT_MS, Tuple};
use crate::read::socket::Protocol;

/// Whole seconds kept one by one: the window the recent pace is read over.
const FINE_S: usize = 10;
/// Older ages, in buckets of this many seconds.
const COARSE_S: usize = 10;
const COARSE: usize = (BUCKETS - FINE_S) / COARSE_S;

/// A tuple's TIME_WAIT entries by age: 1 s buckets over the last 10 s,
/// 10 s buckets over the rest of the minute, each of those with the
/// youngest and oldest second it holds. A pace that began 10-20 s ago is
/// read from where its oldest close lies: spread over the whole 10 s it
/// would come out too slow, spread over the seconds that really hold
/// entries it is what 1 s buckets give for any even pace. Inline and small
/// (35 bytes), because every tuple carries one; a tuple holds at most one
/// entry per port, so 16 bits are enough.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwAges {
    fine: [u16; FINE_S],
    coarse: [u16; COARSE],
    /// Per coarse bucket: the youngest second in it (low 4 bits) and the
    /// oldest (high 4 bits), counted from the bucket's start.
    spans: [u8; COARSE],
}

impl TwAges {
    pub fn add(&mut self, age_ms: u32) {
        let s = (age_ms / 1000) as usize;
        if s < FINE_S {
            self.fine[s] = self.fine[s].saturating_add(1);
            return;
        }
        let c = ((s - FINE_S) / COARSE_S).min(COARSE - 1);
        let k = (s - FINE_S - c * COARSE_S).min(COARSE_S - 1) as u8;
        let (lo, hi) = if self.coarse[c] == 0 {
            (k, k)
        } else {
            let (lo, hi) = (self.spans[c] & 0x0f, self.spans[c] >> 4);
            (lo.min(k), hi.max(k))
        };
        self.spans[c] = lo | (hi << 4);
        self.coarse[c] = self.coarse[c].saturating_add(1);
    }

    pub fn is_empty(&self) -> bool {
        *self == TwAges::default()
    }

    /// Adds the entries younger than `below_s` to `ages`, a coarse bucket
    /// spread evenly over the seconds between its youngest and oldest
    /// entry.
    fn add_to(&self, ages: &mut Ages, below_s: usize) {
        let mut add = |i: usize, n: u32| {
            if i < below_s.min(BUCKETS) {
                ages.buckets[i] = ages.buckets[i].saturating_add(n);
            }
        };
        for (i, n) in self.fine.iter().enumerate() {
            add(i, u32::from(*n));
        }
        for (c, n) in self.coarse.iter().enumerate() {
            let n = u32::from(*n);
            if n == 0 {
                continue;
            }
            let lo = usize::from(self.spans[c] & 0x0f);
            let hi = usize::from(self.spans[c] >> 4).max(lo);
            let width = (hi - lo + 1) as u32;
            let (each, extra) = (n / width, n % width);
            for k in lo..=hi {
                let more = u32::from(((k - lo) as u32) < extra);
                add(FINE_S + c * COARSE_S + k, each + more);
            }
        }
    }
}

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
        a.add_to(&mut self.ages, BUCKETS);
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
        for (t, entry) in &model.tuples {
            let a = &entry.ages;
            if a.is_empty() {
                continue;
            }
            let reuse = model.tw.applies(t.source, t.destination);
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
            let upstream = self.model.upstream.as_ref()?;
            return Some(match upstream.forecast_of(&pool.name) {
                Some(f) => f.forecast,
                None => Forecast::idle(pool),
            });
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
        let f = forecast::forecast(&now, limits);
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
        let tw = &self.model.tw;
        let (hold_ms, below_s) = if tw.applies(t.source, t.destination) {
            (tw.delay_ms, (tw.delay_ms.div_ceil(1000) as usize).max(1))
        } else {
            (TIME_WAIT_MS, BUCKETS)
        };
        let mut ages = Ages::new(hold_ms);
        if let Some(e) = self.model.tuples.get(&t) {
            e.ages.add_to(&mut ages, below_s);
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
            let delay_ms = self.model.tw.delay_ms;
            now.ages.censored_after_ms = Some(delay_ms.max(1000));
            now.walk = Some(Walk { delay_ms });
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_that_began_fifteen_seconds_ago_keeps_its_rate() {
        // 20 closes a second for 15 s: with 1 s buckets the pace is read
        // where it began, not smeared over a 10 s bucket.
        let mut tw = TwAges::default();
        for age_ms in (0..15_000).step_by(50) {
            tw.add(age_ms);
        }
        let mut ages = Ages::new(TIME_WAIT_MS);
        tw.add_to(&mut ages, BUCKETS);
        assert_eq!(ages.total(), 300);
        let p = forecast::pace(&ages);
        assert!((p.per_second - 20.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn a_coarse_bucket_is_spread_over_the_seconds_it_holds() {
        let mut tw = TwAges::default();
        for age_ms in [12_100, 12_900, 13_500, 14_200] {
            tw.add(age_ms);
        }
        let mut ages = Ages::new(TIME_WAIT_MS);
        tw.add_to(&mut ages, BUCKETS);
        assert_eq!(&ages.buckets[10..16], &[0, 0, 2, 1, 1, 0]);
    }

    #[test]
    fn only_entries_younger_than_the_delay_are_added() {
        let mut tw = TwAges::default();
        tw.add(500);
        tw.add(1_500);
        tw.add(59_999);
        tw.add(90_000);
        let mut ages = Ages::new(1_000);
        tw.add_to(&mut ages, 1);
        assert_eq!(ages.total(), 1);
        let mut all = Ages::new(TIME_WAIT_MS);
        tw.add_to(&mut all, BUCKETS);
        assert_eq!(all.buckets[BUCKETS - 1], 2);
    }
}
