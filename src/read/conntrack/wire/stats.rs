//! The table's statistics in ctnetlink replies: the per-CPU counters that
//! say the table is refusing connections, and the entry count against the
//! maximum.

use super::{Attrs, be32, split_nfgenmsg};

// Per-CPU statistics (ctattr_stats_cpu) and the global ones.
const CTA_STATS_INSERT_FAILED: u16 = 9;
const CTA_STATS_DROP: u16 = 10;
const CTA_STATS_EARLY_DROP: u16 = 11;
const CTA_STATS_GLOBAL_ENTRIES: u16 = 1;
const CTA_STATS_GLOBAL_MAX_ENTRIES: u16 = 2;

/// The counters of one CPU that say the table is refusing connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    pub cpu: u16,
    /// Entries that could not be inserted: among them, a NAT port search
    /// that found no free reply tuple.
    pub insert_failed: u32,
    /// Packets dropped for it.
    pub drop: u32,
    /// Entries evicted early because the table was full.
    pub early_drop: u32,
}

/// Reads one message of a `MSG_CT_GET_STATS_CPU` reply.
pub fn parse_cpu_stats(payload: &[u8]) -> Result<CpuStats, &'static str> {
    let (_, cpu, attrs) = split_nfgenmsg(payload)?;
    let mut stats = CpuStats {
        cpu,
        ..CpuStats::default()
    };
    for attr in Attrs::new(attrs) {
        let (kind, v) = attr?;
        let slot = match kind {
            CTA_STATS_INSERT_FAILED => &mut stats.insert_failed,
            CTA_STATS_DROP => &mut stats.drop,
            CTA_STATS_EARLY_DROP => &mut stats.early_drop,
            _ => continue,
        };
        *slot = be32(v).ok_or("a conntrack counter is cut short")?;
    }
    Ok(stats)
}

/// The table's size: entries of this namespace, and the host's maximum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub entries: u32,
    pub max: u32,
}

/// Reads the message of a `MSG_CT_GET_STATS` reply.
pub fn parse_table_stats(payload: &[u8]) -> Result<TableStats, &'static str> {
    let (_, _, attrs) = split_nfgenmsg(payload)?;
    let (mut entries, mut max) = (None, None);
    for attr in Attrs::new(attrs) {
        let (kind, v) = attr?;
        match kind {
            CTA_STATS_GLOBAL_ENTRIES => entries = be32(v),
            CTA_STATS_GLOBAL_MAX_ENTRIES => max = be32(v),
            _ => {}
        }
    }
    match (entries, max) {
        (Some(entries), Some(max)) => Ok(TableStats { entries, max }),
        _ => Err("the conntrack statistics lack the entry count or the maximum"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::conntrack::wire::{MSG_CT_GET_STATS_CPU, ctnetlink_message};
    use crate::read::netlink::Messages;

    /// One message of an `IPCTNL_MSG_CT_GET_STATS_CPU` dump (counters of CPU 1;
    /// insert_failed and drop edited in, the rest as captured).
    #[rustfmt::skip]
    const CPU_STATS: [u8; 100] = [
        0x64, 0x00, 0x00, 0x00, // nlmsg_len 100
        0x04, 0x01,             // nlmsg_type 0x104 (IPCTNL_MSG_CT_GET_STATS_CPU)
        0x02, 0x00,             // flags NLM_F_MULTI
        0x07, 0x00, 0x00, 0x00, // seq 7
        0xfe, 0x70, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x01, // nfgenmsg: AF_UNSPEC, version 0, res_id (the CPU) 1
        0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_FOUND 0
        0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_INVALID 0
        0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x03, // CTA_STATS_INSERT 3
        0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x05, // CTA_STATS_INSERT_FAILED (set to 5 here)
        0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x04, // CTA_STATS_DROP (set to 4 here)
        0x08, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_EARLY_DROP 0
        0x08, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_ERROR 0
        0x08, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_SEARCH_RESTART 0
        0x08, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_CLASH_RESOLVE 0
        0x08, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, // CTA_STATS_CHAIN_TOOLONG 0
    ];

    /// The payload of the `IPCTNL_MSG_CT_GET_STATS` answer: 3 entries, max 262144.
    #[rustfmt::skip]
    const TABLE_STATS: [u8; 20] = [
        0x00, 0x00, 0x00, 0x00, // nfgenmsg: AF_UNSPEC, version 0, res_id 0
        0x08, 0x00, 0x01, 0x00, // CTA_STATS_GLOBAL_ENTRIES
            0x00, 0x00, 0x00, 0x03,
        0x08, 0x00, 0x02, 0x00, // CTA_STATS_GLOBAL_MAX_ENTRIES
            0x00, 0x04, 0x00, 0x00,
    ];

    #[test]
    fn reads_cpu_and_table_statistics() {
        let m = Messages::new(&CPU_STATS).next().unwrap().unwrap();
        assert_eq!(ctnetlink_message(m.kind), Some(MSG_CT_GET_STATS_CPU));
        let s = parse_cpu_stats(m.payload).unwrap();
        assert_eq!(
            s,
            CpuStats {
                cpu: 1,
                insert_failed: 5,
                drop: 4,
                early_drop: 0
            }
        );
        let t = parse_table_stats(&TABLE_STATS).unwrap();
        assert_eq!(
            t,
            TableStats {
                entries: 3,
                max: 262144
            }
        );
        assert!(parse_table_stats(&TABLE_STATS[..12]).is_err());
    }

    #[test]
    fn every_truncation_is_survived() {
        for cut in 0..CPU_STATS.len() - 16 {
            let _ = parse_cpu_stats(&CPU_STATS[16..16 + cut]);
        }
        for cut in 0..TABLE_STATS.len() {
            let _ = parse_table_stats(&TABLE_STATS[..cut]);
        }
    }
}
