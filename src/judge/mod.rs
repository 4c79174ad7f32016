//! Stage 4, judging: which pools the operator asked about (`select`), the
//! state each is in by the threshold ranges (`range`) and by its forecast
//! (`forecast`), one function per kind of pool (`pools`), and the worst of
//! them. A pure function of the model and the forecast; hands a [`Report`]
//! to `report`. New thresholds go here.

pub mod bound;
pub mod forecast;
mod pools;
pub mod range;
mod rank;
mod select;

use crate::model::{Kind, Model, Pool};
use crate::read::conntrack::TableFigures;
use forecast::Forecasts;
pub use pools::failure_in_ms;
use pools::{ForecastJudge, Judging, badness};
use range::Range;
pub use rank::{Rank, rank, worst_first};
pub use select::{Destination, Selection};

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
    pub forecasts: Forecasts,
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

/// Judges the level alone.
pub fn judge(model: &Model, selection: &Selection, thresholds: &Thresholds, top: usize) -> Report {
    judge_with(model, selection, thresholds, top, None)
}

/// Judges the level and, given a rule and a forecaster, the forecast: each
/// kind of pool by its own function, the conntrack table, and the worst.
pub fn judge_with(
    model: &Model,
    selection: &Selection,
    thresholds: &Thresholds,
    top: usize,
    forecast: ForecastJudge,
) -> Report {
    let forecast = forecast.filter(|(rule, _)| rule.enabled);
    let mut forecasts = Forecasts::default();
    let mut kinds = Vec::new();
    for kind in Kind::ALL {
        let judged = selection.kinds.contains(&kind);
        let mut j = Judging::new(kind, judged, top, thresholds, forecast, &mut forecasts);
        match kind {
            Kind::Connect => pools::connect(model, selection, &mut j),
            Kind::Bind => pools::bind(model, selection, &mut j),
            Kind::Udp => pools::udp(model, &mut j),
            Kind::Nat if !pools::nat(model, selection, &mut j) => continue,
            Kind::Nat => {}
            Kind::Upstream if !pools::upstream(model, selection, &mut j) => continue,
            Kind::Upstream => {}
        }
        kinds.push(j.finish());
    }
    if !model.sockets_read {
        kinds.retain(|k| k.kind == Kind::Nat);
    }
    if kinds.is_empty() {
        kinds.push(pools::nat_stand_in(model, selection, thresholds));
    }
    // The pool that fails first among those in the worst state. An
    // upstream budget with no connection yet stands in for its kind but
    // names the status line only when nothing else is judged: its small
    // capacity would otherwise always have the fewest free ports.
    let fails_in = |pool: &Pool| {
        let full_in_s = forecasts.of(pool).and_then(|f| f.forecast.full_in_s);
        failure_in_ms(pool, full_in_s)
    };
    let idle_upstream = |k: &KindReport| k.kind == Kind::Upstream && k.pools == 0;
    let worst = kinds
        .iter()
        .filter(|k| k.judged)
        .map(|k| (idle_upstream(k), *k.worst()))
        .min_by_key(|(idle, (pool, state))| (*idle, badness(pool, *state, fails_in(pool))))
        .map(|(_, w)| w)
        .unwrap_or_else(|| *kinds[0].worst());
    let conntrack = conntrack(model, selection, thresholds);
    let state = conntrack.map_or(worst.1, |t| t.state.max(worst.1));
    Report {
        state,
        worst,
        kinds,
        forecasts,
        conntrack,
    }
}

/// The conntrack table, where NAT pools are asked for and it was read.
fn conntrack(model: &Model, selection: &Selection, thresholds: &Thresholds) -> Option<TableReport> {
    let nat = model.nat.as_ref()?;
    if !selection.kinds.contains(&Kind::Nat) {
        return None;
    }
    let mut table = TableReport {
        figures: nat.table,
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
    Some(table)
}

#[cfg(test)]
mod fails_first;
