//! Judging the pools of one kind, one function per kind: each offers its
//! pools to a [`Judging`], which judges each by level (and forecast), keeps
//! the worst few in bounded memory and the forecasts the report needs.

use std::cmp::Reverse;
use std::net::IpAddr;

use super::forecast::{ForecastRule, Forecasts, PoolForecast};
use super::{KindReport, Selection, State, Thresholds};
use crate::forecast::Forecaster;
use crate::model::{Kind, Model, Pool, PoolName};

/// The forecast rule and the forecaster, where the forecast is judged.
pub type ForecastJudge<'a> = Option<(&'a ForecastRule, &'a Forecaster<'a>)>;

/// The pools of one kind as they are offered.
pub struct Judging<'a> {
    kind: Kind,
    /// Whether the kind was asked about; pools of the others are shown, not judged.
    judged: bool,
    thresholds: &'a Thresholds,
    forecast: ForecastJudge<'a>,
    forecasts: &'a mut Forecasts,
    worst: Worst,
    /// A tuple with no socket stood in: judged and shown, but not counted
    /// as one of the host's pools.
    stand_in: bool,
}

impl<'a> Judging<'a> {
    pub fn new(
        kind: Kind,
        judged: bool,
        top: usize,
        thresholds: &'a Thresholds,
        forecast: ForecastJudge<'a>,
        forecasts: &'a mut Forecasts,
    ) -> Judging<'a> {
        Judging {
            kind,
            judged,
            thresholds,
            forecast,
            forecasts,
            worst: Worst::new(top.max(1)),
            stand_in: false,
        }
    }

    /// Judges `pool` and keeps it if it is among the worst.
    fn offer(&mut self, pool: Pool) {
        let (state, full_in_s) = self.state(&pool);
        self.worst
            .offer(pool, state, failure_in_ms(&pool, full_in_s));
    }

    /// The state, and the seconds until full where a forecast has them.
    fn state(&mut self, pool: &Pool) -> (State, Option<f64>) {
        if !self.judged {
            return (State::Ok, None);
        }
        let level = self.thresholds.judge(pool);
        let Some((rule, forecaster)) = self.forecast else {
            return (level, None);
        };
        let Some(forecast) = forecaster.of(pool) else {
            return (level, None);
        };
        let state = rule.judge(self.thresholds, pool, &forecast);
        let judged = PoolForecast {
            pool: *pool,
            forecast,
            level,
            state,
        };
        self.forecasts.offer(self.kind, judged);
        (state, forecast.full_in_s)
    }

    /// The pools offered so far.
    fn seen(&self) -> usize {
        self.worst.seen
    }

    /// The kind judged: its worst pools, with the forecasts of those the
    /// long output lists.
    pub fn finish(self) -> KindReport {
        let pools = self.worst.seen - usize::from(self.stand_in);
        let top = self.worst.into_sorted();
        if let Some((rule, forecaster)) = self.forecast.filter(|_| self.judged) {
            for (pool, state) in &top {
                if let Some(f) = forecaster.of(pool) {
                    self.forecasts.listed.push(PoolForecast {
                        pool: *pool,
                        forecast: f,
                        level: self.thresholds.judge(pool),
                        state: rule.judge(self.thresholds, pool, &f).max(*state),
                    });
                }
            }
        }
        KindReport {
            kind: self.kind,
            judged: self.judged,
            pools,
            top,
        }
    }
}

/// Connect pools: the one tuple asked for, else every tuple that matches;
/// a tuple with no socket yet stands in when none does.
pub fn connect(model: &Model, selection: &Selection, j: &mut Judging) {
    if let Some(tuple) = selection.single_tuple() {
        j.offer(model.connect_pool(tuple));
        return;
    }
    for pool in model.connect_pools() {
        if let PoolName::Tuple(t) = pool.name
            && selection.tuple_matches(&t)
        {
            j.offer(pool);
        }
    }
    if j.seen() == 0 {
        j.stand_in = true;
        j.offer(model.new_connect_pool(selection.new_tuple()));
    }
}

/// Bind pools: the sources asked for, else every local address.
pub fn bind(model: &Model, selection: &Selection, j: &mut Judging) {
    if selection.sources.is_empty() {
        for addr in model.bind_addresses() {
            j.offer(model.bind_pool(addr));
        }
        return;
    }
    let mut sources = selection.sources.clone();
    sources.sort();
    sources.dedup();
    for addr in sources {
        j.offer(model.bind_pool(addr));
    }
}

/// UDP pools: one per wildcard family.
pub fn udp(model: &Model, j: &mut Judging) {
    for pool in model.udp_pools() {
        j.offer(pool);
    }
}

/// NAT pools that match the selection; `false` where there are none (no
/// NAT here: nothing to show or judge).
pub fn nat(model: &Model, selection: &Selection, j: &mut Judging) -> bool {
    for pool in model.nat.iter().flat_map(|n| n.pools.iter()) {
        if let PoolName::Nat(k) = pool.name
            && selection.nat_matches(&k)
        {
            j.offer(*pool);
        }
    }
    j.seen() > 0
}

/// Upstream pools (`--upstream-nat`, which makes the model) that match the
/// selection; a destination with no connection yet stands in when none
/// does. `false` where there is no upstream model.
pub fn upstream(model: &Model, selection: &Selection, j: &mut Judging) -> bool {
    let Some(upstream) = model.upstream.as_ref().filter(|_| j.judged) else {
        return false;
    };
    for (pool, _) in &upstream.pools {
        if let PoolName::Upstream(n) = pool.name
            && selection.upstream_matches(&n.key)
        {
            j.offer(*pool);
        }
    }
    if j.seen() == 0 {
        j.stand_in = true;
        j.offer(upstream.stand_in(selection.one_destination()));
    }
    true
}

/// Only NAT pools asked for, and none exists: a destination with no entry
/// yet stands in, with the whole NAT range free.
pub fn nat_stand_in(model: &Model, selection: &Selection, thresholds: &Thresholds) -> KindReport {
    let capacity = model.nat.as_ref().map_or(0, |n| n.range.len() as u32);
    let pool = Pool {
        kind: Kind::Nat,
        name: selection.new_tuple(),
        capacity,
        free: capacity,
        counts: Default::default(),
        fail_ppm: None,
    };
    KindReport {
        kind: Kind::Nat,
        judged: true,
        pools: 0,
        top: vec![(pool, thresholds.judge(&pool))],
    }
}

/// Sort key, which also picks the pool the status line names: the worst
/// state first; among pools in that state the one that fails first (a
/// full pool, then the soonest full by its forecast, then pools that do
/// not fill); then the fewest free ports; then the name, so the output
/// does not depend on hash order. A tuple filling fast beside a fuller
/// pool that does not move is the one that fails, so it comes first.
type Badness = (Reverse<State>, u64, u32, Reverse<u32>, NameKey);
type NameKey = (u8, Option<IpAddr>, Option<IpAddr>, u16, u32);

/// When a pool fails, in milliseconds from now: 0 when it is full, its
/// forecast's seconds until full, never (`u64::MAX`) without either.
pub fn failure_in_ms(pool: &Pool, full_in_s: Option<f64>) -> u64 {
    if pool.free == 0 {
        return 0;
    }
    match full_in_s {
        Some(s) if s.is_finite() => (s.max(0.0) * 1000.0).min(u64::MAX as f64 / 2.0) as u64,
        _ => u64::MAX,
    }
}

pub(super) fn badness(pool: &Pool, state: State, fails_in_ms: u64) -> Badness {
    let name = match pool.name {
        PoolName::Tuple(t) => (0, Some(t.source), Some(t.destination), t.port, 0),
        PoolName::NewTuple {
            source,
            destination,
            port,
        } => (1, source, destination, port.unwrap_or(0), 0),
        PoolName::Address(a) => (2, Some(a), None, 0, 0),
        // Zone and class too: pools that differ only there stay apart.
        PoolName::Nat(k) => (
            3,
            Some(k.address),
            Some(k.destination),
            k.port,
            u32::from(k.zone) << 2 | k.class as u32,
        ),
        PoolName::Upstream(n) => (
            4,
            n.sources.map(|s| s.lowest),
            Some(n.key.destination),
            n.key.port.unwrap_or(0),
            n.key.protocol as u32,
        ),
    };
    (
        Reverse(state),
        fails_in_ms,
        pool.free,
        Reverse(pool.used()),
        name,
    )
}

/// Keeps the `n` worst pools offered, in bounded memory.
struct Worst {
    n: usize,
    seen: usize,
    /// Pool, state, and when it fails ([`failure_in_ms`]).
    kept: Vec<(Pool, State, u64)>,
}

impl Worst {
    fn new(n: usize) -> Worst {
        Worst {
            n,
            seen: 0,
            kept: Vec::with_capacity(2 * n),
        }
    }

    fn offer(&mut self, pool: Pool, state: State, fails_in_ms: u64) {
        self.seen += 1;
        self.kept.push((pool, state, fails_in_ms));
        if self.kept.len() >= 2 * self.n {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.kept
            .sort_by_key(|(pool, state, fails_in)| badness(pool, *state, *fails_in));
        self.kept.truncate(self.n);
    }

    fn into_sorted(mut self) -> Vec<(Pool, State)> {
        self.trim();
        self.kept.into_iter().map(|(p, s, _)| (p, s)).collect()
    }
}
