//! What one run keeps of its pools for the next (the ports each held by
//! anything but TIME_WAIT: established and CLOSE_WAIT sockets, a leak's),
//! and the text form of that state. Pure: the file itself is read and
//! written by `file`.
//!
//! The format is line based and versioned; a parser that meets anything
//! else refuses the whole file, and the run starts afresh.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::model::{FourTuple, Kind, MAX_BOUND, PoolName, Tuple};

/// The first line of every state file this version writes.
pub const HEADER: &str = "check_ephemeral trend 1";
/// At most this many pools are kept.
pub const MAX_POOLS: usize = 400;
/// A state file larger than this is not read (and never written).
pub const MAX_BYTES: usize = 128 * 1024;

/// One pool as a run left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    pub kind: Kind,
    pub name: PoolName,
    /// Ports held by anything but TIME_WAIT entries.
    pub held: u32,
}

/// What a run keeps for the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrendState {
    /// A hash of the options that decide what is measured.
    pub key: u64,
    /// When the run measured, ms since the Unix epoch.
    pub at_ms: u64,
    pub pools: Vec<Kept>,
    /// Connections whose port was bound explicitly: once in TIME_WAIT they
    /// still mark their port, which sock_diag no longer shows.
    pub bound: Vec<FourTuple>,
    /// The kernel's count of opens and the connections open then, for the
    /// upstream pools' bound on closes no entry shows.
    pub opens: Option<crate::model::upstream::Opens>,
}

/// Why a state file is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Another format or version (or no header at all).
    Foreign,
    /// Written for other options.
    OtherOptions,
    Corrupt {
        line: usize,
    },
    TooLarge,
}

impl TrendState {
    /// The text of the state file: never more than [`MAX_BYTES`], so the
    /// next run never refuses its own file. The counts cap the lines, but
    /// long (IPv6) addresses could still go past the bytes; then the lines
    /// that do not fit are left out, pools first kept (they carry the
    /// growth, the bound connections only a refinement).
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\nkey {:016x}\nat {}\n", self.key, self.at_ms);
        if let Some(o) = self.opens {
            let _ = writeln!(out, "opens {} {}", o.active_opens, o.host_open);
        }
        let mut line = String::new();
        let fits = |out: &mut String, line: &str| {
            if out.len() + line.len() > MAX_BYTES {
                return false;
            }
            out.push_str(line);
            true
        };
        for p in self.pools.iter().take(MAX_POOLS) {
            line.clear();
            let _ = writeln!(line, "{} {} {}", p.kind.name(), name_text(&p.name), p.held);
            if !fits(&mut out, &line) {
                return out;
            }
        }
        for b in self.bound.iter().take(MAX_BOUND) {
            line.clear();
            let _ = writeln!(
                line,
                "bound {}#{}>{}#{}",
                b.local, b.local_port, b.remote, b.remote_port
            );
            if !fits(&mut out, &line) {
                break;
            }
        }
        out
    }

    /// Parses a state file written for `key`.
    pub fn parse(text: &str, key: u64) -> Result<TrendState, Refused> {
        if text.len() > MAX_BYTES {
            return Err(Refused::TooLarge);
        }
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(Refused::Foreign);
        }
        let corrupt = |line: usize| Refused::Corrupt { line };
        let file_key = lines
            .next()
            .and_then(|l| l.strip_prefix("key "))
            .and_then(|k| u64::from_str_radix(k, 16).ok())
            .ok_or(corrupt(2))?;
        if file_key != key {
            return Err(Refused::OtherOptions);
        }
        let at_ms = lines
            .next()
            .and_then(|l| l.strip_prefix("at "))
            .and_then(|n| n.parse().ok())
            .ok_or(corrupt(3))?;
        let mut pools = Vec::new();
        let mut bound = Vec::new();
        let mut opens = None;
        for (i, line) in lines.enumerate() {
            if let Some(o) = line.strip_prefix("opens ") {
                if opens.is_some() || !pools.is_empty() || !bound.is_empty() {
                    return Err(corrupt(i + 4));
                }
                opens = Some(parse_opens(o).ok_or(corrupt(i + 4))?);
                continue;
            }
            if let Some(b) = line.strip_prefix("bound ") {
                if bound.len() >= MAX_BOUND {
                    return Err(corrupt(i + 4));
                }
                bound.push(parse_bound(b).ok_or(corrupt(i + 4))?);
                continue;
            }
            if pools.len() >= MAX_POOLS || !bound.is_empty() {
                return Err(corrupt(i + 4));
            }
            pools.push(parse_pool(line).ok_or(corrupt(i + 4))?);
        }
        Ok(TrendState {
            key,
            at_ms,
            pools,
            bound,
            opens,
        })
    }

    pub fn held(&self, kind: Kind, name: &PoolName) -> Option<u32> {
        self.pools
            .iter()
            .find(|p| p.kind == kind && p.name == *name)
            .map(|p| p.held)
    }
}

/// `127.0.0.1>10.0.0.9:5432` for a tuple, the address for a bind pool.
fn name_text(name: &PoolName) -> String {
    match name {
        PoolName::Tuple(t) => format!("{}>{}#{}", t.source, t.destination, t.port),
        PoolName::Address(a) => a.to_string(),
        _ => "-".to_string(),
    }
}

fn parse_opens(text: &str) -> Option<crate::model::upstream::Opens> {
    let (active_opens, host_open) = text.split_once(' ')?;
    Some(crate::model::upstream::Opens {
        active_opens: active_opens.parse().ok()?,
        host_open: host_open.parse().ok()?,
    })
}

fn parse_bound(text: &str) -> Option<FourTuple> {
    let (local, remote) = text.split_once('>')?;
    let (local, local_port) = local.rsplit_once('#')?;
    let (remote, remote_port) = remote.rsplit_once('#')?;
    Some(FourTuple {
        local: local.parse().ok()?,
        local_port: local_port.parse().ok()?,
        remote: remote.parse().ok()?,
        remote_port: remote_port.parse().ok()?,
    })
}

fn parse_pool(line: &str) -> Option<Kept> {
    let mut f = line.split(' ');
    let (kind, name, held) = (f.next()?, f.next()?, f.next()?);
    if f.next().is_some() {
        return None;
    }
    let held: u32 = held.parse().ok()?;
    let (kind, name) = match kind {
        "connect" => {
            let (source, rest) = name.split_once('>')?;
            let (destination, port) = rest.split_once('#')?;
            let tuple = Tuple {
                source: source.parse().ok()?,
                destination: destination.parse().ok()?,
                port: port.parse().ok()?,
            };
            (Kind::Connect, PoolName::Tuple(tuple))
        }
        "bind" => (Kind::Bind, PoolName::Address(name.parse::<IpAddr>().ok()?)),
        _ => return None,
    };
    Some(Kept { kind, name, held })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A state with a pool of each kind and a bound connection.
    pub(in crate::forecast::trend) fn state() -> TrendState {
        let tuple = Tuple {
            source: "10.0.0.5".parse().unwrap(),
            destination: "::1".parse().unwrap(),
            port: 5432,
        };
        TrendState {
            key: 42,
            at_ms: 1_700_000_000_000,
            pools: vec![
                Kept {
                    kind: Kind::Connect,
                    name: PoolName::Tuple(tuple),
                    held: 100,
                },
                Kept {
                    kind: Kind::Bind,
                    name: PoolName::Address("::".parse().unwrap()),
                    held: 7,
                },
            ],
            bound: vec![FourTuple {
                local: "::1".parse().unwrap(),
                local_port: 40001,
                remote: "10.0.0.9".parse().unwrap(),
                remote_port: 5432,
            }],
            opens: Some(crate::model::upstream::Opens {
                active_opens: 123_456,
                host_open: 78,
            }),
        }
    }

    #[test]
    fn a_state_reads_back_as_written() {
        let s = state();
        assert_eq!(TrendState::parse(&s.to_text(), 42), Ok(s));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let text = state().to_text();
        assert_eq!(TrendState::parse(&text, 43), Err(Refused::OtherOptions));
        assert_eq!(TrendState::parse("", 42), Err(Refused::Foreign));
        let v2 = text.replace("trend 1", "trend 2");
        assert_eq!(TrendState::parse(&v2, 42), Err(Refused::Foreign));
        let bad = format!("{text}connect nonsense 1\n");
        assert_eq!(
            TrendState::parse(&bad, 42),
            Err(Refused::Corrupt { line: 8 })
        );
        let big = "x".repeat(MAX_BYTES + 1);
        assert_eq!(TrendState::parse(&big, 42), Err(Refused::TooLarge));
    }

    #[test]
    fn the_longest_state_stays_under_the_byte_cap_and_reads_back() {
        // Every pool and connection with 39-character IPv6 addresses: the
        // counts alone would let the text pass 128 KiB.
        let v6 = |i: usize| -> IpAddr {
            format!("ffff:ffff:ffff:ffff:ffff:ffff:ffff:{:04x}", i + 0x1000)
                .parse()
                .unwrap()
        };
        let pools = (0..MAX_POOLS)
            .map(|i| Kept {
                kind: Kind::Connect,
                name: PoolName::Tuple(Tuple {
                    source: v6(i),
                    destination: v6(i + 1),
                    port: 65535,
                }),
                held: u32::MAX,
            })
            .collect();
        let bound = (0..MAX_BOUND)
            .map(|i| FourTuple {
                local: v6(i),
                local_port: 65535,
                remote: v6(i + 1),
                remote_port: 65535,
            })
            .collect();
        let s = TrendState {
            key: 42,
            at_ms: u64::MAX,
            pools,
            bound,
            opens: None,
        };
        let text = s.to_text();
        assert!(text.len() <= MAX_BYTES, "{} bytes", text.len());
        let back = TrendState::parse(&text, 42).expect("its own file");
        assert_eq!(back.pools, s.pools, "every pool kept");
        assert!(!back.bound.is_empty() && back.bound.len() < MAX_BOUND);
        assert_eq!(back.bound[..], s.bound[..back.bound.len()]);
    }
}
