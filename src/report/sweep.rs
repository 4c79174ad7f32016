//! What a namespace sweep adds to the report of its worst namespace: the
//! namespace named on the status line, a line per namespace (with
//! `--all-netns`), the per-host counts after the perfdata, and why a
//! partial sweep is UNKNOWN.

use std::time::Duration;

use super::{Context, namespaces};
use crate::scope::netns::Namespace;
use crate::scope::plan::Left;
use crate::scope::procfs::{Capabilities, Pids};
use crate::scope::tally::{Book, Partial, Verdict};

/// The facts of a sweep beyond its book.
pub struct Sweep {
    /// `--all-netns` (else one `--netns`).
    pub all: bool,
    /// Namespaces found.
    pub found: usize,
    /// Found, but never started: out of time.
    pub unjudged: usize,
    /// Those, and how high their bounds go.
    pub left: Left,
    /// Processes whose namespaces this process could not see (`--all-netns`).
    pub hidden: Pids,
    pub timeout: Duration,
    /// Namespaces listed at most.
    pub top: usize,
}

/// Adds what the sweep says to `context`, the worst namespace's (`ns`).
pub fn add(
    context: &mut Context,
    ns: &Namespace,
    book: &Book,
    sweep: &Sweep,
    worst: crate::judge::State,
    upstream_worst: bool,
) {
    let mut lines = Vec::new();
    let mut hidden = None;
    if sweep.all {
        let states = book.states();
        let judged = book.ranked.len();
        let shown = sweep.top.min(judged);
        let (bounded, walked) = book.bounded_walked();
        lines.push(namespaces::heading(
            states,
            (bounded, walked),
            book.skipped.len(),
            sweep.left,
            shown,
        ));
        lines.extend(book.ranked.iter().take(shown).map(|r| match &r.verdict {
            Verdict::Judged(pool, state) => namespaces::judged(&r.ns, *state, pool),
            Verdict::Bounded(b) => namespaces::bounded(&r.ns, b),
            Verdict::Failed(e) => namespaces::failed(&r.ns, e),
        }));
        lines.extend(book.skipped.iter().map(|(_, ns)| namespaces::skipped(ns)));
        if sweep.unjudged > 0 {
            lines.push(namespaces::unjudged(sweep.left, sweep.found, sweep.timeout));
        }
        if bounded > 0 {
            // -v lists every namespace judged by bound, with its bound.
            let heading = namespaces::bounded_heading(bounded);
            let each = book.bounded().map(|(ns, b)| namespaces::bounded(ns, b));
            context.add_lines(
                super::LISTED,
                std::iter::once(heading).chain(each).collect(),
            );
            let mut bounds: Vec<(String, f64)> = book
                .bounded()
                .map(|(ns, b)| (namespaces::metric_label(ns), b.used_pct))
                .collect();
            bounds.sort_by(|(la, a), (lb, b)| b.total_cmp(a).then_with(|| la.cmp(lb)));
            bounds.truncate(sweep.top.max(1));
            context.bounds = bounds;
        }
        if sweep.hidden.count > 0 {
            hidden = Some(namespaces::hidden(&sweep.hidden, Capabilities::effective()));
        }
        let [critical, warning, unknown, _] = states;
        context.counts = vec![
            ("netns", judged as u64),
            ("netns_critical", critical as u64),
            ("netns_warning", warning as u64),
            ("netns_unknown", unknown as u64),
            ("netns_skipped", book.skipped.len() as u64),
            ("netns_unjudged", sweep.unjudged as u64),
            ("netns_bounded", bounded as u64),
            ("netns_walked", walked as u64),
        ];
    } else {
        lines.push(namespaces::entered(ns));
    }
    let scope = if sweep.all && upstream_worst {
        // Every namespace's connections spend the provider's one budget.
        format!("{} namespaces", book.ranked.len())
    } else {
        namespaces::scope(ns, sweep.left, sweep.found)
    };
    // A `--what-if` stays first: the whole answer is under it.
    context.scope = Some(match context.scope.take() {
        Some(what_if) => format!("{what_if}: {scope}"),
        None => scope,
    });
    context.unknown = book.partial(worst, sweep.unjudged).map(|p| match p {
        Partial::Unjudged(_) => namespaces::partial(sweep.left, sweep.found, sweep.timeout),
        Partial::Unreadable(bad, e) => namespaces::unreadable(bad, e),
    });
    // The namespaces judged are listed like the top pools: with -v, or
    // when the answer is not OK.
    let ok = worst == crate::judge::State::Ok && context.unknown.is_none();
    let listing = if ok { super::LISTED } else { super::ALWAYS };
    context.add_lines(listing, lines);
    // Asked for every namespace, some could not be judged: said always.
    context.add_lines(super::ALWAYS, hidden.into_iter().collect());
}
