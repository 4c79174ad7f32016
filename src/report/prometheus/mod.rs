//! `--format prometheus`: the judged report in the text exposition format
//! that node_exporter's textfile collector reads. The same [`Report`] the
//! Nagios text is made from, rendered a second way.
//!
//! The metric families are declared once, in tables (`figures`); this file
//! writes them: HELP and TYPE, one family's samples together, labels
//! escaped. Pools of every kind the report judged are listed with the labels
//! their name has, so a new kind of pool needs no change here. Only the
//! pools the report keeps (the top N of each kind) are written, so the
//! series are bounded whatever the host holds. Kinds that `--pools` left
//! out are not written at all (the Nagios perfdata shows them, without
//! thresholds): a rule such as `ephemeral_pool_used_ratio > 0.9` knows
//! nothing of `--pools`, and must not fire on a pool the check does not
//! judge.

use std::fmt::Write as _;

mod figures;
mod listed;

pub use figures::{Host, SocketFigures};
pub use listed::Listed;

use super::protocol_name;
use crate::judge::{KindReport, Report, State};
use crate::model::{Model, Pool, PoolName, PortClass};
use figures::{COUNTS, HostFigure, POOL_FIGURES, Type, host_figures};

/// One namespace's judged report and figures: what the exposition lists.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The `netns` label, when the check looked at other namespaces.
    pub netns: Option<String>,
    pub report: Report,
    /// The namespace's own figures; `None` for the upstream pools summed
    /// over a sweep, which belong to no namespace.
    pub host: Option<Host>,
}

impl Snapshot {
    pub fn new(netns: Option<String>, report: &Report, model: &Model) -> Snapshot {
        Snapshot {
            netns,
            report: report.clone(),
            host: Some(Host::of(model)),
        }
    }
}

/// The exposition of `snapshots` (worst first), with the overall `state`,
/// the `counts` of a sweep of namespaces and the `bounds` (used percent)
/// of those it judged by bound, which are never written as measurements.
pub fn render(
    state: State,
    snapshots: &[Snapshot],
    counts: &[(&str, u64)],
    bounds: &[(String, f64)],
) -> String {
    let mut out = Out::default();
    out.family(
        "ephemeral_check_state",
        "The state the thresholds give: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        Type::Gauge,
    );
    out.sample("ephemeral_check_state", &[], f64::from(state.exit_code()));

    out.family(
        "ephemeral_pools",
        "Pools of each judged kind in the namespace that match the selection.",
        Type::Gauge,
    );
    for s in snapshots {
        for k in judged(s) {
            let labels = with_netns(s, vec![("kind", k.kind.name().to_string())]);
            out.sample("ephemeral_pools", &labels, k.pools as f64);
        }
    }

    for figure in POOL_FIGURES {
        let samples: Vec<(Labels, f64)> = snapshots
            .iter()
            .flat_map(|s| {
                judged(s).flat_map(move |k| {
                    k.top.iter().filter_map(move |(pool, _)| {
                        let value = (figure.value)(&s.report, pool)?;
                        Some((with_netns(s, pool_labels(pool)), value))
                    })
                })
            })
            .collect();
        if samples.is_empty() {
            continue;
        }
        out.family(figure.name, figure.help, Type::Gauge);
        for (labels, value) in &samples {
            out.sample(figure.name, labels, *value);
        }
    }

    let figures: Vec<(Labels, Vec<HostFigure>)> = snapshots
        .iter()
        .filter_map(|s| {
            Some((
                with_netns(s, Vec::new()),
                host_figures(s.host.as_ref()?, &s.report),
            ))
        })
        .collect();
    for i in 0..figures.first().map_or(0, |(_, f)| f.len()) {
        let first = &figures[0].1[i];
        let samples: Vec<(&Labels, f64)> = figures
            .iter()
            .filter_map(|(labels, f)| Some((labels, f.get(i)?.value?)))
            .collect();
        if samples.is_empty() {
            continue;
        }
        out.family(first.name, first.help, first.kind);
        for (labels, value) in samples {
            out.sample(first.name, labels, value);
        }
    }

    if !bounds.is_empty() {
        out.family(BOUND_NAME, BOUND_HELP, Type::Gauge);
        for (netns, pct) in bounds {
            let labels = [("netns", netns.clone())];
            out.sample(BOUND_NAME, &labels, pct / 100.0);
        }
    }

    for &(label, n) in counts {
        let (name, help) = match COUNTS.iter().find(|(l, _, _)| *l == label) {
            Some((_, name, help)) => (name.to_string(), help.to_string()),
            None => (
                format!("ephemeral_{label}"),
                format!("The perfdata count {label}."),
            ),
        };
        out.family(&name, &help, Type::Gauge);
        out.sample(&name, &[], n as f64);
    }
    out.text
}

/// The bound of a namespace judged by bound, apart from every measured
/// figure: a rule over `ephemeral_pool_used_ratio` never sees a bound.
const BOUND_NAME: &str = "ephemeral_netns_bound_used_ratio";
const BOUND_HELP: &str = "Network namespaces judged OK by bound, not walked: the highest used ratio any judged pool of theirs can reach, from their own counters (an upper bound, not a measurement).";

type Labels = Vec<(&'static str, String)>;

/// The kinds of pool the report judged: the ones the metrics list.
fn judged(snapshot: &Snapshot) -> impl Iterator<Item = &KindReport> {
    snapshot.report.kinds.iter().filter(|k| k.judged)
}

/// The labels a pool's name gives: `source`, `destination`, `port` where
/// known; the address of a bind or UDP pool is its `source`.
fn pool_labels(pool: &Pool) -> Labels {
    let mut labels = vec![("kind", pool.kind.name().to_string())];
    let (source, destination, port) = match pool.name {
        PoolName::Tuple(t) => (Some(t.source), Some(t.destination), Some(t.port)),
        PoolName::NewTuple {
            source,
            destination,
            port,
        } => (source, destination, port),
        PoolName::Address(a) => (Some(a), None, None),
        PoolName::Nat(k) => {
            labels.push(("protocol", protocol_name(k.protocol).to_string()));
            if k.zone != 0 {
                labels.push(("zone", k.zone.to_string()));
            }
            // Only where the kernel keeps low source ports apart: at most
            // two more values, so the series stay bounded.
            match k.class {
                PortClass::Low => labels.push(("port_class", "below-512".into())),
                PortClass::Reserved => labels.push(("port_class", "512-1023".into())),
                PortClass::Ordinary => {}
            }
            (Some(k.address), Some(k.destination), Some(k.port))
        }
        // Shared by every local address: the destination is the pool, so
        // no `source` (it would change as addresses come and go).
        PoolName::Upstream(n) => {
            labels.push(("protocol", protocol_name(n.key.protocol).to_string()));
            let known = n.sources.is_some() || !n.key.destination.is_unspecified();
            (None, known.then_some(n.key.destination), n.key.port)
        }
    };
    labels.extend(source.map(|s| ("source", s.to_string())));
    labels.extend(destination.map(|d| ("destination", d.to_string())));
    labels.extend(port.map(|p| ("port", p.to_string())));
    labels
}

fn with_netns(snapshot: &Snapshot, mut labels: Labels) -> Labels {
    if let Some(netns) = &snapshot.netns {
        labels.push(("netns", netns.clone()));
    }
    labels
}

#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, help: &str, kind: Type) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.name());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, String)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {}", number(value));
    }
}

/// A sample value as the format writes it: plain decimals (Rust never uses
/// an exponent for `f64`), and the format's own words for the specials.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
