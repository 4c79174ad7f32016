//! The reading stage: fills the model from netlink sock_diag, or from
//! /proc/net where netlink is unavailable, and says which it used.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::unistd::{SysconfVar, sysconf};

use crate::cli::Backend;
use crate::diag::{DumpStats, Netlink};
use crate::error::Result;
use crate::pools::PoolsBuilder;
use crate::ports::PortRange;
use crate::procnet;
use crate::settings::KernelSettings;
use crate::socket::Sink;
use crate::stage::{self, Stage};

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

/// Reads the tables of the calling thread's network namespace; `proc_dir`
/// is its /proc tables directory ([`PROC_NET`](crate::procnet::PROC_NET),
/// or `/proc/thread-self/net` on a thread that entered another namespace).
pub fn read_tables(
    backend: Backend,
    settings: &KernelSettings,
    proc_dir: &Path,
) -> Result<(PoolsBuilder, ReadInfo)> {
    let range = settings.range;
    let mut info = ReadInfo::default();
    let ticks = clock_ticks();
    let mut builder = PoolsBuilder::new(settings);

    stage::enter(Stage::ReadingTcp);
    let started = Instant::now();
    let mut netlink = None;
    if backend != Backend::Proc {
        let attempt = Netlink::open().and_then(|mut nl| {
            nl.read_tcp(range, &mut builder)?;
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
                builder = PoolsBuilder::new(settings);
            }
            Err(e) => return Err(e),
        }
    }
    if netlink.is_none() {
        procnet::read_tcp(proc_dir, range, ticks, &mut builder)?;
        info.tcp_from = Source::Proc;
    }
    info.tcp_time = started.elapsed();

    stage::enter(Stage::ReadingUdp);
    let started = Instant::now();
    let mut udp_done = false;
    if let Some(nl) = netlink.as_mut() {
        match nl.read_udp(range, &mut builder) {
            Ok(()) => {
                info.udp_from = Source::Netlink;
                udp_done = true;
            }
            Err(e) if backend == Backend::Auto => {
                info.fallback.push(format!("UDP: {e}"));
                // The failed dump may have delivered part of its records.
                builder.reset_udp();
            }
            Err(e) => return Err(e),
        }
    }
    if !udp_done {
        procnet::read_udp(proc_dir, range, ticks, &mut builder)?;
        info.udp_from = Source::Proc;
    }
    info.udp_time = started.elapsed();
    if let Some(nl) = netlink {
        info.netlink = nl.stats;
        info.both_families = nl.tcp_both_families();
    }
    Ok((builder, info))
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
        Some(nl) if info.tcp_from == Source::Netlink => nl.read_tcp(range, sink)?,
        _ => procnet::read_tcp(proc_dir, range, ticks, sink)?,
    }
    match netlink.as_mut() {
        Some(nl) if info.udp_from == Source::Netlink => nl.read_udp(range, sink)?,
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
