//! The plain socket records the readers hand to the model, and the sink they
//! hand them to.

use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// A TCP state number as the kernel reports it (`include/net/tcp_states.h`).
/// UDP sockets report 1 when connected and 7 when only bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpState(pub u8);

impl TcpState {
    pub const ESTABLISHED: TcpState = TcpState(1);
    pub const SYN_SENT: TcpState = TcpState(2);
    pub const SYN_RECV: TcpState = TcpState(3);
    pub const FIN_WAIT1: TcpState = TcpState(4);
    pub const FIN_WAIT2: TcpState = TcpState(5);
    pub const TIME_WAIT: TcpState = TcpState(6);
    pub const CLOSE: TcpState = TcpState(7);
    pub const CLOSE_WAIT: TcpState = TcpState(8);
    pub const LAST_ACK: TcpState = TcpState(9);
    pub const LISTEN: TcpState = TcpState(10);
    pub const CLOSING: TcpState = TcpState(11);
    pub const NEW_SYN_RECV: TcpState = TcpState(12);
    pub const BOUND_INACTIVE: TcpState = TcpState(13);

    /// The bit of this state in a sock_diag `idiag_states` mask.
    pub const fn bit(self) -> u32 {
        1 << self.0
    }

    /// A listener, or a socket that is bound but neither listening nor
    /// connected: it holds its port without a peer.
    pub fn is_unconnected(self) -> bool {
        matches!(
            self,
            TcpState::LISTEN | TcpState::CLOSE | TcpState::BOUND_INACTIVE
        )
    }
}

/// One socket with its local port in the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Protocol,
    pub state: TcpState,
    /// Local address, IPv4-mapped IPv6 turned into IPv4 as the kernel
    /// compares them.
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// IPV6_V6ONLY, where the kernel reports it (listening and unconnected
    /// IPv6 sockets over netlink); `None` where nobody can tell.
    pub v6only: Option<bool>,
    /// Milliseconds left on the socket's timer; for TIME_WAIT, until it ends.
    pub expires_ms: u32,
    /// Interface the socket is bound to with SO_BINDTODEVICE, 0 for none.
    pub bound_dev_if: u32,
    pub inode: u32,
}

impl Socket {
    /// A record with the fields tests rarely care about left neutral.
    pub fn new(
        protocol: Protocol,
        state: TcpState,
        local: (IpAddr, u16),
        remote: (IpAddr, u16),
    ) -> Socket {
        Socket {
            protocol,
            state,
            local: canonical(local.0),
            local_port: local.1,
            remote: canonical(remote.0),
            remote_port: remote.1,
            v6only: None,
            expires_ms: 0,
            bound_dev_if: 0,
            inode: 0,
        }
    }
}

/// `::ffff:a.b.c.d` is the IPv4 address a.b.c.d to the kernel's port tables.
pub fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

/// Receives the records a reader finds. Every `marked` call comes before the
/// first `socket` call, so the model knows which ports `connect()` skips
/// before it counts connections.
pub trait Sink {
    /// A TCP socket whose port the kernel has marked as taken by `bind()`:
    /// a listener, a bound-only socket, or one bound to an explicit port.
    fn marked(&mut self, socket: &Socket);
    /// Any connected or TIME_WAIT TCP socket, or any UDP socket.
    fn socket(&mut self, socket: &Socket);
    /// Forgets every record of `protocol` handed over so far: a read of
    /// that table failed midway and is done again from another source.
    fn discard(&mut self, protocol: Protocol) {
        let _ = protocol;
    }
}

/// Two sinks fed the same records, the first and then the second.
pub struct Both<'a, A: Sink, B: Sink>(pub &'a mut A, pub &'a mut B);

impl<A: Sink, B: Sink> Sink for Both<'_, A, B> {
    fn marked(&mut self, socket: &Socket) {
        self.0.marked(socket);
        self.1.marked(socket);
    }
    fn socket(&mut self, socket: &Socket) {
        self.0.socket(socket);
        self.1.socket(socket);
    }
    fn discard(&mut self, protocol: Protocol) {
        self.0.discard(protocol);
        self.1.discard(protocol);
    }
}

/// A sink that keeps everything, for tests and comparisons.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Collect {
    pub marked: Vec<Socket>,
    pub sockets: Vec<Socket>,
}

#[cfg(test)]
impl Sink for Collect {
    fn marked(&mut self, socket: &Socket) {
        self.marked.push(*socket);
    }
    fn socket(&mut self, socket: &Socket) {
        self.sockets.push(*socket);
    }
}
