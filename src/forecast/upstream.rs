//! The forecast of an upstream pool: the pace of closes read from their
//! ages (`pace`, the same estimator as for the kernel's pools) and
//! projected over the provider's hold instead of the kernel's 60 s. The
//! count it starts from is the model's (`model::upstream::count`).
//!
//! Use `t` seconds from now, for a pace `r` of closes shown, a bound `u`
//! on closes no entry shows (`--trend`), the closes shown `c[a]` by age
//! `a`, a window of `W` seconds that the entries show, and the edge pace
//! `e` (the closes per second in the oldest part of the window):
//!
//! `open + Σ c[a]·[hold − a − ½ > t] + e·max(0, hold − W − t)
//!       + (r + u)·min(t, hold) + u·max(0, hold − t)`
//!
//! The closes older than the window are taken at the edge pace: a pace
//! that began within the window leaves none, one that has gone on longer
//! leaves as many as it makes. Unseen closes are taken to have gone on for
//! the whole hold, so the forecast is early rather than late.

use super::pace::{Ages, BUCKETS, Pace, pace};
use super::projection::{Forecast, first_full_over_hold};
use crate::model::PoolName;
use crate::model::upstream::{Tally, UpstreamModel, count::shown};

/// The forecast of the upstream pool `name`, or of a destination with no
/// connection yet where `name` has none.
pub fn forecast(model: &UpstreamModel, name: &PoolName) -> Option<Forecast> {
    let PoolName::Upstream(n) = name else {
        return None;
    };
    let empty = Tally::default();
    let tally = model.tallies.get(&n.key).unwrap_or(&empty);
    let counted = model.counted(name)?;
    let hold = f64::from(model.budget.hold_s);
    let (closes, window_s, _) = shown(model, tally);

    // The pace, from the youngest minute of ages.
    let pace_s = model.budget.hold_s.min(window_s).min(BUCKETS as u32);
    let mut ages = Ages::new(pace_s.max(1) * 1000);
    for (a, n) in closes.buckets.iter().enumerate().take(pace_s as usize) {
        ages.buckets[a] = *n;
    }
    let seen = pace(&ages);
    let rate = seen.per_second.max(0.0);
    let unseen_rate = model.unseen_per_s.unwrap_or(0.0).max(0.0);
    let beyond = (hold - f64::from(window_s)).max(0.0);
    let (open, edge) = (f64::from(counted.open), counted.edge_per_s);
    let use_at = |t: f64| -> f64 {
        let visible: u32 = closes
            .buckets
            .iter()
            .enumerate()
            .filter(|(a, _)| hold - *a as f64 - 0.5 > t)
            .map(|(_, n)| *n)
            .sum();
        open + f64::from(visible)
            + edge * (beyond - t).max(0.0)
            + (rate + unseen_rate) * t.min(hold)
            + unseen_rate * (hold - t).max(0.0)
    };
    let capacity = f64::from(model.budget.ports);
    let used_now = f64::from(counted.used);
    let steady = open + (rate + unseen_rate) * hold;
    let projected = steady.max(used_now);
    let full_in_s = if used_now >= capacity {
        Some(0.0)
    } else {
        first_full(&use_at, capacity, hold)
    };
    Some(Forecast {
        pace: Pace {
            per_second: rate + unseen_rate,
            seen: seen.seen,
        },
        used_now: counted.used.min(model.budget.ports),
        projected,
        projected_pct: if model.budget.ports == 0 {
            100.0
        } else {
            projected * 100.0 / capacity
        },
        full_in_s,
        holders: counted.open,
        growth_per_s: None,
    })
}

/// The first moment the use reaches the capacity (within half a port):
/// quarter seconds over the hold (after it the use stays at its steady
/// level), then bisection.
fn first_full(use_at: &impl Fn(f64) -> f64, capacity: f64, hold: f64) -> Option<f64> {
    // Bounded: the hold is at most an hour, so at most 14,405 steps.
    first_full_over_hold(&|t: f64| use_at(t) + 0.5 >= capacity, hold)
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
