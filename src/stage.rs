//! Which stage of the check is running, so a timeout can name it.
//!
//! A plain atomic: the worker sets it as the check goes on, and `main` reads
//! it when the deadline has passed.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Starting,
    ReadingOptions,
    ReadingSettings,
    ReadingTcp,
    ReadingUdp,
    ReadingSockets,
    ReadingConntrack,
    Modelling,
    Reporting,
    FindingNamespaces,
    FindingProcesses,
    WritingOutput,
}

/// Every stage, in the order of the enum: the atomic holds an index.
const ALL: [Stage; 12] = [
    Stage::Starting,
    Stage::ReadingOptions,
    Stage::ReadingSettings,
    Stage::ReadingTcp,
    Stage::ReadingUdp,
    Stage::ReadingSockets,
    Stage::ReadingConntrack,
    Stage::Modelling,
    Stage::Reporting,
    Stage::FindingNamespaces,
    Stage::FindingProcesses,
    Stage::WritingOutput,
];

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::ReadingOptions => "reading the options (--extra-opts)",
            Stage::ReadingSettings => "reading the kernel's port settings",
            Stage::ReadingTcp => "reading the TCP socket table",
            Stage::ReadingUdp => "reading the UDP socket table",
            Stage::ReadingSockets => "reading the socket tables again for --processes",
            Stage::ReadingConntrack => "reading the conntrack table",
            Stage::Modelling => "modelling the port pools",
            Stage::Reporting => "writing the report",
            Stage::FindingNamespaces => "finding the network namespaces",
            Stage::FindingProcesses => "matching sockets to processes in /proc/*/fd",
            Stage::WritingOutput => "writing the output file",
        }
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

pub fn enter(stage: Stage) {
    let index = ALL.iter().position(|&s| s == stage).unwrap_or(0);
    CURRENT.store(index as u8, Ordering::Relaxed);
}

pub fn current() -> Stage {
    ALL.get(usize::from(CURRENT.load(Ordering::Relaxed)))
        .copied()
        .unwrap_or(Stage::Starting)
}
