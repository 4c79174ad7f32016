//! What fired: the words the status line ends with when the state is not
//! OK, naming the threshold that decided it (`(fewer than 500 free)`,
//! `(more than 90% used)`, `(full within 600 s)`), so that an operator
//! paged at night knows which of several thresholds to look at.

use crate::judge::forecast::{PoolForecast, projected_pool};
use crate::judge::range::{Quantity, Range};
use crate::judge::{State, TableReport, Thresholds};
use crate::model::Pool;

/// The ranges of one state: `--warning` or `--critical` and their kin.
struct Ranges<'a> {
    used: Option<&'a Range>,
    free: Option<&'a Range>,
    full_in: Option<&'a Range>,
}

fn ranges<'a>(
    state: State,
    thresholds: &'a Thresholds,
    full_in: (Option<&'a Range>, Option<&'a Range>),
) -> Option<Ranges<'a>> {
    match state {
        State::Critical => Some(Ranges {
            used: thresholds.used_critical.as_ref(),
            free: thresholds.free_critical.as_ref(),
            full_in: full_in.1,
        }),
        State::Warning => Some(Ranges {
            used: thresholds.used_warning.as_ref(),
            free: thresholds.free_warning.as_ref(),
            full_in: full_in.0,
        }),
        State::Ok | State::Unknown => None,
    }
}

/// ` (fewer than 500 free)`: the first threshold of `state`'s that alerts
/// for `pool`, its level before its forecast (the level is what is sure),
/// or nothing when the state is OK or UNKNOWN.
pub fn pool(
    state: State,
    pool: &Pool,
    thresholds: &Thresholds,
    full_in: (Option<&Range>, Option<&Range>),
    foreseen: Option<&PoolForecast>,
) -> String {
    let Some(r) = ranges(state, thresholds, full_in) else {
        return String::new();
    };
    let level = |p: &Pool| {
        let used = r
            .used
            .filter(|r| r.alerts(p.used_pct()))
            .map(|r| r.describe(Quantity::UsedPct));
        used.or_else(|| {
            r.free
                .filter(|r| r.alerts(f64::from(p.free)))
                .map(|r| r.describe(Quantity::Free))
        })
    };
    let words = level(pool).or_else(|| {
        let f = foreseen?;
        let full = f.forecast.full_in_s.and_then(|s| {
            r.full_in
                .filter(|r| r.alerts(s))
                .map(|r| r.describe(Quantity::FullIn))
        });
        full.or_else(|| {
            level(&projected_pool(&f.pool, &f.forecast)).map(|w| format!("projected {w}"))
        })
    });
    words.map_or(String::new(), |w| format!(" ({w})"))
}

/// The same for the conntrack table, judged by the percentage thresholds.
pub fn table(table: &TableReport, thresholds: &Thresholds) -> String {
    let Some(r) = ranges(table.state, thresholds, (None, None)) else {
        return String::new();
    };
    r.used
        .filter(|r| r.alerts(table.used_pct()))
        .map_or(String::new(), |r| {
            format!(" ({})", r.describe(Quantity::UsedPct))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, PoolName};

    fn thresholds(free_critical: &str) -> Thresholds {
        Thresholds {
            used_warning: "70".parse().ok(),
            used_critical: "90".parse().ok(),
            free_warning: None,
            free_critical: crate::judge::range::free_count(free_critical).ok(),
        }
    }

    fn a_pool(capacity: u32, free: u32) -> Pool {
        Pool {
            kind: Kind::Connect,
            name: PoolName::Address("127.0.0.1".parse().unwrap()),
            capacity,
            free,
            counts: Default::default(),
            fail_ppm: None,
        }
    }

    #[test]
    fn the_threshold_that_decided_is_named() {
        let th = thresholds("500");
        let none = (None, None);
        let said = |state, free| pool(state, &a_pool(1000, free), &th, none, None);
        assert_eq!(said(State::Critical, 400), " (fewer than 500 free)");
        // Both alert: the used percentage is named first.
        assert_eq!(said(State::Critical, 50), " (more than 90% used)");
        assert_eq!(said(State::Warning, 250), " (more than 70% used)");
        assert_eq!(said(State::Ok, 1000), "");
        assert_eq!(said(State::Unknown, 1000), "");
    }
}
