//! The one error type. Every variant says what failed and with which path,
//! option or errno; `main` alone turns it into `EPHEMERAL UNKNOWN` and exit 3.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line option (or its value) is not acceptable.
    #[error("{0}")]
    Usage(String),

    /// The file named or found by `--extra-opts` is unreadable or malformed.
    #[error("--extra-opts: {}: {reason}", shown(path))]
    ExtraOpts { path: PathBuf, reason: String },

    /// A kernel file could not be read at all.
    #[error("cannot read {}: {source}", shown(path))]
    Read { path: PathBuf, source: io::Error },

    /// A kernel file was read but does not say what it should.
    #[error("{}: {reason}", shown(path))]
    Parse { path: PathBuf, reason: String },

    /// A netlink system call failed.
    #[error("netlink sock_diag: {call} failed: {errno} ({})", errno.desc())]
    Netlink { call: &'static str, errno: Errno },

    /// The kernel refused a sock_diag request.
    #[error("netlink sock_diag: the kernel refused the {dump} dump: {errno} ({})", errno.desc())]
    DumpRefused { dump: &'static str, errno: Errno },

    /// A sock_diag reply did not have the layout the kernel documents.
    #[error("netlink sock_diag: malformed reply in the {dump} dump: {reason}")]
    Malformed {
        dump: &'static str,
        reason: &'static str,
    },

    /// The check lacks a capability an option needs.
    #[error(
        "{option} needs {missing}, which this process does not have: run it as root (e.g. through a sudo rule) \
         or give the program the capabilities with: setcap {grant}+ep {program}"
    )]
    Privilege {
        option: &'static str,
        missing: String,
        /// What the option may need, as setcap(8) spells it.
        grant: String,
        program: String,
    },

    /// The namespace has no conntrack table at all.
    #[error("conntrack: this namespace has no conntrack table (nf_conntrack is not loaded)")]
    NoConntrack,

    /// A ctnetlink dump failed after it began, or its reply was malformed.
    #[error("netlink conntrack: {reason}{}", errno_text(errno))]
    ConntrackDump {
        reason: &'static str,
        errno: Option<Errno>,
    },

    /// ctnetlink refused, and the /proc table is not there either.
    #[error("netlink conntrack: {errno:?} ({}); no {}", errno.desc(), shown(path))]
    ConntrackUnreadable { errno: Errno, path: PathBuf },

    /// A network namespace could not be entered or read.
    #[error("network namespace {}: {reason}", shown(path))]
    Namespace { path: PathBuf, reason: String },
}

impl Error {
    /// The error for an option that needs capabilities this process lacks:
    /// `missing` as the kernel names them, `grant` as setcap(8) spells them.
    pub fn privilege(option: &'static str, missing: String, grant: String) -> Self {
        Error::Privilege {
            option,
            missing,
            grant,
            program: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "check_ephemeral".into()),
        }
    }

    pub fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Read {
            path: path.into(),
            source,
        }
    }

    pub fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest path printed whole in a message.
const MAX_PATH: usize = 96;

/// A path as a message shows it: a huge one (a value someone passed) is
/// cut in the middle, so that what went wrong with it stays on the line.
pub fn shown(path: &Path) -> String {
    let text = path.display().to_string();
    if text.len() <= MAX_PATH {
        return text;
    }
    let boundary = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let head = &text[..boundary(MAX_PATH / 2)];
    let tail = &text[boundary(text.len() - MAX_PATH / 4)..];
    format!("{head}...{tail} ({} bytes)", text.len())
}

/// `: EPERM (Operation not permitted)`, or nothing.
fn errno_text(errno: &Option<Errno>) -> String {
    errno.map_or_else(String::new, |e| format!(": {e:?} ({})", e.desc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_path_is_cut_and_the_reason_stays() {
        let path = format!("/run/netns/{}", "é".repeat(5000));
        let e = Error::Namespace {
            path: path.clone().into(),
            reason: "No such file or directory".into(),
        };
        let text = e.to_string();
        assert!(text.len() < 200, "{text}");
        assert!(
            text.ends_with("bytes): No such file or directory"),
            "{text}"
        );
        assert!(text.starts_with("network namespace /run/netns/é"), "{text}");
        let short = Error::read("/proc/sys/x", io::Error::from(io::ErrorKind::NotFound));
        assert!(short.to_string().starts_with("cannot read /proc/sys/x: "));
    }

    #[test]
    fn conntrack_failures_carry_their_errno_and_path() {
        let dump = Error::ConntrackDump {
            reason: "the dump broke off",
            errno: Some(Errno::ENOBUFS),
        };
        assert_eq!(
            dump.to_string(),
            "netlink conntrack: the dump broke off: ENOBUFS (No buffer space available)"
        );
        let cut = Error::ConntrackDump {
            reason: "a conntrack tuple lacks an address or its protocol",
            errno: None,
        };
        assert!(cut.to_string().ends_with("its protocol"), "{cut}");
        let none = Error::ConntrackUnreadable {
            errno: Errno::EPROTONOSUPPORT,
            path: "/proc/net/nf_conntrack".into(),
        };
        assert_eq!(
            none.to_string(),
            "netlink conntrack: EPROTONOSUPPORT (Protocol not supported); no /proc/net/nf_conntrack"
        );
        let p = Error::privilege(
            "--pools nat",
            "CAP_NET_ADMIN".into(),
            "cap_net_admin".into(),
        );
        assert!(
            p.to_string().starts_with("--pools nat needs CAP_NET_ADMIN"),
            "{p}"
        );
    }
}
