//! What the Prometheus text says: the metric families, declared once as
//! tables. [`POOL_FIGURES`] holds the per-pool figures (a new optional
//! figure is one more row whose value is `None` where it is not defined),
//! [`host_figures`] the per-namespace ones, [`COUNTS`] those of a sweep of
//! namespaces. How they are written is `mod.rs`'s business.

use crate::judge::Report;
use crate::model::{Model, Pool};

/// The figures of a namespace as a whole, taken from the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Host {
    pub capacity: u64,
    /// The figures of the socket table; `None` when none was read
    /// (`--pools nat` alone), so that no zero stands for "not looked at".
    pub sockets: Option<SocketFigures>,
}

/// What the socket table gave, for the namespace as a whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketFigures {
    pub bind_marked: u64,
    pub tuples: u64,
    pub sockets: u64,
    pub time_wait: u64,
    pub time_wait_reusable: u64,
}

impl Host {
    pub fn of(model: &Model) -> Host {
        let t = &model.totals;
        Host {
            capacity: u64::from(model.candidate_count()),
            sockets: model.sockets_read.then(|| SocketFigures {
                bind_marked: u64::from(model.bind_marked()),
                tuples: model.tuple_count() as u64,
                sockets: t.sockets,
                time_wait: t.time_wait,
                time_wait_reusable: t.time_wait_reusable,
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Type {
    Gauge,
    Counter,
}

impl Type {
    pub(super) fn name(self) -> &'static str {
        match self {
            Type::Gauge => "gauge",
            Type::Counter => "counter",
        }
    }
}

/// A per-pool figure: its metric, and its value for a pool of the report
/// where defined (a figure the report keeps beside the pools, such as a
/// forecast, is looked up there).
pub(super) struct PoolFigure {
    pub name: &'static str,
    pub help: &'static str,
    pub value: fn(&Report, &Pool) -> Option<f64>,
}

pub(super) const POOL_FIGURES: &[PoolFigure] = &[
    PoolFigure {
        name: "ephemeral_pool_free_ports",
        help: "Ports a new caller of the pool is sure to get now.",
        value: |_, p| Some(f64::from(p.free)),
    },
    PoolFigure {
        name: "ephemeral_pool_capacity_ports",
        help: "Ports a caller of the pool can get when nothing else holds any.",
        value: |_, p| Some(f64::from(p.capacity)),
    },
    PoolFigure {
        name: "ephemeral_pool_used_ratio",
        help: "Used share of the pool's capacity, 0 to 1 (1 when it has no capacity at all).",
        value: |_, p| Some(used_ratio(p)),
    },
    // The forecast's figures, for the pools it was judged for.
    PoolFigure {
        name: "ephemeral_pool_new_connections_per_second",
        help: "Pace of new connections the forecast reads from the pool's TIME_WAIT ages.",
        value: |r, p| Some(r.forecasts.of(p)?.forecast.pace.per_second),
    },
    PoolFigure {
        name: "ephemeral_pool_projected_used_ratio",
        help: "Used share the pool settles at at this pace, 0 to 1 (1 when it fills).",
        value: |r, p| Some((r.forecasts.of(p)?.forecast.projected_pct / 100.0).clamp(0.0, 1.0)),
    },
    PoolFigure {
        name: "ephemeral_pool_full_in_seconds",
        help: "Seconds until the pool is full at this pace; only for pools that fill.",
        value: |r, p| r.forecasts.of(p)?.forecast.full_in_s,
    },
];

pub(super) fn used_ratio(pool: &Pool) -> f64 {
    if pool.capacity == 0 {
        return 1.0;
    }
    f64::from(pool.used()) / f64::from(pool.capacity)
}

/// A per-namespace figure.
pub(super) struct HostFigure {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Type,
    pub value: Option<f64>,
}

/// The figures of one namespace, always in the same order (a figure not
/// defined for a namespace is `None`, not left out). Figures the report
/// keeps beside the pools are read from `report`.
pub(super) fn host_figures(h: &Host, report: &Report) -> Vec<HostFigure> {
    let figure = |name, help, n: Option<u64>| HostFigure {
        name,
        help,
        kind: Type::Gauge,
        value: n.map(|n| n as f64),
    };
    let socket = |f: fn(&SocketFigures) -> u64| h.sockets.as_ref().map(f);
    // The conntrack table, where NAT pools were asked for and it was read.
    let table = report.conntrack.map(|t| t.figures);
    let conntrack = |name, help, kind, n: Option<u64>| HostFigure {
        name,
        help,
        kind,
        value: n.map(|n| n as f64),
    };
    vec![
        figure(
            "ephemeral_range_capacity_ports",
            "Ports of ip_local_port_range not in ip_local_reserved_ports.",
            Some(h.capacity),
        ),
        figure(
            "ephemeral_bind_marked_ports",
            "Candidate ports marked by bind(), which connect() skips.",
            socket(|s| s.bind_marked),
        ),
        figure(
            "ephemeral_connect_tuples",
            "Connect pools (source, destination, destination port) holding sockets.",
            socket(|s| s.tuples),
        ),
        figure(
            "ephemeral_sockets",
            "TCP and UDP sockets with the local port in the range.",
            socket(|s| s.sockets),
        ),
        figure(
            "ephemeral_time_wait_sockets",
            "TCP sockets in TIME_WAIT with the local port in the range.",
            socket(|s| s.time_wait),
        ),
        figure(
            "ephemeral_time_wait_reusable_sockets",
            "TIME_WAIT sockets a new connect() may take over now.",
            socket(|s| s.time_wait_reusable),
        ),
        conntrack(
            "ephemeral_conntrack_entries",
            "Entries of the namespace's conntrack table (nf_conntrack_count).",
            Type::Gauge,
            table.map(|t| t.entries),
        ),
        conntrack(
            "ephemeral_conntrack_max",
            "The conntrack table's limit (nf_conntrack_max); absent where it is 0, no limit.",
            Type::Gauge,
            table.map(|t| t.max).filter(|max| *max > 0),
        ),
        conntrack(
            "ephemeral_conntrack_insert_failed_total",
            "Connections that got no conntrack entry (a NAT port pool or the table full), summed over CPUs.",
            Type::Counter,
            table.map(|t| t.insert_failed),
        ),
        conntrack(
            "ephemeral_conntrack_drop_total",
            "Packets dropped because no conntrack entry could be made, summed over CPUs.",
            Type::Counter,
            table.map(|t| t.drop),
        ),
        conntrack(
            "ephemeral_conntrack_early_drop_total",
            "Conntrack entries evicted early to make room in a full table, summed over CPUs.",
            Type::Counter,
            table.map(|t| t.early_drop),
        ),
    ]
}

/// The counts of a sweep of namespaces (the perfdata after the pools'),
/// as metrics: the help of those known, a plain one for any other.
pub(super) const COUNTS: &[(&str, &str, &str)] = &[
    (
        "netns",
        "ephemeral_netns_judged",
        "Network namespaces judged.",
    ),
    (
        "netns_critical",
        "ephemeral_netns_critical",
        "Judged network namespaces in the state CRITICAL.",
    ),
    (
        "netns_warning",
        "ephemeral_netns_warning",
        "Judged network namespaces in the state WARNING.",
    ),
    (
        "netns_unknown",
        "ephemeral_netns_unknown",
        "Network namespaces that could not be read.",
    ),
    (
        "netns_skipped",
        "ephemeral_netns_skipped",
        "Network namespaces that disappeared while the check ran.",
    ),
    (
        "netns_unjudged",
        "ephemeral_netns_unjudged",
        "Network namespaces left unjudged when the time ran short.",
    ),
    (
        "netns_bounded",
        "ephemeral_netns_bounded",
        "Network namespaces judged OK by bound: their own counters prove no threshold can be crossed, so they were not walked.",
    ),
    (
        "netns_walked",
        "ephemeral_netns_walked",
        "Network namespaces whose sockets were walked and judged exactly.",
    ),
];
