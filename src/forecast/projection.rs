//! The projection: from a pool's use now, its entries' ages and a pace,
//! the use the pool settles at and, if it will fill, when (see the
//! kernel's `tcp_time_wait`, `inet_twsk_schedule`, `tcp_twsk_unique` and
//! `__inet_hash_connect`).

use super::pace::{Ages, Pace, pace};
use super::walk::Walk;

/// One pool as the forecast sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolNow {
    /// Ports the pool has when nothing holds any.
    pub capacity: u32,
    /// Ports held now by anything but the entries in `ages`.
    pub holders: u32,
    /// The entries that hold ports of this pool now.
    pub ages: Ages,
    /// Where `connect()` takes over old entries as it walks the range, the
    /// walk decides how many ports the entries of this pool end up on.
    pub walk: Option<Walk>,
}

/// Limits of the kernel that cut the projection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// At most this many entries can exist for the pool
    /// (`tcp_max_tw_buckets`: past it the kernel destroys new TIME_WAITs).
    pub max_entries: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    pub pace: Pace,
    /// Ports in use now.
    pub used_now: u32,
    /// Ports the pool settles at, at this pace (never below the use now);
    /// above the capacity means it fills.
    pub projected: f64,
    /// `projected` in percent of the capacity; a pool without capacity is
    /// 100 %.
    pub projected_pct: f64,
    /// Seconds until the pool is full at this pace, if it fills.
    pub full_in_s: Option<f64>,
    /// Ports held now by anything but the entries (what `--trend` keeps).
    pub holders: u32,
    /// Growth of `holders` per second since the previous run (`--trend`).
    pub growth_per_s: Option<f64>,
}

impl Forecast {
    pub fn fills(&self) -> bool {
        self.full_in_s.is_some()
    }

    /// Adds the growth of the held ports seen across runs: at a positive
    /// growth the pool fills once the growth has taken what the pace
    /// leaves, unless the pace fills it sooner.
    pub fn with_growth(mut self, capacity: u32, growth_per_s: f64) -> Forecast {
        self.growth_per_s = Some(growth_per_s);
        if growth_per_s > 0.0 && growth_per_s.is_finite() {
            let room = (f64::from(capacity) - self.projected).max(0.0);
            let full = room / growth_per_s;
            self.full_in_s = Some(self.full_in_s.map_or(full, |s| s.min(full)));
            // A pool that fills is projected at (at least) its capacity:
            // above 100 % means it will fill, and the percentage must say
            // what the seconds until full say.
            self.projected = self.projected.max(f64::from(capacity));
            self.projected_pct = self.projected_pct.max(100.0);
        }
        self
    }
}

/// The forecast of one pool.
pub fn forecast(pool: &PoolNow, limits: Limits) -> Forecast {
    forecast_at(pool, limits, pace(&pool.ages))
}

/// The forecast of one pool at a given pace (the estimator's, or a
/// growth seen across runs).
pub fn forecast_at(pool: &PoolNow, limits: Limits, pace: Pace) -> Forecast {
    let capacity = f64::from(pool.capacity);
    let entries_now = f64::from(pool.ages.total());
    let used_now = pool.holders.saturating_add(pool.ages.total());
    let used_now = used_now.min(pool.capacity);
    let room = limits.max_entries.map_or(f64::INFINITY, f64::from);
    let hold = f64::from(pool.ages.hold_ms) / 1000.0;
    let rate = pace.per_second.max(0.0);
    // Entries (or ports under a walk) `t` seconds from now.
    let free = (capacity - f64::from(pool.holders)).max(0.0);
    // Under a walk, the ports touched so far are where the pace has got to:
    // it goes on from the moment its coverage was today's entries.
    let walked_s = pool
        .walk
        .map_or(0.0, |w| w.time_to_cover(rate, free, entries_now, hold));
    let entries_at = |t: f64| -> f64 {
        let fresh = rate * t.min(hold);
        let held = match pool.walk {
            Some(w) => w
                .ports_at(rate, free, walked_s + t, hold)
                .max(pool.ages.remaining_at(t)),
            None => pool.ages.remaining_at(t) + fresh,
        };
        held.min(room)
    };
    let steady = f64::from(pool.holders) + entries_at(f64::INFINITY.min(3600.0));
    let projected = steady.max(f64::from(used_now));
    let projected_pct = if pool.capacity == 0 {
        100.0
    } else {
        projected * 100.0 / capacity
    };
    // Where the pool may touch full at all (an upper bound on the use at
    // any time), find the first moment it does.
    let full_in_s = if pool.capacity == 0 || used_now >= pool.capacity {
        Some(0.0)
    } else if f64::from(pool.holders) + (entries_now + rate * hold).min(room) + 0.5 < capacity
        && steady + 0.5 < capacity
    {
        None
    } else {
        first_full(|t| f64::from(pool.holders) + entries_at(t), capacity, hold)
    };
    Forecast {
        pace,
        used_now,
        projected,
        projected_pct,
        full_in_s,
        holders: pool.holders,
        growth_per_s: None,
    }
}

/// The first moment `use_at` reaches the capacity (within half a port),
/// scanning in quarter seconds over the hold, then up to an hour for a walk
/// that fills slowly.
fn first_full(use_at: impl Fn(f64) -> f64, capacity: f64, hold: f64) -> Option<f64> {
    let full = |t: f64| use_at(t) + 0.5 >= capacity;
    if let Some(t) = first_full_over_hold(&full, hold) {
        return Some(t);
    }
    let mut t = hold.ceil() + 1.0;
    while t <= 3600.0 {
        if full(t) {
            return Some(refine(&full, t - 1.0, t));
        }
        t += 1.0;
    }
    None
}

/// The first moment within the hold (and a second after it) that `full`
/// holds, scanning in quarter seconds, then bisecting.
pub(super) fn first_full_over_hold(full: &impl Fn(f64) -> bool, hold: f64) -> Option<f64> {
    let mut t = 0.0;
    while t <= hold + 1.0 {
        if full(t) {
            return Some(refine(full, (t - 0.25).max(0.0), t));
        }
        t += 0.25;
    }
    None
}

/// Bisects between a moment that is not full and one that is.
fn refine(full: &impl Fn(f64) -> bool, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..10 {
        let mid = (lo + hi) / 2.0;
        if full(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}
