//! What the output says of network namespaces (`--netns`, `--all-netns`):
//! their names, one line per judged namespace, and what was left out.

use super::{clean, numbers, pool_label};
use crate::error::Error;
use crate::judge::State;
use crate::model::Pool;
use crate::scope::netns::Namespace;
use crate::scope::procfs::{self, CAP_SYS_PTRACE, Capabilities, Refusal};

/// `web1`, `inode 4026532301 (pid 812 nginx)` or `inode 4026532301 (/path)`.
pub fn label(ns: &Namespace) -> String {
    let text = match (&ns.name, &ns.process) {
        (Some(name), _) => name.clone(),
        (None, Some((pid, command))) => {
            format!("inode {} (pid {pid} {command})", ns.id.ino)
        }
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

/// How many namespaces were judged, in which states, and how many of them
/// the lines below show.
pub fn heading(judged: [usize; 4], total: usize, skipped: usize, shown: usize) -> String {
    let [critical, warning, unknown, ok] = judged;
    format!(
        "network namespaces: {total} judged ({critical} CRITICAL, {warning} WARNING, {unknown} UNKNOWN, {ok} OK), {skipped} skipped; worst {shown}:"
    )
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
pub fn hidden(n: usize, effective: Option<Capabilities>) -> String {
    let processes = super::processes::count(n);
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
        assert_eq!(label(&ns), "inode 4026532301 (pid 812 nginx)");
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
