//! The command line as clap sees it: every option, its help text and its
//! value parser. Plain data; `mod.rs` checks it and makes the `Config`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, Parser, ValueEnum};

use super::DEFAULT_TIMEOUT;
use super::what_if::WhatIf;
use crate::judge::Destination;
use crate::judge::range::{Range, free_count};
use crate::model::upstream::{Budget, Cidr};
use crate::read::ports::PortRange;
use crate::read::socket::canonical;
use crate::scope::Target;

#[derive(Parser, Debug)]
#[command(
    name = "check_ephemeral",
    version,
    about = "Warns before a Linux host runs out of ephemeral ports.",
    long_about = "Warns before a Linux host runs out of ephemeral ports: models the pools the \
kernel allocates from (one per source, destination and destination port for connect(), one per \
local address for bind(addr, 0), one for UDP) and judges the worst against Nagios ranges.\n\n\
-w 70 -c 90 apply unless given, also beside --free-warning/--free-critical; to judge the free \
count alone, give -w ~: -c ~: (ranges that never alert).",
    color = clap::ColorChoice::Never,
    disable_version_flag = true
)]
pub(super) struct Args {
    /// Warning range over the worst pool's used percentage [default: 70]
    #[arg(short = 'w', long = "warning", value_name = "RANGE")]
    pub(super) warning: Option<Range>,

    /// Critical range over the worst pool's used percentage [default: 90]
    #[arg(short = 'c', long = "critical", value_name = "RANGE")]
    pub(super) critical: Option<Range>,

    /// Warning when the worst pool has fewer than N ports free, as in check_disk (--free-warning 500 warns below 500 free); a range written out (N:, @LO:HI, ~:HI, LO:HI) keeps its Nagios meaning
    #[arg(long = "free-warning", value_name = "N|RANGE", value_parser = free_count)]
    pub(super) free_warning: Option<Range>,

    /// Critical when the worst pool has fewer than N ports free (--free-critical 100 is critical below 100 free); a range written out keeps its Nagios meaning
    #[arg(long = "free-critical", value_name = "N|RANGE", value_parser = free_count)]
    pub(super) free_critical: Option<Range>,

    /// Warning range over the seconds until the pool is full at the pace the forecast sees (e.g. @3600: alerts when full within an hour) [default: @3600]
    #[arg(long = "full-in-warning", value_name = "RANGE")]
    pub(super) full_in_warning: Option<Range>,

    /// Critical range over the seconds until the pool is full at the pace the forecast sees [default: @600]
    #[arg(long = "full-in-critical", value_name = "RANGE")]
    pub(super) full_in_critical: Option<Range>,

    /// Judge the level alone: no pace, no projection, no seconds until full
    #[arg(long = "no-forecast")]
    pub(super) no_forecast: bool,

    /// Keep a small state file between runs and forecast from the growth of each listed pool's open connections since the previous run (leaks); directory from MP_STATE_PATH, else /var/lib/monitoring-plugins
    #[arg(long = "trend")]
    pub(super) trend: bool,

    /// Kinds of pool to judge, comma separated [default: connect,bind,udp, nat where the conntrack table is readable and has NAT entries, and upstream with --upstream-nat]
    #[arg(
        long = "pools",
        value_name = "KINDS",
        value_enum,
        value_delimiter = ','
    )]
    pub(super) pools: Option<Vec<PoolKind>>,

    // Given, never read from the ruleset: nftables loads a rule's range
    // into registers that may come from a map lookup of the packet, which
    // rule applies to which pool depends on its matches, iptables-legacy
    // and iptables-nft keep it in other shapes, and eBPF datapaths have no
    // ruleset. What the check can tell is whether translated entries hold
    // ports outside the range it assumes, and it says so in a note (the
    // README's "Container hosts and NAT gateways").
    /// The NAT rule's own source-port range (masquerade to :LO-HI, --to-ports LO-HI) [default: the kernel's, by the original source port: 1-511 below 512, 600-1023 below 1024, else 1024-65535]
    #[arg(long = "nat-ports", value_name = "LO-HI", value_parser = nat_ports_value)]
    pub(super) nat_ports: Option<PortRange>,

    /// The provider's NAT in front of this host, judged as upstream pools (one per destination): a profile (gcp, gcp:N, azure-lb[:N], azure-natgw[:N], aws-natgw[:N]) or ports=N,hold=SECONDS[,per=destination|address][,ipv6=yes|no] (see docs/upstream-nat.md)
    #[arg(long = "upstream-nat", value_name = "SPEC", value_parser = upstream_value)]
    pub(super) upstream_nat: Option<Budget>,

    /// A destination block that does not pass the provider's NAT, e.g. 203.0.113.0/24 (repeatable); private, shared, loopback, link-local and multicast ranges never do
    #[arg(long = "upstream-nat-exclude", value_name = "CIDR", value_parser = cidr_value)]
    pub(super) upstream_nat_exclude: Vec<Cidr>,

    /// Judge only pools from this local address (repeatable)
    #[arg(long = "source", value_name = "ADDR")]
    pub(super) sources: Vec<IpAddr>,

    /// Judge only connect, NAT and upstream pools to this destination, e.g. 10.0.0.9:5432 or [::1]:443 (repeatable)
    #[arg(long = "destination", value_name = "ADDR[:PORT]")]
    pub(super) destinations: Vec<DestinationArg>,

    /// Pools of each kind listed in the long output (0-100; 0 lists none)
    #[arg(long = "top", value_name = "N", default_value_t = 5, value_parser = top_value)]
    pub(super) top: u16,

    /// Seconds before giving up with UNKNOWN (1-3600)
    #[arg(short = 't', long = "timeout", value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs() as u32,
          value_parser = timeout_value)]
    pub(super) timeout: u32,

    /// Where the socket tables are read from
    #[arg(long = "backend", value_enum, default_value = "auto")]
    pub(super) backend: BackendArg,

    /// Judge this network namespace: a name under /run/netns, or a path such as /proc/PID/ns/net (needs CAP_SYS_ADMIN, and CAP_SYS_PTRACE for a process of another user)
    #[arg(long = "netns", value_name = "NAME|PATH", value_parser = Target::parse,
          conflicts_with = "all_netns")]
    pub(super) netns: Option<Target>,

    /// Judge every network namespace on the host and report the worst (needs CAP_SYS_ADMIN and CAP_SYS_PTRACE)
    #[arg(long = "all-netns")]
    pub(super) all_netns: bool,

    /// With --all-netns, walk the sockets of every namespace, also those whose own counters prove that no threshold can be crossed (by default those are judged OK by bound, not walked)
    #[arg(long = "exact")]
    pub(super) exact: bool,

    /// Threads that judge namespaces at once with --netns or --all-netns (1-1024) [default: the CPUs this process may use]
    #[arg(long = "threads", value_name = "N", value_parser = threads_value)]
    pub(super) threads: Option<u32>,

    /// Name the processes holding the sockets of the listed pools (pid, command, count)
    #[arg(long = "processes")]
    pub(super) processes: bool,

    /// What to print: the plugin's status line and perfdata, or the Prometheus text format for node_exporter's textfile collector (exit 0 whenever the metrics were made)
    #[arg(long = "format", value_enum, default_value = "nagios")]
    pub(super) format: FormatArg,

    /// Write the output to this file instead of stdout, atomically (a temporary file in the same directory, then rename); on failure the previous file stays and the reason goes to stderr
    #[arg(long = "output-file", value_name = "PATH", value_parser = output_file_value)]
    pub(super) output_file: Option<PathBuf>,

    /// Read options from SECTION (default check_ephemeral) of an ini FILE (default: MP_CONFIG_FILE, then the standard monitoring-plugins.ini places); the command line wins
    #[arg(long = "extra-opts", value_name = "[SECTION][@FILE]", num_args = 0..=1,
          default_missing_value = "", action = ArgAction::Append)]
    pub(super) extra_opts: Vec<String>,

    /// Judge the same snapshot as if a kernel setting had another value, written as `sysctl -w` takes it (repeatable): net.ipv4.ip_local_port_range, net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_tw_reuse, net.ipv4.tcp_tw_reuse_delay, net.ipv4.tcp_max_tw_buckets, net.netfilter.nf_conntrack_max; with --upstream-nat also the provider NAT's upstream.ports and upstream.hold. Output, perfdata and exit code are the state under the changed settings, and the status line starts with the what-if it answers
    #[arg(long = "what-if", value_name = "KEY=VALUE", value_parser = what_if_value)]
    pub(super) what_if: Vec<WhatIf>,

    /// More detail (up to three times): the worst pools of each kind, then the settings, backend and notes, then counts, timings and what the forecast saw; without it an OK run is one line
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub(super) verbose: u8,

    /// Print the version and exit
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    pub(super) version: (),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum PoolKind {
    Connect,
    Bind,
    Udp,
    /// source ports of a masquerading node, from conntrack (needs CAP_NET_ADMIN)
    Nat,
    /// the provider NAT's ports for this host per destination (needs --upstream-nat)
    Upstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum BackendArg {
    /// netlink sock_diag, falling back to /proc/net where it is unavailable
    Auto,
    /// netlink sock_diag only
    Netlink,
    /// /proc/net only (cannot see bound-only sockets or explicit binds)
    Proc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum FormatArg {
    /// status line, long output and perfdata, exit code by state
    Nagios,
    /// text exposition format, state in ephemeral_check_state
    Prometheus,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct DestinationArg(pub(super) Destination);

impl FromStr for DestinationArg {
    type Err = String;

    /// `10.0.0.9`, `10.0.0.9:5432`, `::1`, `[::1]`, `[::1]:5432`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not ADDR or ADDR:PORT");
        let (addr, port) = if let Some(rest) = s.strip_prefix('[') {
            let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (addr, port)
        } else if s.parse::<IpAddr>().is_ok() {
            (s, None)
        } else {
            let (addr, port) = s.rsplit_once(':').ok_or_else(bad)?;
            (addr, Some(port))
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return Err(format!("{p:?} is not a port (1-65535)")),
            },
        };
        Ok(DestinationArg(Destination {
            addr: canonical(addr),
            port,
        }))
    }
}

/// `--upstream-nat SPEC`.
fn upstream_value(text: &str) -> std::result::Result<Budget, String> {
    text.parse()
}

/// `--upstream-nat-exclude CIDR`.
fn cidr_value(text: &str) -> std::result::Result<Cidr, String> {
    text.parse()
}

/// `--output-file`: a path that names a file (not empty, not ending in `/`).
fn output_file_value(text: &str) -> std::result::Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match path.file_name() {
        Some(_) if !text.ends_with('/') => Ok(path),
        _ => Err(format!("{text:?} does not name a file")),
    }
}

/// A whole number from `lo` to `hi`, refused with a message that says so.
fn whole_number(text: &str, lo: u32, hi: u32) -> std::result::Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("not a whole number from {lo} to {hi}")),
    }
}

/// `--nat-ports LO-HI`, e.g. `40000-40999`.
fn nat_ports_value(text: &str) -> std::result::Result<PortRange, String> {
    let bad = || format!("{text:?} is not LO-HI (ports 1-65535, LO <= HI)");
    let (lo, hi) = text.split_once('-').ok_or_else(bad)?;
    let port = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let (lo, hi) = (port(lo).ok_or_else(bad)?, port(hi).ok_or_else(bad)?);
    PortRange::new(lo, hi).map_err(|_| bad())
}

fn what_if_value(text: &str) -> std::result::Result<WhatIf, String> {
    text.parse()
}

fn threads_value(text: &str) -> std::result::Result<u32, String> {
    whole_number(text, 1, crate::scope::sweep::MAX_THREADS as u32)
}

fn top_value(text: &str) -> std::result::Result<u16, String> {
    whole_number(text, 0, 100).map(|n| n as u16)
}

/// `-t`: whole seconds, at least one and at most an hour (the help text
/// says the same).
fn timeout_value(text: &str) -> std::result::Result<u32, String> {
    whole_number(text, 1, 3600)
}
