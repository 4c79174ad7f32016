//! What is said of the forecast: the words on the status line when the
//! forecast decides the state, the pace and projection of each listed
//! pool, what the estimator saw (`-vv`), and the perfdata `connect_rate`,
//! `connect_forecast_pct`, `connect_full_s` (and `bind_`, `nat_` alike) of the pool
//! whose forecast is worst.

use super::{Perfdata, Value, pool_label};
use crate::forecast::trend::state::Refused;
use crate::forecast::trend::{LastRun, MAX_AGE_MS};
use crate::forecast::{Forecast, Seen};
use crate::judge::Report;
use crate::judge::forecast::PoolForecast;
use crate::judge::range::Range;
use crate::model::Kind;

/// `; at 20 new connections/s full in 20 s`, when the forecast decided
/// the state of the pool the status line names.
pub fn status_suffix(report: &Report) -> Option<String> {
    let f = report.forecasts.of(&report.worst.0)?;
    f.decided()
        .then(|| format!("; {}", projection(&f.forecast)))
}

/// `at 20 new connections/s full in 20 s`, or `... settles at 80% used`.
fn projection(f: &Forecast) -> String {
    let pace = match f.growth_per_s {
        Some(g) if g > 0.0 && f.pace.per_second <= 0.0 => {
            format!("growing {} open connections/s", rate(g))
        }
        Some(g) if g > 0.0 => format!(
            "at {} new connections/s and {} more open/s",
            rate(f.pace.per_second),
            rate(g)
        ),
        _ => format!("at {} new connections/s", rate(f.pace.per_second)),
    };
    match f.full_in_s {
        Some(s) if s <= 0.0 => format!("{pace} full now"),
        Some(s) => format!("{pace} full in {}", seconds(s)),
        None => format!("{pace} settles at {:.1}% used", f.projected_pct),
    }
}

/// The `--trend` note: what the previous run gave, and whether this one
/// could be kept.
pub fn trend_note(last_run: &LastRun, not_kept: Option<String>, growth_judged: bool) -> String {
    let seen = match last_run {
        LastRun::Fresh => "no history yet: growth is known from the next run on".to_string(),
        LastRun::Seen { seconds } => format!(
            "growth of open connections since the previous run {} ago",
            self::seconds(*seconds)
        ),
        LastRun::Refused(why) => format!(
            "no history: the state file {}; starting afresh",
            match why {
                Refused::Foreign => "is of another format or version",
                Refused::OtherOptions => "was written for other options",
                Refused::Corrupt { .. } => "is corrupt",
                Refused::TooLarge => "is too large",
            }
        ),
        LastRun::TooOld { seconds } if *seconds < 0.0 => {
            "no history: the previous run is dated in the future".to_string()
        }
        LastRun::TooOld { seconds } => format!(
            "no history: the previous run was {} ago, more than {} min",
            self::seconds(*seconds),
            MAX_AGE_MS / 60_000
        ),
        LastRun::TooSoon => "no history: the previous run was less than a second ago".to_string(),
        LastRun::Unreadable(why) => format!("no history: {}", super::clean(why)),
    };
    // With --no-forecast the level alone is judged: the state is still
    // kept (its explicitly bound connections count for the level), but a
    // growth is not judged, and the note must not suggest it is.
    let seen = if growth_judged {
        seen
    } else {
        format!("{seen}; growth is not judged with --no-forecast")
    };
    match not_kept {
        None => format!("trend: {seen}"),
        Some(why) => format!(
            "trend: {seen}; this run could not be kept: {}",
            super::clean(&why)
        ),
    }
}

/// Where ports are bound explicitly on this host, a TIME_WAIT may have
/// come from such a socket: it keeps its port from every tuple, though
/// sock_diag shows it as automatically bound (README, Limitations).
pub fn bound_time_wait_note(bind_marked: u32, time_wait: u64) -> Option<String> {
    (bind_marked > 0 && time_wait > 0).then(|| {
        format!(
            "the {time_wait} TIME_WAIT entries count only in their own tuple; one left by a connection \
             whose program picked its local address and port before connecting also keeps that port from \
             every other tuple until it ends"
        )
    })
}

/// `--trend`: TIME_WAIT entries counted as marks because the previous run
/// saw their connections bound explicitly.
pub fn bound_before_note(count: u64) -> Option<String> {
    (count > 0).then(|| {
        format!(
            "{count} TIME_WAIT entries are connections the previous run saw bound to an explicit \
             port: their ports count as marked for every tuple"
        )
    })
}

/// `--trend` with `--all-netns`.
pub fn trend_not_across_namespaces() -> String {
    "trend: --trend keeps no state across --all-netns (one namespace at a time only)".to_string()
}

/// The long-output line under a listed pool.
pub fn pool_line(f: &PoolForecast) -> String {
    let mark = if f.decided() {
        format!(" [{} by forecast]", f.state.word())
    } else {
        String::new()
    };
    let growth = match f.forecast.growth_per_s {
        Some(g) if g != 0.0 => format!("; {g:+.2} open connections/s since the previous run"),
        _ => String::new(),
    };
    if f.forecast.pace.per_second <= 0.0 && !f.decided() && growth.is_empty() {
        return "    forecast: no new connections seen".to_string();
    }
    format!(
        "    forecast: {}; projected {:.1}% of capacity{growth}{mark}",
        projection(&f.forecast),
        f.forecast.projected_pct
    )
}

/// `-vvv`: what the estimator saw for the worst forecast of each kind.
pub fn lines(report: &Report) -> Vec<(u8, String)> {
    report
        .forecasts
        .worst
        .iter()
        .map(|(_, f)| {
            (
                super::DETAIL,
                format!(
                    "pace of {}: {}",
                    pool_label(&f.pool),
                    seen(&f.forecast.pace.seen, f.forecast.pace.per_second)
                ),
            )
        })
        .collect()
}

fn seen(s: &Seen, per_second: f64) -> String {
    let r = rate(per_second);
    match *s {
        Seen::Nothing => "no TIME_WAIT entry holds a port of the pool: no pace seen".into(),
        Seen::Ended { count, quiet_s } => format!(
            "{count} closes in the last minute, none for {quiet_s} s: a burst that has ended, pace 0"
        ),
        Seen::Sustained { span_s } => {
            format!("about the same rate over the last {span_s} s: a sustained pace of {r}/s")
        }
        Seen::Started { ago_s } => {
            format!("nothing older than {ago_s} s: a pace that started then, {r}/s since")
        }
        Seen::Changed {
            recent,
            older,
            rising,
        } => format!(
            "{} in the last 10 s against {} before: a {} pace, {r}/s",
            rate(recent),
            rate(older),
            if rising { "rising" } else { "falling" }
        ),
        Seen::Short { span_s } => {
            format!("{r}/s over the {span_s} s that entries block the pool")
        }
    }
}

fn rate(r: f64) -> String {
    if r >= 10.0 || r == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{:.0} s", s.ceil())
    } else if s < 7200.0 {
        format!("{:.0} min", (s / 60.0).round())
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The forecast perfdata of each kind that has one.
pub fn perfdata<'a>(
    report: &Report,
    full_in: (Option<&'a Range>, Option<&'a Range>),
) -> Vec<Perfdata<'a>> {
    let mut perf = Vec::new();
    for (kind, rate_label, pct_label, full_label) in [
        (
            Kind::Connect,
            "connect_rate",
            "connect_forecast_pct",
            "connect_full_s",
        ),
        (Kind::Bind, "bind_rate", "bind_forecast_pct", "bind_full_s"),
        (Kind::Nat, "nat_rate", "nat_forecast_pct", "nat_full_s"),
        (
            Kind::Upstream,
            "upstream_rate",
            "upstream_forecast_pct",
            "upstream_full_s",
        ),
    ] {
        let Some(f) = report.forecasts.worst_of(kind) else {
            continue;
        };
        let f = &f.forecast;
        let plain = |label, value, uom| Perfdata {
            label,
            value,
            uom,
            warn: None,
            crit: None,
            min: Some(0),
            max: None,
        };
        perf.push(plain(rate_label, Value::Real(f.pace.per_second), ""));
        perf.push(plain(pct_label, Value::Real(f.projected_pct), "%"));
        if let Some(s) = f.full_in_s {
            perf.push(Perfdata {
                warn: full_in.0,
                crit: full_in.1,
                ..plain(full_label, Value::Real(s), "s")
            });
        }
    }
    perf
}
