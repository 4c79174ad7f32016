//! Who holds the ports (`--processes`): the sockets of the pools the long
//! output lists, matched by inode against the `socket:[INODE]` links in
//! `/proc/PID/fd`.
//!
//! Nothing here runs unless asked: the first read keeps no inodes. Once the
//! pools are judged, a second read of the tables keeps the inodes of the
//! listed pools' sockets only, and one walk of `/proc` finds their owners.
//! The cost is one more dump plus one `readlink` per open file on the host.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, readlinkat};
use nix::sys::stat::Mode;
use nix::unistd::dup;

use crate::Measured;
use crate::error::Result;
use crate::netns::command_of;
use crate::output::pool_label;
use crate::pools::{Kind, PoolName, Tuple};
use crate::ports::{PortBits, PortRange};
use crate::procfs;
use crate::read;
use crate::socket::{Protocol, Sink, Socket};
use crate::stage::{self, Stage};

/// Processes named per pool; the rest are summed up.
const SHOWN: usize = 3;

/// The sockets a pool counts, as a test on one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    /// The connected sockets of one tuple.
    Tuple(Tuple),
    /// TCP sockets on one local address.
    TcpAddress(IpAddr),
    /// Every TCP (or UDP) socket that is not IPv6-only: the IPv4 wildcard.
    AnyV4(Protocol),
    /// Every TCP (or UDP) socket: the IPv6 wildcard.
    Any(Protocol),
    /// A tuple with no socket yet has none of its own.
    Nothing,
}

impl Member {
    fn of(kind: Kind, name: &PoolName) -> Member {
        let protocol = if kind == Kind::Udp {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        match (kind, *name) {
            (Kind::Connect, PoolName::Tuple(t)) => Member::Tuple(t),
            (_, PoolName::Address(IpAddr::V4(a))) if a.is_unspecified() => Member::AnyV4(protocol),
            (_, PoolName::Address(IpAddr::V6(a))) if a.is_unspecified() => Member::Any(protocol),
            (Kind::Bind, PoolName::Address(a)) => Member::TcpAddress(a),
            _ => Member::Nothing,
        }
    }

    fn holds(self, s: &Socket) -> bool {
        match self {
            Member::Tuple(t) => {
                s.protocol == Protocol::Tcp
                    && !s.state.is_unconnected()
                    && s.local == t.source
                    && s.remote == t.destination
                    && s.remote_port == t.port
            }
            Member::TcpAddress(a) => s.protocol == Protocol::Tcp && s.local == a,
            Member::AnyV4(p) => s.protocol == p && !(s.local.is_ipv6() && s.v6only == Some(true)),
            Member::Any(p) => s.protocol == p,
            Member::Nothing => false,
        }
    }
}

/// The listed pools and the inodes of their sockets.
#[derive(Debug)]
pub struct Wanted {
    labels: Vec<String>,
    members: Vec<Member>,
    /// Socket inode to the pools (indexes) it belongs to.
    inodes: HashMap<u32, Vec<u16>>,
    /// Per pool: sockets with no file (TIME_WAIT, closed but not yet gone).
    fileless: Vec<u32>,
    /// The ports a connected socket may hold and count in its tuple's
    /// pool, as in the model: the candidates, less those `bind()` marks
    /// in this read (marks come before the connected sockets).
    range: PortRange,
    connectable: PortBits,
}

impl Wanted {
    fn new(measured: &Measured) -> Wanted {
        let range = measured.model.range();
        let mut labels = Vec::new();
        let mut members = Vec::new();
        for k in &measured.report.kinds {
            for (pool, _) in &k.top {
                labels.push(pool_label(pool));
                members.push(Member::of(pool.kind, &pool.name));
            }
        }
        Wanted {
            fileless: vec![0; members.len()],
            labels,
            members,
            inodes: HashMap::new(),
            range,
            connectable: measured.model.candidate_bits().clone(),
        }
    }

    fn offer(&mut self, s: &Socket) {
        let in_connect_pool = self.range.contains(s.local_port)
            && self.connectable.contains(self.range.index(s.local_port));
        for (i, member) in self.members.iter().enumerate() {
            if !member.holds(s) || (matches!(member, Member::Tuple(_)) && !in_connect_pool) {
                continue;
            }
            if s.inode == 0 {
                self.fileless[i] += 1;
            } else {
                // At most 3 × 100 pools are listed.
                self.inodes.entry(s.inode).or_default().push(i as u16);
            }
        }
    }
}

impl Sink for Wanted {
    fn marked(&mut self, s: &Socket) {
        if s.protocol == Protocol::Tcp && self.range.contains(s.local_port) {
            self.connectable.remove(self.range.index(s.local_port));
        }
        // Connected sockets come again through `socket`; count them once,
        // as the model does.
        if s.state.is_unconnected() {
            self.offer(s);
        }
    }

    fn socket(&mut self, s: &Socket) {
        self.offer(s);
    }
}

/// The second read: the inodes of the listed pools' sockets. Runs in the
/// namespace `measured` came from; `proc_dir` as for the first read.
pub fn collect(measured: &Measured, proc_dir: &Path) -> Result<Wanted> {
    stage::enter(Stage::ReadingSockets);
    let mut wanted = Wanted::new(measured);
    read::read_again(
        &measured.info,
        measured.model.range(),
        proc_dir,
        &mut wanted,
    )?;
    Ok(wanted)
}

/// Who holds each pool's sockets, from one walk of `/proc/*/fd`.
#[derive(Debug, Default)]
struct Holders {
    /// Per pool: sockets per pid.
    per_pool: Vec<HashMap<u32, u32>>,
    /// Inodes found in some readable fd table.
    seen: HashSet<u32>,
    /// Processes whose open files could not be read.
    unreadable: usize,
}

fn walk(wanted: &Wanted) -> Result<Holders> {
    let mut holders = Holders {
        per_pool: vec![HashMap::new(); wanted.members.len()],
        ..Holders::default()
    };
    if wanted.inodes.is_empty() {
        return Ok(holders);
    }
    for (pid, dir) in procfs::processes()? {
        // The fd directory is read by its entries and each link read
        // relative to it: one path lookup per process, not one per file.
        let fd_dir = match open(
            &dir.join("fd"),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::EACCES | Errno::EPERM) => {
                holders.unreadable += 1;
                continue;
            }
            Err(_) => continue, // exited meanwhile
        };
        let Ok(mut entries) = dup(&fd_dir).and_then(Dir::from_fd) else {
            continue;
        };
        for entry in entries.iter().flatten() {
            let target = match readlinkat(&fd_dir, entry.file_name()) {
                Ok(target) => target,
                Err(Errno::EACCES | Errno::EPERM) => {
                    holders.unreadable += 1;
                    break;
                }
                Err(_) => continue, // ".", "..", or closed meanwhile
            };
            let Some(inode) = socket_inode(target.as_encoded_bytes()) else {
                continue;
            };
            let Some(pools) = wanted.inodes.get(&inode) else {
                continue;
            };
            holders.seen.insert(inode);
            for &i in pools {
                *holders.per_pool[usize::from(i)].entry(pid).or_default() += 1;
            }
        }
    }
    Ok(holders)
}

/// `1 process`, `2 processes`.
pub fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

/// `socket:[12345]` is socket inode 12345.
fn socket_inode(link: &[u8]) -> Option<u32> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Finds the owners and says who they are, a line per listed pool.
pub fn attribute(wanted: &Wanted) -> Result<Vec<String>> {
    stage::enter(Stage::FindingProcesses);
    let holders = walk(wanted)?;
    let mut unattributed = vec![0u32; wanted.members.len()];
    for (inode, pools) in &wanted.inodes {
        if !holders.seen.contains(inode) {
            for &i in pools {
                unattributed[usize::from(i)] += 1;
            }
        }
    }
    let mut commands: HashMap<u32, String> = HashMap::new();
    let mut lines = vec![
        "processes holding the sockets of the pools above (pid command: sockets):".to_string(),
    ];
    for (i, label) in wanted.labels.iter().enumerate() {
        let mut parts = Vec::new();
        let mut by_pid: Vec<(u32, u32)> =
            holders.per_pool[i].iter().map(|(p, n)| (*p, *n)).collect();
        by_pid.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for &(pid, n) in by_pid.iter().take(SHOWN) {
            let command = commands.entry(pid).or_insert_with(|| command_of(pid));
            parts.push(format!("pid {pid} {command}: {n}"));
        }
        if by_pid.len() > SHOWN {
            let rest: u32 = by_pid[SHOWN..].iter().map(|(_, n)| n).sum();
            parts.push(format!("{} more: {rest}", processes(by_pid.len() - SHOWN)));
        }
        if wanted.fileless[i] > 0 {
            parts.push(format!(
                "{} without a process (TIME_WAIT or closed)",
                wanted.fileless[i]
            ));
        }
        if unattributed[i] > 0 {
            parts.push(format!(
                "{} in no open file that could be read",
                unattributed[i]
            ));
        }
        let text = if parts.is_empty() {
            "no sockets of its own".to_string()
        } else {
            parts.join(", ")
        };
        lines.push(format!("  {label}: {text}"));
    }
    if holders.unreadable > 0 {
        lines.push(format!(
            "processes: the open files of {} could not be read, so their sockets are not attributed; \
             run as root or grant CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE",
            processes(holders.unreadable)
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::TcpState;

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_socket_links_only() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
    }

    #[test]
    fn a_tuple_pool_leaves_out_sockets_on_marked_ports() {
        let range = PortRange::new(40000, 40009).unwrap();
        let t = Tuple {
            source: addr("127.0.0.1"),
            destination: addr("127.0.0.1"),
            port: 5000,
        };
        let mut wanted = Wanted {
            labels: vec!["tuple".into()],
            members: vec![Member::Tuple(t)],
            inodes: HashMap::new(),
            fileless: vec![0],
            range,
            connectable: PortBits::candidates(range, &"40009".parse().unwrap()),
        };
        let connected = |port, inode| {
            let mut s = Socket::new(
                Protocol::Tcp,
                TcpState::ESTABLISHED,
                (addr("127.0.0.1"), port),
                (addr("127.0.0.1"), 5000),
            );
            s.inode = inode;
            s
        };
        // Marks first, as every read hands them over: one explicit bind,
        // connected, on 40001 (it comes again as a connected socket).
        wanted.marked(&connected(40001, 11));
        for (port, inode) in [(40001, 11), (40002, 12), (40009, 19)] {
            wanted.socket(&connected(port, inode));
        }
        // 40001 is marked and 40009 reserved: the model counts neither in
        // the tuple's pool, so neither is attributed to it.
        let attributed: Vec<u32> = wanted.inodes.keys().copied().collect();
        assert_eq!(attributed, vec![12]);
    }

    #[test]
    fn pools_count_the_sockets_the_model_counts() {
        let t = Tuple {
            source: addr("127.0.0.1"),
            destination: addr("127.0.0.1"),
            port: 5000,
        };
        let mut s = Socket::new(
            Protocol::Tcp,
            TcpState::ESTABLISHED,
            (addr("127.0.0.1"), 40001),
            (addr("127.0.0.1"), 5000),
        );
        assert!(Member::of(Kind::Connect, &PoolName::Tuple(t)).holds(&s));
        assert!(Member::of(Kind::Bind, &PoolName::Address(addr("127.0.0.1"))).holds(&s));
        assert!(!Member::of(Kind::Bind, &PoolName::Address(addr("127.0.0.2"))).holds(&s));
        assert!(Member::of(Kind::Bind, &PoolName::Address(addr("0.0.0.0"))).holds(&s));
        assert!(!Member::of(Kind::Udp, &PoolName::Address(addr("::"))).holds(&s));
        s.remote_port = 5001;
        assert!(!Member::of(Kind::Connect, &PoolName::Tuple(t)).holds(&s));
        s.local = addr("::1");
        s.v6only = Some(true);
        assert!(!Member::of(Kind::Bind, &PoolName::Address(addr("0.0.0.0"))).holds(&s));
        assert!(Member::of(Kind::Bind, &PoolName::Address(addr("::"))).holds(&s));
    }
}
