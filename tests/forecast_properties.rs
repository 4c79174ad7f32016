//! Properties of the forecast over many random pools: the projection never
//! falls below today's use, it grows with the pace and with the room the
//! kernel leaves for entries, a faster pace never fills later, and a pool
//! projected at or above its capacity is said to fill.
//!
//! The pools are drawn by proptest's runner from its deterministic
//! generator, the same on every machine; a failure prints the pool.

use check_ephemeral::forecast::{
    self, Ages, Limits, Pace, PoolNow, Seen, Walk, forecast, forecast_at,
};

use proptest::prelude::*;
use proptest::test_runner::TestRng;

use crate::util::random_cases;

const SCENARIOS: u32 = 2000;

/// A pool with a random capacity, holders, and entries spread over ages in
/// a few random bursts; sometimes fed by a walk with reuse.
fn random_pool(rng: &mut TestRng) -> (PoolNow, Limits) {
    let capacity = [0, 1, 10, 600, 28_232][below(rng, 5) as usize] as u32;
    let holders = below(rng, u64::from(capacity) + 1) as u32;
    let hold_ms = [60_000, 1_000, 200, 120_000][below(rng, 4) as usize];
    let mut ages = Ages::new(hold_ms);
    for _ in 0..below(rng, 4) {
        let from = below(rng, 60);
        let len = 1 + below(rng, 30);
        let per_s = below(rng, 50);
        for age in from..(from + len).min(60) {
            for _ in 0..per_s {
                ages.add_age(age as u32 * 1000 + below(rng, 1000) as u32);
            }
        }
    }
    let walk = if below(rng, 3) == 0 {
        ages.censored_after_ms = Some(1_000);
        Some(Walk { delay_ms: 1_000 })
    } else {
        None
    };
    let limits = Limits {
        max_entries: if below(rng, 3) == 0 {
            Some(below(rng, 2_000) as u32)
        } else {
            None
        },
    };
    (
        PoolNow {
            capacity,
            holders,
            ages,
            walk,
        },
        limits,
    )
}

fn at(per_second: f64) -> Pace {
    Pace {
        per_second,
        seen: Seen::Nothing,
    }
}

/// A number below `n` (0 when `n` is 0).
fn below(rng: &mut TestRng, n: u64) -> u64 {
    rng.random_range(0..n.max(1))
}

/// `property` holds for [`SCENARIOS`] random pools.
fn each(property: impl Fn(&PoolNow, Limits)) {
    let pools = any::<()>().prop_perturb(|(), mut rng| random_pool(&mut rng));
    random_cases(SCENARIOS, pools, |(pool, limits)| property(&pool, limits));
}

#[test]
fn projection_never_below_todays_use() {
    each(|pool, limits| {
        let f = forecast(pool, limits);
        assert!(f.projected >= f64::from(f.used_now), "{f:?} of {pool:?}");
        assert!(f.pace.per_second >= 0.0 && f.pace.per_second.is_finite());
    });
}

#[test]
fn projection_is_monotone_in_the_pace() {
    each(|pool, limits| {
        let mut last: Option<forecast::Forecast> = None;
        for pace in [0.0, 0.5, 1.0, 3.0, 10.0, 20.0, 100.0, 400.0, 5_000.0] {
            let f = forecast_at(pool, limits, at(pace));
            if let Some(l) = last {
                assert!(
                    f.projected >= l.projected,
                    "pace {pace} projects less: {f:?} < {l:?}"
                );
                let later = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(x), Some(y)) => x > y + 1e-9,
                    (None, Some(_)) => true,
                    _ => false,
                };
                assert!(
                    !later(f.full_in_s, l.full_in_s),
                    "pace {pace} fills later: {f:?} vs {l:?}"
                );
            }
            last = Some(f);
        }
    });
}

#[test]
fn more_room_for_entries_never_projects_less() {
    each(|pool, _| {
        let tight = forecast(
            pool,
            Limits {
                max_entries: Some(50),
            },
        );
        let loose = forecast(pool, Limits { max_entries: None });
        assert!(loose.projected >= tight.projected);
    });
}

#[test]
fn a_pool_projected_full_is_said_to_fill() {
    each(|pool, limits| {
        let f = forecast(pool, limits);
        if f.projected + 0.5 >= f64::from(pool.capacity) {
            assert!(f.fills(), "{f:?} of {pool:?}");
        }
        if let Some(s) = f.full_in_s {
            assert!((0.0..=3600.0).contains(&s), "{f:?}");
        }
    });
}
