//! An upstream pool's use now and its forecast: the pace of closes read
//! from their ages (`model::forecast::pace`, the same estimator as for the
//! kernel's pools) and projected over the provider's hold instead of the
//! kernel's 60 s.
//!
//! Use `t` seconds from now, for a pace `r` of visible closes, a bound `u`
//! on closes no entry shows (`--trend`), the visible closes `c[a]` by age
//! `a`, a window of `W` seconds that the entries show, and an edge pace
//! `e` (the closes per second in the oldest part of the window):
//!
//! `open + Σ c[a]·[hold − a − ½ > t] + e·max(0, hold − W − t)
//!       + (r + u)·min(t, hold) + u·max(0, hold − t)`
//!
//! The closes older than the window are taken at the edge pace: a pace
//! that began within the window leaves none, one that has gone on longer
//! leaves as many as it makes. Unseen closes are taken to have gone on for
//! the whole hold, so the forecast is early rather than late.

use super::{HOST_TIME_WAIT_S, MAX_AGE_S, Tally, UpstreamModel};
use crate::model::forecast::{self, Ages, BUCKETS, Forecast, Pace};

/// The oldest seconds of the window whose closes give the edge pace.
const EDGE_S: u32 = 20;

/// What the forecast of one pool counted, for the long output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpstreamForecast {
    /// Ports the provider's rule holds now, as far as the host sees.
    pub used: u32,
    pub open: u32,
    /// Closes younger than the hold that entries show.
    pub closes: u32,
    /// Closes older than the window, inferred from the edge pace.
    pub inferred: u32,
    /// Closes no entry shows, bounded by the kernel's count of new
    /// connections (`--trend`).
    pub unseen: u32,
    /// Whether the closes came from conntrack (which keeps those the peer
    /// made) rather than the host's TIME_WAIT.
    pub from_conntrack: bool,
    /// Seconds of closes the entries show.
    pub window_s: u32,
    pub forecast: Forecast,
}

/// The forecast of a pool with `tally`; `unseen_per_s`: the bound on new
/// closes no entry shows, where `--trend` gives one.
pub fn forecast(
    model: &UpstreamModel,
    tally: &Tally,
    unseen_per_s: Option<f64>,
) -> UpstreamForecast {
    let budget = &model.budget;
    let hold = f64::from(budget.hold_s);
    let ct = model.conntrack_tw_s.filter(|_| {
        tally.ct_closes.total() >= tally.host_closes.total() && model.sees_peer_closes()
    });
    let (closes, window_s) = match ct {
        Some(tw) => (&tally.ct_closes, tw.clamp(1, MAX_AGE_S)),
        None => (&tally.host_closes, HOST_TIME_WAIT_S),
    };
    let open = tally.open.max(tally.ct_open);
    let counted = closes.total();

    // The pace, from the youngest minute of ages.
    let pace_s = budget.hold_s.min(window_s).min(BUCKETS as u32);
    let mut ages = Ages::new(pace_s.max(1) * 1000);
    for (a, n) in closes.buckets.iter().enumerate().take(pace_s as usize) {
        ages.buckets[a] = *n;
    }
    let pace = forecast::pace(&ages);
    let rate = pace.per_second.max(0.0);

    // Closes older than the window, where the hold is longer.
    let window = f64::from(window_s);
    let beyond = (hold - window).max(0.0);
    let edge = if beyond > 0.0 {
        let from = window_s.saturating_sub(EDGE_S) as usize;
        let n: u32 = closes.buckets.iter().skip(from).sum();
        f64::from(n) / f64::from(window_s.min(EDGE_S))
    } else {
        0.0
    };
    let unseen_rate = unseen_per_s
        .filter(|u| u.is_finite())
        .unwrap_or(0.0)
        .max(0.0);
    let inferred = (edge * beyond).ceil();
    let unseen = (unseen_rate * hold).ceil();
    let used_now = f64::from(open) + f64::from(counted) + inferred + unseen;
    let capacity = f64::from(budget.ports);

    let use_at = |t: f64| -> f64 {
        let visible: u32 = closes
            .buckets
            .iter()
            .enumerate()
            .filter(|(a, _)| hold - *a as f64 - 0.5 > t)
            .map(|(_, n)| *n)
            .sum();
        f64::from(open)
            + f64::from(visible)
            + edge * (beyond - t).max(0.0)
            + (rate + unseen_rate) * t.min(hold)
            + unseen_rate * (hold - t).max(0.0)
    };
    let steady = f64::from(open) + (rate + unseen_rate) * hold;
    let projected = steady.max(used_now);
    let full_in_s = if used_now >= capacity {
        Some(0.0)
    } else {
        first_full(&use_at, capacity, hold)
    };
    let used = used_now.min(f64::from(u32::MAX)) as u32;
    UpstreamForecast {
        used,
        open,
        closes: counted,
        inferred: inferred as u32,
        unseen: unseen as u32,
        from_conntrack: ct.is_some(),
        window_s,
        forecast: Forecast {
            pace: Pace {
                per_second: rate + unseen_rate,
                seen: pace.seen,
            },
            used_now: used.min(budget.ports),
            projected,
            projected_pct: if budget.ports == 0 {
                100.0
            } else {
                projected * 100.0 / capacity
            },
            full_in_s,
            holders: open,
            growth_per_s: None,
        },
    }
}

/// The first moment the use reaches the capacity (within half a port):
/// quarter seconds over the hold (after it the use stays at its steady
/// level), then bisection.
fn first_full(use_at: &impl Fn(f64) -> f64, capacity: f64, hold: f64) -> Option<f64> {
    let full = |t: f64| use_at(t) + 0.5 >= capacity;
    let mut t = 0.0;
    // Bounded: the hold is at most an hour, so at most 14,405 steps.
    while t <= hold + 1.0 {
        if full(t) {
            let (mut lo, mut hi) = ((t - 0.25).max(0.0), t);
            for _ in 0..10 {
                let mid = (lo + hi) / 2.0;
                if full(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            return Some(hi);
        }
        t += 0.25;
    }
    None
}
