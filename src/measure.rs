//! One namespace's pipeline: read its settings and tables straight into
//! the model's builders, forecast, judge, and put into words what goes
//! with the pools (notes, verbose lines, remedies); `--processes` names
//! who holds them.

use std::path::Path;
use std::time::Instant;

use crate::error::{self, Result};
use crate::forecast::{Forecaster, trend};
use crate::judge;
use crate::model::upstream::UpstreamModel;
use crate::model::{Kind, Model, NatBuilder, Pool, PoolsBuilder};
use crate::options::{Config, Format};
use crate::read::nat::{NatRead, NatRequest};
use crate::read::settings::{KernelSettings, SYSCTL_DIR};
use crate::read::socket::Both;
use crate::read::{self, ReadInfo, Request};
use crate::remedy;
use crate::report::context::{Asked, Measurement};
use crate::report::{self, Context, verbose::Timings};
use crate::scope::procfs::{CAP_NET_ADMIN, Capabilities};
use crate::scope::tally::Judged;
use crate::scope::{self, Scope};
use crate::stage::{self, Stage};

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
        may_dump: Capabilities::effective().is_none_or(|set| set.has(CAP_NET_ADMIN)),
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
pub(crate) fn judge_again_with(m: &mut Measured, sum: UpstreamModel, config: &Config) {
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

/// `--processes`: who holds the sockets of the pools the long output
/// lists; run in the namespace `measured` came from.
pub(crate) fn attribute(measured: &mut Measured, proc_net: &Path) -> Result<()> {
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
