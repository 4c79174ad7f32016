//! What `--processes` says: who holds the sockets of each pool it was
//! asked about, and what it could not look at.

use super::pool_label;
use crate::model::Pool;
use crate::scope::culprits::Attribution;
use crate::scope::procfs::{self, Capabilities, Capability, Pids, Refusal};

/// `1 process`, `2 processes`.
pub fn count(n: usize) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

/// `1 process (pid 812)`, `7 processes (pids 3, 4, 5, 6, 8 and 2 more)`:
/// the processes named, so the operator can look at them.
pub fn named(pids: &Pids) -> String {
    let listed: Vec<String> = pids.lowest.iter().map(u32::to_string).collect();
    let more = match pids.count.saturating_sub(pids.lowest.len()) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let word = if pids.count == 1 { "pid" } else { "pids" };
    format!("{} ({word} {}{more})", count(pids.count), listed.join(", "))
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
    if found.unreadable.count > 0 {
        lines.push(unreadable(
            &found.unreadable,
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
fn unreadable(pids: &Pids, needs: &[Capability], effective: Option<Capabilities>) -> String {
    let why = match Refusal::of(needs, effective) {
        Refusal::Lacking(caps) => format!("run as root or grant {}", procfs::names(&caps)),
        Refusal::Despite(caps) => procfs::despite(&caps),
    };
    format!(
        "processes: the open files of {} could not be read, so their sockets are not attributed; {why}",
        named(pids)
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

    fn pids(list: &[u32]) -> Pids {
        let mut pids = Pids::default();
        list.iter().for_each(|&p| pids.add(p));
        pids
    }

    #[test]
    fn the_processes_are_named_by_pid() {
        assert_eq!(named(&pids(&[812])), "1 process (pid 812)");
        assert_eq!(named(&pids(&[913, 812])), "2 processes (pids 812, 913)");
        assert_eq!(
            named(&pids(&[9, 8, 7, 6, 5, 4, 3])),
            "7 processes (pids 3, 4, 5, 6, 7 and 2 more)"
        );
        let note = unreadable(&pids(&[812]), &[CAP_SYS_PTRACE], None);
        assert!(
            note.starts_with("processes: the open files of 1 process (pid 812) could not be read"),
            "{note}"
        );
    }

    #[test]
    fn unreadable_files_suggest_only_what_is_lacking() {
        let both_steps = [CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE];
        let two = pids(&[40, 41]);
        let with = |caps: &[procfs::Capability]| {
            unreadable(&two, &both_steps, Some(Capabilities::of(caps)))
        };
        let none = with(&[]);
        assert!(
            none.starts_with(
                "processes: the open files of 2 processes (pids 40, 41) could not be read"
            ) && none.ends_with("run as root or grant CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE"),
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
        assert_eq!(unreadable(&two, &both_steps, None), none);
        // Only links refused: CAP_DAC_READ_SEARCH would not help.
        let reading = [CAP_SYS_PTRACE];
        let ptrace = unreadable(&pids(&[40]), &reading, Some(Capabilities::of(&[])));
        assert!(
            ptrace.ends_with("run as root or grant CAP_SYS_PTRACE"),
            "{ptrace}"
        );
    }
}
