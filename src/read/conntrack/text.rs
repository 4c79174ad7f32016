//! The text form of the conntrack table, `/proc/net/nf_conntrack` (kernels
//! built with `CONFIG_NF_CONNTRACK_PROCFS`, readable by root only): the
//! fallback where ctnetlink is unavailable. One line is one entry; the same
//! record as the netlink reader hands on. Pure functions of text.

use std::net::IpAddr;

use super::entry::{Entry, IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY, Tuple};

/// The conntrack TCP state names in the order of `enum tcp_conntrack`.
const TCP_STATES: [&str; 10] = [
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "SYN_SENT2",
];

/// Reads one line, e.g. (6.18)
/// `ipv4 2 tcp 6 431994 ESTABLISHED src=10.200.1.2 dst=10.200.2.2 sport=55580
/// dport=443 src=10.200.2.2 dst=10.200.2.1 sport=443 dport=40007 [ASSURED]
/// mark=0 zone=0 use=2`.
pub fn parse_line(line: &str) -> Result<Entry, &'static str> {
    let mut words = line.split_ascii_whitespace();
    let bad = "a /proc/net/nf_conntrack line is not of the known form";
    // l3 name and number, l4 name and number, seconds left.
    let _l3 = words.next().ok_or(bad)?;
    let _l3num = words.next().ok_or(bad)?;
    let l4 = words.next().ok_or(bad)?;
    let protocol: u8 = words.next().ok_or(bad)?.parse().map_err(|_| bad)?;
    let timeout_s: u32 = words.next().ok_or(bad)?.parse().map_err(|_| bad)?;
    let mut tcp_state = None;
    let mut tuples: [Partial; 2] = [Partial::default(); 2];
    let mut which = 0;
    let mut status = IPS_CONFIRMED | IPS_SEEN_REPLY;
    let mut zone = 0;
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            match word {
                "[UNREPLIED]" => status &= !IPS_SEEN_REPLY,
                "[ASSURED]" => status |= IPS_ASSURED,
                _ if l4 == "tcp" && tcp_state.is_none() => {
                    tcp_state = TCP_STATES.iter().position(|s| *s == word).map(|p| p as u8);
                }
                _ => {}
            }
            continue;
        };
        // A second `src=` starts the reply tuple.
        if key == "src" && tuples[0].src.is_some() {
            which = 1;
        }
        let t = &mut tuples[which];
        match key {
            "src" => t.src = Some(value.parse().map_err(|_| bad)?),
            "dst" => t.dst = Some(value.parse().map_err(|_| bad)?),
            "sport" => t.src_port = value.parse().map_err(|_| bad)?,
            "dport" => t.dst_port = value.parse().map_err(|_| bad)?,
            // The NAT pools are the reply tuples', so the zone that counts
            // is the one the reply direction is looked up in: `zone=` (both
            // directions) or `zone-reply=`; a `zone-orig=` leaves the reply
            // in the default zone 0.
            "zone" | "zone-reply" => zone = value.parse().map_err(|_| bad)?,
            _ => {}
        }
    }
    let [orig, reply] = tuples;
    Ok(Entry {
        protocol,
        orig: orig.finish().ok_or(bad)?,
        reply: reply.finish().ok_or(bad)?,
        status,
        timeout_s,
        tcp_state,
        zone,
    })
}

#[derive(Clone, Copy, Default)]
struct Partial {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: u16,
    dst_port: u16,
}

impl Partial {
    fn finish(self) -> Option<Tuple> {
        Some(Tuple {
            src: self.src?.to_canonical(),
            dst: self.dst?.to_canonical(),
            src_port: self.src_port,
            dst_port: self.dst_port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::CT_TCP_TIME_WAIT;
    use super::*;

    /// Lines read from /proc/net/nf_conntrack on a 6.18 kernel.
    const ESTABLISHED: &str = "ipv4     2 tcp      6 431994 ESTABLISHED src=10.200.1.2 dst=10.200.2.2 sport=55580 dport=443 src=10.200.2.2 dst=10.200.2.1 sport=443 dport=40007 [ASSURED] mark=0 zone=0 use=2";
    const UDP6: &str = "ipv6     10 udp      17 24 src=fd00::2 dst=2001:db8::1 sport=20003 dport=53 [UNREPLIED] src=2001:db8::1 dst=fd00::1 sport=53 dport=40003 mark=0 zone=3 use=2";
    const TIME_WAIT: &str = "ipv4     2 tcp      6 99 TIME_WAIT src=10.200.1.2 dst=93.184.216.34 sport=20002 dport=443 src=93.184.216.34 dst=10.0.0.1 sport=443 dport=40002 mark=0 zone=0 use=2";

    #[test]
    fn reads_a_masqueraded_tcp_entry() {
        let e = parse_line(ESTABLISHED).unwrap();
        assert_eq!((e.protocol, e.timeout_s, e.tcp_state), (6, 431994, Some(3)));
        assert_eq!(e.orig.src_port, 55580);
        assert_eq!(
            (e.reply.dst, e.reply.dst_port),
            ("10.200.2.1".parse().unwrap(), 40007)
        );
        assert!(e.is_source_nat());
        assert_ne!(e.status & IPS_ASSURED, 0);
    }

    #[test]
    fn reads_an_unreplied_ipv6_udp_entry() {
        let e = parse_line(UDP6).unwrap();
        assert_eq!((e.protocol, e.tcp_state, e.zone), (17, None, 3));
        let directional = |z: &str| {
            let line = ESTABLISHED.replace("zone=0", z);
            parse_line(&line).map(|e| e.zone)
        };
        assert_eq!(directional("zone-reply=5"), Ok(5));
        assert_eq!(directional("zone-orig=5"), Ok(0));
        assert_eq!(e.status & IPS_SEEN_REPLY, 0);
        assert_eq!(e.reply.dst, "fd00::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn reads_time_wait() {
        let e = parse_line(TIME_WAIT).unwrap();
        assert_eq!(e.tcp_state, Some(CT_TCP_TIME_WAIT));
        assert_eq!(e.time_wait_left_s(), Some(99));
    }

    #[test]
    fn rejects_broken_lines_without_panicking() {
        for line in [
            "",
            "ipv4 2 tcp",
            "ipv4 2 tcp 6 x ESTABLISHED",
            "ipv4 2 tcp 6 10 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2",
            "ipv4 2 tcp 6 10 src=nonsense",
            "ipv4 2 tcp 6 10 src=1.2.3.4 dst=1.2.3.5 sport=99999",
        ] {
            assert!(parse_line(line).is_err(), "{line}");
        }
        for cut in 0..ESTABLISHED.len() {
            let _ = parse_line(&ESTABLISHED[..cut]);
        }
    }
}
