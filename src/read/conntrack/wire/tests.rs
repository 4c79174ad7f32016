//! Codec tests of the ctnetlink reader on replies captured from a 6.18
//! kernel (x86_64, as root, in a namespace of its own, entries made with
//! `conntrack -I`), each byte annotated.

use super::*;
use crate::read::conntrack::entry::*;
use crate::read::netlink::Messages;

/// A whole `IPCTNL_MSG_CT_GET` dump message: TCP 10.200.1.2:20001 ->
/// 93.184.216.34:443 masqueraded to 10.0.0.1:40001, ESTABLISHED, 299 s
/// left, zone 5 (the zone attribute is sent only when not 0).
#[rustfmt::skip]
const ZONED_ESTABLISHED: [u8; 248] = [
    0xf8, 0x00, 0x00, 0x00, // nlmsg_len 248
    0x00, 0x01, // nlmsg_type 0x100: IPCTNL_MSG_CT_NEW, as every dumped entry
    0x22, 0x00, // flags NLM_F_MULTI | NLM_F_DUMP_FILTERED (asked for AF_INET only)
    0x07, 0x00, 0x00, 0x00, // seq 7
    0xe2, 0x2e, 0x00, 0x00, // pid
    0x02, 0x00, 0x00, 0x00, // nfgenmsg: family 2, version 0, res_id
    0x34, 0x00, 0x01, 0x80, // CTA_TUPLE_ORIG (nested, 52 bytes)
        0x14, 0x00, 0x01, 0x80, // CTA_TUPLE_IP (nested, 20 bytes)
            0x08, 0x00, 0x01, 0x00, // CTA_IP_V4_SRC
                0x0a, 0xc8, 0x01, 0x02,
            0x08, 0x00, 0x02, 0x00, // CTA_IP_V4_DST
                0x5d, 0xb8, 0xd8, 0x22,
        0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO (nested, 28 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTO_NUM
                0x06, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, // CTA_PROTO_SRC_PORT
                0x4e, 0x21, 0x00, 0x00,
            0x06, 0x00, 0x03, 0x00, // CTA_PROTO_DST_PORT
                0x01, 0xbb, 0x00, 0x00,
    0x34, 0x00, 0x02, 0x80, // CTA_TUPLE_REPLY (nested, 52 bytes)
        0x14, 0x00, 0x01, 0x80, // CTA_TUPLE_IP (nested, 20 bytes)
            0x08, 0x00, 0x01, 0x00, // CTA_IP_V4_SRC
                0x5d, 0xb8, 0xd8, 0x22,
            0x08, 0x00, 0x02, 0x00, // CTA_IP_V4_DST
                0x0a, 0x00, 0x00, 0x01,
        0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO (nested, 28 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTO_NUM
                0x06, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, // CTA_PROTO_SRC_PORT
                0x01, 0xbb, 0x00, 0x00,
            0x06, 0x00, 0x03, 0x00, // CTA_PROTO_DST_PORT
                0x9c, 0x41, 0x00, 0x00,
    0x06, 0x00, 0x12, 0x00, // CTA_ZONE
        0x00, 0x05, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, // CTA_STATUS
        0x00, 0x00, 0x01, 0x8e,
    0x08, 0x00, 0x08, 0x00, // CTA_MARK
        0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0c, 0x00, // CTA_ID
        0xec, 0xde, 0xfa, 0x15,
    0x08, 0x00, 0x0b, 0x00, // CTA_USE
        0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x07, 0x00, // CTA_TIMEOUT
        0x00, 0x00, 0x01, 0x2b,
    0x30, 0x00, 0x04, 0x80, // CTA_PROTOINFO (nested, 48 bytes)
        0x2c, 0x00, 0x01, 0x80, // CTA_PROTOINFO_TCP (nested, 44 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTOINFO_TCP_STATE
                0x03, 0x00, 0x00, 0x00,
            0x05, 0x00, 0x02, 0x00, // CTA_PROTOINFO_TCP_WSCALE_ORIGINAL
                0x00, 0x00, 0x00, 0x00,
            0x05, 0x00, 0x03, 0x00, // CTA_PROTOINFO_TCP_WSCALE_REPLY
                0x00, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x04, 0x00, // CTA_PROTOINFO_TCP_FLAGS_ORIGINAL
                0x0a, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x05, 0x00, // CTA_PROTOINFO_TCP_FLAGS_REPLY
                0x0a, 0x00, 0x00, 0x00,
    0x1c, 0x00, 0x18, 0x80, // CTA_SYNPROXY (nested, 28 bytes)
        0x08, 0x00, 0x01, 0x00, // CTA_SYNPROXY_ISN
            0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x02, 0x00, // CTA_SYNPROXY_ITS
            0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x03, 0x00, // CTA_SYNPROXY_TSOFF
            0x00, 0x00, 0x00, 0x00,
];

/// The payload of an IPv6 UDP entry: [fd00::2]:20003 -> [2001:db8::1]:53
/// answered to [fd00::1]:40003, unreplied, 24 s left.
#[rustfmt::skip]
const UDP6: [u8; 224] = [
    0x0a, 0x00, 0x00, 0x00, // nfgenmsg: family 10, version 0, res_id
    0x4c, 0x00, 0x01, 0x80, // CTA_TUPLE_ORIG (nested, 76 bytes)
        0x2c, 0x00, 0x01, 0x80, // CTA_TUPLE_IP (nested, 44 bytes)
            0x14, 0x00, 0x03, 0x00, // CTA_IP_V6_SRC
                0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
            0x14, 0x00, 0x04, 0x00, // CTA_IP_V6_DST
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO (nested, 28 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTO_NUM
                0x11, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, // CTA_PROTO_SRC_PORT
                0x4e, 0x23, 0x00, 0x00,
            0x06, 0x00, 0x03, 0x00, // CTA_PROTO_DST_PORT
                0x00, 0x35, 0x00, 0x00,
    0x4c, 0x00, 0x02, 0x80, // CTA_TUPLE_REPLY (nested, 76 bytes)
        0x2c, 0x00, 0x01, 0x80, // CTA_TUPLE_IP (nested, 44 bytes)
            0x14, 0x00, 0x03, 0x00, // CTA_IP_V6_SRC
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            0x14, 0x00, 0x04, 0x00, // CTA_IP_V6_DST
                0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO (nested, 28 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTO_NUM
                0x11, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, // CTA_PROTO_SRC_PORT
                0x00, 0x35, 0x00, 0x00,
            0x06, 0x00, 0x03, 0x00, // CTA_PROTO_DST_PORT
                0x9c, 0x43, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, // CTA_STATUS
        0x00, 0x00, 0x00, 0x08,
    0x08, 0x00, 0x08, 0x00, // CTA_MARK
        0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0c, 0x00, // CTA_ID
        0x16, 0x25, 0x9a, 0xaa,
    0x08, 0x00, 0x0b, 0x00, // CTA_USE
        0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x07, 0x00, // CTA_TIMEOUT
        0x00, 0x00, 0x00, 0x18,
    0x1c, 0x00, 0x18, 0x80, // CTA_SYNPROXY (nested, 28 bytes)
        0x08, 0x00, 0x01, 0x00, // CTA_SYNPROXY_ISN
            0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x02, 0x00, // CTA_SYNPROXY_ITS
            0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x03, 0x00, // CTA_SYNPROXY_TSOFF
            0x00, 0x00, 0x00, 0x00,
];

/// The payload of a TCP entry in TIME_WAIT, 99 s left: reply port 40002.
#[rustfmt::skip]
const TIME_WAIT: [u8; 224] = [
    0x02, 0x00, 0x00, 0x00, // nfgenmsg: family 2, version 0, res_id
    0x34, 0x00, 0x01, 0x80, // CTA_TUPLE_ORIG (nested, 52 bytes)
        0x14, 0x00, 0x01, 0x80, // CTA_TUPLE_IP (nested, 20 bytes)
            0x08, 0x00, 0x01, 0x00, // CTA_IP_V4_SRC
                0x0a, 0xc8, 0x01, 0x02,
            0x08, 0x00, 0x02, 0x00, // CTA_IP_V4_DST
                0x5d, 0xb8, 0xd8, 0x22,
        0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO (nested, 28 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTO_NUM
                0x06, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, // CTA_PROTO_SRC_PORT
                0x4e, 0x22, 0x00, 0x00,
            0x06, 0x00, 0x03, 0x00, // CTA_PROTO_DST_PORT
                0x01, 0xbb, 0x00, 0x00,
    0x34, 0x00, 0x02, 0x80, // CTA_TUPLE_REPLY (nested, 52 bytes)
        0x14, 0x00, 0x01, 0x80, // CTA_TUPLE_IP (nested, 20 bytes)
            0x08, 0x00, 0x01, 0x00, // CTA_IP_V4_SRC
                0x5d, 0xb8, 0xd8, 0x22,
            0x08, 0x00, 0x02, 0x00, // CTA_IP_V4_DST
                0x0a, 0x00, 0x00, 0x01,
        0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO (nested, 28 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTO_NUM
                0x06, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, // CTA_PROTO_SRC_PORT
                0x01, 0xbb, 0x00, 0x00,
            0x06, 0x00, 0x03, 0x00, // CTA_PROTO_DST_PORT
                0x9c, 0x42, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, // CTA_STATUS
        0x00, 0x00, 0x00, 0x0a,
    0x08, 0x00, 0x08, 0x00, // CTA_MARK
        0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0c, 0x00, // CTA_ID
        0x25, 0x23, 0x14, 0xe0,
    0x08, 0x00, 0x0b, 0x00, // CTA_USE
        0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x07, 0x00, // CTA_TIMEOUT
        0x00, 0x00, 0x00, 0x63,
    0x30, 0x00, 0x04, 0x80, // CTA_PROTOINFO (nested, 48 bytes)
        0x2c, 0x00, 0x01, 0x80, // CTA_PROTOINFO_TCP (nested, 44 bytes)
            0x05, 0x00, 0x01, 0x00, // CTA_PROTOINFO_TCP_STATE
                0x07, 0x00, 0x00, 0x00,
            0x05, 0x00, 0x02, 0x00, // CTA_PROTOINFO_TCP_WSCALE_ORIGINAL
                0x00, 0x00, 0x00, 0x00,
            0x05, 0x00, 0x03, 0x00, // CTA_PROTOINFO_TCP_WSCALE_REPLY
                0x00, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x04, 0x00, // CTA_PROTOINFO_TCP_FLAGS_ORIGINAL
                0x0e, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x05, 0x00, // CTA_PROTOINFO_TCP_FLAGS_REPLY
                0x0e, 0x00, 0x00, 0x00,
    0x1c, 0x00, 0x18, 0x80, // CTA_SYNPROXY (nested, 28 bytes)
        0x08, 0x00, 0x01, 0x00, // CTA_SYNPROXY_ISN
            0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x02, 0x00, // CTA_SYNPROXY_ITS
            0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x03, 0x00, // CTA_SYNPROXY_TSOFF
            0x00, 0x00, 0x00, 0x00,
];

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn reads_a_dump_message_of_a_zoned_nat_entry() {
    let mut messages = Messages::new(&ZONED_ESTABLISHED);
    let m = messages.next().unwrap().unwrap();
    assert!(messages.next().is_none());
    assert_eq!(ctnetlink_message(m.kind), Some(MSG_CT_NEW));
    let e = parse_entry(m.payload).unwrap();
    assert_eq!(e.protocol, IPPROTO_TCP);
    assert_eq!(
        e.orig,
        Tuple {
            src: v4("10.200.1.2"),
            dst: v4("93.184.216.34"),
            src_port: 20001,
            dst_port: 443
        }
    );
    assert_eq!(
        e.reply,
        Tuple {
            src: v4("93.184.216.34"),
            dst: v4("10.0.0.1"),
            src_port: 443,
            dst_port: 40001
        }
    );
    assert_eq!(e.status, 0x18e);
    assert_ne!(e.status & IPS_CONFIRMED, 0);
    assert_eq!((e.timeout_s, e.zone), (299, 5));
    assert_eq!(e.tcp_state, Some(CT_TCP_ESTABLISHED));
    assert!(e.is_source_nat());
    assert_eq!(e.time_wait_left_s(), None);
}

#[test]
fn reads_an_ipv6_udp_entry() {
    let e = parse_entry(&UDP6).unwrap();
    assert_eq!(e.protocol, IPPROTO_UDP);
    assert_eq!(e.orig.src, "fd00::2".parse::<IpAddr>().unwrap());
    assert_eq!(
        (e.reply.dst, e.reply.dst_port),
        ("fd00::1".parse().unwrap(), 40003)
    );
    assert_eq!((e.reply.src_port, e.timeout_s, e.tcp_state), (53, 24, None));
    assert_eq!(e.status & IPS_SEEN_REPLY, 0);
}

#[test]
fn time_wait_entries_say_how_long_they_hold_their_port() {
    let e = parse_entry(&TIME_WAIT).unwrap();
    assert_eq!(e.tcp_state, Some(CT_TCP_TIME_WAIT));
    assert_eq!(e.time_wait_left_s(), Some(99));
    assert_eq!(e.reply.dst_port, 40002);
}

#[test]
fn every_truncation_is_an_error_or_a_record_never_a_panic() {
    let payload = &ZONED_ESTABLISHED[16..];
    for cut in 0..payload.len() {
        // The tuples come first: any cut that loses part of them fails.
        let parsed = parse_entry(&payload[..cut]);
        if cut < 4 + 52 + 52 {
            assert!(parsed.is_err(), "cut at {cut}");
        }
    }
}

#[test]
fn garbled_lengths_are_errors() {
    let mut e = ZONED_ESTABLISHED;
    e[20] = 0xff; // CTA_TUPLE_ORIG longer than the message
    assert!(parse_entry(&e[16..]).is_err());
    let mut e = ZONED_ESTABLISHED;
    e[24] = 0x02; // CTA_TUPLE_IP shorter than its own header
    assert!(parse_entry(&e[16..]).is_err());
    let mut e = ZONED_ESTABLISHED;
    e[16] = 7; // an address family conntrack does not track
    assert!(parse_entry(&e[16..]).is_err());
    let mut e = ZONED_ESTABLISHED;
    e[28] = 4; // CTA_IP_V4_SRC with no value
    assert!(parse_entry(&e[16..]).is_err());
}

#[test]
fn every_single_byte_change_is_survived() {
    let payload = &ZONED_ESTABLISHED[16..];
    for at in 0..payload.len() {
        for value in [0x00, 0x03, 0x7f, 0xff] {
            let mut p = payload.to_vec();
            p[at] = value;
            let _ = parse_entry(&p);
        }
    }
}

/// One netlink attribute, padded to 4 bytes.
fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = (4 + data.len()) as u16;
    let mut a = [len.to_ne_bytes(), kind.to_ne_bytes()].concat();
    a.extend_from_slice(data);
    a.resize(a.len().next_multiple_of(4), 0);
    a
}

fn tuple_attr(
    kind: u16,
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    zone: Option<u16>,
) -> Vec<u8> {
    let ip = [attr(1, &src), attr(2, &dst)].concat();
    let proto = [
        attr(1, &[IPPROTO_TCP]),
        attr(2, &ports.0.to_be_bytes()),
        attr(3, &ports.1.to_be_bytes()),
    ]
    .concat();
    let mut inner = [attr(1 | 0x8000, &ip), attr(2 | 0x8000, &proto)].concat();
    if let Some(z) = zone {
        inner.extend(attr(3, &z.to_be_bytes()));
    }
    attr(kind | 0x8000, &inner)
}

/// A zone for one direction only comes inside that direction's tuple; the
/// reply's is the NAT pool's zone, the original's leaves the reply in 0.
#[test]
fn a_zone_of_one_direction_is_read_from_its_tuple() {
    let entry = |orig_zone, reply_zone| {
        let payload = [
            vec![2, 0, 0, 0],
            tuple_attr(1, [10, 200, 1, 2], [10, 200, 2, 2], (20001, 443), orig_zone),
            tuple_attr(
                2,
                [10, 200, 2, 2],
                [10, 200, 2, 1],
                (443, 40001),
                reply_zone,
            ),
        ]
        .concat();
        parse_entry(&payload).map(|e| (e.zone, e.reply.dst_port))
    };
    assert_eq!(entry(None, Some(9)), Ok((9, 40001)));
    assert_eq!(entry(Some(9), None), Ok((0, 40001)));
    assert_eq!(entry(None, None), Ok((0, 40001)));
}

/// The fixed-offset reading of the kernel's IPv4 tuple layout agrees with
/// the general walk on that layout and on every one-byte change of it it
/// still accepts; what it refuses, the walk reads.
#[test]
fn the_fixed_layout_reading_agrees_with_the_walk() {
    let tuple = &ZONED_ESTABLISHED[24..72]; // CTA_TUPLE_ORIG's value
    let read = |b: &[u8]| {
        let (mut fixed, mut walked) = (empty_tuple(), empty_tuple());
        let fixed = v4_tuple(b, &mut fixed).map(|p| (p, fixed));
        (
            fixed,
            walk_tuple(b, &mut walked).map(|(p, z)| (p, walked, z)),
        )
    };
    let (fixed, walked) = read(tuple);
    assert_eq!(fixed, Some((IPPROTO_TCP, walked.unwrap().1)));
    assert_eq!(fixed.unwrap().1.src, v4("10.200.1.2"));
    let mut accepted = 0;
    for at in 0..tuple.len() {
        for value in [0x00, 0x03, 0x7f, 0x80, 0xff] {
            let mut t = tuple.to_vec();
            t[at] = value;
            if let (Some((p, fixed)), walked) = read(&t) {
                assert_eq!(walked, Ok((p, fixed, None)), "byte {at} = {value:#x}");
                accepted += 1;
            }
        }
    }
    // Changes of values and padding are read, and the walk agrees on each.
    assert!(accepted > 0);
    let zoned = tuple_attr(2, [10, 0, 0, 1], [10, 0, 0, 2], (1, 2), Some(3));
    assert_eq!(read(&zoned[4..]).0, None);
}
