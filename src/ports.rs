//! Port numbers and sets of them: the local port range, the reserved list,
//! and the compact bit sets the model keeps per pool.

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
    /// Inclusive ranges, as written in the file.
    ranges: Vec<(u16, u16)>,
}

impl ReservedPorts {
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= port && port <= b)
    }

    /// How many reserved ports fall inside `range`.
    pub fn count_in(&self, range: PortRange) -> usize {
        (range.lo..=range.hi).filter(|&p| self.contains(p)).count()
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
        Ok(ReservedPorts { ranges })
    }
}

/// A fixed-size set of positions in the port range, one bit each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBits {
    words: Vec<u64>,
    len: usize,
}

impl PortBits {
    pub fn new(len: usize) -> PortBits {
        PortBits {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// The positions of `range` that are not reserved: the candidates `C`.
    pub fn candidates(range: PortRange, reserved: &ReservedPorts) -> PortBits {
        let mut bits = PortBits::new(range.len());
        for port in range.lo..=range.hi {
            if !reserved.contains(port) {
                bits.insert(range.index(port));
            }
        }
        bits
    }

    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Positions the set can hold.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// `self & !minus`, in place.
    pub fn remove_all(&mut self, minus: &PortBits) {
        for (w, m) in self.words.iter_mut().zip(&minus.words) {
            *w &= !m;
        }
    }

    pub fn insert_all(&mut self, plus: &PortBits) {
        for (w, p) in self.words.iter_mut().zip(&plus.words) {
            *w |= p;
        }
    }
}

/// The ports one local address holds: a short list while it is short, a bit
/// set once the list would be larger than the bits.
#[derive(Clone, Debug)]
pub enum PortSet {
    Few(Vec<u16>),
    Many(PortBits),
}

impl PortSet {
    pub fn new() -> PortSet {
        PortSet::Few(Vec::new())
    }

    pub fn insert(&mut self, i: usize, range_len: usize) {
        match self {
            PortSet::Few(list) => {
                // Positions are below 65536, so they fit a u16.
                list.push(i as u16);
                if list.len() * 16 > range_len {
                    let mut bits = PortBits::new(range_len);
                    for &p in list.iter() {
                        bits.insert(usize::from(p));
                    }
                    *self = PortSet::Many(bits);
                }
            }
            PortSet::Many(bits) => bits.insert(i),
        }
    }

    /// Adds every position of this set to `bits`.
    pub fn add_to(&self, bits: &mut PortBits) {
        match self {
            PortSet::Few(list) => list.iter().for_each(|&p| bits.insert(usize::from(p))),
            PortSet::Many(own) => bits.insert_all(own),
        }
    }
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet::new()
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
    fn reserved_ports_reject_garbage() {
        for bad in ["a", "1,,2", "5-3", "1-", "70000", "1;2"] {
            assert!(bad.parse::<ReservedPorts>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn candidates_leave_out_reserved_ports() {
        let range = PortRange { lo: 100, hi: 199 };
        let c = PortBits::candidates(range, &"150-159,100".parse().unwrap());
        assert_eq!(c.count(), 89);
        assert!(!c.contains(0) && c.contains(1) && !c.contains(55));
    }

    #[test]
    fn port_set_grows_into_bits() {
        let mut s = PortSet::new();
        for i in 0..200 {
            s.insert(i % 150, 1000);
        }
        assert!(matches!(s, PortSet::Many(_)));
        let mut bits = PortBits::new(1000);
        s.add_to(&mut bits);
        assert_eq!(bits.count(), 150);
    }
}
