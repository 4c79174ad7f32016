//! Sets of ports in the local port range: the compact bit sets the model
//! keeps per pool, and the small sets that grow into them.

use crate::read::ports::{PortRange, ReservedPorts};

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
    /// Every check builds this, so it is filled a word at a time and then
    /// the reserved ranges are cleared, rather than asked port by port.
    pub fn candidates(range: PortRange, reserved: &ReservedPorts) -> PortBits {
        let len = range.len();
        let mut bits = PortBits::new(len);
        bits.words.fill(!0);
        if let Some(last) = bits.words.last_mut()
            && !len.is_multiple_of(64)
        {
            *last = (1 << (len % 64)) - 1;
        }
        for &(a, b) in reserved.ranges() {
            for port in a.max(range.lo)..=b.min(range.hi) {
                let i = range.index(port);
                if let Some(w) = bits.words.get_mut(i / 64) {
                    *w &= !(1 << (i % 64));
                }
            }
        }
        bits
    }

    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub fn remove(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
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

    /// Takes every position of this set out of `bits`.
    pub fn remove_from(&self, bits: &mut PortBits) {
        match self {
            PortSet::Few(list) => list.iter().for_each(|&p| bits.remove(usize::from(p))),
            PortSet::Many(own) => bits.remove_all(own),
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

    /// Every other port reserved: the longest list the kernel can print.
    #[test]
    fn reserved_ports_every_other_port() {
        let text: Vec<String> = (1..=65535u16).step_by(2).map(|p| p.to_string()).collect();
        let r: ReservedPorts = text.join(",").parse().unwrap();
        let range = PortRange { lo: 1, hi: 65535 };
        assert_eq!(r.count_in(range), 32768);
        assert_eq!(PortBits::candidates(range, &r).count(), 32767);
        assert!(r.contains(1) && !r.contains(2) && r.contains(65535));
    }

    #[test]
    fn candidates_leave_out_reserved_ports() {
        let range = PortRange { lo: 100, hi: 199 };
        let c = PortBits::candidates(range, &"150-159,100".parse().unwrap());
        assert_eq!(c.count(), 89);
        assert!(!c.contains(0) && c.contains(1) && !c.contains(55));
    }

    #[test]
    fn candidates_agree_with_asking_port_by_port() {
        let reserved: ReservedPorts = "1-3,64,100-130,65000-65535".parse().unwrap();
        for (lo, hi) in [
            (1, 1),
            (1, 64),
            (1, 128),
            (2, 129),
            (60, 200),
            (64000, 65535),
        ] {
            let range = PortRange { lo, hi };
            let c = PortBits::candidates(range, &reserved);
            for port in lo..=hi {
                assert_eq!(c.contains(range.index(port)), !reserved.contains(port));
            }
            // No stray bits past the end of the range.
            assert_eq!(c.count(), range.len() - reserved.count_in(range), "{range}");
        }
    }

    #[test]
    fn port_set_grows_into_bits() {
        let mut s = PortSet::new();
        for i in 0..200 {
            s.insert(i % 150, 1000);
        }
        assert!(matches!(s, PortSet::Many(_)));
        let mut bits = PortBits::new(1000);
        (0..1000).for_each(|i| bits.insert(i));
        s.remove_from(&mut bits);
        assert_eq!(bits.count(), 850);
        assert!(!bits.contains(149) && bits.contains(150));
    }
}
