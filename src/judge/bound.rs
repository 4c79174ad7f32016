//! Judged by bound: what a namespace's own counters prove before any walk
//! of its sockets. A pure function of the counts the kernel keeps per
//! namespace (`/proc/net/sockstat`, `sockstat6`, `nf_conntrack_count`), its
//! port settings and the thresholds.
//!
//! Why it holds (each step is checked by the property tests below, the
//! model's own pools against the bound of the counts their records imply):
//!
//! - A pool's used ports are ports held by the namespace's records, each
//!   record holding at most one: a TCP pool's by its TCP sockets and
//!   TIME_WAIT entries, a UDP pool's by its UDP sockets (the odd-size quirk
//!   only ever takes a port off the capacity and the free count together).
//!   Every hashed TCP socket counts in `inuse`, every TCP socket a process
//!   made in `sockets: used` (one that is only bound counts nowhere else),
//!   every TIME_WAIT entry in `tw`, and a request socket has its
//!   listener's port. So a TCP pool has at most `used + inuse + tw` ports
//!   in use, a UDP pool at most its `inuse` counts.
//! - The forecast adds, over what is held now, at most twice the pace times
//!   the hold (no walk: `pace × min(t, hold)` fresh entries; under a walk
//!   each half of the range touches at most `pace × hold`), and the pace is
//!   at most [`max_per_second`] of the pool's entries, which are some of
//!   the namespace's `tw`. A pool can fill only where that reaches its
//!   capacity; where it cannot, no `--full-in` range applies.
//! - NAT pools need the conntrack table's entries: where it has any, there
//!   is no bound and the namespace is walked. Upstream pools (the provider
//!   NAT's, `--upstream-nat`) are summed over every namespace, so where
//!   they are judged no namespace has a bound.
//!
//! `--trend` adds the growth across runs; a sweep of every namespace keeps
//! no state, so the bound is used only there.

use super::forecast::ForecastRule;
use super::range::Range;
use super::{Selection, Thresholds};
use crate::forecast::pace::max_per_second;
use crate::model::{Kind, PoolsBuilder, TIME_WAIT_MS};
use crate::read::conntrack::TableFigures;
use crate::read::settings::KernelSettings;
use crate::read::sockstat::Counts;

/// What a namespace's counters say, read inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub sockstat: Counts,
    /// The conntrack table's figures; `None` where the namespace has none.
    pub conntrack: Option<TableFigures>,
}

/// How a namespace is judged: the same settings the walk judges with.
#[derive(Clone, Copy, Debug)]
pub struct Rule<'a> {
    pub selection: &'a Selection,
    pub thresholds: &'a Thresholds,
    pub forecast: &'a ForecastRule,
    /// `--upstream-nat`: the provider's pools, summed over every namespace.
    pub upstream: bool,
}

/// The most any pool of a namespace can reach.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    /// Ports in use that no judged pool can exceed, now or where the
    /// forecast projects it.
    pub ports: u32,
    /// The used percentage no judged pool can exceed (as the pools round
    /// it).
    pub used_pct: f64,
    /// Whether no judged pool can fill within the forecast.
    pub cannot_fill: bool,
    /// Whether no threshold can be crossed: the namespace is OK by bound.
    pub proven: bool,
}

/// The bound of one namespace; `None` where the counters give none (a
/// count missing, conntrack entries where NAT is judged, NAT alone).
pub fn bound(counters: &Counters, settings: &KernelSettings, rule: &Rule) -> Option<Bound> {
    let kinds = &rule.selection.kinds;
    let counts = &counters.sockstat;
    let mut nat = false;
    let mut pools = Vec::new();
    // Capacities as the model has them: an empty model of these settings.
    let empty = PoolsBuilder::new(settings).finish();
    let tcp_capacity = empty.new_connect_pool(crate::model::PoolName::NewTuple {
        source: None,
        destination: None,
        port: None,
    });
    // Every hashed TCP socket counts in `inuse`, kernel ones too; one only
    // bound counts in `sockets: used` alone. Both are added: whether a
    // kernel counts accepted sockets in `sockets: used` as well varies,
    // and a proof must not rest on it.
    let tcp_level = counts
        .sockets?
        .saturating_add(counts.tcp)
        .saturating_add(counts.tcp6)
        .saturating_add(counts.time_wait);
    let udp_level = counts.udp.saturating_add(counts.udp6);
    let forecast = rule.forecast.enabled;
    let tcp_grows = if forecast {
        let delay = settings.tw_reuse_delay_ms.unwrap_or(0);
        let hold_s = f64::from(TIME_WAIT_MS.max(delay)) / 1000.0;
        2.0 * max_per_second(counts.time_wait) * hold_s
    } else {
        0.0
    };
    for kind in Kind::ALL {
        if !kinds.contains(&kind) {
            continue;
        }
        match kind {
            Kind::Connect | Kind::Bind => {
                pools.push(Reach::new(tcp_capacity.capacity, tcp_level, tcp_grows));
            }
            Kind::Udp => pools.push(Reach::new(empty.candidate_count(), udp_level, 0.0)),
            Kind::Nat => nat = true,
            // The provider's budget is spent by every namespace at once:
            // its sum needs each one walked.
            Kind::Upstream if rule.upstream => return None,
            Kind::Upstream => {}
        }
    }
    if nat {
        let entries = counters.conntrack.map_or(0, |t| t.entries);
        if entries > 0 || pools.is_empty() {
            return None;
        }
    }
    let t = rule.thresholds;
    let mut proven = pools.iter().all(|p| p.quiet(t, rule.forecast, forecast));
    if nat && counters.conntrack.is_some() {
        // The table is judged by the percentage ranges, at 0 % here.
        proven &= quiet(&t.used_warning, 0.0, 0.0) && quiet(&t.used_critical, 0.0, 0.0);
    }
    let highest = pools
        .iter()
        .max_by(|a, b| a.used_pct().total_cmp(&b.used_pct()))?;
    Some(Bound {
        ports: highest.used,
        used_pct: highest.used_pct(),
        cannot_fill: pools.iter().all(|p| !p.may_fill),
        proven,
    })
}

/// How far one kind of pool can go.
#[derive(Clone, Copy, Debug)]
struct Reach {
    capacity: u32,
    /// Ports in use at most, now or projected (never above the capacity).
    used: u32,
    /// Whether the projection may reach the capacity (within the half
    /// port the forecast allows).
    may_fill: bool,
}

impl Reach {
    fn new(capacity: u32, level: u64, grows: f64) -> Reach {
        let most = level as f64 + grows;
        let used = most.ceil().min(f64::from(capacity)) as u32;
        Reach {
            capacity,
            used,
            may_fill: capacity == 0 || most + 0.5 >= f64::from(capacity),
        }
    }

    /// As `Pool::used_pct` rounds it.
    fn used_pct(&self) -> f64 {
        if self.capacity == 0 {
            return 100.0;
        }
        let pct = f64::from(self.used) * 100.0 / f64::from(self.capacity);
        (pct * 100.0).round() / 100.0
    }

    fn quiet(&self, t: &Thresholds, rule: &ForecastRule, forecast: bool) -> bool {
        let pct = self.used_pct();
        let free_lo = f64::from(self.capacity - self.used);
        let free_hi = f64::from(self.capacity);
        let levels = quiet(&t.used_warning, 0.0, pct)
            && quiet(&t.used_critical, 0.0, pct)
            && quiet(&t.free_warning, free_lo, free_hi)
            && quiet(&t.free_critical, free_lo, free_hi);
        // A pool that may fill has a time until full, from now to the hour
        // the projection looks ahead.
        let full_in = !forecast
            || !self.may_fill
            || (quiet(&rule.full_in_warning, 0.0, HORIZON_S)
                && quiet(&rule.full_in_critical, 0.0, HORIZON_S));
        levels && full_in
    }
}

/// The furthest the forecast looks for the moment a pool fills.
const HORIZON_S: f64 = 3600.0;

fn quiet(range: &Option<Range>, lo: f64, hi: f64) -> bool {
    range.as_ref().is_none_or(|r| r.quiet_over(lo, hi))
}

#[cfg(test)]
#[path = "bound_tests/mod.rs"]
mod tests;
