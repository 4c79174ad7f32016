//! What is said of the remedies: per pool advised on, a heading and a line
//! per remedy with its figures under the change, and what the change needs.

use super::{name_label, numbers, pool_label};
use crate::judge::State;
use crate::model::Pool;
use crate::remedy::{Advice, Change, Remedy};
use crate::scope::culprits::Attribution;

/// Who holds the sockets of the pools `--processes` looked at, and those
/// pools, in the same order.
pub type Holders<'a> = (&'a Attribution, &'a [&'a Pool]);

/// The lines of every pool advised on; `processes`: with `--processes`,
/// who holds each pool's sockets.
pub fn lines(advice: &[Advice], processes: Option<Holders>) -> Vec<String> {
    let mut lines = Vec::new();
    for a in advice {
        let pool = format!("{} [{}]", pool_label(&a.pool), a.state.word());
        if a.remedies.is_empty() {
            let none = if a.state >= State::Warning {
                "no change the check can compute would change its state"
            } else {
                "no change the check can compute would free ports"
            };
            lines.push(format!("remedies for {pool}: {none}"));
            continue;
        }
        lines.push(format!(
            "remedies for {pool}, each computed from the same snapshot under the change:"
        ));
        for r in &a.remedies {
            let who = processes.and_then(|p| makers(p, &a.pool));
            lines.push(format!("  {}: {}", change(r, who), figures(r)));
            if let Change::Setting {
                needs: Some(needs), ..
            } = &r.change
            {
                lines.push(format!("    {needs}"));
            }
        }
    }
    lines
}

/// `pid 412 curl (380), pid 9 wget (2)`: the biggest holders of `pool`.
fn makers((found, pools): Holders, pool: &Pool) -> Option<String> {
    let at = pools
        .iter()
        .position(|p| p.kind == pool.kind && p.name == pool.name)?;
    let holders = found.pools.get(at)?;
    let named: Vec<String> = (holders.top.iter())
        .map(|(pid, command, n)| format!("pid {pid} {} ({n})", super::clean(command)))
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
}

fn change(r: &Remedy, who: Option<String>) -> String {
    match &r.change {
        Change::Setting { what_if, .. } => what_if.clone(),
        Change::SecondSource => {
            "a second source address for this destination, every other connection from it \
             (the fuller of the two tuples)"
                .to_string()
        }
        Change::NoPort { via } => format!(
            "IP_BIND_ADDRESS_NO_PORT where programs bind this address before connecting \
             (their ports then come from the destination's pool; the fullest is {})",
            name_label(&via.name)
        ),
        Change::Reuse {
            per_second,
            time_wait,
        } => {
            let who = match who {
                Some(named) => format!("; the pool's connections are held by {named}"),
                None => "; --processes names who holds the pool".to_string(),
            };
            format!(
                "reusing connections to this destination (keep-alive, a connection pool) \
                 instead of one per request, which leave {time_wait} TIME_WAIT at {} new \
                 connections/s{who}",
                super::forecast::rate(*per_second)
            )
        }
    }
}

/// `550 of 600 free (8.3% used) [OK]; at 20 new connections/s settles at 4.0% used`.
fn figures(r: &Remedy) -> String {
    let outlook = r.forecast.as_ref().map_or(String::new(), |f| {
        format!("; {}", super::forecast::projection(f))
    });
    format!("{} [{}]{outlook}", numbers(&r.pool, "free"), r.state.word())
}
