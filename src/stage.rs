//! Which stage of the check is running, so a timeout can name it.
//!
//! A plain atomic: the watchdog thread in `main` reads it when the time is up.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Starting = 0,
    ReadingSettings,
    ReadingTcp,
    ReadingUdp,
    Modelling,
    Reporting,
    FindingNamespaces,
    FindingProcesses,
}

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::ReadingSettings => "reading the kernel's port settings",
            Stage::ReadingTcp => "reading the TCP socket table",
            Stage::ReadingUdp => "reading the UDP socket table",
            Stage::Modelling => "modelling the port pools",
            Stage::Reporting => "writing the report",
            Stage::FindingNamespaces => "finding the network namespaces",
            Stage::FindingProcesses => "matching sockets to processes in /proc/*/fd",
        }
    }

    fn from_u8(v: u8) -> Stage {
        match v {
            1 => Stage::ReadingSettings,
            2 => Stage::ReadingTcp,
            3 => Stage::ReadingUdp,
            4 => Stage::Modelling,
            5 => Stage::Reporting,
            6 => Stage::FindingNamespaces,
            7 => Stage::FindingProcesses,
            _ => Stage::Starting,
        }
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

pub fn enter(stage: Stage) {
    CURRENT.store(stage as u8, Ordering::Relaxed);
}

pub fn current() -> Stage {
    Stage::from_u8(CURRENT.load(Ordering::Relaxed))
}
