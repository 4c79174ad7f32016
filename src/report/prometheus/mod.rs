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
mod tests {
    use super::*;
    use crate::model::{Kind, StateCounts, Tuple};

    fn pool(kind: Kind, name: PoolName, capacity: u32, free: u32) -> Pool {
        Pool {
            kind,
            name,
            capacity,
            free,
            counts: StateCounts::default(),
            fail_ppm: None,
        }
    }

    fn snapshot(netns: Option<&str>) -> Snapshot {
        let tuple = Tuple {
            source: "127.0.0.1".parse().unwrap(),
            destination: "::1".parse().unwrap(),
            port: 5432,
        };
        let connect = pool(Kind::Connect, PoolName::Tuple(tuple), 20, 5);
        let bind = pool(
            Kind::Bind,
            PoolName::Address("0.0.0.0".parse().unwrap()),
            20,
            20,
        );
        let udp = pool(Kind::Udp, PoolName::Address("::".parse().unwrap()), 20, 1);
        let report = Report {
            state: State::Critical,
            worst: (connect, State::Critical),
            kinds: vec![
                KindReport {
                    kind: Kind::Connect,
                    judged: true,
                    pools: 7,
                    top: vec![(connect, State::Critical)],
                },
                KindReport {
                    kind: Kind::Bind,
                    judged: true,
                    pools: 1,
                    top: vec![(bind, State::Ok)],
                },
                // Left out by --pools: not listed at all.
                KindReport {
                    kind: Kind::Udp,
                    judged: false,
                    pools: 3,
                    top: vec![(udp, State::Ok)],
                },
            ],
            forecasts: Default::default(),
            conntrack: None,
        };
        Snapshot {
            netns: netns.map(str::to_string),
            report,
            host: Some(Host {
                capacity: 20,
                sockets: Some(SocketFigures {
                    time_wait: 3,
                    ..SocketFigures::default()
                }),
            }),
        }
    }

    #[test]
    fn one_namespace_in_full() {
        let text = render(State::Critical, &[snapshot(None)], &[], &[]);
        let expected = "\
# HELP ephemeral_check_state The state the thresholds give: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
# TYPE ephemeral_check_state gauge
ephemeral_check_state 2
# HELP ephemeral_pools Pools of each judged kind in the namespace that match the selection.
# TYPE ephemeral_pools gauge
ephemeral_pools{kind=\"connect\"} 7
ephemeral_pools{kind=\"bind\"} 1
# HELP ephemeral_pool_free_ports Ports a new caller of the pool is sure to get now.
# TYPE ephemeral_pool_free_ports gauge
ephemeral_pool_free_ports{kind=\"connect\",source=\"127.0.0.1\",destination=\"::1\",port=\"5432\"} 5
ephemeral_pool_free_ports{kind=\"bind\",source=\"0.0.0.0\"} 20
";
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains(
            "ephemeral_pool_used_ratio{kind=\"connect\",source=\"127.0.0.1\",destination=\"::1\",port=\"5432\"} 0.75\n"
        ), "{text}");
        assert!(text.contains("\nephemeral_time_wait_sockets 3\n"), "{text}");
        assert!(!text.contains("udp"), "an unjudged kind is listed: {text}");
        assert!(
            text.ends_with("ephemeral_time_wait_reusable_sockets 0\n"),
            "{text}"
        );
    }

    #[test]
    fn nat_pools_name_their_class_only_where_it_is_not_the_ordinary_one() {
        use crate::model::NatKey;
        use crate::read::socket::Protocol;
        let key = |class| NatKey {
            protocol: Protocol::Tcp,
            address: "10.0.0.1".parse().unwrap(),
            destination: "10.0.0.9".parse().unwrap(),
            port: 443,
            zone: 0,
            class,
        };
        let labels = |class| {
            pool_labels(&pool(Kind::Nat, PoolName::Nat(key(class)), 511, 5))
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let plain = "kind=nat,protocol=tcp,source=10.0.0.1,destination=10.0.0.9,port=443";
        assert_eq!(labels(PortClass::Ordinary), plain);
        assert_eq!(
            labels(PortClass::Low),
            "kind=nat,protocol=tcp,port_class=below-512,source=10.0.0.1,destination=10.0.0.9,port=443"
        );
        assert!(labels(PortClass::Reserved).contains("port_class=512-1023"));
    }

    #[test]
    fn namespaces_are_labelled_and_families_stay_together() {
        let counts = [("netns", 2), ("netns_critical", 2), ("netns_new", 0)];
        let snapshots = [snapshot(Some("web\"1")), snapshot(Some("db"))];
        let bounds = [("pod-7".to_string(), 5.25)];
        let text = render(State::Critical, &snapshots, &counts, &bounds);
        // A bound has its own name, never a measured figure's.
        assert!(
            text.contains("\nephemeral_netns_bound_used_ratio{netns=\"pod-7\"} 0.0525\n"),
            "{text}"
        );
        assert!(
            !text.contains("ephemeral_pool_used_ratio{netns=\"pod-7\""),
            "{text}"
        );
        let names: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        let mut seen: Vec<&str> = names.clone();
        seen.dedup();
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(seen.len(), unique.len(), "a family split up: {text}");
        assert!(
            text.contains("ephemeral_sockets{netns=\"web\\\"1\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("ephemeral_check_state 2\n"), "{text}");
        assert!(text.contains("\nephemeral_netns_critical 2\n"), "{text}");
        assert!(text.ends_with("\nephemeral_netns_new 0\n"), "{text}");
    }

    #[test]
    fn values_and_labels_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(28232.0), "28232");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(f64::INFINITY), "+Inf");
        let empty = pool(Kind::Udp, PoolName::Address("::".parse().unwrap()), 0, 0);
        assert_eq!(figures::used_ratio(&empty), 1.0);
    }
}
