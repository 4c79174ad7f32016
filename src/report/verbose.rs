//! The `-v` lines (settings and backend, counts, timings) and the notes on
//! what user space cannot see, said where they matter for this answer.

use std::time::Duration;

use crate::model::{Kind, Model, NatModel, PoolName};
use crate::read::conntrack::{EntriesFrom, EntriesRead, Unreadable};
use crate::read::settings::KernelSettings;
use crate::read::{ReadInfo, Source};

/// Why NAT pools are not judged, in one note.
pub fn nat_note(why: &Unreadable) -> String {
    match why {
        Unreadable::Privilege => {
            "NAT pools not judged: reading the conntrack table needs CAP_NET_ADMIN, \
             which this process does not have (run it as root, e.g. through a sudo rule); \
             the conntrack table's size is judged"
                .to_string()
        }
        Unreadable::Failed(error) => format!("NAT pools not judged: {error}"),
    }
}

/// The one note when source-translated entries hold NAT ports outside the
/// range the check assumes: its free counts cannot be trusted then.
pub fn stray_note(nat: &NatModel) -> Option<String> {
    let (key, port) = nat.strays.example?;
    let (assumed, why) = if nat.given {
        (
            format!("{} (--nat-ports)", nat.range),
            "the range given is wrong or the rule changed",
        )
    } else {
        (
            "the kernel's default range for their source port".to_string(),
            "the rule names a range of its own (give it with --nat-ports) or changed",
        )
    };
    let pool = super::name_label(&PoolName::Nat(key));
    let count = match nat.strays.count {
        1 => "1 source-translated connection holds".to_string(),
        n => format!("{n} source-translated connections hold"),
    };
    Some(format!(
        "{count} NAT ports outside {assumed}, e.g. port {port} of nat {pool}: \
         {why}; NAT free counts may be wrong"
    ))
}

/// The `-v` line on the conntrack table and the NAT range.
pub fn conntrack(read: &EntriesRead, nat: &NatModel) -> String {
    let from = match read.from {
        EntriesFrom::Netlink => "netlink",
        EntriesFrom::Proc => "/proc/net/nf_conntrack",
    };
    let range = if nat.given {
        format!("NAT ports {} (--nat-ports)", nat.range)
    } else {
        "NAT ports by the original source port: 1-511 below 512, 600-1023 below 1024, \
         else 1024-65535 (the kernel's defaults; --nat-ports names a rule's own)"
            .to_string()
    };
    let filtered = match read.filtered_to {
        Some(address) => format!(" (filtered in the kernel to replies to {address})"),
        None => String::new(),
    };
    format!(
        "conntrack: {} entries from {from}{filtered} in {:.2} ms, {} source-translated, {} NAT pools; {range}",
        read.entries,
        read.time.as_secs_f64() * 1000.0,
        nat.translated,
        nat.pools.len()
    )
}

/// How long each step took, for `-vvv`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub settings: Duration,
    pub model: Duration,
    pub total: Duration,
}

/// The lines `-v`, `-vv` and `-vvv` add, each with its level.
pub fn lines(
    settings: &KernelSettings,
    model: &Model,
    info: &ReadInfo,
    timings: Timings,
) -> Vec<(u8, String)> {
    let t = &model.totals;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    vec![
        (super::SETTINGS, self::settings(settings, model)),
        (
            super::SETTINGS,
            if model.sockets_read {
                backend(info)
            } else {
                "backend: no socket table read (only NAT pools asked for)".to_string()
            },
        ),
        (
            super::DETAIL,
            format!(
                "read: {} TCP and {} UDP sockets in the range, {} tuple{}; {} netlink requests{}, {} records, {} bytes",
                t.tcp_sockets,
                t.udp_sockets,
                model.tuple_count(),
                if model.tuple_count() == 1 { "" } else { "s" },
                info.netlink.requests,
                match info.netlink.skipped {
                    0 => String::new(),
                    n => format!(" ({n} skipped: no such socket in the namespace)"),
                },
                info.netlink.messages,
                info.netlink.bytes
            ),
        ),
        (
            super::DETAIL,
            format!(
                "timings: settings {:.2} ms, TCP {:.2} ms, UDP {:.2} ms, model {:.2} ms, total {:.2} ms",
                ms(timings.settings),
                ms(info.tcp_time),
                ms(info.udp_time),
                ms(timings.model),
                ms(timings.total)
            ),
        ),
    ]
}

pub fn settings(s: &KernelSettings, model: &Model) -> String {
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

pub fn backend(info: &ReadInfo) -> String {
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
pub fn notes(model: &Model, info: &ReadInfo, kinds: &[Kind]) -> Vec<String> {
    let mut notes = Vec::new();
    let t = &model.totals;
    if info.tcp_from == Source::Proc {
        notes.push(
            "read from /proc/net, which shows neither bound-only sockets nor explicitly bound ports: \
             ports they hold count as free here"
                .to_string(),
        );
    }
    if kinds.contains(&Kind::Connect) && t.autobound_connected > 0 {
        let (subject, own) = match t.autobound_connected {
            1 => (
                "1 connection whose port the kernel chose counts".to_string(),
                "its",
            ),
            n => (
                format!("{n} connections whose port the kernel chose count"),
                "their",
            ),
        };
        notes.push(format!(
            "{subject} in {own} own destination's pool only; where a program picks its local \
             address before connecting, such a port is taken for every other destination too"
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
