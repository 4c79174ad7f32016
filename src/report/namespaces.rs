//! What the output says of network namespaces (`--netns`, `--all-netns`):
//! their names, one line per judged namespace, and what was left out.

use std::time::Duration;

use super::{clean, numbers, pool_label};
use crate::error::Error;
use crate::judge::State;
use crate::judge::bound::Bound;
use crate::model::Pool;
use crate::scope::netns::Namespace;
use crate::scope::plan::Left;
use crate::scope::procfs::{self, CAP_SYS_PTRACE, Capabilities, Pids, Refusal};
use crate::scope::sweep::SWEEP_SHARE;

/// `host`, `web1`, `nginx (pid 812)` (a namespace without a name, after
/// the lowest pid living in it) or `inode 4026532301 (/path)`.
pub fn label(ns: &Namespace) -> String {
    let text = match (&ns.name, &ns.process) {
        (Some(name), _) => name.clone(),
        (None, Some((pid, command))) => format!("{command} (pid {pid})"),
        (None, None) => format!("inode {} ({})", ns.id.ino, crate::error::shown(&ns.path)),
    };
    clean(&text)
}

/// The `netns` label of a namespace's metrics: its name, else its inode,
/// which stays the same for the namespace's life (the process that showed
/// it may not).
pub fn metric_label(ns: &Namespace) -> String {
    match &ns.name {
        Some(name) => name.clone(),
        None => format!("inode {}", ns.id.ino),
    }
}

/// What `--netns` says of the namespace it judged, each fact once:
/// `web1: inode 4026532301, entered through /run/netns/web1`.
pub fn entered(ns: &Namespace) -> String {
    let ino = ns.id.ino;
    let what = match (&ns.name, &ns.process) {
        (Some(name), _) => format!("{name}: inode {ino}"),
        (None, Some((pid, command))) => format!("inode {ino} (pid {pid} {command})"),
        (None, None) => format!("inode {ino}"),
    };
    clean(&format!(
        "network namespace {what}, entered through {}",
        ns.path.display()
    ))
}

/// One judged namespace's line in the long output.
pub fn judged(ns: &Namespace, state: State, worst: &Pool) -> String {
    format!(
        "  {}: {} - {}: {}",
        label(ns),
        state.word(),
        pool_label(worst),
        numbers(worst, "free")
    )
}

/// The line of a namespace that could not be read.
pub fn failed(ns: &Namespace, e: &Error) -> String {
    format!("  {}: UNKNOWN - {}", label(ns), clean(&e.to_string()))
}

/// How many namespaces were judged, in which states, how many of them by
/// bound and how many walked, how many were not judged, and how many of
/// them the lines below show.
pub fn heading(
    judged: [usize; 4],
    (bounded, walked): (usize, usize),
    skipped: usize,
    left: Left,
    shown: usize,
) -> String {
    let [critical, warning, unknown, ok] = judged;
    let total = bounded + walked;
    let unjudged = match left.count {
        0 => String::new(),
        n => format!(", {n} not judged (out of time{})", reach(left)),
    };
    format!(
        "network namespaces: {total} judged ({critical} CRITICAL, {warning} WARNING, {unknown} UNKNOWN, {ok} OK; {bounded} by bound, {walked} walked), {skipped} skipped{unjudged}; worst {shown}:"
    )
}

/// `; none can exceed 41.1% used` of namespaces left unjudged whose bounds
/// are known (rounded up: a bound is never shown lower than it is).
fn reach(left: Left) -> String {
    match left.reach {
        Some(pct) => format!("; none can exceed {}% used", pct_up(pct)),
        None => String::new(),
    }
}

/// A percentage rounded up to one decimal.
fn pct_up(pct: f64) -> String {
    let up = (pct * 10.0 - 1e-9).ceil() / 10.0;
    // `0.0`, never `-0.0`.
    format!("{:.1}", if up > 0.0 { up } else { 0.0 })
}

/// One namespace judged OK by bound: what its counters allow at most.
pub fn bounded(ns: &Namespace, bound: &Bound) -> String {
    format!(
        "  {}: OK by bound - no pool can exceed {}% used ({} ports at most{})",
        label(ns),
        pct_up(bound.used_pct),
        bound.ports,
        if bound.cannot_fill {
            ", none can fill"
        } else {
            ""
        }
    )
}

/// Before the `-v` list of the namespaces judged by bound.
pub fn bounded_heading(n: usize) -> String {
    format!(
        "judged by bound ({n}): their own counters (sockets, TIME_WAIT, conntrack entries) and port range prove no threshold can be crossed; not walked (--exact walks them):"
    )
}

/// What the status line names before the pool: the worst namespace, and
/// how many were not judged when the sweep ran out of time, so that a
/// partial sweep never reads as a full one.
pub fn scope(ns: &Namespace, left: Left, found: usize) -> String {
    match left.count {
        0 => format!("netns {}", label(ns)),
        n => format!(
            "netns {}, {n} of {found} not judged{}",
            label(ns),
            reach(left)
        ),
    }
}

/// Why a sweep that found no pool in trouble in the namespaces it judged is
/// UNKNOWN: it did not judge them all.
pub fn partial(left: Left, found: usize, timeout: Duration) -> String {
    format!(
        "{} of {found} network namespaces not judged: out of time (-t {} s){}",
        left.count,
        timeout.as_secs(),
        reach(left)
    )
}

/// The long-output line of a sweep that ran out of time.
pub fn unjudged(left: Left, found: usize, timeout: Duration) -> String {
    format!(
        "not judged: {} of {found} network namespaces, out of time{}: no namespace is started after {} of -t {} s; \
         raise -t (a namespace's walks visit every socket of the host unless \
         net.ipv4.tcp_child_ehash_entries gave it tables of its own)",
        left.count,
        reach(left),
        seconds(timeout * SWEEP_SHARE.0 / SWEEP_SHARE.1),
        timeout.as_secs()
    )
}

/// `7.5 s`, `10 s`.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A namespace that vanished between being found and being read.
pub fn skipped(ns: &Namespace) -> String {
    format!(
        "skipped network namespace {}: it disappeared while the check ran",
        label(ns)
    )
}

/// `--processes` in a namespace that vanished after it was judged.
pub fn vanished_before_processes() -> String {
    "processes: the namespace disappeared before its sockets could be matched".into()
}

/// The reason to report UNKNOWN for: a namespace that could not be read.
pub fn unreadable(ns: &Namespace, e: &Error) -> String {
    format!("netns {}: {e}", label(ns))
}

/// Says that `n` processes hid their namespaces, and why, as far as this
/// process can tell: looking at another user's `/proc/PID/ns/net` needs
/// CAP_SYS_PTRACE.
pub fn hidden(pids: &Pids, effective: Option<Capabilities>) -> String {
    let processes = super::processes::named(pids);
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
    use crate::scope::netns::NsId;

    #[test]
    fn entered_says_each_fact_once() {
        let mut ns = namespace("/proc/self/ns/net");
        ns.id.ino = 4026531833;
        assert_eq!(
            entered(&ns),
            "network namespace inode 4026531833, entered through /proc/self/ns/net"
        );
        ns.path = "/proc/812/ns/net".into();
        ns.process = Some((812, "nginx".into()));
        assert_eq!(
            entered(&ns),
            "network namespace inode 4026531833 (pid 812 nginx), entered through /proc/812/ns/net"
        );
        ns.name = Some("web1".into());
        ns.path = "/run/netns/web1".into();
        assert_eq!(
            entered(&ns),
            "network namespace web1: inode 4026531833, entered through /run/netns/web1"
        );
    }

    #[test]
    fn a_partial_sweep_says_so_everywhere() {
        let mut ns = namespace("/run/netns/web1");
        ns.name = Some("web1".into());
        let none = Left {
            count: 0,
            reach: None,
        };
        let left = Left {
            count: 37,
            reach: None,
        };
        assert_eq!(scope(&ns, none, 200), "netns web1");
        assert_eq!(scope(&ns, left, 200), "netns web1, 37 of 200 not judged");
        let t = Duration::from_secs(10);
        assert_eq!(
            partial(left, 200, t),
            "37 of 200 network namespaces not judged: out of time (-t 10 s)"
        );
        assert!(
            unjudged(left, 200, Duration::from_secs(2))
                .contains("no namespace is started after 1.5 s of -t 2 s"),
        );
        let h = heading([0, 1, 0, 162], (100, 63), 0, left, 5);
        assert!(
            h.contains(
                "162 OK; 100 by bound, 63 walked), 0 skipped, 37 not judged (out of time); worst 5:"
            ),
            "{h}"
        );
        assert!(!heading([0, 0, 0, 1], (0, 1), 0, none, 1).contains("not judged"));
        let bounded = Left {
            count: 12,
            reach: Some(41.04),
        };
        assert_eq!(
            scope(&ns, bounded, 200),
            "netns web1, 12 of 200 not judged; none can exceed 41.1% used"
        );
        assert!(partial(bounded, 200, t).ends_with("(-t 10 s); none can exceed 41.1% used"));
    }

    #[test]
    fn a_bound_is_said_as_a_limit_rounded_up() {
        let mut ns = namespace("/run/netns/pod-7");
        ns.name = Some("pod-7".into());
        let b = Bound {
            ports: 1502,
            used_pct: 5.32,
            cannot_fill: true,
            proven: true,
        };
        assert_eq!(
            bounded(&ns, &b),
            "  pod-7: OK by bound - no pool can exceed 5.4% used (1502 ports at most, none can fill)"
        );
        let zero = Bound { used_pct: 0.0, ..b };
        assert!(bounded(&ns, &zero).contains(" 0.0% used"));
    }

    #[test]
    fn labels_say_name_or_inode_and_process() {
        let mut ns = Namespace {
            id: NsId {
                dev: 4,
                ino: 4026532301,
            },
            path: "/proc/812/ns/net".into(),
            name: None,
            process: Some((812, "nginx".into())),
        };
        assert_eq!(label(&ns), "nginx (pid 812)");
        ns.process = None;
        assert_eq!(label(&ns), "inode 4026532301 (/proc/812/ns/net)");
        ns.name = Some("web|1".into());
        assert_eq!(label(&ns), "web 1");
    }

    fn namespace(path: &str) -> Namespace {
        Namespace {
            id: NsId { dev: 4, ino: 1 },
            path: path.into(),
            name: None,
            process: None,
        }
    }

    #[test]
    fn hidden_namespaces_suggest_only_what_is_lacking() {
        let mut one = Pids::default();
        one.add(812);
        let without = hidden(&one, Some(Capabilities::default()));
        assert_eq!(
            without,
            "note: the network namespace of 1 process (pid 812) could not be looked at \
             (permission denied; needs CAP_SYS_PTRACE): namespaces only they use were not judged"
        );
        assert_eq!(hidden(&one, None), without);
        let mut two = one.clone();
        two.add(9);
        let with = hidden(&two, Some(Capabilities::of(&[CAP_SYS_PTRACE])));
        assert!(
            with.starts_with(
                "note: the network namespace of 2 processes (pids 9, 812) could not be looked at, so namespaces \
                 only they use were not judged: the kernel refused even with CAP_SYS_PTRACE, \
                 which this process has"
            ),
            "{with}"
        );
        assert!(!with.contains("needs"), "{with}");
    }
}
