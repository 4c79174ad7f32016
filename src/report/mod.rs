//! Stage 5, reporting: every piece of text the plugin prints, made here
//! from the judged report and the model: the status line, with what fired
//! (`fired`), and the perfdata (this file), the pools of the long output
//! (`pools`), the `-v` lines and notes (`verbose`, put together for one
//! namespace by `context`), what is said of the forecast (`forecast`), of
//! namespaces (`namespaces`, `sweep`) and processes (`processes`), and the
//! UNKNOWN line; `prometheus` renders the same report as metrics. A new
//! output format goes here.

use std::fmt::Write as _;
use std::net::IpAddr;

pub mod context;
pub mod fired;
pub mod forecast;
pub mod namespaces;
mod perfdata;
mod pools;
pub mod processes;
pub mod prometheus;
pub mod remedies;
pub mod sweep;
pub mod upstream;
pub mod verbose;

use perfdata::perfdata;
pub use perfdata::{Perfdata, Value};

use crate::judge::TableReport;
use crate::judge::range::Range;
use crate::judge::{Report, Thresholds};
use crate::model::{Model, Pool, PoolName, PortClass};
use crate::read::socket::Protocol;

pub const SERVICE: &str = "EPHEMERAL";

/// What the reader adds to the report: how the tables were read, what the
/// kernel cannot show, and for `-v` the counts and timings.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub verbose: u8,
    /// Pools of each kind to list; 0 lists none.
    pub top: usize,
    /// Named on the status line before the pool: `netns web1`.
    pub scope: Option<String>,
    /// Per-host counts after the perfdata of the pools (`netns=4;;;0`).
    pub counts: Vec<(&'static str, u64)>,
    /// The namespaces judged by bound, highest first, with the used
    /// percentage their bound allows: exported apart from measurements.
    pub bounds: Vec<(String, f64)>,
    /// Why the whole answer is UNKNOWN although the pools were judged (a
    /// namespace that could not be read): said on the status line.
    pub unknown: Option<String>,
    /// Notes, each with the verbosity from which it is said.
    pub notes: Vec<(u8, String)>,
    pub verbose_lines: Vec<(u8, String)>,
    /// `--full-in-warning`/`--full-in-critical`, for the perfdata.
    pub full_in: (Option<Range>, Option<Range>),
}

/// The verbosity from which a line is printed. A healthy run at the
/// default prints the status line alone; long output lists the pools that
/// are not OK, and says what the operator asked for but did not get.
pub const ALWAYS: u8 = 0;
/// `-v`: the top pools of each kind (and the namespaces judged).
pub const LISTED: u8 = 1;
/// `-vv`: settings, the backend, and the notes on what user space cannot
/// see.
pub const SETTINGS: u8 = 2;
/// `-vvv`: counts, timings, what the forecast saw.
pub const DETAIL: u8 = 3;

impl Context {
    /// Long-output lines printed from verbosity `level` on.
    pub fn add_lines(&mut self, level: u8, lines: Vec<String>) {
        self.verbose_lines
            .extend(lines.into_iter().map(|line| (level, line)));
    }
}

pub fn render(
    report: &Report,
    model: &Model,
    thresholds: &Thresholds,
    context: &Context,
) -> String {
    let mut out = String::new();
    let (worst, _) = &report.worst;
    match &context.unknown {
        Some(reason) => out.push_str(&unknown(reason)),
        None => {
            let scope = context
                .scope
                .as_deref()
                .map_or(String::new(), |s| format!("{}: ", clean(s)));
            let full_in = (context.full_in.0.as_ref(), context.full_in.1.as_ref());
            let (label, figures, why) = match &report.conntrack {
                Some(t) if t.is_worst(report) => (
                    "conntrack table".to_string(),
                    table_numbers(t),
                    fired::table(t, thresholds),
                ),
                _ => (
                    pool_label(worst),
                    numbers(worst, "ports free"),
                    fired::pool(
                        report.worst.1,
                        worst,
                        thresholds,
                        full_in,
                        report.forecasts.of(worst),
                    ),
                ),
            };
            let _ = writeln!(
                out,
                "{SERVICE} {} - {scope}{label}: {figures}{}{why}",
                report.state.word(),
                forecast::status_suffix(report).unwrap_or_default()
            );
        }
    }
    pools::write(&mut out, report, context);
    for (level, note) in &context.notes {
        if context.verbose >= *level {
            let _ = writeln!(out, "note: {note}");
        }
    }
    for (level, line) in &context.verbose_lines {
        if context.verbose >= *level {
            let _ = writeln!(out, "{line}");
        }
    }
    // One `|`, with all perfdata after it, at the end of the output.
    if out.ends_with('\n') {
        out.pop();
    }
    out.push_str(" | ");
    let mut perf = perfdata(report, model, thresholds);
    let full_in = (context.full_in.0.as_ref(), context.full_in.1.as_ref());
    perf.extend(forecast::perfdata(report, full_in));
    perf.extend(context.counts.iter().map(|&(label, n)| Perfdata {
        label,
        value: Value::Count(n),
        uom: "",
        warn: None,
        crit: None,
        min: Some(0),
        max: None,
    }));
    let perf: Vec<String> = perf.iter().map(ToString::to_string).collect();
    out.push_str(&perf.join(" "));
    out.push('\n');
    out
}

/// A pool's numbers: `412 of 28232 free (98.5% used)`.
pub fn numbers(pool: &Pool, free: &str) -> String {
    format!(
        "{} of {} {free} ({:.1}% used)",
        pool.free,
        pool.capacity,
        pool.used_pct()
    )
}

/// The pool as the status line names it: `connect 10.0.0.5 -> 10.0.0.9:5432`.
pub fn pool_label(pool: &Pool) -> String {
    format!("{} {}", pool.kind.name(), name_label(&pool.name))
}

pub(crate) fn name_label(name: &PoolName) -> String {
    match *name {
        PoolName::Tuple(t) => format!("{} -> {}", t.source, endpoint(t.destination, Some(t.port))),
        PoolName::NewTuple {
            source,
            destination,
            port,
        } => {
            // Short, for the status line: "connect to a new destination".
            let to = match source {
                Some(s) => format!("{s} ->"),
                None => "to".to_string(),
            };
            match destination {
                Some(d) => format!("{to} {} (no socket yet)", endpoint(d, port)),
                None => format!("{to} a new destination"),
            }
        }
        PoolName::Address(IpAddr::V6(a)) => format!("[{a}]"),
        PoolName::Address(a) => a.to_string(),
        PoolName::Nat(k) => format!(
            "{} {} -> {}{}{}",
            protocol_name(k.protocol),
            k.address,
            endpoint(k.destination, Some(k.port)),
            if k.zone == 0 {
                String::new()
            } else {
                format!(" zone {}", k.zone)
            },
            class_label(k.class)
        ),
        PoolName::Upstream(n) => upstream::label(&n),
    }
}

/// The port class where it is not the ordinary one: the pool of
/// connections from low source ports, which the kernel keeps apart.
fn class_label(class: PortClass) -> &'static str {
    match class {
        PortClass::Low => " (source ports below 512)",
        PortClass::Reserved => " (source ports 512-1023)",
        PortClass::Ordinary => "",
    }
}

pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

fn endpoint(addr: IpAddr, port: Option<u16>) -> String {
    match (addr, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    }
}

/// The status line's words for a full conntrack table.
pub(crate) fn table_numbers(table: &TableReport) -> String {
    let f = &table.figures;
    if f.max == 0 {
        return format!("{} entries, no limit (nf_conntrack_max 0)", f.entries);
    }
    format!(
        "{} of {} entries free ({:.1}% used)",
        f.max.saturating_sub(f.entries),
        f.max,
        table.used_pct()
    )
}

/// Text from the system (a namespace name, a command) made safe to print:
/// no `|`, no line breaks or other control characters.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c == '|' || c.is_control() { ' ' } else { c })
        .collect()
}

/// The one line for anything that prevents an honest answer.
pub fn unknown(reason: &str) -> String {
    let mut line = clean(reason).trim().to_string();
    if line.len() > MAX_UNKNOWN {
        let cut = (0..=MAX_UNKNOWN)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push_str("...");
    }
    format!("{SERVICE} UNKNOWN - {line}\n")
}

/// Longest reason printed whole: a status line should be short, and a file
/// or value quoted in an error may be huge.
const MAX_UNKNOWN: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::State;
    use perfdata::table_perfdata;

    #[test]
    fn a_pool_with_no_socket_yet_has_a_short_name() {
        let name = |source: Option<&str>, destination: Option<&str>, port| {
            name_label(&PoolName::NewTuple {
                source: source.map(|s| s.parse().unwrap()),
                destination: destination.map(|d| d.parse().unwrap()),
                port,
            })
        };
        assert_eq!(name(None, None, None), "to a new destination");
        assert_eq!(
            name(Some("10.0.0.5"), None, None),
            "10.0.0.5 -> a new destination"
        );
        assert_eq!(
            name(None, Some("::1"), Some(443)),
            "to [::1]:443 (no socket yet)"
        );
        assert_eq!(
            name(Some("10.0.0.5"), Some("10.0.0.9"), None),
            "10.0.0.5 -> 10.0.0.9 (no socket yet)"
        );
    }

    #[test]
    fn perfdata_drops_trailing_empty_fields() {
        let w: Range = "70".parse().unwrap();
        let p = Perfdata {
            label: "connect_used_pct",
            value: Value::Percent(98.5),
            uom: "%",
            warn: Some(&w),
            crit: None,
            min: Some(0),
            max: Some(100),
        };
        assert_eq!(p.to_string(), "connect_used_pct=98.50%;70;;0;100");
        let p = Perfdata {
            label: "tuples",
            value: Value::Count(3),
            uom: "",
            warn: None,
            crit: None,
            min: None,
            max: None,
        };
        assert_eq!(p.to_string(), "tuples=3");
    }

    #[test]
    fn a_conntrack_table_without_a_limit_says_so() {
        let mut table = TableReport {
            figures: crate::read::conntrack::TableFigures {
                entries: 12,
                ..Default::default()
            },
            state: State::Ok,
        };
        assert_eq!(
            table_numbers(&table),
            "12 entries, no limit (nf_conntrack_max 0)"
        );
        let th = Thresholds::default();
        assert_eq!(
            table_perfdata(&table, &th)[1].to_string(),
            "conntrack_entries=12;;;0"
        );
        table.figures.max = 100;
        assert_eq!(table_numbers(&table), "88 of 100 entries free (12.0% used)");
    }

    #[test]
    fn unknown_is_one_line_without_a_pipe() {
        assert_eq!(
            unknown("a\nb | c\r\x1b[31m"),
            "EPHEMERAL UNKNOWN - a b   c  [31m\n"
        );
        let long = unknown(&"é".repeat(1000));
        assert!(long.len() < 600 && long.ends_with("...\n"), "{long}");
    }
}
