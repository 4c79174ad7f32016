//! The sock_diag wire format: requests, in-kernel filter bytecode and reply
//! records, declared once by byte offset (`include/uapi/linux/inet_diag.h`,
//! `netlink.h`). Pure functions of bytes; the socket I/O is in `diag`, the
//! netlink message framing in `read::netlink`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::read::netlink::{NLMSG_HDRLEN, align4};
use crate::read::ports::PortRange;
use crate::read::socket::{Protocol, Socket, TcpState, canonical};

// netlink message header: len u32, type u16, flags u16, seq u32, pid u32.
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;

/// `SOCK_DIAG_BY_FAMILY`: an `inet_diag_req_v2` for one address family.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK`: the older `inet_diag_req`, which the kernel serves
/// for both address families in one walk of the socket hash.
const TCPDIAG_GETSOCK: u16 = 18;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_SKV6ONLY: u16 = 11;

// inet_diag_bc_op codes.
const BC_JMP: u8 = 1;
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
const BC_D_GE: u8 = 4;
const BC_AUTO: u8 = 6;

// inet_diag_msg: family u8, state u8, timer u8, retrans u8, then the
// inet_diag_sockid (sport be16, dport be16, src [u8; 16], dst [u8; 16],
// if u32, cookie [u32; 2]), then expires, rqueue, wqueue, uid, inode: u32.
const MSG_FAMILY: usize = 0;
const MSG_STATE: usize = 1;
const MSG_SPORT: usize = 4;
const MSG_DPORT: usize = 6;
const MSG_SRC: usize = 8;
const MSG_DST: usize = 24;
const MSG_IF: usize = 40;
const MSG_EXPIRES: usize = 52;
const MSG_INODE: usize = 68;
pub const MSG_LEN: usize = 72;

/// In-kernel filter programs; the longest is 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytecode {
    bytes: [u8; 32],
    len: usize,
}

impl Bytecode {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push(&mut self, code: u8, yes: u8, no: u16) {
        self.bytes[self.len] = code;
        self.bytes[self.len + 1] = yes;
        self.bytes[self.len + 2..self.len + 4].copy_from_slice(&no.to_ne_bytes());
        self.len += 4;
    }

    /// `no` offsets jump from the op's own start; `total` is the program
    /// length, so `total - at + 4` lands past the end: reject.
    fn reject_from(total: usize, at: usize) -> u16 {
        (total - at + 4) as u16
    }
}

/// Accepts sockets whose local port is in `range`.
pub fn range_filter(range: PortRange) -> Bytecode {
    let mut bc = Bytecode {
        bytes: [0; 32],
        len: 0,
    };
    append_range(&mut bc, range, 16);
    bc
}

/// Accepts, among sockets with the local port in `range`, those that hold
/// their port through `bind()` as far as the kernel lets anyone see: no
/// peer (listeners, bound-only sockets), or a port bound explicitly.
pub fn marks_filter(range: PortRange) -> Bytecode {
    const TOTAL: usize = 32;
    let mut bc = Bytecode {
        bytes: [0; 32],
        len: 0,
    };
    append_range(&mut bc, range, TOTAL);
    // dport >= 1 goes on; dport 0 (no peer) jumps to the end: accept.
    bc.push(BC_D_GE, 8, (TOTAL - 16) as u16);
    bc.push(0, 0, 1);
    // Automatically bound: on to the JMP, which rejects. Bound to an
    // explicit port: jump to the end, accept.
    bc.push(BC_AUTO, 4, (TOTAL - 24) as u16);
    bc.push(BC_JMP, 4, Bytecode::reject_from(TOTAL, 28));
    debug_assert_eq!(bc.len, TOTAL);
    bc
}

fn append_range(bc: &mut Bytecode, range: PortRange, total: usize) {
    bc.push(BC_S_GE, 8, Bytecode::reject_from(total, 0));
    bc.push(0, 0, range.lo);
    bc.push(BC_S_LE, 8, Bytecode::reject_from(total, 8));
    bc.push(0, 0, range.hi);
}

/// Which request layout a dump uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// TCP, both families in one request.
    TcpBothFamilies,
    Family {
        family: u8,
        protocol: Protocol,
    },
}

/// A complete request message: header, request, bytecode attribute.
pub struct Request {
    bytes: [u8; 128],
    len: usize,
}

impl Request {
    pub fn new(kind: RequestKind, states: u32, filter: &Bytecode, seq: u32) -> Request {
        let mut r = Request {
            bytes: [0; 128],
            len: NLMSG_HDRLEN,
        };
        let msg_type = match kind {
            RequestKind::TcpBothFamilies => {
                // inet_diag_req: family, src_len, dst_len, ext, sockid (48),
                // states u32, dbs u32. The kernel ignores the family here.
                let mut req = [0u8; 60];
                req[52..56].copy_from_slice(&states.to_ne_bytes());
                r.append(&req);
                TCPDIAG_GETSOCK
            }
            RequestKind::Family { family, protocol } => {
                // inet_diag_req_v2: family, protocol, ext, pad, states u32, sockid (48).
                let mut req = [0u8; 56];
                req[0] = family;
                req[1] = match protocol {
                    Protocol::Tcp => IPPROTO_TCP,
                    Protocol::Udp => IPPROTO_UDP,
                };
                req[4..8].copy_from_slice(&states.to_ne_bytes());
                r.append(&req);
                SOCK_DIAG_BY_FAMILY
            }
        };
        let code = filter.as_bytes();
        let attr_len = (4 + code.len()) as u16;
        r.append(&attr_len.to_ne_bytes());
        r.append(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        r.append(code);
        let total = r.len as u32;
        r.bytes[0..4].copy_from_slice(&total.to_ne_bytes());
        r.bytes[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        r.bytes[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        r.bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        r
    }

    fn append(&mut self, data: &[u8]) {
        self.bytes[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn addr_at(b: &[u8], at: usize, family: u8) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
    } else {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&b[at..at + 16]);
        canonical(IpAddr::V6(Ipv6Addr::from(octets)))
    }
}

/// Reads one `inet_diag_msg` record and the attributes behind it, in place.
pub fn parse_record(payload: &[u8], protocol: Protocol) -> Result<Socket, &'static str> {
    if payload.len() < MSG_LEN {
        return Err("a socket record is shorter than inet_diag_msg");
    }
    let family = payload[MSG_FAMILY];
    if family != AF_INET && family != AF_INET6 {
        return Err("a socket record has an unknown address family");
    }
    let mut v6only = None;
    let mut attrs = &payload[MSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return Err("a socket attribute length is out of bounds");
        }
        if kind == INET_DIAG_SKV6ONLY && len >= 5 {
            v6only = Some(attrs[4] != 0);
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    Ok(Socket {
        protocol,
        state: TcpState(payload[MSG_STATE]),
        local: addr_at(payload, MSG_SRC, family),
        local_port: be16_at(payload, MSG_SPORT),
        remote: addr_at(payload, MSG_DST, family),
        remote_port: be16_at(payload, MSG_DPORT),
        v6only,
        expires_ms: u32_at(payload, MSG_EXPIRES),
        bound_dev_if: u32_at(payload, MSG_IF),
        inode: u32_at(payload, MSG_INODE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::netlink::Messages;

    /// A TCPDIAG_GETSOCK reply captured from a 6.18 kernel (x86_64, as root):
    /// the TIME_WAIT of 127.0.0.1:40003 -> 127.0.0.1:5000, 59.8 s left.
    #[rustfmt::skip]
    const TIME_WAIT_REPLY: [u8; 96] = [
        0x60, 0x00, 0x00, 0x00, // nlmsg_len 96
        0x12, 0x00,             // nlmsg_type 18 (TCPDIAG_GETSOCK)
        0x02, 0x00,             // flags NLM_F_MULTI
        0x07, 0x00, 0x00, 0x00, // seq 7
        0xc6, 0x53, 0x00, 0x00, // pid
        0x02,                   // family AF_INET
        0x06,                   // state TIME_WAIT
        0x03,                   // timer
        0x00,                   // retrans
        0x9c, 0x43,             // sport 40003
        0x13, 0x88,             // dport 5000
        127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // src
        127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // dst
        0x00, 0x00, 0x00, 0x00, // if
        0x3d, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // cookie
        0x94, 0xe9, 0x00, 0x00, // expires 59796 ms
        0x00, 0x00, 0x00, 0x00, // rqueue
        0x00, 0x00, 0x00, 0x00, // wqueue
        0x00, 0x00, 0x00, 0x00, // uid
        0x00, 0x00, 0x00, 0x00, // inode
        0x08, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, // INET_DIAG_MARK 0
    ];

    /// The record of a listener on [::]:40010 with IPV6_V6ONLY off, captured
    /// from the same kernel, with the attributes it sends unasked.
    #[rustfmt::skip]
    const V6_LISTENER: [u8; 116] = [
        0x0a, 0x0a, 0x00, 0x00,         // AF_INET6, LISTEN, timer, retrans
        0x9c, 0x4a, 0x00, 0x00,         // sport 40010, dport 0
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // src ::
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // dst ::
        0x00, 0x00, 0x00, 0x00,         // if
        0x3e, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // cookie
        0x00, 0x00, 0x00, 0x00,         // expires
        0x00, 0x00, 0x00, 0x00,         // rqueue
        0x05, 0x00, 0x00, 0x00,         // wqueue (the backlog)
        0x00, 0x00, 0x00, 0x00,         // uid
        0xa9, 0x7e, 0x00, 0x00,         // inode 32425
        0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // INET_DIAG_SHUTDOWN 0
        0x05, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, // INET_DIAG_SKV6ONLY 0
        0x08, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, // INET_DIAG_MARK 0
        0x0c, 0x00, 0x15, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // INET_DIAG_CGROUP_ID 1
        0x06, 0x00, 0x16, 0x00, 0x12, 0x00, 0x00, 0x00, // INET_DIAG_SOCKOPT
    ];

    #[test]
    fn parses_a_time_wait_reply() {
        let mut messages = Messages::new(&TIME_WAIT_REPLY);
        let m = messages.next().unwrap().unwrap();
        assert_eq!((m.kind, m.seq, m.payload.len()), (18, 7, 80));
        assert!(messages.next().is_none());
        let s = parse_record(m.payload, Protocol::Tcp).unwrap();
        assert_eq!(s.state, TcpState::TIME_WAIT);
        assert_eq!(
            (s.local, s.local_port),
            ("127.0.0.1".parse().unwrap(), 40003)
        );
        assert_eq!(
            (s.remote, s.remote_port),
            ("127.0.0.1".parse().unwrap(), 5000)
        );
        assert_eq!((s.expires_ms, s.v6only), (59796, None));
    }

    #[test]
    fn parses_a_v6_listener_with_attributes() {
        let s = parse_record(&V6_LISTENER, Protocol::Tcp).unwrap();
        assert_eq!(s.state, TcpState::LISTEN);
        assert_eq!((s.local, s.local_port), ("::".parse().unwrap(), 40010));
        assert_eq!((s.v6only, s.inode), (Some(false), 32425));
    }

    #[test]
    fn maps_v4_mapped_addresses_to_v4() {
        let mut rec = V6_LISTENER;
        rec[8 + 10] = 0xff;
        rec[8 + 11] = 0xff;
        rec[8 + 12..8 + 16].copy_from_slice(&[127, 0, 0, 2]);
        let s = parse_record(&rec, Protocol::Tcp).unwrap();
        assert_eq!(s.local, "127.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn rejects_short_and_broken_records() {
        assert!(parse_record(&V6_LISTENER[..71], Protocol::Tcp).is_err());
        let mut rec = V6_LISTENER;
        rec[0] = 1;
        assert!(parse_record(&rec, Protocol::Tcp).is_err());
        let mut rec = V6_LISTENER;
        rec[72] = 0xff; // attribute longer than the record
        assert!(parse_record(&rec, Protocol::Tcp).is_err());
    }

    #[test]
    fn messages_stop_at_a_bad_length() {
        let mut reply = TIME_WAIT_REPLY;
        reply[0] = 0xff;
        let mut m = Messages::new(&reply);
        assert!(m.next().unwrap().is_err());
        assert!(m.next().is_none());
        assert!(Messages::new(&reply[..10]).next().unwrap().is_err());
    }

    #[test]
    fn range_filter_is_two_port_comparisons() {
        let bc = range_filter(PortRange {
            lo: 40000,
            hi: 40099,
        });
        #[rustfmt::skip]
        let expected: [u8; 16] = [
            BC_S_GE, 8, 20, 0, 0, 0, 0x40, 0x9c, // sport >= 40000, else reject
            BC_S_LE, 8, 12, 0, 0, 0, 0xa3, 0x9c, // sport <= 40099, else reject
        ];
        assert_eq!(bc.as_bytes(), &expected);
    }

    #[test]
    fn marks_filter_jumps_stay_on_the_yes_chain() {
        let bc = marks_filter(PortRange { lo: 1, hi: 2 });
        let b = bc.as_bytes();
        assert_eq!(b.len(), 32);
        // Every op's yes offset leads to the next op, as the kernel's audit demands.
        let mut at = 0;
        while at < b.len() {
            let yes = usize::from(b[at + 1]);
            assert!(yes >= 4 && yes % 4 == 0);
            at += yes;
        }
        assert_eq!(at, 32);
        // D_GE jumps to the end (accept), the final JMP past it (reject).
        assert_eq!(u16::from_ne_bytes([b[18], b[19]]), 16);
        assert_eq!(u16::from_ne_bytes([b[30], b[31]]), 8);
    }

    #[test]
    fn requests_have_header_request_and_filter() {
        let bc = range_filter(PortRange { lo: 1, hi: 2 });
        let r = Request::new(RequestKind::TcpBothFamilies, 0xfff, &bc, 9);
        assert_eq!(r.as_bytes().len(), 16 + 60 + 4 + 16);
        assert_eq!(&r.as_bytes()[4..6], &TCPDIAG_GETSOCK.to_ne_bytes());
        let r = Request::new(
            RequestKind::Family {
                family: AF_INET6,
                protocol: Protocol::Udp,
            },
            0xfff,
            &bc,
            9,
        );
        let b = r.as_bytes();
        assert_eq!(b.len(), 16 + 56 + 4 + 16);
        assert_eq!((b[16], b[17]), (AF_INET6, IPPROTO_UDP));
    }
}
