//! check_ephemeral: warns before a Linux host runs out of ephemeral ports.
//!
//! The pipeline, one folder a stage, data flowing one way:
//!
//! `options` (the plain [`Config`](options::Config)) → `read` (kernel
//! settings and socket records; the only stage that touches the system) →
//! `model` (the pools the kernel allocates from) → `judge` (thresholds, the
//! worst pool, the state) → `report` (every line the plugin prints).
//! `scope` runs the same pipeline in other network namespaces and finds the
//! processes behind the sockets. This file wires the stages together and
//! holds nothing else.

pub mod error;
mod history;
pub mod judge;
pub mod model;
pub mod options;
pub mod read;
pub mod report;
pub mod scope;
pub mod stage;

/// The scratch-directory guard of the test binaries, for the unit tests.
#[cfg(test)]
#[path = "../tests/scratch/mod.rs"]
mod scratch;

use std::path::Path;
use std::time::Instant;

use error::{Error, Result};
use judge::State;
use model::nat::DEFAULT_TIME_WAIT_S;
use model::upstream::UpstreamModel;
use model::{Kind, Model, NatBuilder, Pool, PoolsBuilder};
use options::{Config, Format};
use read::nat::{NatRead, NatRequest};
use read::procnet::PROC_NET;
use read::settings::{KernelSettings, SYSCTL_DIR};
use read::socket::Both;
use read::{ReadInfo, Request};
use report::Context;
use report::prometheus::Snapshot;
use scope::Scope;
use scope::netns::Namespace;
use scope::sweep::{Pace, SWEEP_SHARE, Sweep, Visit};
use stage::Stage;

/// The state to exit with and the text to print.
pub struct Outcome {
    pub state: State,
    pub text: String,
}

pub fn check(config: &Config) -> Result<Outcome> {
    check_from(config, Instant::now())
}

/// [`check`] for a process that started at `started`: `-t` counts from
/// there, and a namespace sweep spends only part of it.
pub fn check_from(config: &Config, started: Instant) -> Result<Outcome> {
    if config.netns != Scope::Here {
        return check_namespaces(config, started);
    }
    let proc_net = Path::new(PROC_NET);
    let mut measured = measure(config, proc_net, side_by_side(config, 1))?;
    if config.processes {
        attribute(&mut measured, proc_net)?;
    }
    let listed = [Snapshot::new(None, &measured.report, &measured.model)];
    Ok(render(&measured, config, &listed))
}

/// Whether one namespace's two TCP walks run side by side: only when
/// `--threads` asked for two or more, `namespaces` is one (a sweep's
/// threads already keep the cores busy) and the process may use two CPUs.
/// Not by default: two walks of the same table at once cost more CPU time
/// than the same walks in turn (they take the same bucket locks), and a
/// check that runs every minute on busy hosts should be light first; the
/// wall time they save matters only to a huge table near `-t`.
fn side_by_side(config: &Config, namespaces: usize) -> bool {
    namespaces == 1 && config.threads.is_some_and(|n| n > 1) && scope::sweep::usable_cpus() > 1
}

/// One namespace's tables, modelled and judged, and what the report adds.
pub struct Measured {
    pub model: Model,
    /// `net.ipv4.tcp_max_tw_buckets` of the namespace, for judging again.
    pub max_tw_buckets: Option<u32>,
    pub info: ReadInfo,
    pub report: judge::Report,
    pub context: Context,
}

/// Reads, models and judges the tables of the network namespace the
/// calling thread is in; `proc_net` is where its /proc tables are;
/// `side_by_side`: when the TCP walks may take a second thread.
pub fn measure(config: &Config, proc_net: &Path, side_by_side: bool) -> Result<Measured> {
    let started = Instant::now();
    stage::enter(Stage::ReadingSettings);
    let settings = KernelSettings::read(Path::new(SYSCTL_DIR))?;
    let settings_time = started.elapsed();
    let recalled = history::recall(config);
    let mut builder = PoolsBuilder::new(&settings);
    if let Some(r) = &recalled {
        builder.remember_bound(&r.bound);
    }
    let request = Request {
        backend: config.backend,
        range: settings.range,
        proc_dir: proc_net,
        side_by_side,
    };
    // NAT pools alone need no socket table: a node judged for NAT only
    // spends nothing on its (maybe huge) TCP table.
    let sockets = config.selection.kinds.iter().any(|k| *k != Kind::Nat);
    let mut upstream = config
        .upstream
        .as_ref()
        .filter(|_| config.selection.kinds.contains(&Kind::Upstream))
        .map(|(budget, route)| UpstreamModel::new(budget.clone(), route.clone()));
    let info = match (&mut upstream, sockets) {
        (Some(up), _) => read::read_tables(request, &mut Both(&mut builder, up))?,
        (None, true) => read::read_tables(request, &mut builder)?,
        (None, false) => ReadInfo::default(),
    };
    let mut nat_builder = NatBuilder::new(config.nat_ports);
    let nat_kind = config.selection.kinds.contains(&Kind::Nat);
    let nat = if nat_kind || upstream.is_some() {
        stage::enter(Stage::ReadingConntrack);
        let request = NatRequest {
            proc_dir: proc_net,
            required: config.nat_required,
            // The upstream pools need every entry, not those of one address.
            replies_to: match config.selection.sources.as_slice() {
                [address] if upstream.is_none() => Some(*address),
                _ => None,
            },
        };
        read::nat::read_nat(request, &mut |e| {
            if nat_kind {
                nat_builder.add(e);
            }
            if let Some(up) = upstream.as_mut() {
                up.conntrack_entry(e);
            }
        })?
    } else {
        NatRead::default()
    };
    if let Some(up) = upstream.as_mut() {
        if nat.read.is_some() {
            let figures = nat.figures.unwrap_or_default();
            up.conntrack_read(figures.time_wait_timeout_s.unwrap_or(DEFAULT_TIME_WAIT_S));
        } else {
            // Entries handed on before a failure are not to be trusted.
            up.forget_conntrack();
        }
        up.active_opens = read::snmp::active_opens(proc_net);
        let before = recalled
            .as_ref()
            .and_then(|r| r.previous.as_ref())
            .and_then(|p| Some((p.state.opens?, p.seconds)));
        // Where conntrack keeps every close, nothing is unseen to bound.
        let bound = before
            .filter(|_| !up.sees_peer_closes())
            .and_then(|(opens, seconds)| up.unseen_bound(&opens, seconds));
        up.finish(bound);
    }

    stage::enter(Stage::Modelling);
    let modelling = Instant::now();
    let mut model = builder.finish();
    model.nat = if nat_kind {
        nat_builder.finish_read(&nat)
    } else {
        None
    };
    model.upstream = upstream;
    model.sockets_read = sockets;
    let max_tw_buckets = read::settings::max_tw_buckets(Path::new(SYSCTL_DIR));
    let forecaster = model::outlook::Forecaster::new(&model, max_tw_buckets)
        .with_previous(recalled.as_ref().and_then(|r| r.previous.as_ref()));
    let report = judge::judge_with(
        &model,
        &config.selection,
        &config.thresholds,
        config.top,
        Some((&config.forecast, &forecaster)),
    );
    let timings = report::verbose::Timings {
        settings: settings_time,
        model: modelling.elapsed(),
        total: started.elapsed(),
    };
    let mut verbose_lines = report::verbose::lines(&settings, &model, &info, timings);
    verbose_lines.extend(report::forecast::lines(&report));
    let mut notes = report::verbose::notes(&model, &info, &config.selection.kinds);
    notes.extend(report::forecast::bound_before_note(
        model.totals.bound_time_wait,
    ));
    if config.forecast.enabled {
        notes.extend(report::forecast::bound_time_wait_note(
            model.bind_marked(),
            model.totals.time_wait,
        ));
    }
    if let Some(r) = &recalled {
        let kept = history::keep(r, &report, &model);
        notes.push(report::forecast::trend_note(
            &r.history,
            kept.err(),
            config.forecast.enabled,
        ));
    } else if config.trend {
        notes.push(report::forecast::trend_not_across_namespaces());
    }
    let mut context = Context {
        verbose: config.verbose,
        top: config.top,
        notes,
        verbose_lines,
        full_in: (
            config.forecast.full_in_warning.clone(),
            config.forecast.full_in_critical.clone(),
        ),
        ..Context::default()
    };
    context
        .notes
        .extend(nat.unread.as_ref().map(report::verbose::nat_note));
    context
        .notes
        .extend(model.nat.as_ref().and_then(report::verbose::stray_note));
    if let Some(up) = &model.upstream {
        context.notes.extend(report::upstream::notes(up));
    }
    if let (Some(read), Some(nat)) = (&nat.read, &model.nat) {
        context
            .verbose_lines
            .push((1, report::verbose::conntrack(read, nat)));
    }
    Ok(Measured {
        model,
        max_tw_buckets,
        info,
        report,
        context,
    })
}

/// `--all-netns`: the worst namespace judged again with the upstream pools
/// of every namespace summed in place of its own, and their notes.
fn judge_again_with(m: &mut Measured, sum: UpstreamModel, config: &Config) {
    m.context.notes.retain(|n| !n.starts_with("upstream:"));
    m.context.notes.extend(report::upstream::notes(&sum));
    m.model.upstream = Some(sum);
    let forecaster = model::outlook::Forecaster::new(&m.model, m.max_tw_buckets);
    m.report = judge::judge_with(
        &m.model,
        &config.selection,
        &config.thresholds,
        config.top,
        Some((&config.forecast, &forecaster)),
    );
}

/// The answer in the format asked for; `listed` are the namespaces the
/// Prometheus text lists, worst first.
fn render(measured: &Measured, config: &Config, listed: &[Snapshot]) -> Outcome {
    stage::enter(Stage::Reporting);
    let state = match measured.context.unknown {
        Some(_) => State::Unknown,
        None => measured.report.state,
    };
    let text = match config.format {
        Format::Nagios => report::render(
            &measured.report,
            &measured.model,
            &config.thresholds,
            &measured.context,
        ),
        Format::Prometheus => report::prometheus::render(state, listed, &measured.context.counts),
    };
    Outcome { state, text }
}

/// `--processes`: who holds the sockets of the pools the report names; run
/// in the namespace `measured` came from.
fn attribute(measured: &mut Measured, proc_net: &Path) -> Result<()> {
    let pools = attributed(measured);
    let listed = measured.context.top > 0;
    let wanted =
        scope::culprits::collect(&pools, &measured.model, &measured.info, listed, proc_net)?;
    let found = scope::culprits::attribute(&wanted)?;
    let lines = report::processes::lines(&found, &pools);
    measured.context.add_lines(lines);
    Ok(())
}

/// The pools `--processes` attributes: those the long output lists.
fn attributed(measured: &Measured) -> Vec<&Pool> {
    let kinds = measured.report.kinds.iter();
    kinds
        .flat_map(|k| k.top.iter().map(|(pool, _)| pool))
        .collect()
}

/// `--netns` and `--all-netns`: every namespace measured by a pool of
/// threads that enter them; the worst is reported in full, the others a
/// line each. Only the worst namespace's model is kept, so memory stays
/// that of a few namespaces however many the host has. Ties go to the
/// namespace found first, and lists are in the order found within a rank,
/// so the answer does not depend on which thread finished first.
fn check_namespaces(config: &Config, started: Instant) -> Result<Outcome> {
    let sweep = Sweep::find(&config.netns)?;
    let all = config.netns == Scope::All;
    let (share, of) = SWEEP_SHARE;
    let pace = Pace {
        threads: config.threads,
        until: Some(started + config.timeout * share / of),
    };
    let mut worst: Option<(usize, Namespace, Measured)> = None;
    let mut judged: Vec<(judge::Rank, usize, String)> = Vec::new();
    let mut skipped = Vec::new();
    let mut failed: Vec<(usize, Namespace, Error)> = Vec::new();
    // The namespaces the Prometheus text lists: the worst `top`, kept in
    // bounded memory (a judged report is small; the model is not kept).
    let prometheus = config.format == Format::Prometheus;
    let keep = config.top.max(1);
    let mut listed: Vec<(judge::Rank, String, Snapshot)> = Vec::new();
    // The provider sees one VM: the upstream pools of every namespace are
    // summed and judged once, after the sweep.
    let mut upstream: Option<UpstreamModel> = None;
    let swept = sweep.visit(
        pace,
        |proc_net| measure(config, proc_net, side_by_side(config, sweep.len())),
        |index, ns, visit| {
            match visit {
                Visit::Measured(m) => {
                    if let Some(up) = &m.model.upstream {
                        match upstream.as_mut() {
                            Some(sum) => sum.merge(up),
                            None => upstream = Some(up.clone()),
                        }
                    }
                    let (pool, state) = &m.report.worst;
                    let rank = judge::rank(&m.report);
                    let line = report::namespaces::judged(&ns, *state, pool);
                    judged.push((rank, index, line));
                    if prometheus {
                        let label = report::namespaces::metric_label(&ns);
                        let snapshot = Snapshot::new(Some(label.clone()), &m.report, &m.model);
                        listed.push((rank, label, snapshot));
                        if listed.len() >= 2 * keep {
                            judge::worst_first(&mut listed, keep);
                        }
                    }
                    let better = |(i, _, w): &(usize, Namespace, Measured)| {
                        let theirs = judge::rank(&w.report);
                        rank > theirs || (rank == theirs && index < *i)
                    };
                    if worst.as_ref().is_none_or(better) {
                        worst = Some((index, ns, m));
                    }
                }
                Visit::Gone if all => skipped.push((index, ns)),
                Visit::Gone => {
                    return Err(Error::Namespace {
                        path: ns.path,
                        reason: "it disappeared while the check ran".into(),
                    });
                }
                Visit::Failed(e @ Error::Privilege { .. }) => return Err(e),
                Visit::Failed(e) if all => {
                    let line = report::namespaces::failed(&ns, &e);
                    judged.push((judge::Rank::unreadable(), index, line));
                    failed.push((index, ns, e));
                }
                Visit::Failed(e) => return Err(e),
            }
            Ok(())
        },
    )?;
    skipped.sort_by_key(|(index, _)| *index);
    failed.sort_by_key(|(index, _, _)| *index);
    let Some((_, ns, mut m)) = worst else {
        return Err(match failed.into_iter().next() {
            Some((_, _, e)) => e,
            None => Error::Namespace {
                path: scope::netns::NAMED_DIR.into(),
                reason:
                    "no network namespace could be read: every one disappeared while the check ran"
                        .into(),
            },
        });
    };

    if let Some(mut sum) = upstream.filter(|_| all) {
        sum.finish(None);
        judge_again_with(&mut m, sum, config);
    }

    if config.processes {
        let attributed = sweep.run_in(&ns, |proc_net| attribute(&mut m, proc_net))?;
        if attributed.is_none() {
            m.context
                .add_lines(vec![report::namespaces::vanished_before_processes()]);
        }
    }

    let mut lines = Vec::new();
    if all {
        judged.sort_by_key(|(rank, index, _)| (std::cmp::Reverse(*rank), *index));
        let count = |s: State| judged.iter().filter(|(r, _, _)| r.state() == s).count();
        let states = [State::Critical, State::Warning, State::Unknown, State::Ok].map(count);
        let shown = config.top.min(judged.len());
        lines.push(report::namespaces::heading(
            states,
            judged.len(),
            skipped.len(),
            swept.unjudged,
            shown,
        ));
        lines.extend(judged.iter().take(shown).map(|(_, _, line)| line.clone()));
        lines.extend(
            skipped
                .iter()
                .map(|(_, ns)| report::namespaces::skipped(ns)),
        );
        if swept.unjudged > 0 {
            lines.push(report::namespaces::unjudged(
                swept.unjudged,
                sweep.len(),
                config.timeout,
            ));
        }
        if sweep.hidden() > 0 {
            lines.push(report::namespaces::hidden(
                sweep.hidden(),
                scope::procfs::Capabilities::effective(),
            ));
        }
        let [critical, warning, unknown, _] = states;
        m.context.counts = vec![
            ("netns", judged.len() as u64),
            ("netns_critical", critical as u64),
            ("netns_warning", warning as u64),
            ("netns_unknown", unknown as u64),
            ("netns_skipped", skipped.len() as u64),
            ("netns_unjudged", swept.unjudged as u64),
        ];
    } else {
        lines.push(report::namespaces::entered(&ns));
    }
    m.context.add_lines(lines);
    judge::worst_first(&mut listed, keep);
    let listed: Vec<Snapshot> = listed.into_iter().map(|(_, _, s)| s).collect();
    m.context.scope = Some(if m.report.worst.0.kind == Kind::Upstream && all {
        // Every namespace's connections spend the one budget.
        format!("{} namespaces", judged.len())
    } else {
        report::namespaces::scope(&ns, swept.unjudged, sweep.len())
    });
    // A namespace that could not be read, or one not judged at all,
    // outranks one that is fine: a partial sweep is never an OK.
    if m.report.state < State::Unknown {
        if swept.unjudged > 0 {
            m.context.unknown = Some(report::namespaces::partial(
                swept.unjudged,
                sweep.len(),
                config.timeout,
            ));
        } else if let Some((_, bad, e)) = failed.first() {
            m.context.unknown = Some(report::namespaces::unreadable(bad, e));
        }
    }
    Ok(render(&m, config, &listed))
}
