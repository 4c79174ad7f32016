//! What `--processes` says: who holds the sockets of each pool it was
//! asked about, and what it could not look at.

use super::pool_label;
use crate::model::Pool;
use crate::scope::culprits::Attribution;
use crate::scope::procfs::{self, Capabilities, Capability, Refusal};

/// `1 process`, `2 processes`.
pub fn count(n: usize) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

/// A line per pool of `pools` (the ones attributed, in the same order),
/// after a heading, and a note on the processes that could not be read.
pub fn lines(found: &Attribution, pools: &[&Pool]) -> Vec<String> {
    let mut lines = vec![heading(found.listed).to_string()];
    for (holders, pool) in found.pools.iter().zip(pools) {
        let mut parts = Vec::new();
        for (pid, command, n) in &holders.top {
            parts.push(format!("pid {pid} {}: {n}", super::clean(command)));
        }
        let (others, rest) = holders.rest;
        if others > 0 {
            parts.push(format!("{} more: {rest}", count(others)));
        }
        if holders.fileless > 0 {
            parts.push(format!(
                "{} without a process (TIME_WAIT or closed)",
                holders.fileless
            ));
        }
        if holders.unattributed > 0 {
            parts.push(format!(
                "{} in no open file that could be read",
                holders.unattributed
            ));
        }
        let text = if parts.is_empty() {
            "no sockets of its own".to_string()
        } else {
            parts.join(", ")
        };
        lines.push(format!("  {}: {text}", pool_label(pool)));
    }
    if found.unreadable > 0 {
        lines.push(unreadable(
            found.unreadable,
            &found.needs,
            Capabilities::effective(),
        ));
    }
    lines
}

/// The pools attributed are those the long output lists, or with
/// `--top 0` the worst of each kind, which only the status line mentions.
fn heading(listed: bool) -> &'static str {
    if listed {
        "processes holding the sockets of the pools above (pid command: sockets):"
    } else {
        "processes holding the sockets of the worst pool of each kind (pid command: sockets):"
    }
}

/// Says that `n` processes' open files could not be read, and the way
/// out: the capabilities in `needs` this process lacks, or that the
/// kernel refused even with them.
fn unreadable(n: usize, needs: &[Capability], effective: Option<Capabilities>) -> String {
    let why = match Refusal::of(needs, effective) {
        Refusal::Lacking(caps) => format!("run as root or grant {}", procfs::names(&caps)),
        Refusal::Despite(caps) => procfs::despite(&caps),
    };
    format!(
        "processes: the open files of {} could not be read, so their sockets are not attributed; {why}",
        count(n)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::procfs::{CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE};

    #[test]
    fn the_heading_says_which_pools_are_attributed() {
        assert!(heading(true).contains("the pools above"));
        assert!(heading(false).contains("the worst pool of each kind"));
    }

    #[test]
    fn unreadable_files_suggest_only_what_is_lacking() {
        let both_steps = [CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE];
        let with =
            |caps: &[procfs::Capability]| unreadable(2, &both_steps, Some(Capabilities::of(caps)));
        let none = with(&[]);
        assert!(
            none.starts_with("processes: the open files of 2 processes could not be read")
                && none.ends_with("run as root or grant CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE"),
            "{none}"
        );
        let dac = with(&[CAP_DAC_READ_SEARCH]);
        assert!(dac.ends_with("grant CAP_SYS_PTRACE"), "{dac}");
        let both = with(&[CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE]);
        assert!(!both.contains("grant"), "{both}");
        assert!(
            both.contains("refused even with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE"),
            "{both}"
        );
        // When the set cannot be read, everything that may help is named.
        assert_eq!(unreadable(2, &both_steps, None), none);
        // Only links refused: CAP_DAC_READ_SEARCH would not help.
        let reading = [CAP_SYS_PTRACE];
        let ptrace = unreadable(1, &reading, Some(Capabilities::of(&[])));
        assert!(
            ptrace.ends_with("run as root or grant CAP_SYS_PTRACE"),
            "{ptrace}"
        );
    }
}
