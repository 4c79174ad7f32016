//! Perfdata: one `Perfdata` type with one `Display`, and the metrics the
//! Nagios output ends with (the worst pool of each kind, the conntrack
//! table, the namespace's counts), in labels that stay the same from run
//! to run.

use std::fmt;

use crate::judge::range::Range;
use crate::judge::{Report, TableReport, Thresholds};
use crate::model::{Kind, Model};

/// One perfdata metric: `label=value[uom];[warn];[crit];[min];[max]`.
pub struct Perfdata<'a> {
    pub label: &'static str,
    pub value: Value,
    pub uom: &'static str,
    pub warn: Option<&'a Range>,
    pub crit: Option<&'a Range>,
    pub min: Option<u64>,
    pub max: Option<u64>,
}

pub enum Value {
    Count(u64),
    Percent(f64),
    /// A measured quantity printed to two decimals (a rate, seconds).
    Real(f64),
}

impl fmt::Display for Perfdata<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.label)?;
        match self.value {
            Value::Count(n) => write!(f, "{n}")?,
            Value::Percent(p) | Value::Real(p) => write!(f, "{p:.2}")?,
        }
        f.write_str(self.uom)?;
        let field = |v: Option<String>| v.unwrap_or_default();
        let fields = [
            field(self.warn.map(Range::to_string)),
            field(self.crit.map(Range::to_string)),
            field(self.min.map(|n| n.to_string())),
            field(self.max.map(|n| n.to_string())),
        ];
        // Trailing empty fields are dropped.
        let used = fields
            .iter()
            .rposition(|s| !s.is_empty())
            .map_or(0, |i| i + 1);
        for s in &fields[..used] {
            write!(f, ";{s}")?;
        }
        Ok(())
    }
}

pub(super) fn perfdata<'a>(
    report: &Report,
    model: &Model,
    th: &'a Thresholds,
) -> Vec<Perfdata<'a>> {
    let mut perf = Vec::new();
    for k in &report.kinds {
        let (pool, _) = k.worst();
        let (pct_label, free_label) = match k.kind {
            Kind::Connect => ("connect_used_pct", "connect_free"),
            Kind::Bind => ("bind_used_pct", "bind_free"),
            Kind::Udp => ("udp_used_pct", "udp_free"),
            Kind::Nat => ("nat_used_pct", "nat_free"),
            Kind::Upstream => ("upstream_used_pct", "upstream_free"),
        };
        let judged = |r: &'a Option<Range>| if k.judged { r.as_ref() } else { None };
        perf.push(Perfdata {
            label: pct_label,
            value: Value::Percent(pool.used_pct()),
            uom: "%",
            warn: judged(&th.used_warning),
            crit: judged(&th.used_critical),
            min: Some(0),
            max: Some(100),
        });
        perf.push(Perfdata {
            label: free_label,
            value: Value::Count(u64::from(pool.free)),
            uom: "",
            warn: judged(&th.free_warning),
            crit: judged(&th.free_critical),
            min: Some(0),
            max: Some(u64::from(pool.capacity)),
        });
    }
    if let Some(table) = &report.conntrack {
        perf.extend(table_perfdata(table, th));
    }
    if !model.sockets_read {
        return perf;
    }
    let t = &model.totals;
    let counts = [
        ("capacity", u64::from(model.candidate_count())),
        ("bind_marked", u64::from(model.bind_marked())),
        ("tuples", model.tuple_count() as u64),
        ("sockets", t.sockets),
        ("time_wait", t.time_wait),
        ("time_wait_reusable", t.time_wait_reusable),
    ];
    for (label, n) in counts {
        perf.push(Perfdata {
            label,
            value: Value::Count(n),
            uom: "",
            warn: None,
            crit: None,
            min: None,
            max: None,
        });
    }
    perf
}

/// The conntrack table: its fill (judged), its entries, and the kernel's
/// count of entries it could not insert (a counter: NAT ports or table
/// space already ran out).
pub(super) fn table_perfdata<'a>(table: &TableReport, th: &'a Thresholds) -> [Perfdata<'a>; 3] {
    let f = &table.figures;
    [
        Perfdata {
            label: "conntrack_used_pct",
            value: Value::Percent(table.used_pct()),
            uom: "%",
            warn: th.used_warning.as_ref(),
            crit: th.used_critical.as_ref(),
            min: Some(0),
            max: Some(100),
        },
        Perfdata {
            label: "conntrack_entries",
            value: Value::Count(f.entries),
            uom: "",
            warn: None,
            crit: None,
            min: Some(0),
            // nf_conntrack_max 0: the kernel sets no limit.
            max: (f.max > 0).then_some(f.max),
        },
        Perfdata {
            label: "conntrack_insert_failed",
            value: Value::Count(f.insert_failed),
            uom: "c",
            warn: None,
            crit: None,
            min: Some(0),
            max: None,
        },
    ]
}
