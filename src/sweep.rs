//! Judging other network namespaces (`--netns`, `--all-netns`): each is
//! read, modelled and judged from a thread inside it, one after another; the
//! worst is reported in full and the others get a line each.
//!
//! Only the worst namespace's model is kept, so memory stays that of one
//! namespace however many the host has. Perfdata keeps the labels of a
//! single run (they describe the worst namespace) plus a few per-host
//! counts, so graphs keep their series whatever namespaces come and go.

use std::cmp::Reverse;

use crate::cli::Config;
use crate::culprits;
use crate::error::{Error, Result};
use crate::judge::State;
use crate::netns::{self, Access, Found, Namespace, Scope};
use crate::output::{self, pool_label};
use crate::procfs::{self, CAP_SYS_PTRACE, Capabilities, Refusal};
use crate::stage::{self, Stage};
use crate::{Measured, Outcome};

/// How bad a namespace is: worst state, then the fullest worst pool, then
/// the fewest free ports.
type Rank = (State, u32, Reverse<u32>);

fn rank(m: &Measured) -> Rank {
    let (pool, state) = &m.report.worst;
    let hundredths = (pool.used_pct() * 100.0).round() as u32;
    (*state, hundredths, Reverse(pool.free))
}

/// One namespace's line in the long output.
struct Summary {
    rank: Rank,
    line: String,
}

pub fn check(config: &Config) -> Result<Outcome> {
    let all = config.netns == Scope::All;
    let access = Access::of(&config.netns);
    netns::require_privileges(access)?;
    stage::enter(Stage::FindingNamespaces);
    let found = match &config.netns {
        Scope::One(target) => Found {
            namespaces: vec![netns::resolve(target)?],
            hidden: 0,
        },
        _ => netns::discover()?,
    };

    let mut worst: Option<(Namespace, Measured)> = None;
    let mut summaries = Vec::new();
    let mut skipped = Vec::new();
    let mut failed: Vec<(Namespace, Error)> = Vec::new();
    for ns in found.namespaces {
        match netns::run_in(&ns, access, |proc_net| crate::measure(config, proc_net)) {
            Ok(Some(m)) => {
                let (pool, state) = &m.report.worst;
                summaries.push(Summary {
                    rank: rank(&m),
                    line: format!(
                        "  {}: {} - {}: {}",
                        ns.label(),
                        state.word(),
                        pool_label(pool),
                        output::numbers(pool, "free")
                    ),
                });
                if worst.as_ref().is_none_or(|(_, w)| rank(&m) > rank(w)) {
                    worst = Some((ns, m));
                }
            }
            Ok(None) if all => skipped.push(ns),
            Ok(None) => {
                return Err(Error::Namespace {
                    path: ns.path,
                    reason: "it disappeared while the check ran".into(),
                });
            }
            Err(e @ Error::Privilege { .. }) => return Err(e),
            Err(e) if all => {
                summaries.push(Summary {
                    rank: (State::Unknown, 0, Reverse(u32::MAX)),
                    line: format!(
                        "  {}: UNKNOWN - {}",
                        ns.label(),
                        output::clean(&e.to_string())
                    ),
                });
                failed.push((ns, e));
            }
            Err(e) => return Err(e),
        }
    }
    let Some((ns, mut m)) = worst else {
        return Err(match failed.into_iter().next() {
            Some((_, e)) => e,
            None => Error::Namespace {
                path: netns::NAMED_DIR.into(),
                reason:
                    "no network namespace could be read: every one disappeared while the check ran"
                        .into(),
            },
        });
    };

    if config.processes {
        let lines = match netns::run_in(&ns, access, |proc_net| culprits::collect(&m, proc_net))? {
            Some(wanted) => culprits::attribute(&wanted)?,
            None => vec![
                "processes: the namespace disappeared before its sockets could be matched".into(),
            ],
        };
        m.add_lines(lines);
    }

    let label = ns.label();
    let mut lines = Vec::new();
    if all {
        summaries.sort_by_key(|s| Reverse(s.rank));
        let count = |s: State| in_state(&summaries, s);
        let shown = config.top.min(summaries.len());
        lines.push(format!(
            "network namespaces: {} judged ({} CRITICAL, {} WARNING, {} UNKNOWN, {} OK), {} skipped; worst {shown}:",
            summaries.len(),
            count(State::Critical),
            count(State::Warning),
            count(State::Unknown),
            count(State::Ok),
            skipped.len()
        ));
        lines.extend(summaries.iter().take(shown).map(|s| s.line.clone()));
        for gone in &skipped {
            lines.push(format!(
                "skipped network namespace {}: it disappeared while the check ran",
                gone.label()
            ));
        }
        if found.hidden > 0 {
            lines.push(hidden(found.hidden, Capabilities::effective()));
        }
    } else {
        lines.push(ns.entered());
    }
    m.add_lines(lines);

    m.context.scope = Some(format!("netns {label}"));
    if all {
        m.context.counts = vec![
            ("netns", summaries.len() as u64),
            (
                "netns_critical",
                in_state(&summaries, State::Critical) as u64,
            ),
            ("netns_warning", in_state(&summaries, State::Warning) as u64),
            ("netns_unknown", in_state(&summaries, State::Unknown) as u64),
            ("netns_skipped", skipped.len() as u64),
        ];
    }
    // A namespace that could not be read outranks one that is fine.
    if let Some((bad, e)) = failed.first()
        && m.report.state < State::Unknown
    {
        m.context.unknown = Some(format!("netns {}: {e}", bad.label()));
    }
    Ok(m.render(config))
}

/// How many of the judged namespaces are in `state`.
fn in_state(summaries: &[Summary], state: State) -> usize {
    summaries.iter().filter(|s| s.rank.0 == state).count()
}

/// Says that `n` processes hid their namespaces, and why, as far as this
/// process can tell: looking at another user's `/proc/PID/ns/net` needs
/// CAP_SYS_PTRACE.
fn hidden(n: usize, effective: Option<Capabilities>) -> String {
    let processes = culprits::processes(n);
    match Refusal::of(&[CAP_SYS_PTRACE], effective) {
        Refusal::Lacking(caps) => format!(
            "note: the network namespace of {processes} could not be looked at (permission denied; \
             needs {}): namespaces only they use were not judged",
            procfs::names(&caps)
        ),
        Refusal::Despite(caps) => format!(
            "note: the network namespace of {processes} could not be looked at, so namespaces \
             only they use were not judged: {}",
            procfs::despite(&caps)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_namespaces_suggest_only_what_is_lacking() {
        let without = hidden(1, Some(Capabilities::default()));
        assert_eq!(
            without,
            "note: the network namespace of 1 process could not be looked at \
             (permission denied; needs CAP_SYS_PTRACE): namespaces only they use were not judged"
        );
        assert_eq!(hidden(1, None), without);
        let with = hidden(2, Some(Capabilities::of(&[CAP_SYS_PTRACE])));
        assert!(
            with.starts_with(
                "note: the network namespace of 2 processes could not be looked at, so namespaces \
                 only they use were not judged: the kernel refused even with CAP_SYS_PTRACE, \
                 which this process has"
            ),
            "{with}"
        );
        assert!(!with.contains("needs"), "{with}");
    }
}
