//! check_ephemeral: warns before a Linux host runs out of ephemeral ports.
//!
//! The pipeline, one folder a stage, data flowing one way:
//!
//! `options` (the plain [`Config`](options::Config)) → `read` (kernel
//! settings and socket records; the only stage that reads the system) →
//! `model` (the pools the kernel allocates from) → `forecast` (how fast
//! they fill, and the growth across runs) → `judge` (thresholds, the worst
//! pool, the state) → `report` (every line the plugin prints). `scope`
//! runs the same pipeline in other network namespaces and finds the
//! processes behind the sockets. `measure` wires the stages for one
//! namespace, `namespaces` runs it across namespaces; this file chooses
//! between them and renders the answer.

pub mod atomic_file;
#[cfg(test)]
mod cases;
pub mod error;
pub mod forecast;
pub mod judge;
mod measure;
pub mod model;
mod namespaces;
pub mod options;
pub mod read;
pub mod remedy;
pub mod report;
pub mod scope;
pub mod stage;

use std::path::Path;
use std::time::Instant;

use error::Result;
use judge::State;
use options::{Config, Format};
use read::procnet::PROC_NET;
use report::prometheus::Snapshot;
use scope::Scope;
use stage::Stage;

pub use measure::{Measured, measure};

/// The state to exit with and the text to print.
pub struct Outcome {
    pub state: State,
    pub text: String,
}

pub fn check(config: &Config) -> Result<Outcome> {
    check_from(config, Instant::now())
}

/// [`check`] for a process that started at `started`: `-t` counts from
/// there, and a namespace sweep spends only part of it.
pub fn check_from(config: &Config, started: Instant) -> Result<Outcome> {
    if config.netns != Scope::Here {
        return namespaces::check(config, started);
    }
    let proc_net = Path::new(PROC_NET);
    let mut measured = measure(config, proc_net)?;
    if config.processes {
        measure::attribute(&mut measured, proc_net)?;
    }
    let listed = [Snapshot::new(None, &measured.report, &measured.model)];
    Ok(render(&measured, config, &listed))
}

/// The answer in the format asked for; `listed` are the namespaces the
/// Prometheus text lists, worst first.
pub(crate) fn render(measured: &Measured, config: &Config, listed: &[Snapshot]) -> Outcome {
    stage::enter(Stage::Reporting);
    let (report, model, context) = (&measured.report, &measured.model, &measured.context);
    let state = match context.unknown {
        Some(_) => State::Unknown,
        None => report.state,
    };
    let text = match config.format {
        Format::Nagios => report::render(report, model, &config.thresholds, context),
        Format::Prometheus => {
            report::prometheus::render(state, listed, &context.counts, &context.bounds)
        }
    };
    Outcome { state, text }
}
