//! Remedies: for each pool in alert, what would help and by how much.
//! Every figure is the pool re-modelled and re-judged, with the forecast,
//! from one snapshot of the socket tables under one change at a time (the
//! `--what-if` machinery): a setting (`settings`), or the records as a
//! change in the client would leave them (`clients`). A change that would
//! not change the pool's state is not offered (with `-v`, one that frees
//! ports is).
//!
//! The snapshot is a second read, made only when there is something to
//! advise, of every port from the lowest a range may start at: a wider
//! range must know the sockets and listeners outside today's. The pools it
//! judges are compared with the same snapshot under today's settings, not
//! with the first read's figures, so a change between the two reads is not
//! taken for an effect of the remedy.

use std::net::IpAddr;
use std::path::Path;

mod clients;
mod settings;
pub mod upstream;

use crate::error::Result;
use crate::forecast::{Forecast, Forecaster};
use crate::judge::forecast::ForecastRule;
use crate::judge::{Destination, Report, Selection, State, Thresholds, judge_with};
use crate::model::{Kind, Model, Pool, PoolName, PoolsBuilder};
use crate::options::{Config, Format};
use crate::read::ports::PortRange;
use crate::read::records::Records;
use crate::read::settings::KernelSettings;
use crate::read::socket::Socket;
use crate::read::{self, Request};

/// What a remedy changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A kernel setting, as `sysctl -w` takes it, and what it needs.
    Setting {
        what_if: String,
        needs: Option<String>,
    },
    /// The client spreads its connections over a second source address.
    SecondSource,
    /// The programs that bind the address before connecting set
    /// IP_BIND_ADDRESS_NO_PORT: their connections then draw from `via`,
    /// the fullest connect pool of the address.
    NoPort { via: Pool },
    /// The client reuses its connections instead of opening one per
    /// request: its TIME_WAIT entries go, and the pace that leaves them.
    Reuse { per_second: f64, time_wait: u32 },
}

/// A change and the pool under it.
#[derive(Clone, Debug, PartialEq)]
pub struct Remedy {
    pub change: Change,
    pub pool: Pool,
    pub state: State,
    pub forecast: Option<Forecast>,
}

/// The remedies of one pool, judged against the same snapshot as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Advice {
    pub pool: Pool,
    pub state: State,
    pub remedies: Vec<Remedy>,
}

/// What remedies are judged with, besides the records.
pub struct Basis<'a> {
    pub settings: &'a KernelSettings,
    pub max_tw_buckets: Option<u32>,
    /// `net.ipv4.ip_unprivileged_port_start`: a range cannot start below.
    pub unprivileged: u16,
    pub thresholds: &'a Thresholds,
    pub forecast: &'a ForecastRule,
    pub selection: &'a Selection,
    pub verbose: bool,
}

/// A range never starts below this (nor below `unprivileged`): the ports
/// under it are the well-known ones.
const LOWEST_START: u16 = 1024;

impl<'a> Basis<'a> {
    pub fn new(
        config: &'a Config,
        settings: &'a KernelSettings,
        max_tw_buckets: Option<u32>,
        unprivileged: u16,
    ) -> Basis<'a> {
        Basis {
            settings,
            max_tw_buckets,
            unprivileged,
            thresholds: &config.thresholds,
            forecast: &config.forecast,
            selection: &config.selection,
            verbose: config.verbose > 0,
        }
    }
}

/// The remedies of the pools in alert (of every kind with `-v`), for the
/// Nagios output; `None` where none are wanted. Not for a sweep of every
/// namespace, which the caller knows of.
pub fn advise_for(
    config: &Config,
    basis: &Basis,
    report: &Report,
    proc_dir: &Path,
) -> Option<Result<Vec<Advice>>> {
    let wanted = config.format == Format::Nagios
        && (basis.verbose || targets(report, false).next().is_some());
    wanted.then(|| advise(basis, report, config.backend, proc_dir))
}

/// The pools advised on: the worst of each socket kind, when in alert.
fn targets(report: &Report, all: bool) -> impl Iterator<Item = (Pool, State)> + '_ {
    let kinds = report.kinds.iter().filter(|k| k.judged);
    kinds
        .filter(|k| matches!(k.kind, Kind::Connect | Kind::Bind | Kind::Udp))
        .map(|k| *k.worst())
        .filter(move |(_, state)| all || *state >= State::Warning)
}

/// Reads the snapshot, in the calling thread's namespace, and advises on
/// the pools of `report` that need it.
pub fn advise(
    basis: &Basis,
    report: &Report,
    backend: read::Backend,
    proc_dir: &Path,
) -> Result<Vec<Advice>> {
    let floor = basis.unprivileged.max(LOWEST_START);
    let lo = floor.min(basis.settings.range.lo);
    let mut records = Records::default();
    let request = Request {
        backend,
        range: PortRange { lo, hi: u16::MAX },
        proc_dir,
    };
    read::read_tables(request, &mut records)?;
    Ok(advise_from(basis, report, &records))
}

/// The advice on the pools of `report` that need it, from `records`.
pub fn advise_from(basis: &Basis, report: &Report, records: &Records) -> Vec<Advice> {
    let floor = basis.unprivileged.max(LOWEST_START);
    let variants = settings::variants(basis.settings, floor, records);
    let models: Vec<(settings::Variant, Model)> = variants
        .into_iter()
        .map(|v| {
            let model = remodel(&v.settings, records, |s| Some(*s));
            (v, model)
        })
        .collect();
    let today = remodel(basis.settings, records, |s| Some(*s));
    let mut advice = Vec::new();
    for (target, _) in targets(report, basis.verbose) {
        let selection = narrowed(basis.selection, &target);
        let (pool, state, _) = judged(basis, &today, &selection);
        let mut remedies = Vec::new();
        for (variant, model) in &models {
            let (p, s, f) = judged(basis, model, &selection);
            remedies.push(Remedy {
                change: variant.change.clone(),
                pool: p,
                state: s,
                forecast: f,
            });
        }
        remedies.extend(clients::remedies(basis, records, &today, &pool));
        remedies.retain(|r| helps(basis.verbose, &pool, state, r));
        advice.push(Advice {
            pool,
            state,
            remedies,
        });
    }
    advice
}

/// Whether a remedy is worth a line: it changes the state, or under `-v`
/// it frees ports.
fn helps(verbose: bool, pool: &Pool, state: State, r: &Remedy) -> bool {
    r.state < state || (verbose && r.pool.free > pool.free)
}

/// The model of `records` under `settings`, each socket first passed
/// through `change`.
fn remodel(
    settings: &KernelSettings,
    records: &Records,
    change: impl FnMut(&Socket) -> Option<Socket>,
) -> Model {
    let mut builder = PoolsBuilder::new(settings);
    records.replay_with(&mut builder, change);
    builder.finish()
}

/// The worst pool `selection` picks from `model`, its state and forecast.
fn judged(basis: &Basis, model: &Model, selection: &Selection) -> (Pool, State, Option<Forecast>) {
    let forecaster = Forecaster::new(model, basis.max_tw_buckets);
    let report = judge_with(
        model,
        selection,
        basis.thresholds,
        1,
        Some((basis.forecast, &forecaster)),
    );
    let (pool, state) = report.worst;
    let forecast = report.forecasts.of(&pool).map(|f| f.forecast);
    (pool, state, forecast)
}

/// The selection that picks `pool` alone (of its kind).
fn narrowed(selection: &Selection, pool: &Pool) -> Selection {
    let mut narrowed = Selection {
        kinds: vec![pool.kind],
        ..selection.clone()
    };
    match pool.name {
        PoolName::Tuple(t) => {
            narrowed.sources = vec![t.source];
            narrowed.destinations = vec![Destination {
                addr: t.destination,
                port: Some(t.port),
            }];
        }
        PoolName::Address(a) if pool.kind == Kind::Bind => narrowed.sources = vec![a],
        _ => {}
    }
    narrowed
}

/// A source address that holds no socket: the second source of a tuple,
/// for the computation only (a documentation address, RFC 5737 and 3849).
fn spare_source(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => IpAddr::from([192, 0, 2, 1]),
        IpAddr::V6(_) => IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]),
    }
}

#[cfg(test)]
mod tests;
