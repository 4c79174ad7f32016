//! Stage 0, options: the command line and `--extra-opts` files, parsed by
//! clap into plain data, then checked and turned into a [`Config`] that the
//! pipeline in `lib.rs` reads. Every usage error becomes `Error::Usage`,
//! which `main` reports as UNKNOWN (exit 3), never clap's exit 2. A new
//! option goes here (and in the generated man page and CheckCommand).

use std::ffi::OsString;

use std::path::PathBuf;

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use crate::error::{Error, Result};
use crate::read::Backend;
use crate::read::ports::PortRange;

mod args;
mod early;
pub mod extra_opts;
mod measured;
pub mod upstream;
mod usage;
pub mod what_if;

use args::{Args, BackendArg, FormatArg, PoolKind};
pub use early::{Early, early};

use crate::judge::forecast::ForecastRule;
use crate::judge::range::Range;
use crate::judge::{Selection, Thresholds};
use crate::model::Kind;
use crate::model::upstream::{Budget, Route};
use crate::read::socket::canonical;
use crate::scope::Scope;
use usage::{not_utf8, usage_message};
use what_if::Hypothesis;

const DEFAULT_WARNING: &str = "70";
const DEFAULT_CRITICAL: &str = "90";
/// What `-t` says when not given; also the limit for reading the options.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the plugin prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Nagios,
    Prometheus,
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
    /// `--upstream-nat` and `--upstream-nat-exclude`: the provider NAT's
    /// budget and which destinations pass it.
    pub upstream: Option<(Budget, Route)>,
    pub top: usize,
    pub timeout: Duration,
    pub backend: Backend,
    pub verbose: u8,
    pub netns: Scope,
    /// `--threads`: at most this many namespaces judged at once; `None`:
    /// as many as the CPUs this process may use.
    pub threads: Option<usize>,
    /// `--exact`: a sweep walks every namespace, none is judged by bound.
    pub exact: bool,
    pub processes: bool,
    pub format: Format,
    /// `--output-file`: where the output goes instead of stdout.
    pub output_file: Option<PathBuf>,
    /// `--what-if`: the settings to judge under instead of those read.
    pub what_if: Hypothesis,
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
    // The level thresholds stay on beside free-count ones: a host given
    // only --free-critical must still go WARNING at 70% used. `-w ~:`
    // (a range that never alerts) turns one off on purpose.
    let default = |given: Option<Range>, text: &str| given.or_else(|| text.parse().ok());
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
        None if args.upstream_nat.is_some() => Kind::ALL.to_vec(),
        None => Kind::DEFAULT.to_vec(),
        Some(pools) => pools
            .iter()
            .map(|k| match k {
                PoolKind::Connect => Kind::Connect,
                PoolKind::Bind => Kind::Bind,
                PoolKind::Udp => Kind::Udp,
                PoolKind::Nat => Kind::Nat,
                PoolKind::Upstream => Kind::Upstream,
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
            "--pools: name at least one of connect, bind, udp, nat, upstream".into(),
        ));
    }
    if args.nat_ports.is_some() && !kinds.contains(&Kind::Nat) {
        // A range for pools that are not judged would be ignored without a
        // word; an operator who gave it expects NAT pools judged.
        return Err(Error::Usage(
            "--nat-ports applies to NAT pools, which --pools leaves out (add nat)".into(),
        ));
    }
    let what_if = Hypothesis::new(args.what_if).map_err(Error::Usage)?;
    if !what_if.is_empty() && args.format == FormatArg::Prometheus {
        // A collector would store hypothetical figures as the host's own.
        return Err(Error::Usage(
            "--what-if answers a question in the Nagios output; it has no Prometheus form".into(),
        ));
    }
    if !what_if.is_empty() && args.trend {
        // The state file keeps what the host did, not what it would do.
        return Err(Error::Usage(
            "--what-if cannot be combined with --trend, whose state file keeps the host's own figures".into(),
        ));
    }
    if args.exact && !args.all_netns {
        return Err(Error::Usage(
            "--exact applies to --all-netns, which is not given: other scopes walk every namespace they judge".into(),
        ));
    }
    let upstream = upstream::rule(args.upstream_nat, &args.upstream_nat_exclude, &kinds)
        .map_err(Error::Usage)?;
    if let Some(w) = what_if.upstream_key().filter(|_| upstream.is_none()) {
        return Err(Error::Usage(format!(
            "--what-if {w} changes the provider NAT's rule, which only --upstream-nat gives"
        )));
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
        upstream,
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
        exact: args.exact,
        processes: args.processes,
        verbose: args.verbose.min(3),
        format: match args.format {
            FormatArg::Nagios => Format::Nagios,
            FormatArg::Prometheus => Format::Prometheus,
        },
        output_file: args.output_file,
        what_if,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line of the binary run with `args`.
    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("check_ephemeral")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn run(args: &[&str]) -> Result<Config> {
        match parse(argv(args))? {
            Parsed::Run(c) => Ok(*c),
            Parsed::Print(_) => panic!("printed instead of running"),
        }
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
            &["--pools", "connect,bind", "--nat-ports", "40000-40999"],
        ] {
            assert!(matches!(run(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]).unwrap();
        assert_eq!(c.thresholds.used_warning.unwrap().to_string(), "70");
        assert_eq!(c.thresholds.used_critical.unwrap().to_string(), "90");
        assert_eq!(c.selection.kinds, Kind::DEFAULT.to_vec());
        assert!(c.upstream.is_none());
        assert_eq!(
            (c.top, c.timeout.as_secs(), c.backend),
            (5, 10, Backend::Auto)
        );
    }

    #[test]
    fn free_thresholds_keep_the_level_thresholds() {
        let c = run(&["--free-critical", "100"]).unwrap();
        let t = &c.thresholds;
        assert_eq!(t.used_warning.as_ref().unwrap().to_string(), "70");
        assert_eq!(t.used_critical.as_ref().unwrap().to_string(), "90");
        // A plain number is a count of free ports to stay above.
        assert_eq!(t.free_critical.as_ref().unwrap().to_string(), "100:");
        let c = run(&["--free-critical", "100:", "-w", "50"]).unwrap();
        assert_eq!(c.thresholds.used_critical.unwrap().to_string(), "90");
        // A range that never alerts turns a level threshold off on purpose.
        let c = run(&["--free-critical", "100", "-w", "~:", "-c", "~:"]).unwrap();
        assert_eq!(c.thresholds.used_warning.unwrap().to_string(), "~:");
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
            &["--free-warning", "many"],
            &["--free-critical", "1e3"],
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
            &["--exact"],
            &["--netns", "web1", "--exact"],
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
    fn what_if_is_repeatable_and_refused_where_its_answer_would_be_kept() {
        let c = run(&[
            "--what-if",
            "net.ipv4.tcp_tw_reuse=1",
            "--what-if",
            "net/ipv4/ip_local_port_range=1024 65535",
        ])
        .unwrap();
        assert_eq!(
            c.what_if.to_string(),
            "what if net.ipv4.tcp_tw_reuse=1, net.ipv4.ip_local_port_range=1024 65535"
        );
        for bad in [
            &["--what-if", "net.ipv4.tcp_tw_reuse=1", "--trend"][..],
            &[
                "--what-if",
                "net.ipv4.tcp_tw_reuse=1",
                "--format",
                "prometheus",
            ],
            &[
                "--what-if",
                "net.ipv4.tcp_tw_reuse=1",
                "--what-if",
                "net.ipv4.tcp_tw_reuse=0",
            ],
            &["--what-if", "net.ipv4.tcp_fin_timeout=30"],
            &["--what-if", "net.ipv4.tcp_tw_reuse=9"],
        ] {
            match run(bad) {
                Err(Error::Usage(m)) => assert!(!m.contains('\n'), "{bad:?}: {m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn options_choose_the_scope() {
        let scope = |args: &[&str]| match parse(argv(args)) {
            Ok(Parsed::Run(c)) => Ok((c.netns, c.processes)),
            Ok(Parsed::Print(_)) => Err("printed".to_string()),
            Err(e) => Err(e.to_string()),
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
