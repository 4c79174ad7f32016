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
pub mod judge;
pub mod model;
pub mod options;
pub mod read;
pub mod report;
pub mod scope;
pub mod stage;

use std::path::Path;
use std::time::Instant;

use error::{Error, Result};
use judge::State;
use model::{Model, Pool, PoolsBuilder};
use options::{Config, Format};
use read::procnet::PROC_NET;
use read::settings::{KernelSettings, SYSCTL_DIR};
use read::{ReadInfo, Request};
use report::Context;
use report::prometheus::Snapshot;
use scope::Scope;
use scope::netns::Namespace;
use scope::sweep::{Sweep, Visit};
use stage::Stage;

/// The state to exit with and the text to print.
pub struct Outcome {
    pub state: State,
    pub text: String,
}

pub fn check(config: &Config) -> Result<Outcome> {
    if config.netns != Scope::Here {
        return check_namespaces(config);
    }
    let proc_net = Path::new(PROC_NET);
    let mut measured = measure(config, proc_net)?;
    if config.processes {
        attribute(&mut measured, proc_net)?;
    }
    let listed = [Snapshot::new(None, &measured.report, &measured.model)];
    Ok(render(&measured, config, &listed))
}

/// One namespace's tables, modelled and judged, and what the report adds.
pub struct Measured {
    pub model: Model,
    pub info: ReadInfo,
    pub report: judge::Report,
    pub context: Context,
}

/// Reads, models and judges the tables of the network namespace the
/// calling thread is in; `proc_net` is where its /proc tables are.
pub fn measure(config: &Config, proc_net: &Path) -> Result<Measured> {
    let started = Instant::now();
    stage::enter(Stage::ReadingSettings);
    let settings = KernelSettings::read(Path::new(SYSCTL_DIR))?;
    let settings_time = started.elapsed();

    let mut builder = PoolsBuilder::new(&settings);
    let request = Request {
        backend: config.backend,
        range: settings.range,
        proc_dir: proc_net,
    };
    let info = read::read_tables(request, &mut builder)?;

    stage::enter(Stage::Modelling);
    let modelling = Instant::now();
    let model = builder.finish();
    let report = judge::judge(&model, &config.selection, &config.thresholds, config.top);
    let timings = report::verbose::Timings {
        settings: settings_time,
        model: modelling.elapsed(),
        total: started.elapsed(),
    };
    let context = Context {
        verbose: config.verbose,
        top: config.top,
        notes: report::verbose::notes(&model, &info, &config.selection.kinds),
        verbose_lines: report::verbose::lines(&settings, &model, &info, timings),
        ..Context::default()
    };
    Ok(Measured {
        model,
        info,
        report,
        context,
    })
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
        Format::Prometheus => report::prometheus::render(state, listed),
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

/// `--netns` and `--all-netns`: every namespace measured from a thread
/// inside it; the worst is reported in full, the others a line each. Only
/// the worst namespace's model is kept, so memory stays that of one
/// namespace however many the host has.
fn check_namespaces(config: &Config) -> Result<Outcome> {
    let sweep = Sweep::find(&config.netns)?;
    let all = config.netns == Scope::All;
    let mut worst: Option<(Namespace, Measured)> = None;
    let mut judged: Vec<(judge::Rank, String)> = Vec::new();
    let mut skipped = Vec::new();
    let mut failed: Vec<(Namespace, Error)> = Vec::new();
    // The namespaces the Prometheus text lists: the worst `top`, kept in
    // bounded memory (a judged report is small; the model is not kept).
    let prometheus = config.format == Format::Prometheus;
    let keep = config.top.max(1);
    let mut listed: Vec<(judge::Rank, Snapshot)> = Vec::new();
    sweep.visit(
        |proc_net| measure(config, proc_net),
        |ns, visit| {
            match visit {
                Visit::Measured(m) => {
                    let (pool, state) = &m.report.worst;
                    let rank = judge::rank(&m.report);
                    judged.push((rank, report::namespaces::judged(&ns, *state, pool)));
                    if prometheus {
                        let label = report::namespaces::metric_label(&ns);
                        listed.push((rank, Snapshot::new(Some(label), &m.report, &m.model)));
                        if listed.len() >= 2 * keep {
                            worst_first(&mut listed, keep);
                        }
                    }
                    if worst
                        .as_ref()
                        .is_none_or(|(_, w)| rank > judge::rank(&w.report))
                    {
                        worst = Some((ns, m));
                    }
                }
                Visit::Gone if all => skipped.push(ns),
                Visit::Gone => {
                    return Err(Error::Namespace {
                        path: ns.path,
                        reason: "it disappeared while the check ran".into(),
                    });
                }
                Visit::Failed(e @ Error::Privilege { .. }) => return Err(e),
                Visit::Failed(e) if all => {
                    judged.push((
                        judge::Rank::unreadable(),
                        report::namespaces::failed(&ns, &e),
                    ));
                    failed.push((ns, e));
                }
                Visit::Failed(e) => return Err(e),
            }
            Ok(())
        },
    )?;
    let Some((ns, mut m)) = worst else {
        return Err(match failed.into_iter().next() {
            Some((_, e)) => e,
            None => Error::Namespace {
                path: scope::netns::NAMED_DIR.into(),
                reason:
                    "no network namespace could be read: every one disappeared while the check ran"
                        .into(),
            },
        });
    };

    if config.processes {
        let attributed = sweep.run_in(&ns, |proc_net| attribute(&mut m, proc_net))?;
        if attributed.is_none() {
            m.context
                .add_lines(vec![report::namespaces::vanished_before_processes()]);
        }
    }

    let mut lines = Vec::new();
    if all {
        judged.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
        let count = |s: State| judged.iter().filter(|(r, _)| r.state() == s).count();
        let states = [State::Critical, State::Warning, State::Unknown, State::Ok].map(count);
        let shown = config.top.min(judged.len());
        lines.push(report::namespaces::heading(
            states,
            judged.len(),
            skipped.len(),
            shown,
        ));
        lines.extend(judged.iter().take(shown).map(|(_, line)| line.clone()));
        lines.extend(skipped.iter().map(report::namespaces::skipped));
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
        ];
    } else {
        lines.push(report::namespaces::entered(&ns));
    }
    m.context.add_lines(lines);
    m.context.scope = Some(format!("netns {}", report::namespaces::label(&ns)));
    worst_first(&mut listed, keep);
    let listed: Vec<Snapshot> = listed.into_iter().map(|(_, s)| s).collect();
    // A namespace that could not be read outranks one that is fine.
    if let Some((bad, e)) = failed.first()
        && m.report.state < State::Unknown
    {
        m.context.unknown = Some(report::namespaces::unreadable(bad, e));
    }
    Ok(render(&m, config, &listed))
}

/// Sorts worst first (a stable sort: ties keep the order they were
/// judged in) and keeps `n`.
fn worst_first<T>(ranked: &mut Vec<(judge::Rank, T)>, n: usize) {
    ranked.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
    ranked.truncate(n);
}
