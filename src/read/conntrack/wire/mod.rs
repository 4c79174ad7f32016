//! The ctnetlink wire format (`include/uapi/linux/netfilter/nfnetlink.h`,
//! `nfnetlink_conntrack.h`): dump requests, and conntrack entries and
//! statistics read in place from the reply, nested attributes walked
//! without allocating. Pure functions of bytes; the socket I/O is in
//! `conntrack`. Netlink message framing is shared with sock_diag
//! ([`Messages`](crate::read::netlink::Messages)).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod request;
mod stats;

pub use request::Request;
pub use stats::{CpuStats, TableStats, parse_cpu_stats, parse_table_stats};

use super::entry::{Entry, Tuple};

/// `NFNL_SUBSYS_CTNETLINK`: the high byte of every message type here.
const SUBSYS_CTNETLINK: u16 = 1;
/// `IPCTNL_MSG_CT_NEW`: the type the kernel gives every entry of a dump.
pub const MSG_CT_NEW: u8 = 0;
/// `IPCTNL_MSG_CT_GET`: with NLM_F_DUMP, every entry of the namespace.
pub const MSG_CT_GET: u8 = 1;
/// `IPCTNL_MSG_CT_GET_STATS_CPU`: one message per CPU, its counters.
pub const MSG_CT_GET_STATS_CPU: u8 = 4;
/// `IPCTNL_MSG_CT_GET_STATS`: the namespace's entry count and the maximum.
pub const MSG_CT_GET_STATS: u8 = 5;

/// The 4-byte `nfgenmsg` after the netlink header: family, version, res_id.
const NFGENMSG_LEN: usize = 4;

pub const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Attribute types carry two flag bits (nested, network byte order).
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLA_F_NESTED: u16 = 0x8000;

// Top-level attributes of an entry (enum ctattr_type).
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_TIMEOUT: u16 = 7;
const CTA_ZONE: u16 = 18;
/// Inside a tuple: the zone of that direction alone.
const CTA_TUPLE_ZONE: u16 = 3;
// Inside a tuple (ctattr_tuple, ctattr_ip, ctattr_l4proto).
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
// Inside CTA_PROTOINFO.
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;

/// The ctnetlink message number of a reply's `nlmsg_type`, if it is one.
pub fn ctnetlink_message(kind: u16) -> Option<u8> {
    (kind >> 8 == SUBSYS_CTNETLINK).then_some((kind & 0xff) as u8)
}

/// Netlink attributes of one level, walked in place.
#[derive(Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    /// The attribute type (flags masked off) and its value.
    type Item = Result<(u16, &'a [u8]), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let Some(head) = self.buf.get(..4) else {
            self.buf = &[];
            return Some(Err("a conntrack attribute header is cut short"));
        };
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        let kind = u16::from_ne_bytes([head[2], head[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > self.buf.len() {
            self.buf = &[];
            return Some(Err("a conntrack attribute length is out of bounds"));
        }
        let value = &self.buf[4..len];
        let next = ((len + 3) & !3).min(self.buf.len());
        self.buf = &self.buf[next..];
        Some(Ok((kind, value)))
    }
}

fn be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}

fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// The payload after the `nfgenmsg`, and its family and res_id.
fn split_nfgenmsg(payload: &[u8]) -> Result<(u8, u16, &[u8]), &'static str> {
    let Some(head) = payload.get(..NFGENMSG_LEN) else {
        return Err("a ctnetlink message is shorter than its nfgenmsg");
    };
    Ok((
        head[0],
        u16::from_be_bytes([head[2], head[3]]),
        &payload[NFGENMSG_LEN..],
    ))
}

/// Reads one entry of a `MSG_CT_GET` reply (the payload after the netlink
/// header). An entry without both tuples, or with an address that does not
/// fit its family, is an error; unknown attributes are skipped.
pub fn parse_entry(payload: &[u8]) -> Result<Entry, &'static str> {
    let (family, _, attrs) = split_nfgenmsg(payload)?;
    if family != AF_INET && family != AF_INET6 {
        return Err("a conntrack entry has an unknown address family");
    }
    // The tuples are read straight into the entry: handed back by value,
    // their addresses (enums of 17 bytes, written piecewise) were read back
    // whole before the writes had landed, a stall on every entry.
    let mut orig = None;
    let mut reply = None;
    let mut entry = Entry {
        protocol: 0,
        orig: empty_tuple(),
        reply: empty_tuple(),
        status: 0,
        timeout_s: 0,
        tcp_state: None,
        zone: 0,
    };
    for attr in Attrs::new(attrs) {
        let (kind, value) = attr?;
        match kind {
            CTA_TUPLE_ORIG => orig = Some(parse_tuple(value, &mut entry.orig)?.0),
            // A zone for the reply direction alone comes inside the reply
            // tuple (`CTA_TUPLE_ZONE`); `CTA_ZONE` is one for both.
            CTA_TUPLE_REPLY => reply = Some(parse_tuple(value, &mut entry.reply)?),
            CTA_STATUS => entry.status = be32(value).ok_or("a conntrack status is cut short")?,
            CTA_TIMEOUT => {
                entry.timeout_s = be32(value).ok_or("a conntrack timeout is cut short")?;
            }
            CTA_ZONE => entry.zone = be16(value).ok_or("a conntrack zone is cut short")?,
            CTA_PROTOINFO => entry.tcp_state = parse_tcp_state(value)?,
            _ => {}
        }
    }
    let (Some(p1), Some((p2, reply_zone))) = (orig, reply) else {
        return Err("a conntrack entry lacks a tuple");
    };
    if p1 != p2 {
        return Err("a conntrack entry's tuples disagree on the protocol");
    }
    entry.protocol = p1;
    if let Some(zone) = reply_zone {
        entry.zone = zone;
    }
    Ok(entry)
}

fn empty_tuple() -> Tuple {
    Tuple {
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        src_port: 0,
        dst_port: 0,
    }
}

/// A nested `CTA_TUPLE_*` read into `tuple` (addresses and ports, 0 for a
/// port it lacks): its protocol, and the zone of its direction if the
/// entry has a zone for that direction alone.
fn parse_tuple(buf: &[u8], tuple: &mut Tuple) -> Result<(u8, Option<u16>), &'static str> {
    match v4_tuple(buf, tuple) {
        Some(protocol) => Ok((protocol, None)),
        None => walk_tuple(buf, tuple),
    }
}

/// Where the kernel puts the attribute headers of an IPv4 tuple without a
/// zone (`ctnetlink_dump_tuples`): offset, length, type (flags included).
const V4_TUPLE_HEADERS: [(usize, u16, u16); 7] = [
    (0, 20, CTA_TUPLE_IP | NLA_F_NESTED),
    (4, 8, CTA_IP_V4_SRC),
    (12, 8, CTA_IP_V4_DST),
    (20, 28, CTA_TUPLE_PROTO | NLA_F_NESTED),
    (24, 5, CTA_PROTO_NUM),
    (32, 6, CTA_PROTO_SRC_PORT),
    (40, 6, CTA_PROTO_DST_PORT),
];

/// A tuple of exactly that layout (almost every entry of a NAT gateway),
/// read at fixed offsets once its seven headers are checked: its
/// protocol; `None` (and `tuple` untouched) for any other layout, which
/// [`walk_tuple`] reads. Where both read a tuple they give the same.
fn v4_tuple(buf: &[u8], tuple: &mut Tuple) -> Option<u8> {
    let buf: &[u8; 48] = buf.try_into().ok()?;
    let u16_at = |at: usize| u16::from_ne_bytes([buf[at], buf[at + 1]]);
    for (at, len, kind) in V4_TUPLE_HEADERS {
        if u16_at(at) != len || u16_at(at + 2) != kind {
            return None;
        }
    }
    let addr = |at: usize| {
        IpAddr::V4(Ipv4Addr::new(
            buf[at],
            buf[at + 1],
            buf[at + 2],
            buf[at + 3],
        ))
    };
    let port = |at: usize| u16::from_be_bytes([buf[at], buf[at + 1]]);
    *tuple = Tuple {
        src: addr(8),
        dst: addr(16),
        src_port: port(36),
        dst_port: port(44),
    };
    Some(buf[28])
}

/// Any tuple, its attributes walked in whatever order and layout.
fn walk_tuple(buf: &[u8], tuple: &mut Tuple) -> Result<(u8, Option<u16>), &'static str> {
    *tuple = empty_tuple();
    let mut zone = None;
    let (mut src, mut dst, mut protocol) = (false, false, None);
    for attr in Attrs::new(buf) {
        match attr? {
            (CTA_TUPLE_ZONE, v) => zone = Some(be16(v).ok_or("a conntrack zone is cut short")?),
            (CTA_TUPLE_IP, ip) => {
                for attr in Attrs::new(ip) {
                    let (kind, v) = attr?;
                    let addr = match kind {
                        CTA_IP_V4_SRC | CTA_IP_V4_DST => v
                            .get(..4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                        CTA_IP_V6_SRC | CTA_IP_V6_DST => v
                            .get(..16)
                            .and_then(|b| <[u8; 16]>::try_from(b).ok())
                            .map(|b| IpAddr::V6(Ipv6Addr::from(b)).to_canonical()),
                        _ => continue,
                    };
                    let addr = addr.ok_or("a conntrack address is cut short")?;
                    if matches!(kind, CTA_IP_V4_SRC | CTA_IP_V6_SRC) {
                        (tuple.src, src) = (addr, true);
                    } else {
                        (tuple.dst, dst) = (addr, true);
                    }
                }
            }
            (CTA_TUPLE_PROTO, proto) => {
                for attr in Attrs::new(proto) {
                    let (kind, v) = attr?;
                    let short = "a conntrack protocol field is cut short";
                    match kind {
                        CTA_PROTO_NUM => protocol = Some(*v.first().ok_or(short)?),
                        CTA_PROTO_SRC_PORT => tuple.src_port = be16(v).ok_or(short)?,
                        CTA_PROTO_DST_PORT => tuple.dst_port = be16(v).ok_or(short)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    match (src && dst, protocol) {
        (true, Some(p)) => Ok((p, zone)),
        _ => Err("a conntrack tuple lacks an address or its protocol"),
    }
}

/// The TCP state inside `CTA_PROTOINFO`, if the entry is TCP.
fn parse_tcp_state(buf: &[u8]) -> Result<Option<u8>, &'static str> {
    for attr in Attrs::new(buf) {
        if let (CTA_PROTOINFO_TCP, tcp) = attr? {
            for attr in Attrs::new(tcp) {
                if let (CTA_PROTOINFO_TCP_STATE, v) = attr? {
                    return Ok(v.first().copied());
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
