//! Stage 3, judging: which pools the operator asked about, the state each
//! is in by the threshold ranges (`range`), and the worst of them. A pure
//! function of the model; hands a [`Report`] to `report`. New thresholds go
//! here.

use std::cmp::{Ordering, Reverse};
use std::net::IpAddr;

pub mod foresee;
pub mod range;

use crate::model::outlook::Forecaster;
use crate::model::upstream::UpstreamKey;
use crate::model::{Kind, Model, NatKey, Pool, PoolName, Tuple};
use crate::read::conntrack::TableFigures;
use foresee::{ForecastRule, Foreseen, Outlook};
use range::Range;

/// Plugin states, ordered so that `max` is the worst by the plugin rule:
/// OK < UNKNOWN < WARNING < CRITICAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok,
    Unknown,
    Warning,
    Critical,
}

impl State {
    pub fn exit_code(self) -> i32 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// The ranges pools are judged with: over the used percentage and over the
/// free port count. A missing range never alerts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub used_warning: Option<Range>,
    pub used_critical: Option<Range>,
    pub free_warning: Option<Range>,
    pub free_critical: Option<Range>,
}

impl Thresholds {
    pub fn judge(&self, pool: &Pool) -> State {
        let used = pool.used_pct();
        let free = f64::from(pool.free);
        let alerts = |range: &Option<Range>, value| range.as_ref().is_some_and(|r| r.alerts(value));
        if alerts(&self.used_critical, used) || alerts(&self.free_critical, free) {
            State::Critical
        } else if alerts(&self.used_warning, used) || alerts(&self.free_warning, free) {
            State::Warning
        } else {
            State::Ok
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

/// Which pools are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub kinds: Vec<Kind>,
    pub sources: Vec<IpAddr>,
    pub destinations: Vec<Destination>,
}

impl Selection {
    fn source_matches(&self, addr: IpAddr) -> bool {
        self.sources.is_empty() || self.sources.contains(&addr)
    }

    fn tuple_matches(&self, t: &Tuple) -> bool {
        self.source_matches(t.source)
            && (self.destinations.is_empty()
                || self
                    .destinations
                    .iter()
                    .any(|d| d.addr == t.destination && d.port.is_none_or(|p| p == t.port)))
    }

    /// `--source` narrows NAT pools by their NAT address, `--destination`
    /// by where they lead, as for connect pools.
    fn nat_matches(&self, k: &NatKey) -> bool {
        self.tuple_matches(&Tuple {
            source: k.address,
            destination: k.destination,
            port: k.port,
        })
    }

    /// `--destination` narrows upstream pools by where they lead; a pool
    /// of a whole address matches a destination with any port. `--source`
    /// does not: every local address shares the provider's budget.
    fn upstream_matches(&self, k: &UpstreamKey) -> bool {
        self.destinations.is_empty()
            || self.destinations.iter().any(|d| {
                d.addr == k.destination
                    && (d.port.is_none() || k.port.is_none() || d.port == k.port)
            })
    }

    /// The one destination asked for, if one was.
    fn one_destination(&self) -> Option<(IpAddr, Option<u16>)> {
        match self.destinations.as_slice() {
            [d] => Some((d.addr, d.port)),
            _ => None,
        }
    }

    /// One source and one destination with its port: exactly one tuple.
    fn single_tuple(&self) -> Option<Tuple> {
        match (self.sources.as_slice(), self.destinations.as_slice()) {
            (
                [source],
                [
                    Destination {
                        addr,
                        port: Some(port),
                    },
                ],
            ) => Some(Tuple {
                source: *source,
                destination: *addr,
                port: *port,
            }),
            _ => None,
        }
    }

    /// What the pool of a tuple with no socket yet is known as.
    fn new_tuple(&self) -> PoolName {
        let one = |v: &[IpAddr]| match v {
            [a] => Some(*a),
            _ => None,
        };
        let destination = match self.destinations.as_slice() {
            [d] => Some(*d),
            _ => None,
        };
        PoolName::NewTuple {
            source: one(&self.sources),
            destination: destination.map(|d| d.addr),
            port: destination.and_then(|d| d.port),
        }
    }
}

/// One kind of pool, judged.
#[derive(Clone, Debug, PartialEq)]
pub struct KindReport {
    pub kind: Kind,
    pub judged: bool,
    /// How many pools of this kind matched the selection.
    pub pools: usize,
    /// The worst pools, worst first; never empty.
    pub top: Vec<(Pool, State)>,
}

impl KindReport {
    pub fn worst(&self) -> &(Pool, State) {
        &self.top[0]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub state: State,
    pub worst: (Pool, State),
    /// The kinds with pools to show; `nat` only where conntrack has them.
    pub kinds: Vec<KindReport>,
    /// The forecasts, where the forecast was judged.
    pub outlook: Outlook,
    /// The conntrack table, judged where NAT pools are asked for and the
    /// table could be read.
    pub conntrack: Option<TableReport>,
}

/// The conntrack table against its maximum, judged by the percentage
/// thresholds (the free-port ones count ports, not entries).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableReport {
    pub figures: TableFigures,
    pub state: State,
}

impl TableReport {
    pub fn used_pct(&self) -> f64 {
        let f = &self.figures;
        if f.max == 0 {
            return 0.0;
        }
        let pct = f.entries as f64 * 100.0 / f.max as f64;
        (pct * 100.0).round() / 100.0
    }

    /// Whether the table, not a pool, is what the status line names.
    pub fn is_worst(&self, report: &Report) -> bool {
        self.state > report.worst.1
    }
}

/// How bad a judged result is, for ordering namespaces: the worst state,
/// then the fullest worst pool, then the fewest free ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank(State, u32, Reverse<u32>);

impl Rank {
    /// A namespace that could not be read: UNKNOWN, below every judged one
    /// of that state.
    pub fn unreadable() -> Rank {
        Rank(State::Unknown, 0, Reverse(u32::MAX))
    }

    pub fn state(self) -> State {
        self.0
    }
}

/// Sorts worst first and keeps `n`. Equals go by `tie` (the namespace's
/// label), not by the order the threads happened to judge them in: many
/// namespaces tie (all OK, all empty), and the ones kept must be the same
/// from one run to the next, or the series a collector sees come and go.
pub fn worst_first<K: Ord, T>(ranked: &mut Vec<(Rank, K, T)>, n: usize) {
    ranked.sort_by(|(ra, ka, _), (rb, kb, _)| rb.cmp(ra).then_with(|| ka.cmp(kb)));
    ranked.truncate(n);
}

pub fn rank(report: &Report) -> Rank {
    let (pool, state) = &report.worst;
    let hundredths = (pool.used_pct() * 100.0).round() as u32;
    Rank(*state, hundredths, Reverse(pool.free))
}

/// Judges the level alone.
pub fn judge(model: &Model, selection: &Selection, thresholds: &Thresholds, top: usize) -> Report {
    judge_with(model, selection, thresholds, top, None)
}

/// Judges the level and, given a rule and a forecaster, the forecast.
pub fn judge_with(
    model: &Model,
    selection: &Selection,
    thresholds: &Thresholds,
    top: usize,
    forecast: Option<(&ForecastRule, &Forecaster)>,
) -> Report {
    let forecast = forecast.filter(|(rule, _)| rule.enabled);
    let mut outlook = Outlook::default();
    let kinds: Vec<KindReport> = Kind::ALL
        .into_iter()
        .filter_map(|kind| {
            let judged = selection.kinds.contains(&kind);
            let mut worst = Worst::new(top.max(1));
            // A tuple with no socket stands in when none matched: it is
            // judged and shown, but not counted as one of the host's pools.
            let mut stand_in = false;
            let mut state = |pool: &Pool| {
                if !judged {
                    return State::Ok;
                }
                let level = thresholds.judge(pool);
                let Some((rule, forecaster)) = forecast else {
                    return level;
                };
                let Some(f) = forecaster.of(pool) else {
                    return level;
                };
                let state = rule.judge(thresholds, pool, &f);
                let seen = Foreseen {
                    pool: *pool,
                    forecast: f,
                    level,
                    state,
                };
                outlook.offer(kind, seen);
                state
            };
            let mut offer = |worst: &mut Worst, pool: Pool| {
                let s = state(&pool);
                worst.offer(pool, s)
            };
            match kind {
                Kind::Connect => match selection.single_tuple() {
                    Some(tuple) => offer(&mut worst, model.connect_pool(tuple)),
                    None => {
                        for pool in model.connect_pools() {
                            if let PoolName::Tuple(t) = pool.name
                                && selection.tuple_matches(&t)
                            {
                                offer(&mut worst, pool);
                            }
                        }
                        if worst.seen == 0 {
                            stand_in = true;
                            offer(&mut worst, model.new_connect_pool(selection.new_tuple()));
                        }
                    }
                },
                Kind::Bind if !selection.sources.is_empty() => {
                    let mut sources = selection.sources.clone();
                    sources.sort();
                    sources.dedup();
                    for addr in sources {
                        offer(&mut worst, model.bind_pool(addr));
                    }
                }
                Kind::Bind => {
                    for addr in model.bind_addresses() {
                        offer(&mut worst, model.bind_pool(addr));
                    }
                }
                Kind::Udp => {
                    for pool in model.udp_pools() {
                        offer(&mut worst, pool);
                    }
                }
                Kind::Nat => {
                    for pool in model.nat.iter().flat_map(|n| n.pools.iter()) {
                        if let PoolName::Nat(k) = pool.name
                            && selection.nat_matches(&k)
                        {
                            offer(&mut worst, *pool);
                        }
                    }
                    if worst.seen == 0 {
                        // No NAT here: nothing to show or judge.
                        return None;
                    }
                }
                Kind::Upstream => {
                    // Judged only with --upstream-nat, which makes the model.
                    let upstream = model.upstream.as_ref().filter(|_| judged)?;
                    for (pool, _) in &upstream.pools {
                        if let PoolName::Upstream(n) = pool.name
                            && selection.upstream_matches(&n.key)
                        {
                            offer(&mut worst, *pool);
                        }
                    }
                    if worst.seen == 0 {
                        stand_in = true;
                        offer(&mut worst, upstream.stand_in(selection.one_destination()));
                    }
                }
            }
            let pools = worst.seen - usize::from(stand_in);
            let top = worst.into_sorted();
            if let Some((rule, forecaster)) = forecast.filter(|_| judged) {
                for (pool, state) in &top {
                    if let Some(f) = forecaster.of(pool) {
                        outlook.listed.push(Foreseen {
                            pool: *pool,
                            forecast: f,
                            level: thresholds.judge(pool),
                            state: rule.judge(thresholds, pool, &f).max(*state),
                        });
                    }
                }
            }
            Some(KindReport {
                kind,
                judged,
                pools,
                top,
            })
        })
        .collect();
    let mut kinds = kinds;
    if !model.sockets_read {
        kinds.retain(|k| k.kind == Kind::Nat);
    }
    if kinds.is_empty() {
        // Only NAT pools asked for, and none exists: a destination with no
        // entry yet stands in, with the whole NAT range free.
        let capacity = model.nat.as_ref().map_or(0, |n| n.range.len() as u32);
        let pool = Pool {
            kind: Kind::Nat,
            name: selection.new_tuple(),
            capacity,
            free: capacity,
            counts: Default::default(),
            fail_ppm: None,
        };
        kinds.push(KindReport {
            kind: Kind::Nat,
            judged: true,
            pools: 0,
            top: vec![(pool, thresholds.judge(&pool))],
        });
    }
    // An upstream budget with no connection yet stands in for its kind
    // but names the status line only when nothing else is judged: its
    // small capacity would otherwise always have the fewest free ports.
    let idle_upstream = |k: &&KindReport| k.kind == Kind::Upstream && k.pools == 0;
    let worst = kinds
        .iter()
        .filter(|k| k.judged)
        .map(|k| (idle_upstream(&k), *k.worst()))
        .min_by(|(ia, a), (ib, b)| ia.cmp(ib).then_with(|| badness(a).cmp(&badness(b))))
        .map(|(_, w)| w)
        .unwrap_or_else(|| *kinds[0].worst());
    let conntrack = model
        .nat
        .as_ref()
        .filter(|_| selection.kinds.contains(&Kind::Nat))
        .map(|n| {
            let mut table = TableReport {
                figures: n.table,
                state: State::Ok,
            };
            let pct = table.used_pct();
            let alerts = |r: &Option<Range>| r.as_ref().is_some_and(|r| r.alerts(pct));
            table.state = if alerts(&thresholds.used_critical) {
                State::Critical
            } else if alerts(&thresholds.used_warning) {
                State::Warning
            } else {
                State::Ok
            };
            table
        });
    let state = conntrack.map_or(worst.1, |t| t.state.max(worst.1));
    Report {
        state,
        worst,
        kinds,
        outlook,
        conntrack,
    }
}

/// Sort key: worst state first, then fewest free ports, then the name so
/// the output does not depend on hash order.
type Badness = (Reverse<State>, u32, Reverse<u32>, NameKey);
type NameKey = (u8, Option<IpAddr>, Option<IpAddr>, u16, u32);

fn badness((pool, state): &(Pool, State)) -> Badness {
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
    (Reverse(*state), pool.free, Reverse(pool.used()), name)
}

/// Keeps the `n` worst pools offered, in bounded memory.
struct Worst {
    n: usize,
    seen: usize,
    kept: Vec<(Pool, State)>,
}

impl Worst {
    fn new(n: usize) -> Worst {
        Worst {
            n,
            seen: 0,
            kept: Vec::with_capacity(2 * n),
        }
    }

    fn offer(&mut self, pool: Pool, state: State) {
        self.seen += 1;
        self.kept.push((pool, state));
        if self.kept.len() >= 2 * self.n {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.kept
            .sort_by(|a, b| badness(a).cmp(&badness(b)).then(Ordering::Equal));
        self.kept.truncate(self.n);
    }

    fn into_sorted(mut self) -> Vec<(Pool, State)> {
        self.trim();
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_are_kept_and_equals_go_by_their_label() {
        let ok = Rank(State::Ok, 10, Reverse(90));
        let bad = Rank(State::Critical, 95, Reverse(1));
        let found = [(ok, "web2"), (bad, "db"), (ok, "inode 7"), (ok, "web1")];
        let kept = |order: &[usize]| {
            let mut ranked: Vec<(Rank, &str, usize)> =
                order.iter().map(|&i| (found[i].0, found[i].1, i)).collect();
            worst_first(&mut ranked, 3);
            ranked.into_iter().map(|(_, l, _)| l).collect::<Vec<_>>()
        };
        // Whatever order the namespaces were judged in.
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            assert_eq!(kept(&order), ["db", "inode 7", "web1"], "{order:?}");
        }
    }
}
