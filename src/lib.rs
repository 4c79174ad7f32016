//! check_ephemeral: warns before a Linux host runs out of ephemeral ports.
//!
//! The pipeline, one folder a stage, data flowing one way:
//!
//! `options` (the plain [`Config`](options::Config)) → `read` (kernel
//! settings and socket records; the only stage that reads the system) →
//! `model` (the pools the kernel allocates from) → `forecast` (how fast
//! they fill, and the growth across runs) → `judge` (thresholds, the worst
//! pool, the state) → `report` (every line the plugin prints). `scope`
//! runs the same pipeline in other network namespaces and finds the
//! processes behind the sockets. This file wires the stages together and
//! holds nothing else.

pub mod atomic_file;
pub mod error;
pub mod forecast;
pub mod judge;
pub mod model;
pub mod options;
pub mod read;
pub mod remedy;
pub mod report;
pub mod scope;
pub mod stage;

use std::path::Path;
use std::time::Instant;

use error::Result;
use forecast::{Forecaster, trend};
use judge::State;
use model::upstream::UpstreamModel;
use model::{Kind, Model, NatBuilder, Pool, PoolsBuilder};
use options::{Config, Format};
use read::nat::{NatRead, NatRequest};
use read::procnet::PROC_NET;
use read::settings::{KernelSettings, SYSCTL_DIR};
use read::socket::Both;
use read::{ReadInfo, Request};
use report::context::{Asked, Measurement};
use report::prometheus::{Listed, Snapshot};
use report::{Context, verbose::Timings};
use scope::Scope;
use scope::plan::{Counted, Plan};
use scope::sweep::{Pace, SWEEP_SHARE, Sweep, Visit};
use scope::tally::{Judged, Tally};
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
    /// `net.ipv4.tcp_max_tw_buckets` of the namespace, for judging again.
    pub max_tw_buckets: Option<u32>,
    pub info: ReadInfo,
    pub report: judge::Report,
    pub context: Context,
    /// The remedies still to be said: with `--processes`, they are said
    /// with the processes that make the connections.
    pub advice: Vec<remedy::Advice>,
}

impl Judged for Measured {
    fn judged(&self) -> &judge::Report {
        &self.report
    }
}

/// Reads, models, forecasts and judges the tables of the network
/// namespace the calling thread is in; `proc_net` is where its /proc
/// tables are.
pub fn measure(config: &Config, proc_net: &Path) -> Result<Measured> {
    let started = Instant::now();
    stage::enter(Stage::ReadingSettings);
    let mut settings = KernelSettings::read(Path::new(SYSCTL_DIR))?;
    // `--what-if`: the same records, modelled under the changed settings.
    let unprivileged = read::settings::unprivileged_port_start(Path::new(SYSCTL_DIR));
    (config.what_if)
        .apply(&mut settings, unprivileged)
        .map_err(error::Error::Usage)?;
    let settings_time = started.elapsed();
    // The previous run (--trend), before reading: the connections it saw
    // bound explicitly still mark their ports. One state file per set of
    // measuring options; a sweep of all namespaces would share one, so it
    // keeps none.
    let recalled = (config.trend && config.netns != Scope::All)
        .then(|| trend::recall(trend::key(&config.measured())));
    let mut builder = PoolsBuilder::new(&settings);
    if let Some(r) = &recalled {
        builder.remember_bound(&r.bound);
    }
    // read, straight into the model's builders
    let mut nat_builder = NatBuilder::new(config.nat_ports);
    let mut upstream = config
        .upstream
        .as_ref()
        .filter(|_| config.selection.kinds.contains(&Kind::Upstream))
        .map(|(budget, route)| {
            let budget = config.what_if.upstream_budget(budget);
            UpstreamModel::new(budget, route.clone())
        });
    let (info, mut nat) = read_tables(
        config,
        proc_net,
        &settings,
        (&mut builder, &mut nat_builder, upstream.as_mut()),
    )?;
    if let (Some(max), Some(figures)) = (config.what_if.conntrack_max(), nat.figures.as_mut()) {
        figures.max = u64::from(max);
    }
    // model
    stage::enter(Stage::Modelling);
    let modelling = Instant::now();
    let mut model = builder.finish();
    if config.selection.kinds.contains(&Kind::Nat) {
        model.nat = nat_builder.finish_read(&nat);
    }
    if let Some(up) = upstream.as_mut() {
        let previous = recalled.as_ref().and_then(|r| r.previous.as_ref());
        let before = previous.and_then(|p| Some((p.state.opens?, p.seconds)));
        up.finish_read(&nat, read::snmp::active_opens(proc_net), before);
    }
    model.upstream = upstream;
    model.sockets_read = reads_sockets(config);
    // forecast and judge
    let max_tw_buckets =
        (config.what_if).max_tw_buckets(read::settings::max_tw_buckets(Path::new(SYSCTL_DIR)));
    let previous = recalled.as_ref().and_then(|r| r.previous.as_ref());
    let forecaster = Forecaster::new(&model, max_tw_buckets).with_previous(previous);
    let rule = Some((&config.forecast, &forecaster));
    let (selection, thresholds) = (&config.selection, &config.thresholds);
    let report = judge::judge_with(&model, selection, thresholds, config.top, rule);
    // what would help the pools in alert: the same tables re-modelled
    let basis = remedy::Basis::new(config, &settings, max_tw_buckets, unprivileged);
    let mut remedies = (config.netns != Scope::All)
        .then(|| remedy::advise_for(config, &basis, &report, proc_net))
        .flatten();
    let provider = (config.format == Format::Nagios)
        .then(|| remedy::upstream::advise(&basis, &mut model, &report))
        .flatten();
    if let Some(a) = provider {
        match remedies.as_mut() {
            Some(Ok(advice)) => advice.push(a),
            Some(Err(_)) => {}
            None => remedies = Some(Ok(vec![a])),
        }
    }
    let timings = Timings {
        settings: settings_time,
        model: modelling.elapsed(),
        total: started.elapsed(),
    };
    // keep this run for the next, and put into words what goes with the pools
    let bound = model.explicitly_bound();
    let kept = recalled.as_ref().map(|r| {
        let opens = model.upstream.as_ref().and_then(|u| u.opens());
        let not_kept = trend::keep(r, report.forecasts.pools(), bound, opens).err();
        (&r.last_run, not_kept)
    });
    let asked = Asked {
        verbose: config.verbose,
        top: config.top,
        kinds: &selection.kinds,
        forecast: &config.forecast,
        trend: config.trend,
        nat_required: config.nat_required,
    };
    let measurement = Measurement {
        settings: &settings,
        model: &model,
        info: &info,
        nat: &nat,
        judged: &report,
        timings,
        trend: kept,
    };
    let mut context = report::context::build(&asked, &measurement);
    context.scope = (!config.what_if.is_empty()).then(|| config.what_if.to_string());
    let mut kept = Vec::new();
    match remedies {
        Some(Ok(advice)) if config.processes => kept = advice,
        Some(Ok(advice)) => {
            let lines = report::remedies::lines(&advice, None);
            context.add_lines(report::ALWAYS, lines);
        }
        Some(Err(e)) => {
            let note = format!("remedies not computed: {e}");
            context.notes.push((report::ALWAYS, note));
        }
        None => {}
    }
    Ok(Measured {
        model,
        max_tw_buckets,
        info,
        report,
        context,
        advice: kept,
    })
}

/// NAT pools alone need no socket table: a node judged for NAT only
/// spends nothing on its (maybe huge) TCP table.
fn reads_sockets(config: &Config) -> bool {
    config.selection.kinds.iter().any(|k| *k != Kind::Nat)
}

/// The sinks the tables are read into: the kernel's pools, the NAT pools
/// and, with `--upstream-nat`, the provider's.
type Sinks<'a> = (
    &'a mut PoolsBuilder,
    &'a mut NatBuilder,
    Option<&'a mut UpstreamModel>,
);

/// The socket tables into the builder (and the upstream pools) and the
/// conntrack table into the NAT builder (and the upstream pools), as far
/// as the pools asked for need them.
fn read_tables(
    config: &Config,
    proc_net: &Path,
    settings: &KernelSettings,
    (builder, nat, mut upstream): Sinks,
) -> Result<(ReadInfo, NatRead)> {
    let request = Request {
        backend: config.backend,
        range: settings.range,
        proc_dir: proc_net,
    };
    let info = match (upstream.as_deref_mut(), reads_sockets(config)) {
        (Some(up), _) => read::read_tables(request, &mut Both(builder, up))?,
        (None, true) => read::read_tables(request, builder)?,
        (None, false) => ReadInfo::default(),
    };
    let nat_kind = config.selection.kinds.contains(&Kind::Nat);
    if !nat_kind && upstream.is_none() {
        return Ok((info, NatRead::default()));
    }
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
    let read = read::nat::read_nat(request, &mut |e| {
        if nat_kind {
            nat.add(e);
        }
        if let Some(up) = upstream.as_deref_mut() {
            up.conntrack_entry(e);
        }
    })?;
    Ok((info, read))
}

/// `--all-netns`: the worst namespace judged again with the upstream pools
/// of every namespace summed in place of its own, and their notes.
fn judge_again_with(m: &mut Measured, sum: UpstreamModel, config: &Config) {
    m.model.upstream = Some(sum);
    let forecaster = Forecaster::new(&m.model, m.max_tw_buckets);
    let rule = Some((&config.forecast, &forecaster));
    let (selection, thresholds) = (&config.selection, &config.thresholds);
    m.report = judge::judge_with(&m.model, selection, thresholds, config.top, rule);
    m.context.notes.retain(|(_, n)| !n.starts_with("upstream:"));
    if let Some(sum) = &m.model.upstream {
        let notes = report::upstream::notes(sum, &m.report);
        m.context.notes.extend(notes);
    }
}

/// The answer in the format asked for; `listed` are the namespaces the
/// Prometheus text lists, worst first.
fn render(measured: &Measured, config: &Config, listed: &[Snapshot]) -> Outcome {
    stage::enter(Stage::Reporting);
    let (report, model, context) = (&measured.report, &measured.model, &measured.context);
    let state = match context.unknown {
        Some(_) => State::Unknown,
        None => report.state,
    };
    let text = match config.format {
        Format::Nagios => report::render(report, model, &config.thresholds, context),
        Format::Prometheus => {
            report::prometheus::render(state, listed, &context.counts, &context.bounds)
        }
    };
    Outcome { state, text }
}

/// `--processes`: who holds the sockets of the pools the long output
/// lists; run in the namespace `measured` came from.
fn attribute(measured: &mut Measured, proc_net: &Path) -> Result<()> {
    // The pools the long output lists, with -v; else the worst of each kind.
    let listed = measured.context.top > 0 && measured.context.verbose >= report::LISTED;
    let advice = std::mem::take(&mut measured.advice);
    let pools = attributed(measured, listed);
    let wanted =
        scope::culprits::collect(&pools, &measured.model, &measured.info, listed, proc_net)?;
    let found = scope::culprits::attribute(&wanted)?;
    let remedies = report::remedies::lines(&advice, Some((&found, &pools)));
    let lines = report::processes::lines(&found, &pools);
    // Asked for: said at every verbosity.
    measured.context.add_lines(report::ALWAYS, remedies);
    measured.context.add_lines(report::ALWAYS, lines);
    Ok(())
}

/// The pools `--processes` attributes: those the long output lists, or
/// the worst of each kind.
fn attributed(measured: &Measured, listed: bool) -> Vec<&Pool> {
    let kinds = measured.report.kinds.iter();
    let shown = if listed { usize::MAX } else { 1 };
    kinds
        .flat_map(|k| k.top.iter().take(shown).map(|(pool, _)| pool))
        .collect()
}

/// `--netns` and `--all-netns`: every namespace measured by a pool of
/// threads that enter them; the worst is reported in full, the others a
/// line each (see `scope::tally`).
fn check_namespaces(config: &Config, started: Instant) -> Result<Outcome> {
    let sweep = Sweep::find(&config.netns)?;
    let all = config.netns == Scope::All;
    let (share, of) = SWEEP_SHARE;
    let pace = Pace {
        threads: config.threads,
        until: Some(started + config.timeout * share / of),
    };
    let mut tally = Tally::new(all);
    let plan = match all && !config.exact {
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
    if let Some(mut sum) = upstream.filter(|_| all) {
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
    Ok(render(&m, config, &listed.finish()))
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
