//! What is said of the remedies: per pool advised on, a heading and a line
//! per remedy with its figures under the change, and what the change needs.

use super::{name_label, numbers, pool_label};
use crate::judge::State;
use crate::remedy::{Advice, Change, Remedy};

/// The lines of every pool advised on; `processes`: `--processes` names
/// who holds each listed pool's sockets (below).
pub fn lines(advice: &[Advice], processes: bool) -> Vec<String> {
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
            lines.push(format!("  {}: {}", change(r, processes), figures(r)));
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

fn change(r: &Remedy, processes: bool) -> String {
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
            let who = if processes {
                "; the processes holding the pool are listed below"
            } else {
                "; --processes names who holds the pool"
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
