//! Port numbers as the kernel's settings give them: the local port range
//! and the reserved list.

use std::fmt;
use std::str::FromStr;

/// `net.ipv4.ip_local_port_range`: the ports `connect()`, `bind(addr, 0)`
/// and UDP autobind pick from, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn new(lo: u16, hi: u16) -> Result<PortRange, String> {
        if lo == 0 {
            return Err("the range starts at port 0".into());
        }
        if lo > hi {
            return Err(format!("the range is inverted ({lo} > {hi})"));
        }
        Ok(PortRange { lo, hi })
    }

    /// Number of ports in the range; never zero.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        usize::from(self.hi - self.lo) + 1
    }

    pub fn contains(self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    /// Position of `port` in the range; the caller has checked `contains`.
    pub fn index(self, port: u16) -> usize {
        usize::from(port - self.lo)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

/// The file holds two numbers separated by white space, e.g. "32768\t60999\n".
impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut fields = s.split_ascii_whitespace();
        let (Some(lo), Some(hi), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("expected two port numbers, found {:?}", s.trim()));
        };
        PortRange::new(parse_port(lo)?, parse_port(hi)?)
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a port number"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("{s} is not a port number (0-65535)"))
}

/// `net.ipv4.ip_local_reserved_ports`: ports never picked automatically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReservedPorts {
    /// Inclusive ranges, sorted and merged: a list of thousands (every
    /// other port reserved, say) is still looked up in a few steps.
    ranges: Vec<(u16, u16)>,
}

impl ReservedPorts {
    /// The reserved ranges, inclusive, sorted and merged.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    pub fn contains(&self, port: u16) -> bool {
        // Only the last range starting at or below `port` can hold it.
        let after = self.ranges.partition_point(|&(a, _)| a <= port);
        after
            .checked_sub(1)
            .and_then(|i| self.ranges.get(i))
            .is_some_and(|&(_, b)| port <= b)
    }

    /// How many reserved ports fall inside `range`.
    pub fn count_in(&self, range: PortRange) -> usize {
        self.ranges
            .iter()
            .map(|&(a, b)| {
                let (lo, hi) = (a.max(range.lo), b.min(range.hi));
                if lo <= hi {
                    usize::from(hi - lo) + 1
                } else {
                    0
                }
            })
            .sum()
    }
}

/// A comma list of ports and ranges, "8080,40000-40009", possibly empty.
impl FromStr for ReservedPorts {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut ranges = Vec::new();
        if s.is_empty() {
            return Ok(ReservedPorts { ranges });
        }
        for item in s.split(',') {
            let item = item.trim();
            let (a, b) = match item.split_once('-') {
                Some((a, b)) => (parse_port(a.trim())?, parse_port(b.trim())?),
                None => {
                    let p = parse_port(item)?;
                    (p, p)
                }
            };
            if a > b {
                return Err(format!("the reserved range {item} is inverted"));
            }
            ranges.push((a, b));
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(ReservedPorts { ranges: merged })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_parses_the_proc_format() {
        assert_eq!(
            "32768\t60999\n".parse::<PortRange>(),
            Ok(PortRange {
                lo: 32768,
                hi: 60999
            })
        );
        assert_eq!("40000 40000".parse::<PortRange>().map(|r| r.len()), Ok(1));
    }

    #[test]
    fn port_range_rejects_garbage() {
        for bad in [
            "",
            "32768",
            "60999 32768",
            "0 10",
            "1 2 3",
            "a b",
            "1 70000",
            "-1 5",
            "+1 5",
        ] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reserved_ports_parse_lists_and_ranges() {
        let r: ReservedPorts = "8080,40000-40009\n".parse().unwrap();
        assert!(r.contains(8080) && r.contains(40000) && r.contains(40009));
        assert!(!r.contains(40010) && !r.contains(8081));
        assert_eq!(
            r.count_in(PortRange {
                lo: 40005,
                hi: 40100
            }),
            5
        );
        assert_eq!("\n".parse::<ReservedPorts>(), Ok(ReservedPorts::default()));
        assert!("7".parse::<ReservedPorts>().unwrap().contains(7));
    }

    #[test]
    fn reserved_ports_in_any_order_and_overlapping() {
        let list = [
            (50, 60),
            (10, 10),
            (55, 70),
            (11, 12),
            (71, 71),
            (90, 95),
            (1, 1),
        ];
        let text: Vec<String> = list.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        let r: ReservedPorts = text.join(",").parse().unwrap();
        let naive = |p: u16| list.iter().any(|&(a, b)| a <= p && p <= b);
        for p in 0..=200 {
            assert_eq!(r.contains(p), naive(p), "{p}");
        }
        for (lo, hi) in [(1, 200), (11, 56), (60, 60), (72, 89), (96, 96)] {
            let range = PortRange { lo, hi };
            let want = (lo..=hi).filter(|&p| naive(p)).count();
            assert_eq!(r.count_in(range), want, "{range}");
        }
        assert!(!r.contains(65535));
        assert!("65535".parse::<ReservedPorts>().unwrap().contains(65535));
    }

    #[test]
    fn reserved_ports_reject_garbage() {
        for bad in ["a", "1,,2", "5-3", "1-", "70000", "1;2"] {
            assert!(bad.parse::<ReservedPorts>().is_err(), "{bad:?} accepted");
        }
    }
}
