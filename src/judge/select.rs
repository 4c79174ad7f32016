//! Which pools the operator asked about: the kinds, and the sources and
//! destinations (`--source`, `--destination`) that narrow them.

use std::net::IpAddr;

use crate::model::upstream::UpstreamKey;
use crate::model::{Kind, NatKey, PoolName, Tuple};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

/// Which pools are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub kinds: Vec<Kind>,
    pub sources: Vec<IpAddr>,
    pub destinations: Vec<Destination>,
}

impl Selection {
    pub(super) fn source_matches(&self, addr: IpAddr) -> bool {
        self.sources.is_empty() || self.sources.contains(&addr)
    }

    pub(super) fn tuple_matches(&self, t: &Tuple) -> bool {
        self.source_matches(t.source)
            && (self.destinations.is_empty()
                || self
                    .destinations
                    .iter()
                    .any(|d| d.addr == t.destination && d.port.is_none_or(|p| p == t.port)))
    }

    /// `--source` narrows NAT pools by their NAT address, `--destination`
    /// by where they lead, as for connect pools.
    pub(super) fn nat_matches(&self, k: &NatKey) -> bool {
        self.tuple_matches(&Tuple {
            source: k.address,
            destination: k.destination,
            port: k.port,
        })
    }

    /// One source and one destination with its port: exactly one tuple.
    /// `--destination` narrows upstream pools by where they lead; a pool
    /// of a whole address matches a destination with any port. `--source`
    /// does not: every local address shares the provider's budget.
    pub(super) fn upstream_matches(&self, k: &UpstreamKey) -> bool {
        self.destinations.is_empty()
            || self.destinations.iter().any(|d| {
                d.addr == k.destination
                    && (d.port.is_none() || k.port.is_none() || d.port == k.port)
            })
    }

    /// The one destination asked for, if one was.
    pub(super) fn one_destination(&self) -> Option<(IpAddr, Option<u16>)> {
        match self.destinations.as_slice() {
            [d] => Some((d.addr, d.port)),
            _ => None,
        }
    }

    pub(super) fn single_tuple(&self) -> Option<Tuple> {
        match (self.sources.as_slice(), self.destinations.as_slice()) {
            (
                [source],
                [
                    Destination {
                        addr,
                        port: Some(port),
                    },
                ],
            ) => Some(Tuple {
                source: *source,
                destination: *addr,
                port: *port,
            }),
            _ => None,
        }
    }

    /// What the pool of a tuple with no socket yet is known as.
    pub(super) fn new_tuple(&self) -> PoolName {
        let one = |v: &[IpAddr]| match v {
            [a] => Some(*a),
            _ => None,
        };
        let destination = match self.destinations.as_slice() {
            [d] => Some(*d),
            _ => None,
        };
        PoolName::NewTuple {
            source: one(&self.sources),
            destination: destination.map(|d| d.addr),
            port: destination.and_then(|d| d.port),
        }
    }
}
