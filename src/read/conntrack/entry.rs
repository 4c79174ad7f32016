//! One conntrack entry as a plain record, whichever reader found it (the
//! ctnetlink dump in `wire`, or `/proc/net/nf_conntrack` in `text`): its
//! two tuples, its status, timeout and zone. The kernel's numbers for the
//! protocol, the TCP state and the status bits are kept as the kernel gives
//! them; [`Entry::transport`] and [`Entry::phase`] say what they mean, so
//! no later stage needs to know them.

use std::net::IpAddr;

use crate::read::socket::Protocol;

/// Entry status bits (`enum ip_conntrack_status`).
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
pub const IPS_ASSURED: u32 = 1 << 2;
pub const IPS_CONFIRMED: u32 = 1 << 3;
pub const IPS_SRC_NAT: u32 = 1 << 4;
pub const IPS_DYING: u32 = 1 << 9;

/// The conntrack TCP states (`enum tcp_conntrack`), not the socket ones.
pub const CT_TCP_ESTABLISHED: u8 = 3;
pub const CT_TCP_TIME_WAIT: u8 = 7;
pub const CT_TCP_CLOSE: u8 = 8;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// One direction of a connection as conntrack keys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Ports; 0 for protocols without ports (ICMP carries ids instead).
    pub src_port: u16,
    pub dst_port: u16,
}

/// One conntrack entry: the fields the NAT pools and the forecast use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// IP protocol number (6 TCP, 17 UDP, ...).
    pub protocol: u8,
    /// As the first packet came (a pod's own address and port).
    pub orig: Tuple,
    /// As the answers come back: its destination is the address and port
    /// the entry occupies on this host, after any source NAT.
    pub reply: Tuple,
    pub status: u32,
    /// Seconds until the entry expires.
    pub timeout_s: u32,
    /// The conntrack TCP state, for TCP entries that report it.
    pub tcp_state: Option<u8>,
    pub zone: u16,
}

impl Entry {
    /// Whether the source was rewritten: the reply comes back to another
    /// address or port than the first packet left from.
    pub fn is_source_nat(&self) -> bool {
        self.reply.dst != self.orig.src || self.reply.dst_port != self.orig.src_port
    }

    /// Seconds a TCP entry in TIME_WAIT still holds its reply tuple.
    pub fn time_wait_left_s(&self) -> Option<u32> {
        (self.tcp_state == Some(CT_TCP_TIME_WAIT)).then_some(self.timeout_s)
    }

    /// The transport protocol, if it is one whose ports NAT pools count.
    pub fn transport(&self) -> Option<Protocol> {
        match self.protocol {
            IPPROTO_TCP => Some(Protocol::Tcp),
            IPPROTO_UDP => Some(Protocol::Udp),
            _ => None,
        }
    }

    /// Where a TCP entry is in its life; `None` for protocols without
    /// states (UDP).
    pub fn phase(&self) -> Option<Phase> {
        self.tcp_state.map(|s| match s {
            CT_TCP_ESTABLISHED => Phase::Established,
            CT_TCP_TIME_WAIT => Phase::TimeWait,
            _ => Phase::Other,
        })
    }
}

/// Where a TCP entry is in its life, as far as the ports it holds go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Established,
    /// Closed: holds its reply tuple until the timeout ends.
    TimeWait,
    /// Opening or closing.
    Other,
}
