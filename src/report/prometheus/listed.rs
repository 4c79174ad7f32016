//! The namespaces the Prometheus text lists after a sweep: the worst `top`,
//! kept in bounded memory as the namespaces are judged (a judged report is
//! small; the model is not kept). With `--all-netns` the provider's NAT
//! sees one VM: its pools, summed over every namespace, are listed once
//! with no `netns` label, and no namespace's own share of them, which a
//! rule would read as the budget's use.

use super::Snapshot;
use crate::judge::{self, Rank, Report};
use crate::model::{Kind, Model};
use crate::report::namespaces;
use crate::scope::netns::Namespace;

pub struct Listed {
    /// Whether the output is Prometheus text at all.
    on: bool,
    keep: usize,
    ranked: Vec<(Rank, String, Snapshot)>,
}

impl Listed {
    pub fn new(on: bool, top: usize) -> Listed {
        Listed {
            on,
            keep: top.max(1),
            ranked: Vec::new(),
        }
    }

    /// Offers one judged namespace.
    pub fn offer(&mut self, ns: &Namespace, report: &Report, model: &Model) {
        if !self.on {
            return;
        }
        let label = namespaces::metric_label(ns);
        let snapshot = Snapshot::new(Some(label.clone()), report, model);
        self.ranked.push((judge::rank(report), label, snapshot));
        if self.ranked.len() >= 2 * self.keep {
            judge::worst_first(&mut self.ranked, self.keep);
        }
    }

    /// The namespaces to list, worst first; `summed` is the report judged
    /// with the upstream pools of every namespace summed, when they were.
    pub fn finish(mut self, summed: Option<&Report>) -> Vec<Snapshot> {
        judge::worst_first(&mut self.ranked, self.keep);
        let listed = self.ranked.into_iter().map(|(_, _, s)| s).collect();
        match summed {
            Some(summed) if self.on => upstream_once(listed, summed),
            _ => listed,
        }
    }
}

/// `listed` without their own upstream pools, then the `summed` ones, which
/// belong to no namespace.
fn upstream_once(mut listed: Vec<Snapshot>, summed: &Report) -> Vec<Snapshot> {
    for s in &mut listed {
        s.report.kinds.retain(|k| k.kind != Kind::Upstream);
    }
    let mut report = summed.clone();
    report.kinds.retain(|k| k.kind == Kind::Upstream);
    report.conntrack = None;
    listed.push(Snapshot {
        netns: None,
        report,
        host: None,
    });
    listed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{KindReport, State};
    use crate::model::upstream::{UpstreamKey, UpstreamName};
    use crate::model::{Pool, PoolName, StateCounts, Tuple};
    use crate::read::socket::Protocol;
    use crate::report::prometheus::{Host, render};

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

    /// A report with one connect pool and one upstream pool of `free`.
    fn report(free: u32, state: State) -> Report {
        let tuple = Tuple {
            source: "10.0.0.5".parse().unwrap(),
            destination: "198.51.100.13".parse().unwrap(),
            port: 4443,
        };
        let key = UpstreamKey {
            protocol: Protocol::Tcp,
            destination: "198.51.100.13".parse().unwrap(),
            port: Some(4443),
        };
        let name = PoolName::Upstream(UpstreamName { key, sources: None });
        let connect = pool(Kind::Connect, PoolName::Tuple(tuple), 28232, 28202);
        let upstream = pool(Kind::Upstream, name, 64, free);
        let kind = |kind, pool: &Pool, state| KindReport {
            kind,
            judged: true,
            pools: 1,
            top: vec![(*pool, state)],
        };
        Report {
            state,
            worst: (upstream, state),
            kinds: vec![
                kind(Kind::Connect, &connect, State::Ok),
                kind(Kind::Upstream, &upstream, state),
            ],
            forecasts: Default::default(),
            conntrack: None,
        }
    }

    #[test]
    fn the_summed_upstream_pools_are_listed_once_and_no_namespace_share() {
        let listed = ["web", "db"].map(|netns| Snapshot {
            netns: Some(netns.to_string()),
            report: report(34, State::Ok),
            host: Some(Host::default()),
        });
        let summed = report(4, State::Critical);
        let snapshots = upstream_once(listed.to_vec(), &summed);
        let text = render(State::Critical, &snapshots, &[], &[]);
        let upstream: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("kind=\"upstream\""))
            .collect();
        let pool = "kind=\"upstream\",protocol=\"tcp\",destination=\"198.51.100.13\",port=\"4443\"";
        assert_eq!(
            upstream,
            [
                "ephemeral_pools{kind=\"upstream\"} 1".to_string(),
                format!("ephemeral_pool_free_ports{{{pool}}} 4"),
                format!("ephemeral_pool_capacity_ports{{{pool}}} 64"),
                format!("ephemeral_pool_used_ratio{{{pool}}} 0.9375"),
            ],
            "{text}"
        );
        // The namespaces keep their other pools and their own figures; the
        // summed pools bring no figures of a namespace.
        assert!(
            text.contains("ephemeral_pools{kind=\"connect\",netns=\"db\"} 1\n"),
            "{text}"
        );
        let capacity = "ephemeral_range_capacity_ports";
        assert!(text.contains(&format!("\n{capacity}{{netns=\"web\"}} 0\n")));
        assert!(!text.contains(&format!("\n{capacity} ")), "{text}");
    }

    #[test]
    fn without_a_sum_every_namespace_keeps_its_upstream_pools() {
        let summed = report(4, State::Critical);
        let kinds = |summed: Option<&Report>| {
            let mut listed = Listed::new(true, 2);
            let snapshot = Snapshot {
                netns: Some("web".into()),
                report: report(34, State::Ok),
                host: Some(Host::default()),
            };
            let rank = judge::rank(&snapshot.report);
            listed.ranked.push((rank, "web".into(), snapshot));
            let listed = listed.finish(summed);
            listed
                .iter()
                .map(|s| s.report.kinds.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(None), [2]);
        assert_eq!(kinds(Some(&summed)), [1, 1]);
    }
}
