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
    /// `wanted` says there are none).
    pub fn read_tcp(
        &mut self,
        range: PortRange,
        sink: &mut impl Sink,
        wanted: Wanted,
    ) -> Result<()> {
        let marks = wire::marks_filter(range);
        self.tcp_dump("bound TCP", MARKS_STATES, &marks, &mut |s| sink.marked(s))?;
        if !wanted.connected_tcp {
            self.stats.skipped += 1;
            return Ok(());
        }
        let all = wire::range_filter(range);
        self.tcp_dump("connected TCP", CONNECTED_STATES, &all, &mut |s| {
            sink.socket(s)
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
