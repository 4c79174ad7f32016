//! The fallback reader: `/proc/net/{tcp,tcp6,udp,udp6}`. Slower than
//! netlink and blind to bound-only sockets and to explicitly bound ports;
//! the report says so whenever it is used.
//!
//! `parse_line` reads one text row in place; `read_*` stream the files
//! through one reused line buffer.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::error::{Error, Result};
use crate::read::ports::PortRange;
use crate::read::socket::{Protocol, Sink, Socket, TcpState, canonical};

pub const PROC_NET: &str = "/proc/net";

/// Streams `tcp` and `tcp6` under `dir` into `sink`: listeners first (each
/// file lists them before anything else), then every other row.
pub fn read_tcp(
    dir: &Path,
    range: PortRange,
    ticks_per_s: u32,
    sink: &mut impl Sink,
) -> Result<()> {
    let files = [dir.join("tcp"), dir.join("tcp6")];
    for path in &files {
        stream(path, Protocol::Tcp, ticks_per_s, &mut |s| {
            if s.state != TcpState::LISTEN {
                return false;
            }
            if range.contains(s.local_port) {
                sink.marked(s);
            }
            true
        })?;
    }
    for path in &files {
        stream(path, Protocol::Tcp, ticks_per_s, &mut |s| {
            if s.state != TcpState::LISTEN && range.contains(s.local_port) {
                sink.socket(s);
            }
            true
        })?;
    }
    Ok(())
}

/// Streams `udp` and `udp6` under `dir` into `sink`.
pub fn read_udp(
    dir: &Path,
    range: PortRange,
    ticks_per_s: u32,
    sink: &mut impl Sink,
) -> Result<()> {
    for name in ["udp", "udp6"] {
        stream(&dir.join(name), Protocol::Udp, ticks_per_s, &mut |s| {
            if range.contains(s.local_port) {
                sink.socket(s);
            }
            true
        })?;
    }
    Ok(())
}

/// Calls `each` for every row until it returns false. A missing file is an
/// empty table (a kernel without IPv6 has no `tcp6`).
fn stream(
    path: &Path,
    protocol: Protocol,
    ticks_per_s: u32,
    each: &mut dyn FnMut(&Socket) -> bool,
) -> Result<()> {
    let read_error = |source| Error::read(path, source);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound && is_ipv6_table(path) => return Ok(()),
        Err(e) => return Err(read_error(e)),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::with_capacity(256);
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            if number == 0 {
                return Err(Error::parse(
                    path,
                    "the file is empty, without column headings",
                ));
            }
            return Ok(());
        }
        number += 1;
        if number == 1 {
            // The kernel always starts with the column headings; anything
            // else is not its table.
            let first = line
                .split(|b| b.is_ascii_whitespace())
                .find(|f| !f.is_empty());
            if first != Some(&b"sl"[..]) {
                return Err(Error::parse(
                    path,
                    "line 1: not the column headings (sl local_address ...)",
                ));
            }
            continue;
        }
        let socket = parse_line(&line, protocol, ticks_per_s)
            .map_err(|reason| Error::parse(path, format!("line {number}: {reason}")))?;
        if !each(&socket) {
            return Ok(());
        }
    }
}

/// `tcp6` or `udp6`, which a kernel without IPv6 does not have.
fn is_ipv6_table(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.as_encoded_bytes().ends_with(b"6"))
}

/// Parses one row: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`.
/// Addresses are the kernel's 32-bit words in hex, host byte order; ports
/// and the state are hex; `when` is in clock ticks.
pub fn parse_line(
    line: &[u8],
    protocol: Protocol,
    ticks_per_s: u32,
) -> Result<Socket, &'static str> {
    let mut fields = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let mut next = || fields.next().ok_or("too few columns");
    let _slot = next()?;
    let (local, local_port) = parse_endpoint(next()?)?;
    let (remote, remote_port) = parse_endpoint(next()?)?;
    let state = hex(next()?).ok_or("bad state")?;
    let _queues = next()?;
    let timer = next()?;
    let _retransmits = next()?;
    let _uid = next()?;
    let _timeout = next()?;
    let inode = decimal(next()?).ok_or("bad inode")?;
    let when = timer
        .iter()
        .position(|&b| b == b':')
        .and_then(|i| hex(&timer[i + 1..]))
        .ok_or("bad timer")?;
    let state = u8::try_from(state).map_err(|_| "bad state")?;
    let ticks = u64::from(ticks_per_s.max(1));
    let expires_ms = (u64::from(when) * 1000 / ticks).min(u64::from(u32::MAX)) as u32;
    Ok(Socket {
        protocol,
        state: TcpState(state),
        local,
        local_port,
        remote,
        remote_port,
        v6only: None,
        expires_ms,
        bound_dev_if: 0,
        inode,
    })
}

fn parse_endpoint(field: &[u8]) -> Result<(IpAddr, u16), &'static str> {
    let colon = field.iter().position(|&b| b == b':').ok_or("bad address")?;
    let (addr, port) = (&field[..colon], &field[colon + 1..]);
    let port = hex(port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("bad port")?;
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            hex(addr).ok_or("bad address")?.to_ne_bytes(),
        )),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in addr.chunks(8).enumerate() {
                let word = hex(chunk).ok_or("bad address")?;
                octets[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err("bad address"),
    };
    Ok((canonical(addr), port))
}

fn hex(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 8 {
        return None;
    }
    field.iter().try_fold(0u32, |acc, &b| {
        let digit = (b as char).to_digit(16)?;
        Some(acc << 4 | digit)
    })
}

fn decimal(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 10 {
        return None;
    }
    field.iter().try_fold(0u32, |acc, &b| {
        let digit = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    // Rows captured from a 6.18 kernel on x86_64 (little endian, USER_HZ 100).
    const TW4: &[u8] = b"   1: 0100007F:9C43 0100007F:1388 06 00000000:00000000 03:0000175C 00000000     0        0 0 3 00000000a59a0df0                                      \n";
    const LISTEN6: &[u8] = b"   1: 00000000000000000000000001000000:9C4A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 32710 1 00000000c0fb1628 100 0 0 10 0\n";
    const MAPPED6: &[u8] = b"   2: 0000000000000000FFFF00000100007F:9C41 0000000000000000FFFF00000100007F:1389 01 00000000:00000000 00:00000000 00000000     0        0 32712 2 0000000003dab4dd 20 0 0 10 -1\n";

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_a_v4_time_wait_row() {
        let s = parse_line(TW4, Protocol::Tcp, 100).unwrap();
        assert_eq!(s.state, TcpState::TIME_WAIT);
        assert_eq!((s.local, s.local_port), (addr("127.0.0.1"), 40003));
        assert_eq!((s.remote, s.remote_port), (addr("127.0.0.1"), 5000));
        assert_eq!(s.expires_ms, 0x175C * 10);
    }

    #[test]
    fn parses_a_v6_listener_row() {
        let s = parse_line(LISTEN6, Protocol::Tcp, 100).unwrap();
        assert_eq!(s.state, TcpState::LISTEN);
        assert_eq!((s.local, s.local_port), (addr("::1"), 40010));
        assert_eq!(s.inode, 32710);
    }

    #[test]
    fn maps_v4_mapped_rows_to_v4() {
        let s = parse_line(MAPPED6, Protocol::Tcp, 100).unwrap();
        assert_eq!((s.local, s.local_port), (addr("127.0.0.1"), 40001));
        assert_eq!(s.state, TcpState::ESTABLISHED);
    }

    /// A fresh directory with the given table files, removed on drop.
    fn tables(name: &str, files: &[(&str, &[u8])]) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("procnet-{name}"))
            .tempdir()
            .expect("temporary directory");
        for (file, text) in files {
            std::fs::write(dir.path().join(file), text).expect("table file");
        }
        dir
    }

    const HEADINGS: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    const RANGE: PortRange = PortRange {
        lo: 40000,
        hi: 40019,
    };

    #[test]
    fn a_kernel_without_ipv6_has_no_tcp6_or_udp6() {
        let t = tables("no-ipv6", &[("tcp", HEADINGS), ("udp", HEADINGS)]);
        let mut sink = crate::read::socket::Collect::default();
        read_tcp(t.path(), RANGE, 100, &mut sink).unwrap();
        read_udp(t.path(), RANGE, 100, &mut sink).unwrap();
        assert!(sink.sockets.is_empty() && sink.marked.is_empty());
        // Only the IPv6 tables may be missing.
        let t = tables("no-tcp", &[("tcp6", HEADINGS)]);
        let e = read_tcp(t.path(), RANGE, 100, &mut sink).unwrap_err();
        assert!(e.to_string().contains("/tcp:"), "{e}");
    }

    #[test]
    fn a_table_without_headings_is_refused_naming_the_file() {
        for (name, text) in [
            ("empty", &b""[..]),
            ("garbage", b"garbage\n"),
            ("row only", TW4),
        ] {
            let t = tables("bad-headings", &[("tcp", text)]);
            let e = read_tcp(
                t.path(),
                RANGE,
                100,
                &mut crate::read::socket::Collect::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("/tcp: "), "{name}: {e}");
        }
    }

    #[test]
    fn rejects_garbled_rows() {
        for bad in [
            &b""[..],
            b"   3: 0100007F:9C43",
            b"   3: 0100007G:9C43 0100007F:1388 06 0:0 03:1 0 0 0 0",
            b"   3: 0100007F:19C43 0100007F:1388 06 0:0 03:1 0 0 0 0",
            b"   3: 0100007F:9C43 0100007F:1388 106 0:0 03:1 0 0 0 0",
            b"   3: 00007F:9C43 0100007F:1388 06 0:0 03:1 0 0 0 0",
            b"   3: 0100007F:9C43 0100007F:1388 06 0:0 031 0 0 0 0",
            b"   3: 0100007F:9C43 0100007F:1388 06 0:0 03:1 0 0 0 99999999999",
        ] {
            assert!(
                parse_line(bad, Protocol::Tcp, 100).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
