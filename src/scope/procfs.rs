//! The processes in /proc, for the features that look at other processes
//! (`--all-netns`, `--processes`): which there are, the sockets among their
//! open files, and the capabilities this process has to look at them.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, OwningIter};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, readlinkat};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

/// The status of the calling thread: capabilities belong to a thread.
const STATUS: &str = "/proc/thread-self/status";

/// Every process's pid and /proc directory. A process that exits while
/// the caller looks at it simply disappears from what it can read.
pub fn processes() -> Result<impl Iterator<Item = (u32, PathBuf)>> {
    let proc = fs::read_dir("/proc").map_err(|source| Error::read("/proc", source))?;
    Ok(proc.flatten().filter_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
        Some((pid, entry.path()))
    }))
}

/// Processes something could not be done for: how many, and the lowest
/// few pids, for a note that lets the operator look at them. Bounded
/// however many there are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pids {
    pub count: usize,
    /// The [`Pids::SHOWN`] lowest, in order.
    pub lowest: Vec<u32>,
}

impl Pids {
    pub const SHOWN: usize = 5;

    pub fn add(&mut self, pid: u32) {
        self.count += 1;
        let at = self.lowest.partition_point(|&p| p < pid);
        if at < Self::SHOWN {
            self.lowest.insert(at, pid);
            self.lowest.truncate(Self::SHOWN);
        }
    }
}

/// The kernel would not show a process's open files: at which step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Opening `/proc/PID/fd`, a directory only its owner may read: for
    /// another user's process it takes CAP_DAC_READ_SEARCH, and reading
    /// the links after it CAP_SYS_PTRACE.
    Listing,
    /// Reading a link, which takes ptrace access (CAP_SYS_PTRACE).
    Reading,
}

impl Refused {
    /// The capabilities that would let this process past the step.
    pub fn needs(self) -> &'static [Capability] {
        match self {
            Refused::Listing => &[CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE],
            Refused::Reading => &[CAP_SYS_PTRACE],
        }
    }
}

/// The socket inodes among the open files of the process whose /proc
/// directory is `process`: an `Err(Refused)` last if the kernel would not
/// show them (all of them, or the rest), nothing if the process is gone.
///
/// Opening `/proc/PID/fd` fails with EACCES or EPERM when the process is
/// closed to this one, and with ENOENT or ESRCH when it has exited.
/// Anything else (EMFILE, ENFILE, ENOMEM), or a failed duplicate of the
/// descriptor, says this process ran out of something: an error, not an
/// unreadable process. Counting it as unreadable would blame the other
/// process and suggest capabilities that would not help; skipping it would
/// leave its sockets unattributed without a word.
pub fn socket_inodes(process: &Path) -> Result<SocketInodes> {
    let path = process.join("fd");
    let fd_dir = match open(
        &path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::EACCES | Errno::EPERM) => {
            return Ok(SocketInodes {
                open: None,
                refused: Some(Refused::Listing),
            });
        }
        Err(Errno::ENOENT | Errno::ESRCH) => {
            return Ok(SocketInodes {
                open: None,
                refused: None,
            });
        }
        Err(e) => return Err(Error::read(path, e.into())),
    };
    // A second descriptor for the entries, as the `Dir` owns the one it
    // reads; `try_clone` keeps close-on-exec (F_DUPFD_CLOEXEC), where
    // `dup` would clear it. `into_iter` spares the rewind a borrowed
    // iterator does when dropped.
    let entries = fd_dir
        .try_clone()
        .and_then(|fd| Dir::from_fd(fd).map_err(io::Error::from))
        .map_err(|source| Error::read(&path, source))?
        .into_iter();
    Ok(SocketInodes {
        open: Some((fd_dir, entries)),
        refused: None,
    })
}

/// See [`socket_inodes`].
#[derive(Debug)]
pub struct SocketInodes {
    /// `/proc/PID/fd` and its entries. Each link is read relative to the
    /// directory: one full path walk per process, and a lookup of one
    /// name per file.
    open: Option<(OwnedFd, OwningIter)>,
    /// What to say next, before anything else.
    refused: Option<Refused>,
}

impl Iterator for SocketInodes {
    type Item = std::result::Result<u32, Refused>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(refused) = self.refused.take() {
            return Some(Err(refused));
        }
        let (fd_dir, entries) = self.open.as_mut()?;
        loop {
            // readdir fails when the process has exited; nix's iterator
            // would repeat the error, so the first one ends the walk, as
            // `map_while(Result::ok)` would.
            let Some(Ok(entry)) = entries.next() else {
                self.open = None;
                return None;
            };
            let name = entry.file_name();
            if name.to_bytes().starts_with(b".") {
                continue;
            }
            match readlinkat(&*fd_dir, name) {
                Ok(target) => {
                    if let Some(inode) = socket_inode(target.as_encoded_bytes()) {
                        return Some(Ok(inode));
                    }
                }
                // The links need ptrace access to the process, which
                // opening the directory does not check.
                Err(Errno::EACCES | Errno::EPERM) => {
                    self.open = None;
                    return Some(Err(Refused::Reading));
                }
                // Closed meanwhile, or the process exited.
                Err(_) => {}
            }
        }
    }
}

/// `socket:[12345]` is socket inode 12345.
fn socket_inode(link: &[u8]) -> Option<u32> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A capability: its bit in `include/uapi/linux/capability.h`, and its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    bit: u32,
    pub name: &'static str,
}

pub const CAP_DAC_READ_SEARCH: Capability = Capability {
    bit: 2,
    name: "CAP_DAC_READ_SEARCH",
};
pub const CAP_NET_ADMIN: Capability = Capability {
    bit: 12,
    name: "CAP_NET_ADMIN",
};
pub const CAP_SYS_PTRACE: Capability = Capability {
    bit: 19,
    name: "CAP_SYS_PTRACE",
};
pub const CAP_SYS_ADMIN: Capability = Capability {
    bit: 21,
    name: "CAP_SYS_ADMIN",
};

/// A set of capabilities, such as the effective set (`CapEff`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities(u64);

impl Capabilities {
    /// The effective set of the calling thread; `None` when the kernel
    /// does not say.
    pub fn effective() -> Option<Capabilities> {
        Capabilities::from_status(&fs::read_to_string(STATUS).ok()?)
    }

    /// `CapEff:` of a `/proc/PID/status`, in hex.
    pub fn from_status(status: &str) -> Option<Capabilities> {
        let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
        u64::from_str_radix(line.trim(), 16).ok().map(Capabilities)
    }

    pub fn of(caps: &[Capability]) -> Capabilities {
        Capabilities(caps.iter().fold(0, |set, c| set | 1 << c.bit))
    }

    pub fn has(self, cap: Capability) -> bool {
        self.0 & 1 << cap.bit != 0
    }
}

/// Why the kernel refused what `needed` capabilities would allow, as far
/// as this process can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This process lacks these; all of `needed` when its set is unknown.
    Lacking(Vec<Capability>),
    /// It has them all, so granting them is no way out.
    Despite(Vec<Capability>),
}

impl Refusal {
    pub fn of(needed: &[Capability], effective: Option<Capabilities>) -> Refusal {
        let lacking: Vec<Capability> = needed
            .iter()
            .copied()
            .filter(|&c| effective.is_none_or(|set| !set.has(c)))
            .collect();
        if lacking.is_empty() {
            Refusal::Despite(needed.to_vec())
        } else {
            Refusal::Lacking(lacking)
        }
    }
}

/// `CAP_A`, `CAP_A and CAP_B`, `CAP_A, CAP_B and CAP_C`.
pub fn names(caps: &[Capability]) -> String {
    let names: Vec<&str> = caps.iter().map(|c| c.name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// What to say of a [`Refusal::Despite`].
pub fn despite(caps: &[Capability]) -> String {
    format!(
        "the kernel refused even with {}, which this process has \
         (e.g. a security module, or a process in another user namespace)",
        names(caps)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_keep_the_lowest_few() {
        let mut pids = Pids::default();
        for pid in [90, 7, 300, 12, 8, 1000, 3, 44] {
            pids.add(pid);
        }
        assert_eq!(pids.count, 8);
        assert_eq!(pids.lowest, [3, 7, 8, 12, 44]);
    }

    #[test]
    fn reads_socket_links_only() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
    }

    #[test]
    fn finds_its_own_sockets() {
        use std::os::fd::AsRawFd;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let link = fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).unwrap();
        let inode = socket_inode(link.as_os_str().as_encoded_bytes()).unwrap();
        let found: Vec<_> = socket_inodes(Path::new("/proc/self")).unwrap().collect();
        assert!(found.contains(&Ok(inode)), "{found:?}");
        let gone = socket_inodes(Path::new("/proc/4294967295")).unwrap();
        assert_eq!(gone.count(), 0);
    }

    #[test]
    fn reads_the_effective_capabilities() {
        // As a 6.18 kernel prints them for root and for an ordinary user.
        let root = "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
        let root = Capabilities::from_status(root).unwrap();
        assert_eq!(root, Capabilities(0x1ff_ffff_ffff));
        assert!(root.has(CAP_SYS_ADMIN) && root.has(CAP_DAC_READ_SEARCH));
        let user = "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";
        let user = Capabilities::from_status(user).unwrap();
        assert_eq!(user, Capabilities::default());
        assert!(!user.has(CAP_SYS_PTRACE));
        // CAP_SYS_PTRACE (19) alone.
        let ptrace = Capabilities::from_status("CapEff:\t0000000000080000\n").unwrap();
        assert_eq!(ptrace, Capabilities::of(&[CAP_SYS_PTRACE]));
        assert_eq!(Capabilities::from_status("Name:\tcat\n"), None);
    }

    #[test]
    fn a_refusal_names_only_what_is_lacking() {
        let needed = [CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE];
        let with = |caps: &[Capability]| Refusal::of(&needed, Some(Capabilities::of(caps)));
        assert_eq!(with(&[]), Refusal::Lacking(needed.to_vec()));
        assert_eq!(
            with(&[CAP_DAC_READ_SEARCH]),
            Refusal::Lacking(vec![CAP_SYS_PTRACE])
        );
        assert_eq!(with(&needed), Refusal::Despite(needed.to_vec()));
        assert_eq!(
            Refusal::of(&needed, None),
            Refusal::Lacking(needed.to_vec())
        );
        assert_eq!(names(&[CAP_SYS_ADMIN]), "CAP_SYS_ADMIN");
        assert_eq!(
            names(&[CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_ADMIN]),
            "CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE and CAP_SYS_ADMIN"
        );
    }
}
