//! What is said of the upstream pools beyond their numbers: what the host
//! cannot see of the provider's NAT, in words, where it matters to the
//! count (docs/upstream-nat.md, "What the host cannot see").

use super::{ALWAYS, SETTINGS};
use crate::judge::{Report, State};
use crate::model::Kind;
use crate::model::upstream::{HOST_TIME_WAIT_S, UpstreamModel, UpstreamName};
use crate::read::socket::Protocol;

/// A pool this full gets the words on what the host cannot see.
const NEAR_PCT: f64 = 50.0;

/// The notes of a run that judged upstream pools, each with the verbosity
/// from which it is said: what the host cannot see is said at every
/// verbosity where an upstream pool is near its budget or not OK (there it
/// may decide whether packets are dropped), else from `-vv` on.
pub fn notes(up: &UpstreamModel, report: &Report) -> Vec<(u8, String)> {
    let mut notes = Vec::new();
    let b = &up.budget;
    let listed = || {
        let kinds = report.kinds.iter().filter(|k| k.kind == Kind::Upstream);
        kinds.flat_map(|k| k.top.iter())
    };
    let near = listed().any(|(p, _)| {
        let fills = report.forecasts.of(p).is_some_and(|f| f.forecast.fills());
        p.used_pct() >= NEAR_PCT || fills
    });
    let level = if near || listed().any(|(_, s)| *s != State::Ok) {
        ALWAYS
    } else {
        SETTINGS
    };
    // Whether or not a pool shows now: a connection the peer closed leaves
    // no socket at all, so no pool may show what the provider still holds.
    if !up.sees_peer_closes() {
        let conntrack = match (up.conntrack_unread, up.namespaces > 1) {
            (true, _) => "conntrack's entries could not be read (CAP_NET_ADMIN)",
            (false, true) => "conntrack is not active in every namespace",
            (false, false) => "conntrack is not active",
        };
        let what = format!(
            "upstream: connections the peer closed first leave no TIME_WAIT here and \
             {conntrack}, so the {} s the provider holds their ports",
            b.hold_s
        );
        notes.push((
            level,
            match up.unseen_per_s {
                Some(u) => format!(
                    "{what} are bounded by the kernel's count of new connections: up to {u:.1}/s \
                 more than the entries show, counted in every pool"
                ),
                None => {
                    format!("{what} are not counted; --trend bounds them from its second run on")
                }
            },
        ));
    }
    let inferred: u32 = up.pools.iter().map(|(_, f)| f.inferred).sum();
    if inferred > 0 {
        let window = up
            .pools
            .iter()
            .map(|(_, f)| f.window_s)
            .min()
            .unwrap_or(HOST_TIME_WAIT_S);
        notes.push((
            level,
            format!(
                "upstream: the provider holds a port {} s after close, the entries here show \
                 {window} s: {inferred} older closes are inferred from the pace of the oldest \
                 ones shown",
                b.hold_s
            ),
        ));
    }
    // What no host can see of the provider, said where a pool is near
    // its budget: there it may decide whether packets are dropped.
    if near {
        let said = match b.profile {
            Some("aws-natgw" | "azure-natgw") => {
                "upstream: the NAT gateway's budget is shared by every host behind it; this \
                 host sees its own share only"
            }
            Some("gcp") => {
                "upstream: the budget is taken as static; Cloud NAT's dynamic port allocation \
                 may grow it, and endpoint-independent mapping holds a port for every \
                 destination, which no host can see"
            }
            Some(_) => {
                "upstream: the budget is the VM's share of the frontend; other VMs' use of it \
                 is not seen here"
            }
            None => {
                "upstream: the budget is taken as given; a share of it other hosts use, or \
                 ports the provider maps for every destination, are not seen here"
            }
        };
        notes.push((ALWAYS, said.to_string()));
    }
    notes
}

/// `10.0.0.5 -> 198.51.100.9:443`: the one local address the connections
/// leave from, or the lowest `and 2 more`; the destination with its port
/// (without, where the budget is per address), `/udp` for UDP.
pub fn label(n: &UpstreamName) -> String {
    let from = match n.sources {
        Some(s) if s.others > 0 => format!("{} and {} more ->", s.lowest, s.others),
        Some(s) => format!("{} ->", s.lowest),
        None => "to".to_string(),
    };
    let k = n.key;
    let udp = if k.protocol == Protocol::Udp {
        "/udp"
    } else {
        ""
    };
    if n.sources.is_none() && k.destination.is_unspecified() {
        return format!("{from} a new destination{udp}");
    }
    format!("{from} {}{udp}", super::endpoint(k.destination, k.port))
}
