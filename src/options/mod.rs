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
mod tests;
