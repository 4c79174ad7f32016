//! check_ephemeral: warns before a Linux host runs out of ephemeral ports.
//!
//! Data flows one way, one stage a module:
//! kernel settings (`settings`) + socket dump (`diag`, `procnet`, via
//! `read`) → pools (`pools`) → judged results (`judge`) → Nagios text
//! (`output`). Only `settings` and the readers touch the system, and,
//! when asked, `netns` (entering other network namespaces, for `sweep`)
//! and `culprits` (matching sockets to processes in /proc).

pub mod cli;
pub mod culprits;
pub mod diag;
pub mod error;
pub mod extra_opts;
pub mod judge;
pub mod netns;
pub mod output;
pub mod pools;
pub mod ports;
pub mod procfs;
pub mod procnet;
pub mod range;
pub mod read;
pub mod settings;
pub mod socket;
pub mod stage;
pub mod sweep;

use std::path::Path;
use std::time::Instant;

use cli::Config;
use error::Result;
use judge::State;
use netns::Scope;
use output::Context;
use pools::Kind;
use procnet::PROC_NET;
use read::ReadInfo;
use settings::{KernelSettings, SYSCTL_DIR};
use stage::Stage;

/// The state to exit with and the text to print.
pub struct Outcome {
    pub state: State,
    pub text: String,
}

pub fn check(config: &Config) -> Result<Outcome> {
    if config.netns != Scope::Here {
        return sweep::check(config);
    }
    let proc_net = Path::new(PROC_NET);
    let mut measured = measure(config, proc_net)?;
    if config.processes {
        let wanted = culprits::collect(&measured, proc_net)?;
        let lines = culprits::attribute(&wanted)?;
        measured.add_lines(lines);
    }
    Ok(measured.render(config))
}

/// One namespace's tables, modelled, judged and described: what `render`
/// turns into the plugin's text.
pub struct Measured {
    pub model: pools::Model,
    pub info: ReadInfo,
    pub report: judge::Report,
    pub context: Context,
}

impl Measured {
    /// Long-output lines printed whatever the verbosity.
    pub fn add_lines(&mut self, lines: Vec<String>) {
        self.context
            .verbose_lines
            .extend(lines.into_iter().map(|line| (0, line)));
    }

    pub fn render(&self, config: &Config) -> Outcome {
        stage::enter(Stage::Reporting);
        let state = match self.context.unknown {
            Some(_) => State::Unknown,
            None => self.report.state,
        };
        Outcome {
            state,
            text: output::render(&self.report, &self.model, &config.thresholds, &self.context),
        }
    }
}

/// Reads, models and judges the tables of the network namespace the
/// calling thread is in; `proc_net` is where its /proc tables are.
pub fn measure(config: &Config, proc_net: &Path) -> Result<Measured> {
    let started = Instant::now();
    stage::enter(Stage::ReadingSettings);
    let settings = KernelSettings::read(Path::new(SYSCTL_DIR))?;
    let settings_time = started.elapsed();

    let (builder, info) = read::read_tables(config.backend, &settings, proc_net)?;

    stage::enter(Stage::Modelling);
    let modelling = Instant::now();
    let model = builder.finish();
    let report = judge::judge(&model, &config.selection, &config.thresholds, config.top);
    let model_time = modelling.elapsed();

    let mut context = Context {
        verbose: config.verbose,
        top: config.top,
        notes: notes(&model, &info, config),
        verbose_lines: Vec::new(),
        ..Context::default()
    };
    let v = &mut context.verbose_lines;
    v.push((1, settings_line(&settings, &model)));
    v.push((1, backend_line(&info)));
    let t = &model.totals;
    v.push((
        2,
        format!(
            "read: {} TCP and {} UDP sockets in the range, {} tuple{}; {} netlink requests, {} records, {} bytes",
            t.tcp_sockets,
            t.udp_sockets,
            model.tuple_count(),
            if model.tuple_count() == 1 { "" } else { "s" },
            info.netlink.requests,
            info.netlink.messages,
            info.netlink.bytes
        ),
    ));
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    v.push((
        3,
        format!(
            "timings: settings {:.2} ms, TCP {:.2} ms, UDP {:.2} ms, model {:.2} ms, total {:.2} ms",
            ms(settings_time),
            ms(info.tcp_time),
            ms(info.udp_time),
            ms(model_time),
            ms(started.elapsed())
        ),
    ));
    Ok(Measured {
        model,
        info,
        report,
        context,
    })
}

fn settings_line(s: &KernelSettings, model: &pools::Model) -> String {
    let delay = match s.tw_reuse_delay_ms {
        Some(ms) => format!("tcp_tw_reuse_delay {ms} ms"),
        None => "no tcp_tw_reuse_delay (reuse after 1-2 s)".to_string(),
    };
    format!(
        "kernel: port range {} ({} ports, {} reserved, {} marked by bind()); tcp_tw_reuse {}, tcp_timestamps {}, {delay}",
        s.range,
        s.range.len(),
        s.range.len() - model.candidate_count() as usize,
        model.bind_marked(),
        s.tw_reuse,
        if s.timestamps { "on" } else { "off" },
    )
}

fn backend_line(info: &ReadInfo) -> String {
    let mut line = format!(
        "backend: TCP from {}, UDP from {}",
        info.tcp_from, info.udp_from
    );
    match info.both_families {
        Some(true) => line.push_str(" (filtered in the kernel, IPv4 and IPv6 in one walk)"),
        Some(false) => line.push_str(" (filtered in the kernel, one request per family)"),
        None => {}
    }
    for why in &info.fallback {
        line.push_str(&format!("; netlink unavailable for {why}"));
    }
    line
}

/// What user space cannot see, said where it matters for this answer.
fn notes(model: &pools::Model, info: &ReadInfo, config: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    let t = &model.totals;
    if info.tcp_from == read::Source::Proc {
        notes.push(
            "read from /proc/net, which shows neither bound-only sockets nor explicitly bound ports: \
             ports they hold count as free here"
                .to_string(),
        );
    }
    if config.selection.kinds.contains(&Kind::Connect) && t.autobound_connected > 0 {
        notes.push(format!(
            "connect pools assume the {} connected sockets with automatically chosen ports got them \
             from connect(); one that called bind(addr, 0) first also blocks its port for every other tuple",
            t.autobound_connected
        ));
    }
    if t.time_wait_reusable > 0 {
        notes.push(format!(
            "{} TIME_WAIT entries count as reusable, assuming their connections used TCP timestamps \
             (user space cannot see it per connection)",
            t.time_wait_reusable
        ));
    }
    notes
}
