//! `--netns` and `--all-netns`: the pipeline of [`measure`] run in every
//! namespace by a pool of threads that enter them. With `--all-netns` (and
//! not `--exact`) each namespace's own counters are read first, those that
//! cannot cross a threshold are judged by bound, and the rest are walked,
//! likeliest first (see `judge::bound` and `scope::plan`).

use std::path::Path;
use std::time::Instant;

use crate::error::{self, Result};
use crate::measure::{Measured, attribute, judge_again_with, measure};
use crate::model::Kind;
use crate::model::upstream::UpstreamModel;
use crate::options::{Config, Format};
use crate::read;
use crate::read::settings::{KernelSettings, SYSCTL_DIR};
use crate::report::{self, prometheus::Listed};
use crate::scope::Scope;
use crate::scope::plan::{Counted, Plan};
use crate::scope::sweep::{Pace, SWEEP_SHARE, Sweep, Visit};
use crate::scope::tally::Tally;
use crate::{Outcome, judge, render};

/// `--netns` and `--all-netns`: every namespace measured by a pool of
/// threads that enter them; the worst is reported in full, the others a
/// line each (see `scope::tally`).
pub(crate) fn check(config: &Config, started: Instant) -> Result<Outcome> {
    let sweep = Sweep::find(&config.netns)?;
    let all = config.netns == Scope::All;
    let (share, of) = SWEEP_SHARE;
    let pace = Pace {
        threads: config.threads,
        until: Some(started + config.timeout * share / of),
    };
    let mut tally = Tally::new(all);
    // `--what-if` judges every namespace under settings their counters
    // were not read with: no bound is taken from them.
    let bounded = all && !config.exact && config.what_if.is_empty();
    let plan = match bounded {
        true => Plan::new(&count_all(config, &sweep, pace, &mut tally)?),
        false => Plan::exact(sweep.len()),
    };
    for (index, bound) in &plan.bounded {
        if let Some(ns) = sweep.namespace(*index) {
            tally.add_bounded(*index, ns.clone(), *bound);
        }
    }
    let mut listed = Listed::new(config.format == Format::Prometheus, config.top);
    // The provider sees one VM: the upstream pools of every namespace are
    // summed and judged once, after the sweep.
    let mut upstream: Option<UpstreamModel> = None;
    let swept = sweep.visit_in(
        &plan.order,
        pace,
        |proc_net| measure(config, proc_net),
        |index, ns, visit| {
            if let Visit::Measured(m) = &visit {
                listed.offer(&ns, &m.report, &m.model);
                if let Some(up) = &m.model.upstream {
                    match upstream.as_mut() {
                        Some(sum) => sum.merge(up),
                        None => upstream = Some(up.clone()),
                    }
                }
            }
            tally.add(index, ns, visit)
        },
    )?;
    let (ns, mut m, book) = tally.finish()?;
    let summed = upstream.filter(|_| all);
    let upstream_summed = summed.is_some();
    if let Some(mut sum) = summed {
        sum.finish(None);
        judge_again_with(&mut m, sum, config);
    }
    if config.processes {
        let attributed = sweep.run_in(&ns, |proc_net| attribute(&mut m, proc_net))?;
        if attributed.is_none() {
            let remedies = report::remedies::lines(&std::mem::take(&mut m.advice), None);
            let vanished = report::namespaces::vanished_before_processes();
            m.context.add_lines(report::ALWAYS, remedies);
            m.context.add_lines(report::ALWAYS, vec![vanished]);
        }
    }
    let facts = report::sweep::Sweep {
        all,
        found: sweep.len(),
        unjudged: swept.unjudged,
        left: plan.left(swept.started),
        hidden: sweep.hidden().clone(),
        timeout: config.timeout,
        top: config.top,
    };
    let upstream_worst = m.report.worst.0.kind == Kind::Upstream;
    report::sweep::add(
        &mut m.context,
        &ns,
        &book,
        &facts,
        m.report.state,
        upstream_worst,
    );
    let listed = listed.finish(upstream_summed.then_some(&m.report));
    Ok(render(&m, config, &listed))
}

/// `--all-netns` without `--exact`: the counters of every namespace and
/// what they bound, each read inside it (microseconds, no walk); a missing
/// privilege ends the sweep, a namespace gone is skipped, and one whose
/// counters cannot be read is walked.
fn count_all(
    config: &Config,
    sweep: &Sweep,
    pace: Pace,
    tally: &mut Tally<Measured>,
) -> Result<Vec<Counted>> {
    let mut counted = vec![Counted::Unbounded; sweep.len()];
    // Out of time already: the one namespace a late sweep judges is walked.
    if pace.until.is_some_and(|until| Instant::now() >= until) {
        return Ok(counted);
    }
    let rule = judge::bound::Rule {
        selection: &config.selection,
        thresholds: &config.thresholds,
        forecast: &config.forecast,
        upstream: config.upstream.is_some(),
    };
    sweep.visit(
        pace,
        |proc_net| {
            let settings = KernelSettings::read(Path::new(SYSCTL_DIR))?;
            let Some(sockstat) = read::sockstat::Counts::read(proc_net) else {
                return Ok(None);
            };
            let netfilter = Path::new(read::conntrack::NETFILTER_DIR);
            let counters = judge::bound::Counters {
                sockstat,
                conntrack: read::conntrack::read_figures(netfilter, proc_net),
            };
            Ok(judge::bound::bound(&counters, &settings, &rule))
        },
        |index, ns, visit| {
            counted[index] = match visit {
                Visit::Measured(Some(b)) => Counted::Bounded(b),
                Visit::Measured(None) => Counted::Unbounded,
                Visit::Gone => {
                    tally.add(index, ns, Visit::Gone)?;
                    Counted::Gone
                }
                Visit::Failed(e @ error::Error::Privilege { .. }) => return Err(e),
                // Walked, where the failure is reported.
                Visit::Failed(_) => Counted::Unbounded,
            };
            Ok(())
        },
    )?;
    Ok(counted)
}
