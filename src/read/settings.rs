//! The kernel settings that decide which ports can be picked, read from
//! `/proc/sys/net/ipv4` of the namespace the check runs in.
//!
//! Parsing is separate from reading: `KernelSettings::parse` takes the file
//! texts, `KernelSettings::read` opens the files and names them in errors.

use std::fmt;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::{Error, Result};
use crate::read::ports::{PortRange, ReservedPorts};

pub const SYSCTL_DIR: &str = "/proc/sys/net/ipv4";

/// `net.ipv4.tcp_tw_reuse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwReuse {
    Never,
    Always,
    LoopbackOnly,
}

impl fmt::Display for TwReuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TwReuse::Never => "0 (never)",
            TwReuse::Always => "1 (always)",
            TwReuse::LoopbackOnly => "2 (loopback only)",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSettings {
    pub range: PortRange,
    pub reserved: ReservedPorts,
    pub tw_reuse: TwReuse,
    /// `net.ipv4.tcp_timestamps` is not 0: TIME_WAIT reuse needs timestamps.
    pub timestamps: bool,
    /// `net.ipv4.tcp_tw_reuse_delay` in milliseconds; `None` on kernels
    /// without it, which wait one to two seconds.
    pub tw_reuse_delay_ms: Option<u32>,
}

/// The texts of the settings files; `None` where the file does not exist.
pub struct SettingsText<'a> {
    pub port_range: &'a str,
    pub reserved_ports: &'a str,
    pub tw_reuse: &'a str,
    pub timestamps: &'a str,
    pub tw_reuse_delay: Option<&'a str>,
}

const PORT_RANGE: &str = "ip_local_port_range";
const RESERVED: &str = "ip_local_reserved_ports";
const TW_REUSE: &str = "tcp_tw_reuse";
const TIMESTAMPS: &str = "tcp_timestamps";
const TW_REUSE_DELAY: &str = "tcp_tw_reuse_delay";

impl KernelSettings {
    /// Reads the settings from `dir` (normally [`SYSCTL_DIR`]).
    pub fn read(dir: &Path) -> Result<KernelSettings> {
        let port_range = read_file(&dir.join(PORT_RANGE))?;
        let reserved_ports = read_file(&dir.join(RESERVED))?;
        let tw_reuse = read_file(&dir.join(TW_REUSE))?;
        let timestamps = read_file(&dir.join(TIMESTAMPS))?;
        let delay_path = dir.join(TW_REUSE_DELAY);
        let tw_reuse_delay = match std::fs::read_to_string(&delay_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(source) => {
                return Err(Error::read(delay_path, source));
            }
        };
        KernelSettings::parse(&SettingsText {
            port_range: &port_range,
            reserved_ports: &reserved_ports,
            tw_reuse: &tw_reuse,
            timestamps: &timestamps,
            tw_reuse_delay: tw_reuse_delay.as_deref(),
        })
        .map_err(|(file, reason)| Error::parse(dir.join(file), reason))
    }

    /// Parses the file texts; an error names the file (relative to the
    /// sysctl directory) and says what is wrong with it.
    pub fn parse(text: &SettingsText<'_>) -> Result<KernelSettings, (&'static str, String)> {
        let range = text.port_range.parse().map_err(|e| (PORT_RANGE, e))?;
        let reserved = text.reserved_ports.parse().map_err(|e| (RESERVED, e))?;
        let tw_reuse = match parse_number(text.tw_reuse).map_err(|e| (TW_REUSE, e))? {
            0 => TwReuse::Never,
            1 => TwReuse::Always,
            2 => TwReuse::LoopbackOnly,
            n => return Err((TW_REUSE, format!("unknown value {n} (expected 0, 1 or 2)"))),
        };
        let timestamps = parse_number(text.timestamps).map_err(|e| (TIMESTAMPS, e))? != 0;
        let tw_reuse_delay_ms = text
            .tw_reuse_delay
            .map(parse_number)
            .transpose()
            .map_err(|e| (TW_REUSE_DELAY, e))?;
        Ok(KernelSettings {
            range,
            reserved,
            tw_reuse,
            timestamps,
            tw_reuse_delay_ms,
        })
    }
}

/// `net.ipv4.tcp_max_tw_buckets` of `dir`: past it the kernel destroys
/// new TIME_WAIT entries at once. `None` where it cannot be read; the
/// forecast then assumes no cap.
pub fn max_tw_buckets(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join("tcp_max_tw_buckets")).ok()?;
    parse_number(&text).ok()
}

/// `net.ipv4.ip_unprivileged_port_start` of `dir`: the kernel refuses a
/// local port range that starts below it. 1024 (the default) where it
/// cannot be read.
pub fn unprivileged_port_start(dir: &Path) -> u16 {
    std::fs::read_to_string(dir.join("ip_unprivileged_port_start"))
        .ok()
        .and_then(|text| parse_number(&text).ok())
        .map_or(1024, |n| n.min(65535) as u16)
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::read(path, source))
}

fn parse_number(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a number, found {t:?}"));
    }
    t.parse().map_err(|_| format!("{t} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(range: &'a str, reserved: &'a str, delay: Option<&'a str>) -> SettingsText<'a> {
        SettingsText {
            port_range: range,
            reserved_ports: reserved,
            tw_reuse: "2\n",
            timestamps: "1\n",
            tw_reuse_delay: delay,
        }
    }

    #[test]
    fn parses_a_default_6_18_kernel() {
        let s = KernelSettings::parse(&text("32768\t60999\n", "\n", Some("1000\n"))).unwrap();
        assert_eq!(
            s.range,
            PortRange {
                lo: 32768,
                hi: 60999
            }
        );
        assert_eq!(s.tw_reuse, TwReuse::LoopbackOnly);
        assert!(s.timestamps);
        assert_eq!(s.tw_reuse_delay_ms, Some(1000));
    }

    #[test]
    fn names_the_file_that_is_wrong() {
        let e = KernelSettings::parse(&text("60999 32768", "", None)).unwrap_err();
        assert_eq!(e.0, PORT_RANGE);
        let e = KernelSettings::parse(&text("1 2", "x", None)).unwrap_err();
        assert_eq!(e.0, RESERVED);
        let e = KernelSettings::parse(&text("1 2", "", Some("soon"))).unwrap_err();
        assert_eq!(e.0, TW_REUSE_DELAY);
        let mut t = text("1 2", "", None);
        t.tw_reuse = "3";
        assert_eq!(KernelSettings::parse(&t).unwrap_err().0, TW_REUSE);
    }

    #[test]
    fn reading_a_missing_directory_names_the_path() {
        let e = KernelSettings::read(Path::new("/nonexistent/sysctl")).unwrap_err();
        assert!(
            e.to_string()
                .contains("/nonexistent/sysctl/ip_local_port_range"),
            "{e}"
        );
    }
}
