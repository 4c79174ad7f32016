//! The kernel's count of TCP connections opened by this namespace:
//! `ActiveOpens` of the `Tcp:` rows of `/proc/net/snmp` (per namespace,
//! readable by anyone). Two runs' counts give the pace of every new
//! connection, also of those the peer closed, which leave no TIME_WAIT.

use std::path::Path;

/// `ActiveOpens` under `proc_dir`, or `None` where the file or the column
/// is missing or unreadable.
pub fn active_opens(proc_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_dir.join("snmp")).ok()?;
    parse_active_opens(&text)
}

/// The `Tcp:` header row names the columns, the next `Tcp:` row holds
/// their values.
pub fn parse_active_opens(text: &str) -> Option<u64> {
    let mut rows = text.lines().filter(|l| l.starts_with("Tcp:"));
    let header = rows.next()?;
    let values = rows.next()?;
    let at = header
        .split_whitespace()
        .position(|name| name == "ActiveOpens")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_is_found_by_its_name() {
        // Linux 6.8.
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\n\
Tcp: 1 200 120000 -1 41 6 1\nUdp: InDatagrams\nUdp: 5\n";
        assert_eq!(parse_active_opens(text), Some(41));
        for bad in [
            "",
            "Tcp: ActiveOpens\n",
            "Tcp: RtoAlgorithm ActiveOpens\nTcp: 1\n",
            "Tcp: ActiveOpens\nTcp: -5\n",
            "Tcp: PassiveOpens\nTcp: 5\n",
        ] {
            assert_eq!(parse_active_opens(bad), None, "{bad:?}");
        }
    }
}
