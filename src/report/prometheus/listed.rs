//! The namespaces the Prometheus text lists after a sweep: the worst `top`,
//! kept in bounded memory as the namespaces are judged (a judged report is
//! small; the model is not kept).

use super::Snapshot;
use crate::judge::{self, Rank, Report};
use crate::model::Model;
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

    /// The namespaces to list, worst first.
    pub fn finish(mut self) -> Vec<Snapshot> {
        judge::worst_first(&mut self.ranked, self.keep);
        self.ranked.into_iter().map(|(_, _, s)| s).collect()
    }
}
