//! What the command line alone says before the options are read in full
//! (an `--extra-opts` file may stall, or be what fails): the `-t` budget,
//! and where failures go. Read by clap itself, not by a parser of its own.

use std::ffi::OsString;
use std::time::Duration;

use super::args::FormatArg;
use super::{DEFAULT_TIMEOUT, command};

/// What the command line alone says of how the check may fail: the `-t`
/// budget, and whether failures go to stderr (Prometheus output or an
/// output file: whoever reads the metrics must never read a reason
/// instead). Known before the options are parsed in full, since reading an
/// `--extra-opts` file may stall or be what fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Early {
    pub timeout: Duration,
    pub quiet: bool,
}

/// [`Early`] from the command line, by clap with every error ignored: a
/// value that does not parse (or an option after `--`) counts as absent.
pub fn early(args: &[OsString]) -> Early {
    let matches = command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok();
    let timeout = matches
        .as_ref()
        .and_then(|m| m.get_one::<u32>("timeout").copied())
        .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(u64::from(s)));
    let quiet = matches.as_ref().is_some_and(|m| {
        m.get_one::<FormatArg>("format") == Some(&FormatArg::Prometheus)
            || m.contains_id("output_file")
    });
    Early { timeout, quiet }
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

    #[test]
    fn the_timeout_is_known_before_parsing() {
        let early = |args: &[&str]| early(&argv(args)).timeout.as_secs();
        assert_eq!(early(&["-t", "3"]), 3);
        assert_eq!(early(&["-t3", "--extra-opts"]), 3);
        assert_eq!(early(&["--timeout=4", "-w", "5"]), 4);
        assert_eq!(early(&["--timeout=4", "-w", "bad"]), 4);
        assert_eq!(early(&["--timeout", "0"]), 10);
        assert_eq!(early(&["-w", "5"]), 10);
        assert_eq!(early(&["--", "-t", "3"]), 10);
    }

    #[test]
    fn prometheus_output_is_known_before_parsing() {
        let quiet = |args: &[&str]| early(&argv(args)).quiet;
        assert!(quiet(&["--format", "prometheus", "-w", "bad"]));
        assert!(quiet(&["--format=prometheus"]));
        assert!(quiet(&["--output-file", "/x.prom"]));
        assert!(quiet(&["--output-file=/x.prom", "--format", "nagios"]));
        assert!(!quiet(&["--format", "nagios"]));
        assert!(!quiet(&["--", "--format", "prometheus"]));
    }
}
