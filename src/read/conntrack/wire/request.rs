//! The dump requests sent to ctnetlink: every entry or statistic of the
//! namespace, or only the entries whose replies go to one NAT address,
//! filtered in the kernel.

use std::net::IpAddr;

use super::{
    AF_INET, AF_INET6, CTA_IP_V4_DST, CTA_IP_V6_DST, CTA_TUPLE_IP, CTA_TUPLE_REPLY, MSG_CT_GET,
    NFGENMSG_LEN, NLA_F_NESTED, SUBSYS_CTNETLINK,
};
use crate::read::netlink::NLMSG_HDRLEN;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const CTA_FILTER: u16 = 25;
// Inside CTA_FILTER: which fields of the reply tuple must match
// (`CTA_FILTER_F_CTA_IP_DST`, nf_conntrack_netlink.c).
const CTA_FILTER_REPLY_FLAGS: u16 = 2;
const CTA_FILTER_F_IP_DST: u32 = 1 << 1;

/// A dump request: header, `nfgenmsg` and, for a filtered dump, the
/// filter's attributes; 64 bytes at most.
pub struct Request {
    bytes: [u8; 64],
    len: usize,
}

impl Request {
    /// Asks for every record of `message` (one of the `MSG_CT_*`) of
    /// `family` (AF_UNSPEC: both).
    pub fn dump(message: u8, family: u8, seq: u32) -> Request {
        let mut r = Request {
            bytes: [0; 64],
            len: NLMSG_HDRLEN + NFGENMSG_LEN,
        };
        let kind = (SUBSYS_CTNETLINK << 8) | u16::from(message);
        r.bytes[4..6].copy_from_slice(&kind.to_ne_bytes());
        r.bytes[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        r.bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        r.bytes[16] = family;
        r.set_len();
        r
    }

    /// Asks for the entries whose reply tuple goes to `address`: those that
    /// hold ports of that NAT address, filtered in the kernel (`CTA_FILTER`,
    /// Linux 5.8+; it needs a family, so one address family only).
    pub fn dump_replies_to(address: IpAddr, seq: u32) -> Request {
        let (family, kind, octets): (u8, u16, &[u8]) = match &address {
            IpAddr::V4(a) => (AF_INET, CTA_IP_V4_DST, &a.octets()),
            IpAddr::V6(a) => (AF_INET6, CTA_IP_V6_DST, &a.octets()),
        };
        let mut r = Request::dump(MSG_CT_GET, family, seq);
        // CTA_TUPLE_REPLY { CTA_TUPLE_IP { CTA_IP_V*_DST address } }
        let ip_len = 4 + octets.len() as u16;
        r.push_header(4 + 4 + ip_len, CTA_TUPLE_REPLY | NLA_F_NESTED);
        r.push_header(4 + ip_len, CTA_TUPLE_IP | NLA_F_NESTED);
        r.push_header(ip_len, kind);
        r.push(octets);
        // CTA_FILTER { CTA_FILTER_REPLY_FLAGS: the reply's destination address }
        r.push_header(12, CTA_FILTER | NLA_F_NESTED);
        r.push_header(8, CTA_FILTER_REPLY_FLAGS);
        r.push(&CTA_FILTER_F_IP_DST.to_ne_bytes());
        r.set_len();
        r
    }

    fn push_header(&mut self, len: u16, kind: u16) {
        self.push(&len.to_ne_bytes());
        self.push(&kind.to_ne_bytes());
    }

    /// Appends `data` (every value here is a multiple of 4 bytes long).
    fn push(&mut self, data: &[u8]) {
        self.bytes[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    /// Numbers the request (the socket counts its requests).
    pub fn set_seq(&mut self, seq: u32) {
        self.bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
    }

    fn set_len(&mut self) {
        let len = self.len as u32;
        self.bytes[0..4].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AF_UNSPEC, MSG_CT_GET_STATS_CPU};
    use super::*;

    #[test]
    fn requests_are_a_header_and_an_nfgenmsg() {
        let r = Request::dump(MSG_CT_GET, AF_UNSPEC, 7);
        #[rustfmt::skip]
        let expected: [u8; 20] = [
            20, 0, 0, 0,    // nlmsg_len
            0x01, 0x01,     // (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
            0x01, 0x03,     // NLM_F_REQUEST | NLM_F_DUMP
            7, 0, 0, 0,     // seq
            0, 0, 0, 0,     // pid
            0, 0, 0, 0,     // nfgenmsg: AF_UNSPEC, version 0, res_id 0
        ];
        assert_eq!(r.as_bytes(), &expected);
        let r = Request::dump(MSG_CT_GET_STATS_CPU, AF_INET6, 1);
        assert_eq!((r.as_bytes()[4], r.as_bytes()[16]), (4, 10));
    }
    #[test]
    fn a_filtered_request_asks_for_replies_to_one_address() {
        let r = Request::dump_replies_to("10.0.0.9".parse().unwrap(), 3);
        #[rustfmt::skip]
        let expected: [u8; 48] = [
            48, 0, 0, 0,            // nlmsg_len
            0x01, 0x01,             // IPCTNL_MSG_CT_GET
            0x01, 0x03,             // NLM_F_REQUEST | NLM_F_DUMP
            3, 0, 0, 0,             // seq
            0, 0, 0, 0,             // pid
            2, 0, 0, 0,             // nfgenmsg: AF_INET (the filter needs a family)
            16, 0, 0x02, 0x80,      // CTA_TUPLE_REPLY (nested)
            12, 0, 0x01, 0x80,      //   CTA_TUPLE_IP (nested)
            8, 0, 0x02, 0x00,       //     CTA_IP_V4_DST
            10, 0, 0, 9,            //       10.0.0.9
            12, 0, 25, 0x80,        // CTA_FILTER (nested)
            8, 0, 0x02, 0x00,       //   CTA_FILTER_REPLY_FLAGS
            0x02, 0, 0, 0,          //     the reply's destination address
        ];
        assert_eq!(r.as_bytes(), &expected);
        let r = Request::dump_replies_to("fd00::1".parse().unwrap(), 3);
        assert_eq!((r.as_bytes().len(), r.as_bytes()[16]), (60, 10));
    }
}
