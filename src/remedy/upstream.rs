//! Remedies for the provider NAT's pools: the same connections counted
//! against the provider's rule with more ports, or a shorter hold, and
//! judged again. The counts are the model's; only the budget changes.

use super::{Advice, Basis, Change, Remedy, judged, narrowed};
use crate::judge::Selection;
use crate::judge::{Report, State};
use crate::model::upstream::Budget;
use crate::model::{Kind, Model};

/// The most ports `--upstream-nat` takes, and so the most a remedy asks.
const MAX_PORTS: u32 = 1_000_000;
/// Cloud NAT's shorter TIME_WAIT hold (`tcpTimeWaitTimeoutSec`, the default
/// of new gateways).
const SHORT_HOLD_S: u32 = 30;

/// The advice on the worst upstream pool, when it is in alert (with `-v`,
/// also when it is not). `model` is lent: its provider budget is changed
/// and put back.
pub fn advise(basis: &Basis, model: &mut Model, report: &Report) -> Option<Advice> {
    let kind = report
        .kinds
        .iter()
        .find(|k| k.judged && k.kind == Kind::Upstream)?;
    let (target, state) = *kind.worst();
    if state < State::Warning && !basis.verbose {
        return None;
    }
    let budget = model.upstream.as_ref()?.budget.clone();
    let selection = narrowed(basis.selection, &target);
    let mut remedies = Vec::new();
    // The fewest doublings of the ports that change the state (with -v,
    // where none does, one doubling).
    let mut with_ports = |ports: u32| {
        let changed = Budget {
            ports,
            ..budget.clone()
        };
        (ports, under(basis, model, &selection, changed))
    };
    let mut found = None;
    let mut ports = budget.ports;
    while ports < MAX_PORTS && found.is_none() {
        ports = ports.saturating_mul(2).min(MAX_PORTS);
        let (ports, r) = with_ports(ports);
        if r.state < state {
            found = Some((ports, r));
        }
    }
    if found.is_none() && basis.verbose && budget.ports < MAX_PORTS {
        found = Some(with_ports(budget.ports.saturating_mul(2).min(MAX_PORTS)));
    }
    if let Some((ports, r)) = found {
        remedies.push(Remedy {
            change: Change::Setting {
                what_if: format!("upstream.ports={ports}"),
                needs: Some(
                    "the provider's setting: ports per VM (Cloud NAT's minPortsPerVm, \
                     Azure's outbound rule allocation)"
                        .into(),
                ),
            },
            ..r
        });
    }
    if budget.hold_s > SHORT_HOLD_S {
        let hold = Budget {
            hold_s: SHORT_HOLD_S,
            ..budget.clone()
        };
        let r = under(basis, model, &selection, hold);
        remedies.push(Remedy {
            change: Change::Setting {
                what_if: format!("upstream.hold={SHORT_HOLD_S}"),
                needs: Some(
                    "where the provider lets it be set (Cloud NAT's tcpTimeWaitTimeoutSec)".into(),
                ),
            },
            ..r
        });
    }
    remedies.retain(|r| r.state < state || (basis.verbose && r.pool.free > target.free));
    Some(Advice {
        pool: target,
        state,
        remedies,
    })
}

/// The pool `selection` picks, judged with the provider's rule `budget`;
/// the model's own budget is put back.
fn under(basis: &Basis, model: &mut Model, selection: &Selection, budget: Budget) -> Remedy {
    let today = model.upstream.take();
    let mut changed = today.clone();
    if let Some(up) = changed.as_mut() {
        up.budget = budget;
        up.finish(up.unseen_per_s);
    }
    model.upstream = changed;
    let (pool, state, forecast) = judged(basis, model, selection);
    model.upstream = today;
    Remedy {
        change: Change::SecondSource,
        pool,
        state,
        forecast,
    }
}
