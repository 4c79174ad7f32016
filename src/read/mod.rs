//! Stage 1, reading: everything that touches the kernel's state for one
//! namespace. The kernel settings (`settings`), the socket tables over
//! netlink sock_diag filtered in the kernel (`diag`), or /proc/net where
//! netlink is unavailable (`procnet`). Takes a narrow [`Request`] and hands
//! plain records ([`socket::Socket`], [`ports`]) to a [`socket::Sink`]; it
//! knows nothing of pools. A new reader (another kernel table) goes here.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::unistd::{SysconfVar, sysconf};

pub mod conntrack;
pub mod diag;
pub mod nat;
pub mod netlink;
pub mod ports;
pub mod procnet;
pub mod settings;
pub mod snmp;
pub mod socket;
pub mod sockstat;

use crate::error::Result;
use crate::stage::{self, Stage};
use diag::{DumpStats, Netlink, Wanted};
use ports::PortRange;
use socket::{Protocol, Sink};

/// Where the socket tables may be read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Netlink, and /proc/net where netlink is unavailable.
    #[default]
    Auto,
    Netlink,
    Proc,
}

/// What the reading stage is asked for: the whole of its input.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub backend: Backend,
    /// The ports whose sockets matter: the local port range.
    pub range: PortRange,
    /// The namespace's /proc tables directory ([`PROC_NET`](procnet::PROC_NET),
    /// or `/proc/thread-self/net` on a thread that entered another namespace).
    pub proc_dir: &'a Path,
}

/// How the tables were read, for the notes and `-v`.
#[derive(Debug, Default)]
pub struct ReadInfo {
    /// Where TCP and UDP came from.
    pub tcp_from: Source,
    pub udp_from: Source,
    /// Why auto mode left netlink, if it did.
    pub fallback: Vec<String>,
    pub netlink: DumpStats,
    pub both_families: Option<bool>,
    pub tcp_time: Duration,
    pub udp_time: Duration,
}

/// Where a socket table was read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    #[default]
    Netlink,
    Proc,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Netlink => "netlink",
            Source::Proc => "/proc/net",
        })
    }
}

/// Reads the tables of the calling thread's network namespace into
/// `builder`, and says how.
pub fn read_tables(request: Request, builder: &mut impl Sink) -> Result<ReadInfo> {
    let Request {
        backend,
        range,
        proc_dir,
    } = request;
    let mut info = ReadInfo::default();
    let ticks = clock_ticks();

    stage::enter(Stage::ReadingTcp);
    let started = Instant::now();
    let mut netlink = None;
    // Dumps that could return nothing are skipped (see `sockstat`).
    let wanted = match backend {
        Backend::Proc => Wanted::ALL,
        _ => sockstat::Counts::read(proc_dir).map_or(Wanted::ALL, |c| Wanted {
            connected_tcp: c.any_connected_tcp(),
            udp: c.udp > 0,
            udp6: c.udp6 > 0,
        }),
    };
    if backend != Backend::Proc {
        let attempt = Netlink::open().and_then(|mut nl| {
            nl.read_tcp(range, builder, wanted)?;
            Ok(nl)
        });
        match attempt {
            Ok(nl) => {
                info.tcp_from = Source::Netlink;
                netlink = Some(nl);
            }
            Err(e) if backend == Backend::Auto => {
                info.fallback.push(format!("TCP: {e}"));
                // Start over: the failed dump may have delivered part of its records.
                builder.discard(Protocol::Tcp);
            }
            Err(e) => return Err(e),
        }
    }
    if netlink.is_none() {
        procnet::read_tcp(proc_dir, range, ticks, builder)?;
        info.tcp_from = Source::Proc;
    }
    info.tcp_time = started.elapsed();

    stage::enter(Stage::ReadingUdp);
    let started = Instant::now();
    let mut udp_done = false;
    if let Some(nl) = netlink.as_mut() {
        match nl.read_udp(range, builder, wanted) {
            Ok(()) => {
                info.udp_from = Source::Netlink;
                udp_done = true;
            }
            Err(e) if backend == Backend::Auto => {
                info.fallback.push(format!("UDP: {e}"));
                // The failed dump may have delivered part of its records.
                builder.discard(Protocol::Udp);
            }
            Err(e) => return Err(e),
        }
    }
    if !udp_done {
        procnet::read_udp(proc_dir, range, ticks, builder)?;
        info.udp_from = Source::Proc;
    }
    info.udp_time = started.elapsed();
    if let Some(nl) = netlink {
        info.netlink = nl.stats;
        info.both_families = nl.tcp_both_families();
    }
    Ok(info)
}

/// Reads the tables once more, from the sources the first read used, into
/// another sink: the second, targeted pass of `--processes`.
pub fn read_again(
    info: &ReadInfo,
    range: PortRange,
    proc_dir: &Path,
    sink: &mut impl Sink,
) -> Result<()> {
    let ticks = clock_ticks();
    let mut netlink = if info.tcp_from == Source::Netlink || info.udp_from == Source::Netlink {
        Some(Netlink::open()?)
    } else {
        None
    };
    match netlink.as_mut() {
        Some(nl) if info.tcp_from == Source::Netlink => nl.read_tcp(range, sink, Wanted::ALL)?,
        _ => procnet::read_tcp(proc_dir, range, ticks, sink)?,
    }
    match netlink.as_mut() {
        Some(nl) if info.udp_from == Source::Netlink => nl.read_udp(range, sink, Wanted::ALL)?,
        _ => procnet::read_udp(proc_dir, range, ticks, sink)?,
    }
    Ok(())
}

/// USER_HZ, the unit of /proc/net timers; 100 on every current architecture.
fn clock_ticks() -> u32 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(n)) if n > 0 => u32::try_from(n).unwrap_or(100),
        _ => 100,
    }
}
