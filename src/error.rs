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

    /// The conntrack table, asked for with `--pools nat`, cannot be read.
    #[error("conntrack: {reason}")]
    Conntrack { reason: String },

    /// A network namespace could not be entered or read.
    #[error("network namespace {}: {reason}", shown(path))]
    Namespace { path: PathBuf, reason: String },
}

impl Error {
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
}
