//! Stage 0, options: the command line and `--extra-opts` files, parsed by
//! clap into plain data, then checked and turned into a [`Config`] that the
//! pipeline in `lib.rs` reads. Every usage error becomes `Error::Usage`,
//! which `main` reports as UNKNOWN (exit 3), never clap's exit 2. A new
//! option goes here (and in the generated man page and CheckCommand).

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::error::{Error, Result};
use crate::read::Backend;
use crate::read::ports::PortRange;

pub mod extra_opts;
mod usage;

use crate::judge::foresee::ForecastRule;
use crate::judge::range::Range;
use crate::judge::{Destination, Selection, Thresholds};
use crate::model::Kind;
use crate::read::socket::canonical;
use crate::scope::{Scope, Target};
use usage::{not_utf8, usage_message};

const DEFAULT_WARNING: &str = "70";
const DEFAULT_CRITICAL: &str = "90";
/// What `-t` says when not given; also the limit for reading the options.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(
    name = "check_ephemeral",
    version,
    about = "Warns before a Linux host runs out of ephemeral ports.",
    long_about = "Warns before a Linux host runs out of ephemeral ports: models the pools the \
kernel allocates from (one per source, destination and destination port for connect(), one per \
local address for bind(addr, 0), one for UDP) and judges the worst against Nagios ranges.\n\n\
Without any threshold option, -w 70 -c 90 apply. Given only --free-warning/--free-critical, \
the percentage thresholds are off; -w or -c alone keeps the other's default.",
    color = clap::ColorChoice::Never,
    disable_version_flag = true
)]
struct Args {
    /// Warning range over the worst pool's used percentage [default: 70]
    #[arg(short = 'w', long = "warning", value_name = "RANGE")]
    warning: Option<Range>,

    /// Critical range over the worst pool's used percentage [default: 90]
    #[arg(short = 'c', long = "critical", value_name = "RANGE")]
    critical: Option<Range>,

    /// Warning range over the worst pool's free port count (e.g. 500: alerts below 500)
    #[arg(long = "free-warning", value_name = "RANGE")]
    free_warning: Option<Range>,

    /// Critical range over the worst pool's free port count (e.g. 100: alerts below 100)
    #[arg(long = "free-critical", value_name = "RANGE")]
    free_critical: Option<Range>,

    /// Warning range over the seconds until the pool is full at the pace the forecast sees (e.g. @3600: alerts when full within an hour) [default: @3600]
    #[arg(long = "full-in-warning", value_name = "RANGE")]
    full_in_warning: Option<Range>,

    /// Critical range over the seconds until the pool is full at the pace the forecast sees [default: @600]
    #[arg(long = "full-in-critical", value_name = "RANGE")]
    full_in_critical: Option<Range>,

    /// Judge the level alone: no pace, no projection, no seconds until full
    #[arg(long = "no-forecast")]
    no_forecast: bool,

    /// Keep a small state file between runs and forecast from the growth of each listed pool's open connections since the previous run (leaks); directory from MP_STATE_PATH, else /var/lib/monitoring-plugins
    #[arg(long = "trend")]
    trend: bool,

    /// Kinds of pool to judge, comma separated [default: connect,bind,udp, and nat where the conntrack table is readable and has NAT entries]
    #[arg(
        long = "pools",
        value_name = "KINDS",
        value_enum,
        value_delimiter = ','
    )]
    pools: Option<Vec<PoolKind>>,

    /// The NAT rule's own source-port range (masquerade to :LO-HI, --to-ports LO-HI) [default: the kernel's, 1024-65535]
    #[arg(long = "nat-ports", value_name = "LO-HI", value_parser = nat_ports_value)]
    nat_ports: Option<PortRange>,

    /// Judge only pools from this local address (repeatable)
    #[arg(long = "source", value_name = "ADDR")]
    sources: Vec<IpAddr>,

    /// Judge only connect pools to this destination, e.g. 10.0.0.9:5432 or [::1]:443 (repeatable)
    #[arg(long = "destination", value_name = "ADDR[:PORT]")]
    destinations: Vec<DestinationArg>,

    /// Pools of each kind listed in the long output (0-100; 0 lists none)
    #[arg(long = "top", value_name = "N", default_value_t = 5, value_parser = top_value)]
    top: u16,

    /// Seconds before giving up with UNKNOWN (1-3600)
    #[arg(short = 't', long = "timeout", value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs() as u32,
          value_parser = timeout_value)]
    timeout: u32,

    /// Where the socket tables are read from
    #[arg(long = "backend", value_enum, default_value = "auto")]
    backend: BackendArg,

    /// Judge this network namespace: a name under /run/netns, or a path such as /proc/PID/ns/net (needs CAP_SYS_ADMIN, and CAP_SYS_PTRACE for a process of another user)
    #[arg(long = "netns", value_name = "NAME|PATH", value_parser = Target::parse,
          conflicts_with = "all_netns")]
    netns: Option<Target>,

    /// Judge every network namespace on the host and report the worst (needs CAP_SYS_ADMIN and CAP_SYS_PTRACE)
    #[arg(long = "all-netns")]
    all_netns: bool,

    /// Threads that judge namespaces at once with --netns or --all-netns (1-1024) [default: the CPUs this process may use]
    #[arg(long = "threads", value_name = "N", value_parser = threads_value)]
    threads: Option<u32>,

    /// Name the processes holding the sockets of the listed pools (pid, command, count)
    #[arg(long = "processes")]
    processes: bool,

    /// What to print: the plugin's status line and perfdata, or the Prometheus text format for node_exporter's textfile collector (exit 0 whenever the metrics were made)
    #[arg(long = "format", value_enum, default_value = "nagios")]
    format: FormatArg,

    /// Write the output to this file instead of stdout, atomically (a temporary file in the same directory, then rename); on failure the previous file stays and the reason goes to stderr
    #[arg(long = "output-file", value_name = "PATH", value_parser = output_file_value)]
    output_file: Option<PathBuf>,

    /// Read options from SECTION (default check_ephemeral) of an ini FILE (default: MP_CONFIG_FILE, then the standard monitoring-plugins.ini places); the command line wins
    #[arg(long = "extra-opts", value_name = "[SECTION][@FILE]", num_args = 0..=1,
          default_missing_value = "", action = ArgAction::Append)]
    extra_opts: Vec<String>,

    /// More detail: settings and backend, then counts, then timings (up to three times)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,

    /// Print the version and exit
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: (),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PoolKind {
    Connect,
    Bind,
    Udp,
    /// source ports of a masquerading node, from conntrack (needs CAP_NET_ADMIN)
    Nat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// netlink sock_diag, falling back to /proc/net where it is unavailable
    Auto,
    /// netlink sock_diag only
    Netlink,
    /// /proc/net only (cannot see bound-only sockets or explicit binds)
    Proc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// status line, long output and perfdata, exit code by state
    Nagios,
    /// text exposition format, state in ephemeral_check_state
    Prometheus,
}

/// What the plugin prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Nagios,
    Prometheus,
}

#[derive(Clone, Copy, Debug)]
struct DestinationArg(Destination);

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

/// Everything the check needs to know from its options.
#[derive(Clone, Debug)]
pub struct Config {
    pub thresholds: Thresholds,
    /// How the forecast is judged (`enabled` false: `--no-forecast`).
    pub forecast: ForecastRule,
    /// `--trend`: growth across runs from a state file.
    pub trend: bool,
    pub selection: Selection,
    /// `--pools` names `nat`: a conntrack table that cannot be read is an
    /// error, not a note.
    pub nat_required: bool,
    /// `--nat-ports`: the NAT rule's own port range.
    pub nat_ports: Option<PortRange>,
    pub top: usize,
    pub timeout: Duration,
    pub backend: Backend,
    pub verbose: u8,
    pub netns: Scope,
    /// `--threads`: at most this many namespaces judged at once; `None`:
    /// as many as the CPUs this process may use.
    pub threads: Option<usize>,
    pub processes: bool,
    pub format: Format,
    /// `--output-file`: where the output goes instead of stdout.
    pub output_file: Option<PathBuf>,
}

impl Config {
    /// Whether a failure is said on stderr rather than stdout: a collector
    /// reading stdout or the file must never take a reason for metrics.
    pub fn quiet_failures(&self) -> bool {
        self.format == Format::Prometheus || self.output_file.is_some()
    }
}

/// A run of the check, or text to print with exit 0 (`--help`, `--version`).
pub enum Parsed {
    Run(Box<Config>),
    Print(String),
}

/// The `-t` of the command line, read before the options are parsed (an
/// `--extra-opts` file may stall); `None` when absent or not a valid value.
pub fn early_timeout(args: &[OsString]) -> Option<Duration> {
    let mut value = None;
    let mut args = args.iter().skip(1).map(|a| a.to_str());
    while let Some(Some(arg)) = args.next() {
        if arg == "--" {
            break;
        }
        value = match arg {
            "-t" | "--timeout" => args.next().flatten(),
            _ => arg
                .strip_prefix("--timeout=")
                .or_else(|| arg.strip_prefix("-t").filter(|v| !v.is_empty()))
                .or(value),
        };
    }
    timeout_value(value?)
        .ok()
        .map(|s| Duration::from_secs(u64::from(s)))
}

/// Whether the command line asks for Prometheus output or an output file,
/// read before the options are parsed, so that even a usage error goes to
/// stderr then (an `--extra-opts` file is not looked at: it may be what fails).
pub fn early_quiet(args: &[OsString]) -> bool {
    let mut args = args.iter().skip(1).map(|a| a.to_str());
    let mut quiet = false;
    while let Some(Some(arg)) = args.next() {
        match arg {
            "--" => break,
            "--format" => quiet |= args.next().flatten() == Some("prometheus"),
            "--format=prometheus" => quiet = true,
            _ => quiet |= arg == "--output-file" || arg.starts_with("--output-file="),
        }
    }
    quiet
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

pub fn command() -> clap::Command {
    // A value that starts with '-' still belongs to its option, so the value
    // parser refuses it and names the option: negative numbers everywhere,
    // and ranges such as -10:-5 for the thresholds.
    Args::command().mut_args(|arg| match arg.get_id().as_str() {
        "warning" | "critical" | "free_warning" | "free_critical" | "full_in_warning"
        | "full_in_critical" => arg.allow_hyphen_values(true),
        _ if arg.get_action().takes_values() => arg.allow_negative_numbers(true),
        _ => arg,
    })
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed> {
    let args = extra_opts::expand(args.into_iter().collect(), &command())?;
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Print(e.to_string()));
        }
        Err(e) if e.kind() == ErrorKind::InvalidUtf8 => return Err(Error::Usage(not_utf8(&args))),
        Err(e) => return Err(Error::Usage(usage_message(&e))),
    };
    let args = Args::from_arg_matches(&matches).map_err(|e| Error::Usage(usage_message(&e)))?;
    Ok(Parsed::Run(Box::new(config(args)?)))
}

fn config(args: Args) -> Result<Config> {
    if !args.extra_opts.is_empty() {
        // `expand` takes every --extra-opts out and refuses one in a file.
        return Err(Error::Usage(
            "--extra-opts cannot name another --extra-opts".into(),
        ));
    }
    let any_pct = args.warning.is_some() || args.critical.is_some();
    let any_free = args.free_warning.is_some() || args.free_critical.is_some();
    let default = |given: Option<Range>, text: &str| match given {
        Some(r) => Some(r),
        None if any_free && !any_pct => None,
        None => text.parse().ok(),
    };
    let thresholds = Thresholds {
        used_warning: default(args.warning, DEFAULT_WARNING),
        used_critical: default(args.critical, DEFAULT_CRITICAL),
        free_warning: args.free_warning,
        free_critical: args.free_critical,
    };
    // Asked for by name, NAT pools must be readable; in the default set
    // they are judged where they can be, and a note says why not elsewhere.
    let nat_required = args
        .pools
        .as_ref()
        .is_some_and(|p| p.contains(&PoolKind::Nat));
    let mut kinds: Vec<Kind> = match &args.pools {
        None => Kind::ALL.to_vec(),
        Some(pools) => pools
            .iter()
            .map(|k| match k {
                PoolKind::Connect => Kind::Connect,
                PoolKind::Bind => Kind::Bind,
                PoolKind::Udp => Kind::Udp,
                PoolKind::Nat => Kind::Nat,
            })
            .collect(),
    };
    kinds.sort();
    kinds.dedup();
    if args.processes && args.format == FormatArg::Prometheus {
        // Processes are named in the long output; a label per process
        // would be an unbounded series set.
        return Err(Error::Usage(
            "--processes names processes in the Nagios long output; it has no Prometheus form"
                .into(),
        ));
    }
    if kinds.is_empty() {
        return Err(Error::Usage(
            "--pools: name at least one of connect, bind, udp, nat".into(),
        ));
    }
    let defaults = ForecastRule::default();
    let forecast = ForecastRule {
        enabled: !args.no_forecast,
        full_in_warning: args.full_in_warning.or(defaults.full_in_warning),
        full_in_critical: args.full_in_critical.or(defaults.full_in_critical),
    };
    Ok(Config {
        thresholds,
        forecast,
        trend: args.trend,
        selection: Selection {
            kinds,
            sources: args.sources.into_iter().map(canonical).collect(),
            destinations: args.destinations.into_iter().map(|d| d.0).collect(),
        },
        nat_required,
        nat_ports: args.nat_ports,
        top: usize::from(args.top),
        timeout: Duration::from_secs(u64::from(args.timeout)),
        backend: match args.backend {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Netlink => Backend::Netlink,
            BackendArg::Proc => Backend::Proc,
        },
        netns: match (args.netns, args.all_netns) {
            (_, true) => Scope::All,
            (Some(target), false) => Scope::One(target),
            (None, false) => Scope::Here,
        },
        threads: args.threads.map(|n| n as usize),
        processes: args.processes,
        verbose: args.verbose.min(3),
        format: match args.format {
            FormatArg::Nagios => Format::Nagios,
            FormatArg::Prometheus => Format::Prometheus,
        },
        output_file: args.output_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config> {
        let argv = std::iter::once("check_ephemeral")
            .chain(args.iter().copied())
            .map(OsString::from);
        match parse(argv)? {
            Parsed::Run(c) => Ok(*c),
            Parsed::Print(_) => panic!("printed instead of running"),
        }
    }

    #[test]
    fn the_timeout_is_known_before_parsing() {
        let early = |args: &[&str]| {
            let argv: Vec<OsString> = std::iter::once("check_ephemeral")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            early_timeout(&argv).map(|d| d.as_secs())
        };
        assert_eq!(early(&["-t", "3"]), Some(3));
        assert_eq!(early(&["-t3", "--extra-opts"]), Some(3));
        assert_eq!(early(&["--timeout=4", "-w", "5"]), Some(4));
        assert_eq!(early(&["--timeout", "0"]), None);
        assert_eq!(early(&["-w", "5"]), None);
        assert_eq!(early(&["--", "-t", "3"]), None);
    }

    #[test]
    fn prometheus_output_is_known_before_parsing() {
        let quiet = |args: &[&str]| {
            let argv: Vec<OsString> = std::iter::once("check_ephemeral")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            early_quiet(&argv)
        };
        assert!(quiet(&["--format", "prometheus", "-w", "bad"]));
        assert!(quiet(&["--format=prometheus"]));
        assert!(quiet(&["--output-file", "/x.prom"]));
        assert!(quiet(&["--output-file=/x.prom", "--format", "nagios"]));
        assert!(!quiet(&["--format", "nagios"]));
        assert!(!quiet(&["--", "--format", "prometheus"]));
    }

    #[test]
    fn format_and_output_file() {
        let c = run(&[]).unwrap();
        assert_eq!((c.format, c.output_file), (Format::Nagios, None));
        assert!(!run(&[]).unwrap().quiet_failures());
        let c = run(&["--format", "prometheus", "--output-file", "/a/b.prom"]).unwrap();
        assert_eq!(c.format, Format::Prometheus);
        assert_eq!(c.output_file, Some(PathBuf::from("/a/b.prom")));
        assert!(c.quiet_failures());
        for bad in [
            &["--output-file", ""][..],
            &["--output-file", "/a/"],
            &["--output-file", "/a/.."],
            &["--format", "json"],
            &["--format", "prometheus", "--processes"],
        ] {
            assert!(matches!(run(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]).unwrap();
        assert_eq!(c.thresholds.used_warning.unwrap().to_string(), "70");
        assert_eq!(c.thresholds.used_critical.unwrap().to_string(), "90");
        assert_eq!(c.selection.kinds, Kind::ALL.to_vec());
        assert_eq!(
            (c.top, c.timeout.as_secs(), c.backend),
            (5, 10, Backend::Auto)
        );
    }

    #[test]
    fn free_thresholds_alone_switch_the_percentages_off() {
        let c = run(&["--free-critical", "100:"]).unwrap();
        assert!(c.thresholds.used_warning.is_none() && c.thresholds.used_critical.is_none());
        let c = run(&["--free-critical", "100:", "-w", "50"]).unwrap();
        assert_eq!(c.thresholds.used_critical.unwrap().to_string(), "90");
    }

    #[test]
    fn destinations_in_every_form() {
        let c = run(&[
            "--destination",
            "10.0.0.9:5432",
            "--destination",
            "10.0.0.9",
            "--destination",
            "::1",
            "--destination",
            "[::1]:443",
            "--destination",
            "[::ffff:127.0.0.1]:80",
        ])
        .unwrap();
        let d: Vec<String> = c
            .selection
            .destinations
            .iter()
            .map(|d| format!("{} {:?}", d.addr, d.port))
            .collect();
        assert_eq!(
            d,
            [
                "10.0.0.9 Some(5432)",
                "10.0.0.9 None",
                "::1 None",
                "::1 Some(443)",
                "127.0.0.1 Some(80)"
            ]
        );
    }

    #[test]
    fn usage_errors_are_one_line() {
        for args in [
            &["-w", "abc"][..],
            &["-c", "10:5"],
            &["--free-warning", ""],
            &["--pools", "tcp"],
            &["--pools", ""],
            &["--source", "10.0.0"],
            &["--destination", "10.0.0.9:0"],
            &["--destination", "10.0.0.9:70000"],
            &["--destination", "[::1"],
            &["--top", "-1"],
            &["--top", "1000"],
            &["-t", "0"],
            &["-t", "99999999999"],
            &["--backend", "magic"],
            &["--threads", "0"],
            &["--threads", "1025"],
            &["-w", "1", "-w", "2"],
            &["--nonsense"],
            &["extra"],
        ] {
            match run(args) {
                Err(Error::Usage(m)) => {
                    assert!(!m.contains('\n') && !m.is_empty(), "{args:?}: {m}")
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn options_choose_the_scope() {
        let scope = |args: &[&str]| {
            let argv = std::iter::once("check_ephemeral")
                .chain(args.iter().copied())
                .map(std::ffi::OsString::from);
            match parse(argv) {
                Ok(Parsed::Run(c)) => Ok((c.netns, c.processes)),
                Ok(Parsed::Print(_)) => Err("printed".to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(scope(&[]), Ok((crate::scope::Scope::Here, false)));
        assert_eq!(
            scope(&["--netns", "web1", "--processes"]),
            Ok((
                crate::scope::Scope::One(crate::scope::Target::Name("web1".into())),
                true
            ))
        );
        assert_eq!(
            scope(&["--all-netns"]),
            Ok((crate::scope::Scope::All, false))
        );
        for bad in [
            &["--netns", ""][..],
            &["--netns", ".."],
            &["--netns", "web1", "--all-netns"],
        ] {
            let e = scope(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
