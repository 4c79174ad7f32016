//! Judging the forecast: a pool's state is the worst of its level now, its
//! projected level (the same ranges over the use it settles at; a pool that
//! will fill counts as full) and the seconds until full against
//! `--full-in-warning`/`--full-in-critical`. `--no-forecast` judges the
//! level alone.

use std::cmp::Ordering;

use super::range::Range;
use super::{State, Thresholds};
use crate::forecast::Forecast;
use crate::model::{Kind, Pool};

/// Full within this many seconds is CRITICAL by default: ten minutes.
pub const DEFAULT_FULL_IN_CRITICAL: &str = "@600";
/// Full within this many seconds is WARNING by default: an hour.
pub const DEFAULT_FULL_IN_WARNING: &str = "@3600";

/// How the forecast is judged.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastRule {
    pub enabled: bool,
    /// Ranges over the seconds until full (only pools that fill have one).
    pub full_in_warning: Option<Range>,
    pub full_in_critical: Option<Range>,
}

impl Default for ForecastRule {
    fn default() -> Self {
        ForecastRule {
            enabled: true,
            full_in_warning: DEFAULT_FULL_IN_WARNING.parse().ok(),
            full_in_critical: DEFAULT_FULL_IN_CRITICAL.parse().ok(),
        }
    }
}

impl ForecastRule {
    pub fn off() -> ForecastRule {
        ForecastRule {
            enabled: false,
            ..ForecastRule::default()
        }
    }

    /// The state of a pool from its level and its forecast.
    pub fn judge(&self, thresholds: &Thresholds, pool: &Pool, forecast: &Forecast) -> State {
        let level = thresholds.judge(pool);
        let projected = thresholds.judge(&projected_pool(pool, forecast));
        let alerts = |r: &Option<Range>, s: f64| r.as_ref().is_some_and(|r| r.alerts(s));
        let full_in = match forecast.full_in_s {
            Some(s) if alerts(&self.full_in_critical, s) => State::Critical,
            Some(s) if alerts(&self.full_in_warning, s) => State::Warning,
            _ => State::Ok,
        };
        level.max(projected).max(full_in)
    }
}

/// The pool as it will be at the projected use: full if it fills.
pub fn projected_pool(pool: &Pool, forecast: &Forecast) -> Pool {
    let used = if forecast.fills() {
        pool.capacity
    } else {
        (forecast.projected.ceil() as u32).min(pool.capacity)
    };
    Pool {
        free: pool.capacity - used.max(pool.used()),
        ..*pool
    }
}

/// A judged pool's forecast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolForecast {
    pub pool: Pool,
    pub forecast: Forecast,
    /// The state of the level alone, and with the forecast.
    pub level: State,
    pub state: State,
}

impl PoolForecast {
    /// Whether the forecast, not the level, decided the state.
    pub fn decided(&self) -> bool {
        self.state > self.level
    }
}

/// The forecasts the report needs: per kind the pool whose forecast is
/// worst (for the perfdata), and those of the listed pools.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forecasts {
    pub worst: Vec<(Kind, PoolForecast)>,
    pub listed: Vec<PoolForecast>,
}

impl Forecasts {
    pub fn worst_of(&self, kind: Kind) -> Option<&PoolForecast> {
        self.worst.iter().find(|(k, _)| *k == kind).map(|(_, f)| f)
    }

    pub fn of(&self, pool: &Pool) -> Option<&PoolForecast> {
        self.listed
            .iter()
            .find(|f| f.pool.kind == pool.kind && f.pool.name == pool.name)
    }

    /// The pools with a forecast and their forecasts: the listed ones,
    /// then the worst of each kind.
    pub fn pools(&self) -> impl Iterator<Item = (&Pool, &Forecast)> {
        let listed = self.listed.iter();
        let worst = self.worst.iter().map(|(_, f)| f);
        listed.chain(worst).map(|f| (&f.pool, &f.forecast))
    }

    /// Keeps `f` if it is worse than the kind's worst so far.
    pub fn offer(&mut self, kind: Kind, f: PoolForecast) {
        match self.worst.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, w)) if worse(&f, w) == Ordering::Greater => *w = f,
            Some(_) => {}
            None => self.worst.push((kind, f)),
        }
    }
}

/// Sooner full is worse, then the higher projected use, then the faster
/// pace; ties go by the judge's order of pools, so the choice does not
/// depend on hash order.
fn worse(a: &PoolForecast, b: &PoolForecast) -> Ordering {
    let soon = |f: &Forecast| f.full_in_s.map_or(f64::INFINITY, |s| s);
    let (fa, fb) = (&a.forecast, &b.forecast);
    soon(fb)
        .total_cmp(&soon(fa))
        .then(fa.projected_pct.total_cmp(&fb.projected_pct))
        .then(fa.pace.per_second.total_cmp(&fb.pace.per_second))
        .then_with(|| {
            let key = |f: &PoolForecast| {
                let fails_in = super::failure_in_ms(&f.pool, f.forecast.full_in_s);
                super::pools::badness(&f.pool, f.state, fails_in)
            };
            key(b).cmp(&key(a))
        })
}
