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

use super::netns::command_of;
use super::procfs::{self, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, Capability, Pids, Refused};
use crate::error::Result;
use crate::model::upstream::UpstreamKey;
use crate::model::{Connectable, Kind, Model, Pool, PoolName, Tuple};
use crate::read::socket::{Protocol, Sink, Socket};
use crate::read::{self, ReadInfo};
use crate::stage::{self, Stage};

/// Processes named per pool; the rest are summed up.
pub const SHOWN: usize = 3;

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
    /// Sockets to one destination of the provider's NAT (its port too,
    /// where the budget is per destination), from any local address.
    Upstream(UpstreamKey),
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
            (Kind::Upstream, PoolName::Upstream(n)) if n.sources.is_some() => {
                Member::Upstream(n.key)
            }
            _ => Member::Nothing,
        }
    }

    /// Whether the pool counts `s`; `in_connect_pool` says whether `s`
    /// counts in its tuple's connect pool ([`Connectable::counts`]).
    fn holds(self, s: &Socket, in_connect_pool: bool) -> bool {
        match self {
            Member::Tuple(t) => {
                in_connect_pool
                    && s.local == t.source
                    && s.remote == t.destination
                    && s.remote_port == t.port
            }
            Member::TcpAddress(a) => s.protocol == Protocol::Tcp && s.local == a,
            Member::AnyV4(p) => s.protocol == p && !(s.local.is_ipv6() && s.v6only == Some(true)),
            Member::Any(p) => s.protocol == p,
            Member::Upstream(k) => {
                s.protocol == k.protocol
                    && s.remote == k.destination
                    && k.port.is_none_or(|p| p == s.remote_port)
            }
            Member::Nothing => false,
        }
    }
}

/// The listed pools and the inodes of their sockets.
#[derive(Debug)]
pub struct Wanted {
    members: Vec<Member>,
    /// Socket inode to the pools (indexes) it belongs to.
    inodes: HashMap<u32, Vec<u16>>,
    /// Per pool: sockets with no file (TIME_WAIT, closed but not yet gone).
    fileless: Vec<u32>,
    /// Which connected sockets count in their tuple's pool, from the
    /// marks of this read, as in the model.
    connectable: Connectable,
    /// Whether the long output lists the pools (`--top` above 0); if not,
    /// the worst pool of each kind is attributed all the same.
    listed: bool,
}

impl Wanted {
    fn new(pools: &[&Pool], model: &Model, listed: bool) -> Wanted {
        let members: Vec<Member> = pools.iter().map(|p| Member::of(p.kind, &p.name)).collect();
        Wanted {
            fileless: vec![0; members.len()],
            members,
            inodes: HashMap::new(),
            connectable: Connectable::new(model.range(), model.candidates()),
            listed,
        }
    }

    fn offer(&mut self, s: &Socket) {
        let in_connect_pool = self.connectable.counts(s);
        for (i, member) in self.members.iter().enumerate() {
            if !member.holds(s, in_connect_pool) {
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
        self.connectable.mark(s);
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

/// The second read: the inodes of the sockets of `pools` (the pools the
/// long output lists, or with `listed` false the worst of each kind). Runs
/// in the namespace `model` came from, from the sources `info` names;
/// `proc_dir` as for the first read.
pub fn collect(
    pools: &[&Pool],
    model: &Model,
    info: &ReadInfo,
    listed: bool,
    proc_dir: &Path,
) -> Result<Wanted> {
    stage::enter(Stage::ReadingSockets);
    let mut wanted = Wanted::new(pools, model, listed);
    read::read_again(info, model.range(), proc_dir, &mut wanted)?;
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
    unreadable: Pids,
    /// The steps they were refused at, each once.
    refused_at: Vec<Refused>,
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
        for inode in procfs::socket_inodes(&dir)? {
            // Refused comes last.
            let inode = match inode {
                Ok(inode) => inode,
                Err(refused) => {
                    holders.unreadable.add(pid);
                    if !holders.refused_at.contains(&refused) {
                        holders.refused_at.push(refused);
                    }
                    continue;
                }
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

/// Who holds the sockets of each pool `collect` was given, in its order.
#[derive(Debug, Default)]
pub struct Attribution {
    /// Whether the pools are those the long output lists.
    pub listed: bool,
    pub pools: Vec<PoolHolders>,
    /// Processes whose open files could not be read.
    pub unreadable: Pids,
    /// The capabilities that would have got past every refusal met.
    pub needs: Vec<Capability>,
}

/// The holders of one pool's sockets.
#[derive(Debug, Default)]
pub struct PoolHolders {
    /// The [`SHOWN`] biggest holders: pid, command, sockets.
    pub top: Vec<(u32, String, u32)>,
    /// The other holders: processes, and their sockets.
    pub rest: (usize, u32),
    /// Sockets with no file (TIME_WAIT, closed but not yet gone).
    pub fileless: u32,
    /// Sockets in no open file that could be read.
    pub unattributed: u32,
}

/// Finds the owners of the sockets `wanted` holds.
pub fn attribute(wanted: &Wanted) -> Result<Attribution> {
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
    let mut pools = Vec::with_capacity(wanted.members.len());
    for (i, per_pid) in holders.per_pool.iter().enumerate() {
        let mut by_pid: Vec<(u32, u32)> = per_pid.iter().map(|(p, n)| (*p, *n)).collect();
        by_pid.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top = by_pid
            .iter()
            .take(SHOWN)
            .map(|&(pid, n)| {
                let command = commands.entry(pid).or_insert_with(|| command_of(pid));
                (pid, command.clone(), n)
            })
            .collect();
        let rest = by_pid.get(SHOWN..).unwrap_or_default();
        pools.push(PoolHolders {
            top,
            rest: (rest.len(), rest.iter().map(|(_, n)| n).sum()),
            fileless: wanted.fileless[i],
            unattributed: unattributed[i],
        });
    }
    Ok(Attribution {
        listed: wanted.listed,
        pools,
        unreadable: holders.unreadable,
        needs: needed(&holders.refused_at),
    })
}

/// The capabilities that would have got past every refusal met, in the
/// order the hint names them.
fn needed(refused: &[Refused]) -> Vec<Capability> {
    [CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE]
        .into_iter()
        .filter(|cap| refused.iter().any(|r| r.needs().contains(cap)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortBits;
    use crate::read::ports::PortRange;
    use crate::read::socket::TcpState;

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_tuple_pool_leaves_out_sockets_on_marked_ports() {
        let range = PortRange::new(40000, 40009).unwrap();
        let t = Tuple {
            source: addr("127.0.0.1"),
            destination: addr("127.0.0.1"),
            port: 5000,
        };
        let candidates = PortBits::candidates(range, &"40009".parse().unwrap());
        let mut wanted = Wanted {
            members: vec![Member::Tuple(t)],
            inodes: HashMap::new(),
            fileless: vec![0],
            connectable: Connectable::new(range, &candidates),
            listed: true,
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
        let tuple = Member::of(Kind::Connect, &PoolName::Tuple(t));
        let bind = |a: &str| Member::of(Kind::Bind, &PoolName::Address(addr(a)));
        let udp = |a: &str| Member::of(Kind::Udp, &PoolName::Address(addr(a)));
        assert!(tuple.holds(&s, true));
        // On a marked or reserved port, it is in no connect pool; the bind
        // pools count it all the same.
        assert!(!tuple.holds(&s, false));
        assert!(bind("127.0.0.1").holds(&s, true) && bind("127.0.0.1").holds(&s, false));
        assert!(!bind("127.0.0.2").holds(&s, true));
        assert!(bind("0.0.0.0").holds(&s, true));
        assert!(!udp("::").holds(&s, true));
        s.remote_port = 5001;
        assert!(!tuple.holds(&s, true));
        s.local = addr("::1");
        s.v6only = Some(true);
        assert!(!bind("0.0.0.0").holds(&s, true));
        assert!(bind("::").holds(&s, true));
    }

    #[test]
    fn the_capabilities_needed_follow_the_steps_refused() {
        use procfs::{CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE};
        assert_eq!(
            needed(&[Refused::Reading, Refused::Listing]),
            [CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE]
        );
        assert_eq!(needed(&[Refused::Reading]), [CAP_SYS_PTRACE]);
    }
}
