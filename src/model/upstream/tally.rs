//! What the host shows of one upstream destination key: its open
//! connections, its closes by age (from the host's TIME_WAIT and from
//! conntrack), and the local addresses they leave from.

use std::net::IpAddr;

/// Where a pool's connections leave from: the status line names the one
/// local address, or the lowest and how many others there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    pub lowest: IpAddr,
    pub others: u32,
}

impl Sources {
    pub(super) fn add(&mut self, addr: IpAddr) {
        if addr < self.lowest {
            self.lowest = addr;
        }
    }
}

/// Closes of one key by age in whole seconds, younger than the hold and
/// than what the source shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closes {
    pub buckets: Vec<u32>,
}

impl Closes {
    pub(super) fn add(&mut self, age_s: u32, keep_s: u32) {
        if age_s >= keep_s {
            return;
        }
        let i = age_s as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] = self.buckets[i].saturating_add(1);
    }

    pub fn total(&self) -> u32 {
        self.buckets.iter().fold(0u32, |a, b| a.saturating_add(*b))
    }

    pub(super) fn merge(&mut self, other: &Closes) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
    }
}

/// What the host shows of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Sockets that hold a port now.
    pub open: u32,
    /// The host's TIME_WAIT entries younger than the hold.
    pub host_closes: Closes,
    /// Conntrack entries of connections not closed yet, and closed ones by
    /// age (younger than the hold).
    pub ct_open: u32,
    pub ct_closes: Closes,
    /// Local addresses seen, for the name; at most a few are kept apart.
    sources: Vec<IpAddr>,
}

impl Tally {
    pub(super) fn source(&mut self, addr: IpAddr) {
        // Beyond this many the name says "and N more" from a count kept
        // approximately; the pool is the same whoever holds its ports.
        const KEPT: usize = 64;
        if !self.sources.contains(&addr) && self.sources.len() < KEPT {
            self.sources.push(addr);
        }
    }

    pub fn sources(&self) -> Option<Sources> {
        let mut it = self.sources.iter();
        let first = *it.next()?;
        let mut s = Sources {
            lowest: first,
            others: 0,
        };
        for a in it {
            s.add(*a);
            s.others += 1;
        }
        Some(s)
    }

    pub(super) fn merge(&mut self, other: &Tally) {
        self.open = self.open.saturating_add(other.open);
        self.ct_open = self.ct_open.saturating_add(other.ct_open);
        self.host_closes.merge(&other.host_closes);
        self.ct_closes.merge(&other.ct_closes);
        for a in &other.sources {
            self.source(*a);
        }
    }
}
