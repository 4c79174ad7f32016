//! Reads the conntrack table of the calling thread's namespace: every entry
//! over ctnetlink (needs CAP_NET_ADMIN), or `/proc/net/nf_conntrack` where
//! netlink is refused for another reason; and the table's size and failure
//! counters, which anyone may read from sysctls and `/proc/net/stat`.
//! Entries go to a callback one at a time, parsed in place: nothing is
//! allocated per entry.

pub mod entry;
pub mod text;
pub mod wire;

pub use entry::{Entry, Phase, Tuple};

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, socket, sockopt,
};

use crate::error::Error;
use crate::read::netlink::{self, DumpError};
use wire::{AF_UNSPEC, MSG_CT_GET, MSG_CT_GET_STATS_CPU, Request};

const RECV_BUFFER: usize = 64 * 1024;

/// The table's size and the counters that show it refusing connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableFigures {
    /// Entries of this namespace (`nf_conntrack_count`).
    pub entries: u64,
    /// `nf_conntrack_max`: the host's limit.
    pub max: u64,
    /// Summed over CPUs since boot (or since the namespace was made).
    pub insert_failed: u64,
    pub drop: u64,
    pub early_drop: u64,
    /// `nf_conntrack_tcp_timeout_time_wait`: how long a TCP entry stays in
    /// TIME_WAIT (and holds its NAT port), where it could be read.
    pub time_wait_timeout_s: Option<u32>,
}

/// Where the entries came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntriesFrom {
    Netlink,
    Proc,
}

/// What reading the entries found, for `-v`.
#[derive(Clone, Copy, Debug)]
pub struct EntriesRead {
    pub from: EntriesFrom,
    /// The NAT address the kernel filtered the dump to, if it did.
    pub filtered_to: Option<IpAddr>,
    pub entries: u64,
    pub time: Duration,
}

/// Why the entries could not be read.
#[derive(Debug)]
pub enum Unreadable {
    /// The kernel wants CAP_NET_ADMIN in this namespace.
    Privilege,
    /// Another failure, with its errno or path.
    Failed(Error),
}

/// Where the conntrack sysctls are.
pub const NETFILTER_DIR: &str = "/proc/sys/net/netfilter";

/// Reads the table's figures from the sysctls in `netfilter_dir` and
/// `stat/nf_conntrack` under `proc_dir`; `None` when this kernel
/// (namespace) has no conntrack.
pub fn read_figures(netfilter_dir: &Path, proc_dir: &Path) -> Option<TableFigures> {
    let number = |name: &str| -> Option<u64> {
        let path = netfilter_dir.join(name);
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    };
    let mut figures = TableFigures {
        entries: number("nf_conntrack_count")?,
        max: number("nf_conntrack_max")?,
        time_wait_timeout_s: number("nf_conntrack_tcp_timeout_time_wait")
            .and_then(|s| u32::try_from(s).ok()),
        ..TableFigures::default()
    };
    if let Ok(file) = std::fs::File::open(proc_dir.join("stat/nf_conntrack")) {
        let sums = stat_sums(BufReader::new(file).lines().map_while(|l| l.ok()));
        figures.insert_failed = sums.insert_failed;
        figures.drop = sums.drop;
        figures.early_drop = sums.early_drop;
    }
    Some(figures)
}

/// The table's failure counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub insert_failed: u64,
    pub drop: u64,
    pub early_drop: u64,
}

/// Sums the `insert_failed`, `drop` and `early_drop` columns (hex, one row
/// per CPU) of `/proc/net/stat/nf_conntrack`, located by the header row.
pub fn stat_sums(lines: impl Iterator<Item = String>) -> Failures {
    let mut sums = [0u64; 3];
    let mut columns: [Option<usize>; 3] = [None; 3];
    for (i, line) in lines.enumerate() {
        if i == 0 {
            for (at, name) in line.split_whitespace().enumerate() {
                let slot = match name {
                    "insert_failed" => 0,
                    "drop" => 1,
                    "early_drop" => 2,
                    _ => continue,
                };
                columns[slot] = Some(at);
            }
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        for (sum, column) in sums.iter_mut().zip(columns) {
            let value = column
                .and_then(|c| fields.get(c))
                .and_then(|f| u64::from_str_radix(f, 16).ok());
            *sum = sum.saturating_add(value.unwrap_or(0));
        }
    }
    let [insert_failed, drop, early_drop] = sums;
    Failures {
        insert_failed,
        drop,
        early_drop,
    }
}

/// Hands every entry of the namespace to `each` (with `replies_to`, at
/// least those whose reply goes to that NAT address: the kernel filters
/// where it can): over netlink, else from `proc_dir/nf_conntrack`.
pub fn read_entries(
    proc_dir: &Path,
    replies_to: Option<IpAddr>,
    each: &mut dyn FnMut(&Entry),
) -> Result<EntriesRead, Unreadable> {
    let started = Instant::now();
    let mut filtered_to = replies_to;
    let netlink = Ctnetlink::open().and_then(|mut nl| match replies_to {
        Some(address) => match nl.entries(Request::dump_replies_to(address, 1), each) {
            // A kernel without dump filters (before 5.8) may refuse it.
            Err(Failure::Refused(Errno::EINVAL | Errno::EOPNOTSUPP)) => {
                filtered_to = None;
                nl.entries(Request::dump(MSG_CT_GET, AF_UNSPEC, 2), each)
            }
            other => other,
        },
        None => nl.entries(Request::dump(MSG_CT_GET, AF_UNSPEC, 1), each),
    });
    let refused = match netlink {
        Ok(entries) => {
            return Ok(EntriesRead {
                from: EntriesFrom::Netlink,
                filtered_to,
                entries,
                time: started.elapsed(),
            });
        }
        Err(Failure::Refused(Errno::EPERM)) => return Err(Unreadable::Privilege),
        Err(Failure::Refused(errno)) => errno,
        Err(Failure::Midway { reason, errno }) => {
            return Err(Unreadable::Failed(Error::ConntrackDump { reason, errno }));
        }
    };
    let path = proc_dir.join("nf_conntrack");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(Unreadable::Privilege);
        }
        Err(_) => {
            return Err(Unreadable::Failed(Error::ConntrackUnreadable {
                errno: refused,
                path,
            }));
        }
    };
    let mut entries = 0;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Unreadable::Failed(Error::read(&path, e)))?;
        let entry = text::parse_line(&line)
            .map_err(|reason| Unreadable::Failed(Error::parse(&path, reason)))?;
        entries += 1;
        each(&entry);
    }
    Ok(EntriesRead {
        from: EntriesFrom::Proc,
        filtered_to: None,
        entries,
        time: started.elapsed(),
    })
}

enum Failure {
    /// The kernel (or the socket call) said no before any entry came.
    Refused(Errno),
    /// The dump broke after it began (entries may have been handed on), or
    /// a reply was malformed.
    Midway {
        reason: &'static str,
        errno: Option<Errno>,
    },
}

/// A `NETLINK_NETFILTER` socket asking ctnetlink.
struct Ctnetlink {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

impl Ctnetlink {
    fn open() -> Result<Ctnetlink, Failure> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(Failure::Refused)?;
        let _ = setsockopt(&fd, sockopt::RcvBuf, &(1 << 20));
        Ok(Ctnetlink {
            fd,
            buf: vec![0; RECV_BUFFER],
            seq: 0,
        })
    }

    fn entries(&mut self, request: Request, each: &mut dyn FnMut(&Entry)) -> Result<u64, Failure> {
        let mut count = 0;
        self.send(request, &mut |payload| {
            let entry = wire::parse_entry(payload)?;
            count += 1;
            each(&entry);
            Ok(())
        })?;
        Ok(count)
    }

    /// The per-CPU counters summed.
    fn cpu_counters(&mut self) -> Result<Failures, Failure> {
        let mut sums = Failures::default();
        self.dump(MSG_CT_GET_STATS_CPU, &mut |payload| {
            let s = wire::parse_cpu_stats(payload)?;
            let add = |sum: &mut u64, v: u32| *sum = sum.saturating_add(u64::from(v));
            add(&mut sums.insert_failed, s.insert_failed);
            add(&mut sums.drop, s.drop);
            add(&mut sums.early_drop, s.early_drop);
            Ok(())
        })?;
        Ok(sums)
    }

    fn dump(
        &mut self,
        message: u8,
        each: &mut dyn FnMut(&[u8]) -> Result<(), &'static str>,
    ) -> Result<(), Failure> {
        let request = Request::dump(message, AF_UNSPEC, self.seq.wrapping_add(1));
        self.send(request, each)
    }

    /// Sends `request` and hands each reply message's payload to `each`;
    /// the request's sequence number is made the next of this socket.
    fn send(
        &mut self,
        mut request: Request,
        each: &mut dyn FnMut(&[u8]) -> Result<(), &'static str>,
    ) -> Result<(), Failure> {
        self.seq = self.seq.wrapping_add(1);
        request.set_seq(self.seq);
        let got = netlink::dump(
            self.fd.as_raw_fd(),
            &mut self.buf,
            request.as_bytes(),
            self.seq,
            each,
        );
        match got {
            Ok(_) => Ok(()),
            Err(DumpError::Send(errno))
            | Err(DumpError::Refused {
                errno,
                began: false,
            }) => Err(Failure::Refused(errno)),
            Err(DumpError::Recv(errno)) => Err(Failure::Midway {
                reason: "recv failed",
                errno: Some(errno),
            }),
            Err(DumpError::Refused { errno, began: true }) => Err(Failure::Midway {
                reason: "the dump broke off",
                errno: Some(errno),
            }),
            Err(DumpError::Malformed(reason)) => Err(Failure::Midway {
                reason,
                errno: None,
            }),
        }
    }
}

/// The per-CPU counters over netlink, where the entries came from there:
/// the same numbers as `/proc/net/stat`, asked of the same socket.
pub fn netlink_counters() -> Option<Failures> {
    Ctnetlink::open().ok()?.cpu_counters().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /proc/net/stat/nf_conntrack of a 6.18 kernel with two CPUs.
    const STAT: &str = "\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000000a  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000002 00000000 00000000  00000000 00000000 00000000 00000000
0000000a  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004 00000004 00000001 00000000  00000000 00000000 00000000 00000000";

    #[test]
    fn sums_the_failure_columns_over_cpus() {
        let sums = stat_sums(STAT.lines().map(String::from));
        let (i, d, e) = (sums.insert_failed, sums.drop, sums.early_drop);
        assert_eq!((i, d, e), (6, 6, 1));
        assert_eq!(stat_sums(std::iter::empty()), Failures::default());
        assert_eq!(
            stat_sums(["drop", "zz", ""].into_iter().map(String::from)),
            Failures::default()
        );
    }
}
