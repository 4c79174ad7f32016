//! Reads the socket tables over NETLINK_SOCK_DIAG, filtered in the kernel to
//! the local port range, and hands each record to a [`Sink`] without
//! allocating per socket.
//!
//! TCP takes two walks of the kernel's socket hash: the sockets that mark
//! their port as bound (a small answer), and every connected and TIME_WAIT
//! socket. Each walk covers IPv4 and IPv6 at once where the kernel serves
//! the older `TCPDIAG_GETSOCK` request, else one request per family. The
//! walks run one after the other; when the caller asks (`--threads 2` or
//! more for one namespace) they run side by side on two sockets (see
//! [`Netlink::read_tcp`]), and the sink still sees every mark before the
//! first connected socket, so the answer is the same either way.

pub mod wire;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, socket, sockopt,
};

use crate::error::{Error, Result};
use crate::read::netlink::{self, DumpError};
use crate::read::ports::PortRange;
use crate::read::socket::{Protocol, Sink, Socket, TcpState};
use wire::{Bytecode, Request, RequestKind};

/// Everything but TIME_WAIT and request sockets, which never hold a port
/// through `bind()` that user space could see.
const MARKS_STATES: u32 = all_states()
    & !TcpState::TIME_WAIT.bit()
    & !TcpState::SYN_RECV.bit()
    & !TcpState::NEW_SYN_RECV.bit();

/// Sockets with a peer: what `connect()` pools count.
const CONNECTED_STATES: u32 = TcpState::ESTABLISHED.bit()
    | TcpState::SYN_SENT.bit()
    | TcpState::SYN_RECV.bit()
    | TcpState::FIN_WAIT1.bit()
    | TcpState::FIN_WAIT2.bit()
    | TcpState::TIME_WAIT.bit()
    | TcpState::CLOSE_WAIT.bit()
    | TcpState::LAST_ACK.bit()
    | TcpState::CLOSING.bit();

const fn all_states() -> u32 {
    (1 << 14) - 1
}

/// The most connected records kept while the marks walk runs beside the
/// connected one (56 bytes each: 3.5 MiB). Beyond it the connected walk
/// waits: memory stays bounded however large the table.
const EARLY_MAX: usize = 64 * 1024;

/// A large receive buffer: the kernel fills up to 32 KiB per `recv()`.
const RECV_BUFFER: usize = 64 * 1024;

/// Counts of what the dumps returned, for `-v`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub requests: u32,
    /// Requests not sent: the namespace has no socket they could return.
    pub skipped: u32,
    pub messages: u64,
    pub bytes: u64,
}

/// Which dumps may find sockets; the others are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Connected TCP sockets (the bound ones are always dumped: no count
    /// says whether there are any).
    pub connected_tcp: bool,
    pub udp: bool,
    pub udp6: bool,
}

impl Wanted {
    pub const ALL: Wanted = Wanted {
        connected_tcp: true,
        udp: true,
        udp6: true,
    };
}

/// Whether this kernel serves `TCPDIAG_GETSOCK`: 0 not known yet, 1 yes,
/// 2 no. A fact of the kernel, the same in every namespace: learnt by the
/// first dump, so that no other namespace sends a request it refuses.
static BOTH_FAMILIES: AtomicU8 = AtomicU8::new(0);

pub struct Netlink {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
    /// Whether the kernel serves `TCPDIAG_GETSOCK` (both families at once);
    /// unknown until the first TCP dump.
    both_families: Option<bool>,
    pub stats: DumpStats,
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )
        .map_err(|errno| Error::Netlink {
            call: "socket",
            errno,
        })?;
        // A bigger buffer only saves work; the default also works.
        let _ = setsockopt(&fd, sockopt::RcvBuf, &(1 << 20));
        let both_families = match BOTH_FAMILIES.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        };
        Ok(Netlink {
            fd,
            buf: vec![0; RECV_BUFFER],
            seq: 0,
            both_families,
            stats: DumpStats::default(),
        })
    }

    /// Whether TCP dumps covered both families per request (for `-v`).
    pub fn tcp_both_families(&self) -> Option<bool> {
        self.both_families
    }

    /// Hands every TCP socket with its local port in `range` to `sink`:
    /// first those that mark their port, then the connected ones (unless
    /// `wanted` says there are none). With `side_by_side`, the two walks
    /// run at the same time on two sockets, both opened by the calling
    /// thread so that both read its namespace.
    pub fn read_tcp(
        &mut self,
        range: PortRange,
        sink: &mut impl Sink,
        wanted: Wanted,
        side_by_side: bool,
    ) -> Result<()> {
        let marks = wire::marks_filter(range);
        if !wanted.connected_tcp {
            self.tcp_dump("bound TCP", MARKS_STATES, &marks, &mut |s| sink.marked(s))?;
            self.stats.skipped += 1;
            return Ok(());
        }
        let all = wire::range_filter(range);
        if side_by_side {
            // Without a second socket the walks simply run in turn.
            if let Ok(other) = Netlink::open() {
                return self.tcp_side_by_side(other, &marks, &all, sink);
            }
        }
        self.tcp_dump("bound TCP", MARKS_STATES, &marks, &mut |s| sink.marked(s))?;
        self.tcp_dump("connected TCP", CONNECTED_STATES, &all, &mut |s| {
            sink.socket(s)
        })
    }

    /// The marks walk on `other` in a thread of its own, the connected
    /// walk here. The kernel walks a dump's table as its reader asks for
    /// more, so each walk runs on the core of the thread that reads it.
    /// The marks are a small answer and usually end first; connected
    /// records that come before them wait in a buffer, so the sink sees the
    /// same calls in the same order as when the walks run in turn.
    fn tcp_side_by_side(
        &mut self,
        mut other: Netlink,
        marks: &Bytecode,
        all: &Bytecode,
        sink: &mut impl Sink,
    ) -> Result<()> {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Result<Vec<Socket>>>(1);
            let walker = std::thread::Builder::new()
                .name("bound TCP".into())
                .spawn_scoped(scope, move || {
                    let mut found = Vec::new();
                    let got =
                        other.tcp_dump("bound TCP", MARKS_STATES, marks, &mut |s| found.push(*s));
                    let _ = tx.send(got.map(|()| found));
                    other.stats
                });
            let Ok(walker) = walker else {
                // No thread to spare: the walks run in turn.
                self.tcp_dump("bound TCP", MARKS_STATES, marks, &mut |s| sink.marked(s))?;
                return self.tcp_dump("connected TCP", CONNECTED_STATES, all, &mut |s| {
                    sink.socket(s)
                });
            };
            let mut marks = Marks::Waiting(Vec::new());
            let connected = self.tcp_dump("connected TCP", CONNECTED_STATES, all, &mut |s| {
                // One atomic load per record while the marks walk runs.
                let walking = || !walker.is_finished();
                marks.connected(s, sink, walking, EARLY_MAX, || rx.recv().ok());
            });
            if let Marks::Waiting(_) = marks {
                marks.arrived(rx.recv().ok(), sink);
            }
            if let Ok(stats) = walker.join() {
                self.stats.requests += stats.requests;
                self.stats.messages += stats.messages;
                self.stats.bytes += stats.bytes;
            }
            // The marks walk comes first when they run in turn: its error
            // is the one to report.
            match marks {
                Marks::Failed(e) => Err(e),
                _ => connected,
            }
        })
    }

    /// Hands every UDP socket with its local port in `range` to `sink`,
    /// asking only for the families `wanted` says may have some.
    pub fn read_udp(
        &mut self,
        range: PortRange,
        sink: &mut impl Sink,
        wanted: Wanted,
    ) -> Result<()> {
        let filter = wire::range_filter(range);
        for (family, any) in [(wire::AF_INET, wanted.udp), (wire::AF_INET6, wanted.udp6)] {
            if !any {
                self.stats.skipped += 1;
                continue;
            }
            let kind = RequestKind::Family {
                family,
                protocol: Protocol::Udp,
            };
            self.dump(
                "UDP",
                kind,
                all_states(),
                &filter,
                Protocol::Udp,
                &mut |s| sink.socket(s),
            )?;
        }
        Ok(())
    }

    fn tcp_dump(
        &mut self,
        name: &'static str,
        states: u32,
        filter: &Bytecode,
        each: &mut dyn FnMut(&Socket),
    ) -> Result<()> {
        if self.both_families != Some(false) {
            let kind = RequestKind::TcpBothFamilies;
            match self.dump(name, kind, states, filter, Protocol::Tcp, each) {
                Ok(()) => {
                    self.both_families = Some(true);
                    BOTH_FAMILIES.store(1, Ordering::Relaxed);
                    return Ok(());
                }
                // A kernel without the older request refuses it before
                // sending any record: ask per family instead.
                Err(Error::DumpRefused { errno, .. })
                    if self.both_families.is_none()
                        && matches!(errno, Errno::EINVAL | Errno::ENOENT | Errno::EOPNOTSUPP) =>
                {
                    self.both_families = Some(false);
                    BOTH_FAMILIES.store(2, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        for family in [wire::AF_INET, wire::AF_INET6] {
            let kind = RequestKind::Family {
                family,
                protocol: Protocol::Tcp,
            };
            self.dump(name, kind, states, filter, Protocol::Tcp, each)?;
        }
        Ok(())
    }

    /// Sends one dump request and reads its reply to the end.
    fn dump(
        &mut self,
        name: &'static str,
        kind: RequestKind,
        states: u32,
        filter: &Bytecode,
        protocol: Protocol,
        each: &mut dyn FnMut(&Socket),
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let request = Request::new(kind, states, filter, self.seq);
        let messages = &mut self.stats.messages;
        let got = netlink::dump(
            self.fd.as_raw_fd(),
            &mut self.buf,
            request.as_bytes(),
            self.seq,
            |payload| {
                let socket = wire::parse_record(payload, protocol)?;
                *messages += 1;
                each(&socket);
                Ok(())
            },
        );
        self.stats.requests += 1;
        match got {
            Ok(bytes) => {
                self.stats.bytes += bytes;
                Ok(())
            }
            Err(DumpError::Send(errno)) => Err(Error::Netlink {
                call: "sendto",
                errno,
            }),
            Err(DumpError::Recv(errno)) => Err(Error::Netlink {
                call: "recv",
                errno,
            }),
            Err(DumpError::Malformed(reason)) => Err(Error::Malformed { dump: name, reason }),
            Err(DumpError::Refused { errno, .. }) => Err(Error::DumpRefused { dump: name, errno }),
        }
    }
}

/// Where the marks of a side-by-side TCP read are.
enum Marks {
    /// Still being walked; the connected records that came meanwhile.
    Waiting(Vec<Socket>),
    /// Handed to the sink, and the early connected records after them.
    Handed,
    /// Their walk failed: nothing more goes to the sink.
    Failed(Error),
}

impl Marks {
    /// Takes one connected record: into the buffer while the marks are
    /// `walking` and it holds fewer than `most`, else to the sink, after
    /// the marks and the records that waited (`wait` gives the marks,
    /// waiting for their walk to end).
    fn connected(
        &mut self,
        s: &Socket,
        sink: &mut impl Sink,
        walking: impl FnOnce() -> bool,
        most: usize,
        wait: impl FnOnce() -> Option<Result<Vec<Socket>>>,
    ) {
        if let Marks::Waiting(early) = self {
            if early.len() < most && walking() {
                if early.capacity() == 0 {
                    early.reserve_exact(most);
                }
                early.push(*s);
                return;
            }
            // Done, or the buffer is full and this walk waits.
            self.arrived(wait(), sink);
        }
        if let Marks::Handed = self {
            sink.socket(s);
        }
    }

    /// Takes the marks walk's result (`None`: its thread ended without
    /// one) and hands the marks, then the connected records that waited.
    fn arrived(&mut self, got: Option<Result<Vec<Socket>>>, sink: &mut impl Sink) {
        let early = match std::mem::replace(self, Marks::Handed) {
            Marks::Waiting(early) => early,
            done => {
                *self = done;
                return;
            }
        };
        match got {
            Some(Ok(found)) => {
                found.iter().for_each(|s| sink.marked(s));
                early.iter().for_each(|s| sink.socket(s));
            }
            Some(Err(e)) => *self = Marks::Failed(e),
            None => {
                *self = Marks::Failed(Error::Malformed {
                    dump: "bound TCP",
                    reason: "the walk ended without an answer",
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    /// Every call in order: `true` for a mark, with the local port.
    #[derive(Default)]
    struct Calls(Vec<(bool, u16)>);

    impl Sink for Calls {
        fn marked(&mut self, s: &Socket) {
            self.0.push((true, s.local_port));
        }
        fn socket(&mut self, s: &Socket) {
            self.0.push((false, s.local_port));
        }
    }

    fn at(port: u16) -> Socket {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Socket::new(Protocol::Tcp, TcpState::ESTABLISHED, (lo, port), (lo, 80))
    }

    #[test]
    fn marks_reach_the_sink_before_any_connected_record() {
        for (walking_until, most) in [(0, 8), (2, 8), (5, 2), (9, 100)] {
            let mut marks = Marks::Waiting(Vec::new());
            let mut sink = Calls::default();
            for port in 1..=6 {
                let walking = || port <= walking_until;
                let wait = || Some(Ok(vec![at(100), at(101)]));
                marks.connected(&at(port), &mut sink, walking, most, wait);
            }
            if let Marks::Waiting(_) = marks {
                marks.arrived(Some(Ok(vec![at(100), at(101)])), &mut sink);
            }
            let mut expected = vec![(true, 100), (true, 101)];
            expected.extend((1..=6).map(|p| (false, p)));
            assert_eq!(
                sink.0, expected,
                "walking until {walking_until}, most {most}"
            );
            assert!(matches!(marks, Marks::Handed));
        }
    }

    #[test]
    fn a_failed_marks_walk_stops_the_records() {
        let refused = || {
            Some(Err(Error::DumpRefused {
                dump: "bound TCP",
                errno: Errno::EPERM,
            }))
        };
        for got in [refused(), None] {
            let mut marks = Marks::Waiting(Vec::new());
            let mut sink = Calls::default();
            let mut got = Some(got);
            for port in 1..=4 {
                let wait = || got.take().flatten();
                marks.connected(&at(port), &mut sink, || port < 3, 8, wait);
            }
            assert!(sink.0.is_empty(), "{:?}", sink.0);
            assert!(matches!(marks, Marks::Failed(_)));
        }
    }
}
