//! The long output's pools: with `-v` the `--top` worst of each kind
//! under a heading per kind, at the default verbosity only those that are
//! not OK, each named in full; and the conntrack table's line.

use std::fmt::Write as _;

use super::{Context, LISTED, forecast, name_label, numbers, pool_label, table_numbers};
use crate::judge::forecast::PoolForecast;
use crate::judge::{KindReport, Report, State, TableReport};
use crate::model::{Kind, Pool};

/// The pool lines `context` asks for (none with `--top 0`).
pub fn write(out: &mut String, report: &Report, context: &Context) {
    if context.top > 0 && context.verbose >= LISTED {
        for k in &report.kinds {
            write_kind(out, k, report);
        }
        if let Some(t) = &report.conntrack {
            write_table(out, t);
        }
    } else if context.top > 0 {
        // Only what is not OK, each pool named in full.
        for k in report.kinds.iter().filter(|k| k.judged) {
            for (pool, state) in k.top.iter().filter(|(_, s)| *s != State::Ok) {
                write_pool(out, &pool_label(pool), pool, *state);
                // Its forecast where there is one to tell.
                let moving = |f: &&PoolForecast| f.forecast.pace.per_second > 0.0 || f.decided();
                if let Some(f) = report.forecasts.of(pool).filter(moving) {
                    let _ = writeln!(out, "{}", forecast::pool_line(f));
                }
            }
        }
        if let Some(t) = report.conntrack.as_ref().filter(|t| t.state != State::Ok) {
            write_table(out, t);
        }
    }
}

fn write_kind(out: &mut String, k: &KindReport, report: &Report) {
    let what = match (k.kind, k.pools) {
        (Kind::Connect | Kind::Nat, 1) => "tuple",
        (Kind::Connect | Kind::Nat, _) => "tuples",
        (Kind::Upstream, 1) => "destination",
        (Kind::Upstream, _) => "destinations",
        (_, 1) => "address",
        (_, _) => "addresses",
    };
    let judged = if k.judged { "" } else { ", not judged" };
    let _ = writeln!(
        out,
        "{} pools: {} {what}{judged}; worst {}:",
        k.kind.name(),
        k.pools,
        k.top.len()
    );
    for (pool, state) in &k.top {
        write_pool(out, &format!("  {}", name_label(&pool.name)), pool, *state);
        if let Some(f) = report.forecasts.of(pool) {
            let _ = writeln!(out, "{}", forecast::pool_line(f));
        }
    }
}

/// A pool's line, after `label`, and its forecast's under it.
fn write_pool(out: &mut String, label: &str, pool: &Pool, state: State) {
    let mark = match state {
        State::Ok => "",
        State::Warning => " [WARNING]",
        State::Critical => " [CRITICAL]",
        State::Unknown => " [UNKNOWN]",
    };
    let c = &pool.counts;
    let reusable = if pool.kind == Kind::Connect {
        format!(" ({} reusable)", c.time_wait_reusable)
    } else {
        String::new()
    };
    // Where the kernel's search is bounded, free ports do not promise
    // a connection: say how likely one fails now.
    let search = match pool.fail_ppm {
        Some(ppm) if pool.capacity > 128 && ppm > 0 => {
            format!("; a new connection fails with chance {}", chance(ppm))
        }
        _ => String::new(),
    };
    let detail = if pool.kind == Kind::Upstream {
        format!(
            "{} open, {} closed within the hold, {} more closes inferred",
            c.established, c.time_wait, c.other
        )
    } else {
        format!(
            "{} established, {} TIME_WAIT{reusable}, {} other{search}",
            c.established, c.time_wait, c.other
        )
    };
    let _ = writeln!(out, "{label}: {}{mark}; {detail}", numbers(pool, "free"));
}

fn write_table(out: &mut String, t: &TableReport) {
    let f = &t.figures;
    let mark = match t.state {
        State::Ok => "",
        State::Warning => " [WARNING]",
        State::Critical => " [CRITICAL]",
        State::Unknown => " [UNKNOWN]",
    };
    let _ = writeln!(
        out,
        "conntrack table: {}{mark}; so far {} entries not inserted, {} packets dropped, {} entries evicted early",
        table_numbers(t),
        f.insert_failed,
        f.drop,
        f.early_drop
    );
}

/// A chance in parts per million as a short percentage: `37.1%`, `<0.1%`.
fn chance(ppm: u32) -> String {
    match ppm {
        0 => "0%".to_string(),
        1..=999 => "<0.1%".to_string(),
        _ => format!("{:.1}%", f64::from(ppm) / 1e4),
    }
}
