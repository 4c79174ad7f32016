//! The settings a remedy may change, each as one variant of today's: TIME_WAIT
//! reuse, a wider range that avoids the listening ports, and the reserved
//! ports of the range freed.

use super::Change;
use crate::read::ports::PortRange;
use crate::read::records::Records;
use crate::read::settings::{KernelSettings, TwReuse};

/// One changed setting: what it is called, and the settings with it.
pub struct Variant {
    pub change: Change,
    pub settings: KernelSettings,
}

/// Today's settings, each changed in one way that may free ports.
pub fn variants(today: &KernelSettings, floor: u16, records: &Records) -> Vec<Variant> {
    let mut variants = Vec::new();
    let setting = |what_if: String, needs: Option<String>, settings| Variant {
        change: Change::Setting { what_if, needs },
        settings,
    };
    if today.tw_reuse != TwReuse::Always {
        let delay = match today.tw_reuse_delay_ms {
            Some(ms) => format!("tcp_tw_reuse_delay, {ms} ms here"),
            None => "one to two seconds on this kernel".to_string(),
        };
        let timestamps = if today.timestamps { "on" } else { "OFF" };
        let needs = format!(
            "needs TCP timestamps on both ends (net.ipv4.tcp_timestamps, {timestamps} here); \
             helps outgoing connections only, never bind(); a TIME_WAIT is taken over once \
             older than the reuse delay ({delay})"
        );
        let settings = KernelSettings {
            tw_reuse: TwReuse::Always,
            ..today.clone()
        };
        variants.push(setting(
            "net.ipv4.tcp_tw_reuse=1".into(),
            Some(needs),
            settings,
        ));
    }
    if let Some(range) = wider_range(today.range, floor, records.listening_ports()) {
        let needs = "a port in the new range that a service binds later, without listening \
                     now, may be taken by a client first: reserve such ports \
                     (net.ipv4.ip_local_reserved_ports)";
        let settings = KernelSettings {
            range,
            ..today.clone()
        };
        variants.push(setting(
            format!("net.ipv4.ip_local_port_range={} {}", range.lo, range.hi),
            Some(needs.into()),
            settings,
        ));
    }
    if today.reserved.count_in(today.range) > 0 {
        let reserved = today.reserved.outside(today.range);
        let needs = "a reserved port is one a service expects to bind: free only those \
                     no service needs";
        let settings = KernelSettings {
            reserved: reserved.clone(),
            ..today.clone()
        };
        variants.push(setting(
            format!("net.ipv4.ip_local_reserved_ports={reserved}"),
            Some(needs.into()),
            settings,
        ));
    }
    variants
}

/// The widest range that holds `today`, starts at `floor` or above, and
/// takes in no listening port it does not already hold; of an even size
/// (the kernel scans an even count of ports: one end of an odd range may
/// be missed). `None` where it cannot grow.
pub fn wider_range(
    today: PortRange,
    floor: u16,
    listening: impl Iterator<Item = u16>,
) -> Option<PortRange> {
    let (mut lo, mut hi) = (floor.min(today.lo), u16::MAX);
    for port in listening {
        if port < today.lo && port >= lo {
            lo = port + 1;
        } else if port > today.hi && port <= hi {
            hi = port - 1;
        }
    }
    if (u32::from(hi) - u32::from(lo) + 1) % 2 == 1 && lo < today.lo {
        lo += 1;
    } else if (u32::from(hi) - u32::from(lo) + 1) % 2 == 1 && hi > today.hi {
        hi -= 1;
    }
    let wider = PortRange { lo, hi };
    (wider != today).then_some(wider)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::ports::ReservedPorts;

    fn range(lo: u16, hi: u16) -> PortRange {
        PortRange::new(lo, hi).unwrap()
    }

    #[test]
    fn a_wider_range_stops_short_of_listening_ports() {
        let today = range(32768, 60999);
        let wider = |listening: &[u16]| wider_range(today, 1024, listening.iter().copied());
        assert_eq!(wider(&[]), Some(range(1024, 65535)));
        // 5432 below, 61000 above; 40000 is inside already and stays.
        assert_eq!(
            wider(&[22, 5432, 40000, 61000, 8080]),
            Some(range(8082, 60999))
        );
        assert_eq!(wider(&[32767, 61000]), None);
        // Odd sizes lose a port at the end that moved.
        assert_eq!(wider(&[32766, 61000]), None);
        assert_eq!(wider(&[32764, 61000]), Some(range(32766, 60999)));
        assert_eq!(
            wider_range(range(1024, 2000), 1024, [3000].into_iter()),
            Some(range(1024, 2999))
        );
    }

    #[test]
    fn reserved_ports_outside_a_range_print_as_the_file_reads() {
        let r: ReservedPorts = "8080,39990-40009,40015,40018-40030".parse().unwrap();
        let range = PortRange::new(40000, 40019).unwrap();
        assert_eq!(r.outside(range).to_string(), "8080,39990-39999,40020-40030");
        assert_eq!(r.to_string(), "8080,39990-40009,40015,40018-40030");
        assert_eq!(ReservedPorts::default().to_string(), "");
    }
}
