//! `--what-if KEY=VALUE`: a kernel setting as `sysctl -w` takes it, which
//! the check applies to the settings it read before modelling, so the same
//! records are judged as if the setting had that value.
//!
//! The parser accepts what the kernel's own sysctl handlers accept (checked
//! by writing each form in a private namespace on 6.18) and refuses the
//! rest, so a hypothesis is never one the kernel would not let the operator
//! make. Where the kernel is laxer than a plain reading (hex numbers, a
//! range given as one number, which keeps the current upper end), the
//! parser is stricter: such a value would make the answer depend on more
//! than what the command line says.

use std::fmt;
use std::str::FromStr;

use crate::model::upstream::Budget;
use crate::read::ports::{PortRange, ReservedPorts};
use crate::read::settings::{KernelSettings, TwReuse};

/// `net.ipv4.tcp_tw_reuse_delay` is refused above TCP_PAWS_MSL (60 s) and
/// below 1 ms.
const MAX_REUSE_DELAY_MS: u32 = 60_000;

/// A setting the check can judge under another value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    PortRange(PortRange),
    ReservedPorts(ReservedPorts),
    TwReuse(TwReuse),
    TwReuseDelayMs(u32),
    MaxTwBuckets(u32),
    ConntrackMax(u32),
    /// The provider NAT's ports per destination key (`--upstream-nat`).
    UpstreamPorts(u32),
    /// The seconds the provider NAT holds a port after its connection
    /// closed.
    UpstreamHoldS(u32),
}

/// Reads one key's value.
type ValueParser = fn(&str) -> Result<Setting, String>;

/// The keys, in `sysctl` form, with the parser of each value.
const KEYS: [(&str, ValueParser); 8] = [
    ("net.ipv4.ip_local_port_range", port_range),
    ("net.ipv4.ip_local_reserved_ports", reserved_ports),
    ("net.ipv4.tcp_tw_reuse", tw_reuse),
    ("net.ipv4.tcp_tw_reuse_delay", tw_reuse_delay),
    ("net.ipv4.tcp_max_tw_buckets", max_tw_buckets),
    ("net.netfilter.nf_conntrack_max", conntrack_max),
    // Not sysctls: the provider NAT's rule, named as `--upstream-nat`'s
    // SPEC names them.
    ("upstream.ports", upstream_ports),
    ("upstream.hold", upstream_hold),
];

/// One `--what-if`: the setting and how the operator wrote it (the key in
/// dotted form, the value as given), for the status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIf {
    pub setting: Setting,
    key: &'static str,
    value: String,
}

impl WhatIf {
    pub fn key(&self) -> &'static str {
        self.key
    }
}

impl fmt::Display for WhatIf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl FromStr for WhatIf {
    type Err = String;

    /// `net.ipv4.tcp_tw_reuse=1`, or with slashes as under /proc/sys
    /// (`net/ipv4/tcp_tw_reuse=1`). The value is taken as `sysctl -w`
    /// writes it: everything after the first `=`, one trailing newline
    /// allowed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((key, value)) = text.split_once('=') else {
            return Err(format!("{text:?} is not KEY=VALUE"));
        };
        let dotted = key.trim().replace('/', ".");
        let Some((key, parse)) = KEYS.iter().find(|(k, _)| *k == dotted) else {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "{:?} is not a setting the check can judge (one of {})",
                key.trim(),
                known.join(", ")
            ));
        };
        let value = value.strip_suffix('\n').unwrap_or(value);
        let setting = parse(value).map_err(|why| format!("{key}={value:?}: {why}"))?;
        // Said back in one spelling: "LO HI", plain numbers, the list
        // without a trailing comma.
        let value = match &setting {
            Setting::PortRange(r) => format!("{} {}", r.lo, r.hi),
            Setting::ReservedPorts(_) => value.trim_end_matches(',').to_string(),
            Setting::TwReuse(t) => t.to_string().chars().take(1).collect(),
            Setting::TwReuseDelayMs(n)
            | Setting::MaxTwBuckets(n)
            | Setting::ConntrackMax(n)
            | Setting::UpstreamPorts(n)
            | Setting::UpstreamHoldS(n) => n.to_string(),
        };
        Ok(WhatIf {
            setting,
            key,
            value,
        })
    }
}

/// Every `--what-if` of a run: at most one per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hypothesis {
    pub changes: Vec<WhatIf>,
}

impl Hypothesis {
    /// The changes of a command line; a key given twice is refused, since
    /// which of the two the answer is about would be a guess.
    pub fn new(changes: Vec<WhatIf>) -> Result<Hypothesis, String> {
        for (i, w) in changes.iter().enumerate() {
            if changes[..i].iter().any(|v| v.key == w.key) {
                return Err(format!("--what-if names {} twice", w.key));
            }
        }
        Ok(Hypothesis { changes })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The settings as the hypothesis has them. `unprivileged_start` is
    /// `net.ipv4.ip_unprivileged_port_start`: the kernel refuses a range
    /// that starts below it.
    pub fn apply(
        &self,
        settings: &mut KernelSettings,
        unprivileged_start: u16,
    ) -> Result<(), String> {
        for w in &self.changes {
            match &w.setting {
                Setting::PortRange(r) if r.lo < unprivileged_start => {
                    return Err(format!(
                        "{w}: the kernel refuses a range that starts below \
                         net.ipv4.ip_unprivileged_port_start ({unprivileged_start})"
                    ));
                }
                Setting::PortRange(r) => settings.range = *r,
                Setting::ReservedPorts(p) => settings.reserved = p.clone(),
                Setting::TwReuse(t) => settings.tw_reuse = *t,
                Setting::TwReuseDelayMs(_) if settings.tw_reuse_delay_ms.is_none() => {
                    return Err(format!(
                        "{w}: this kernel has no tcp_tw_reuse_delay (it waits one to two seconds)"
                    ));
                }
                Setting::TwReuseDelayMs(ms) => settings.tw_reuse_delay_ms = Some(*ms),
                Setting::MaxTwBuckets(_)
                | Setting::ConntrackMax(_)
                | Setting::UpstreamPorts(_)
                | Setting::UpstreamHoldS(_) => {}
            }
        }
        Ok(())
    }

    /// `tcp_max_tw_buckets` as the hypothesis has it, else as read.
    pub fn max_tw_buckets(&self, read: Option<u32>) -> Option<u32> {
        self.changes
            .iter()
            .find_map(|w| match w.setting {
                Setting::MaxTwBuckets(n) => Some(Some(n)),
                _ => None,
            })
            .unwrap_or(read)
    }

    /// The provider NAT's budget as the hypothesis has it.
    pub fn upstream_budget(&self, given: &Budget) -> Budget {
        let mut budget = given.clone();
        for w in &self.changes {
            match w.setting {
                Setting::UpstreamPorts(n) => budget.ports = n,
                Setting::UpstreamHoldS(s) => budget.hold_s = s,
                _ => {}
            }
        }
        budget
    }

    /// The first change to the provider NAT's rule, if any: it needs
    /// `--upstream-nat`.
    pub fn upstream_key(&self) -> Option<&WhatIf> {
        self.changes.iter().find(|w| {
            matches!(
                w.setting,
                Setting::UpstreamPorts(_) | Setting::UpstreamHoldS(_)
            )
        })
    }

    /// `nf_conntrack_max` as the hypothesis has it, if it names it.
    pub fn conntrack_max(&self) -> Option<u32> {
        self.changes.iter().find_map(|w| match w.setting {
            Setting::ConntrackMax(n) => Some(n),
            _ => None,
        })
    }
}

/// "what if net.ipv4.tcp_tw_reuse=1, net.ipv4.ip_local_port_range=...".
impl fmt::Display for Hypothesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("what if ")?;
        for (i, w) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{w}")?;
        }
        Ok(())
    }
}

/// A decimal number with nothing around it (the kernel skips leading
/// white space in numbers; the check does too).
fn number(text: &str) -> Result<u64, String> {
    let t = text.trim_start_matches([' ', '\t']);
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a whole number"));
    }
    t.parse()
        .map_err(|_| format!("{text:?} is not a whole number"))
}

fn within(text: &str, lo: u64, hi: u64) -> Result<u32, String> {
    match number(text)? {
        n if (lo..=hi).contains(&n) => Ok(n as u32),
        n => Err(format!("{n} is outside {lo}-{hi}, which is refused")),
    }
}

/// "LO HI", separated by white space, as the file reads.
fn port_range(text: &str) -> Result<Setting, String> {
    let mut fields = text.split_ascii_whitespace();
    let (Some(lo), Some(hi), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected two ports, LO HI".into());
    };
    let lo = within(lo, 1, 65535)? as u16;
    let hi = within(hi, 1, 65535)? as u16;
    PortRange::new(lo, hi)
        .map(Setting::PortRange)
        .map_err(|why| format!("{why}, which the kernel refuses"))
}

/// A comma list of ports and LO-HI ranges, possibly empty; the kernel
/// refuses white space inside it, an empty item and an inverted range, and
/// allows one trailing comma.
fn reserved_ports(text: &str) -> Result<Setting, String> {
    let body = text.strip_suffix(',').unwrap_or(text);
    if !body.is_empty() {
        for item in body.split(',') {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            for port in [a, b] {
                if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(format!("{item:?} is not a port or a LO-HI range"));
                }
            }
        }
    }
    body.parse().map(Setting::ReservedPorts)
}

fn tw_reuse(text: &str) -> Result<Setting, String> {
    Ok(Setting::TwReuse(match within(text, 0, 2)? {
        0 => TwReuse::Never,
        1 => TwReuse::Always,
        _ => TwReuse::LoopbackOnly,
    }))
}

fn tw_reuse_delay(text: &str) -> Result<Setting, String> {
    within(text, 1, MAX_REUSE_DELAY_MS.into()).map(Setting::TwReuseDelayMs)
}

/// The kernel also takes a negative cap (which it compares as unsigned:
/// no cap at all); the check models only 0 and up.
fn max_tw_buckets(text: &str) -> Result<Setting, String> {
    within(text, 0, i32::MAX as u64).map(Setting::MaxTwBuckets)
}

/// As `--upstream-nat`'s SPEC takes them: 1-1,000,000 ports, a hold of
/// 0-3,600 s.
fn upstream_ports(text: &str) -> Result<Setting, String> {
    within(text, 1, 1_000_000).map(Setting::UpstreamPorts)
}

fn upstream_hold(text: &str) -> Result<Setting, String> {
    within(text, 0, 3_600).map(Setting::UpstreamHoldS)
}

fn conntrack_max(text: &str) -> Result<Setting, String> {
    within(text, 0, i32::MAX as u64).map(Setting::ConntrackMax)
}

#[cfg(test)]
mod tests;
