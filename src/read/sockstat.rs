//! The socket counts the kernel keeps per network namespace
//! (`/proc/net/sockstat` and `sockstat6`): TCP and UDP sockets in its hash
//! tables, and TIME_WAIT entries. A sock_diag dump walks the hash tables
//! of the whole host (they are shared by every namespace unless made
//! otherwise), so a dump for sockets the namespace does not have costs as
//! much as one that finds them; where a count is zero, its dump is skipped.
//!
//! What the counts cover, in the kernel: a TCP socket counts in `inuse`
//! from the moment it is hashed (listening, or connecting and after) until
//! it is unhashed, a TIME_WAIT entry in `tw`, and a request socket needs a
//! listener; so with `inuse` and `tw` both zero the established table holds
//! nothing of the namespace. A UDP socket counts from the moment it has a
//! port; IPv6 sockets (also those with IPv4-mapped addresses) count in
//! `sockstat6`, which is exactly the family the per-family dump returns.
//! A TCP socket bound but neither listening nor connected counts nowhere:
//! the dump that finds those is never skipped.

use std::io::ErrorKind;
use std::path::Path;

/// The counts the skips rest on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `sockets: used`: every socket of the namespace that a process made
    /// (a TCP socket that is only bound counts here and in no other count;
    /// a TIME_WAIT entry or a request socket is no socket); `None` where
    /// the line is missing.
    pub sockets: Option<u64>,
    pub tcp: u64,
    pub tcp6: u64,
    pub time_wait: u64,
    pub udp: u64,
    pub udp6: u64,
}

impl Counts {
    /// The counts of the namespace whose tables are in `proc_dir`; `None`
    /// when they cannot be read or make no sense, and then nothing is
    /// skipped. Without IPv6 there is no `sockstat6`, and no IPv6 socket.
    pub fn read(proc_dir: &Path) -> Option<Counts> {
        let v4 = std::fs::read_to_string(proc_dir.join("sockstat")).ok()?;
        let v6 = match std::fs::read_to_string(proc_dir.join("sockstat6")) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
            Err(_) => return None,
        };
        Counts::parse(&v4, &v6)
    }

    /// Parses `TCP: inuse 1 orphan 0 tw 3 ...`, `UDP: inuse 0 ...` and
    /// `TCP6: inuse 0`, `UDP6: inuse 0`. A count missing from `v4`, or one
    /// that is not a whole number (the kernel sums per-CPU counters and
    /// could show a negative one for a moment), gives `None`.
    pub fn parse(v4: &str, v6: &str) -> Option<Counts> {
        let v6_count = |key: &str| match field(v6, key, "inuse") {
            Some(n) => n,
            None if v6.is_empty() => Some(0),
            None => None,
        };
        Some(Counts {
            sockets: field(v4, "sockets:", "used").flatten(),
            tcp: field(v4, "TCP:", "inuse")??,
            time_wait: field(v4, "TCP:", "tw")??,
            udp: field(v4, "UDP:", "inuse")??,
            tcp6: v6_count("TCP6:")?,
            udp6: v6_count("UDP6:")?,
        })
    }

    /// Whether the established table may hold sockets of the namespace:
    /// when not, a dump of connected TCP sockets would find none.
    pub fn any_connected_tcp(&self) -> bool {
        self.tcp + self.tcp6 + self.time_wait > 0
    }
}

/// The number after `name` on the line that starts with `key`: `None` if
/// there is no such line or name, `Some(None)` if it is not a count.
fn field(text: &str, key: &str, name: &str) -> Option<Option<u64>> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let mut words = line.split_whitespace().skip(1);
    while let Some(word) = words.next() {
        let value = words.next()?;
        if word == name {
            return Some(value.parse().ok());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "sockets: used 18\n\
        TCP: inuse 1 orphan 0 tw 3 alloc 1204 mem 118\n\
        UDP: inuse 0 mem 0\n\
        UDPLITE: inuse 0\n\
        RAW: inuse 0\n\
        FRAG: inuse 0 memory 0\n";
    const V6: &str = "TCP6: inuse 2\nUDP6: inuse 5\nUDPLITE6: inuse 0\nRAW6: inuse 0\n\
        FRAG6: inuse 0 memory 0\n";

    #[test]
    fn counts_as_the_kernel_prints_them() {
        let c = Counts::parse(V4, V6).unwrap();
        assert_eq!(
            c,
            Counts {
                sockets: Some(18),
                tcp: 1,
                tcp6: 2,
                time_wait: 3,
                udp: 0,
                udp6: 5
            }
        );
        assert!(c.any_connected_tcp());
    }

    #[test]
    fn no_ipv6_means_no_ipv6_sockets() {
        let c = Counts::parse(
            &V4.replace("inuse 1", "inuse 0").replace("tw 3", "tw 0"),
            "",
        )
        .unwrap();
        assert_eq!((c.tcp6, c.udp6), (0, 0));
        assert!(!c.any_connected_tcp());
    }

    #[test]
    fn anything_odd_skips_nothing() {
        assert_eq!(Counts::parse("", V6), None);
        assert_eq!(Counts::parse(&V4.replace("inuse 1", "inuse -1"), V6), None);
        assert_eq!(Counts::parse(&V4.replace(" tw 3", ""), V6), None);
        assert_eq!(Counts::parse(V4, "TCP6: inuse x\nUDP6: inuse 0\n"), None);
        assert_eq!(Counts::parse(V4, "UDP6: inuse 0\n"), None);
    }
}
