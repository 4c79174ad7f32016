//! What the provider's rule holds of one upstream pool now, as far as the
//! host sees it: the open connections, the closes younger than the hold
//! that entries show, the closes older than the entries show (at the pace
//! of the oldest ones shown), and with `--trend` a bound on closes no entry
//! shows. The pace and the projection are the forecast stage's
//! (`forecast::upstream`).

use super::{Closes, HOST_TIME_WAIT_S, MAX_AGE_S, Tally, UpstreamModel};

/// The oldest seconds of the window whose closes give the edge pace.
const EDGE_S: u32 = 20;

/// One pool's count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counted {
    /// Ports the provider's rule holds now, as far as the host sees.
    pub used: u32,
    pub open: u32,
    /// Closes younger than the hold that entries show.
    pub closes: u32,
    /// Closes older than the window, inferred from the edge pace.
    pub inferred: u32,
    /// Closes no entry shows, bounded by the kernel's count of new
    /// connections (`--trend`).
    pub unseen: u32,
    /// Closes per second in the oldest part of the window: the pace taken
    /// for the closes older than it.
    pub edge_per_s: f64,
    /// Whether the closes came from conntrack (which keeps those the peer
    /// made) rather than the host's TIME_WAIT.
    pub from_conntrack: bool,
    /// Seconds of closes the entries show.
    pub window_s: u32,
}

/// The closes a pool's count reads, and the seconds they cover: conntrack's
/// where it is active everywhere and shows at least as many, else the
/// host's TIME_WAIT.
pub fn shown<'a>(model: &UpstreamModel, tally: &'a Tally) -> (&'a Closes, u32, bool) {
    let ct = model
        .conntrack_tw_s
        .filter(|_| model.sees_peer_closes())
        .filter(|_| tally.ct_closes.total() >= tally.host_closes.total());
    match ct {
        Some(tw) => (&tally.ct_closes, tw.clamp(1, MAX_AGE_S), true),
        None => (&tally.host_closes, HOST_TIME_WAIT_S, false),
    }
}

/// Counts one pool; `unseen_per_s` is the bound on closes no entry shows.
pub fn count(model: &UpstreamModel, tally: &Tally, unseen_per_s: Option<f64>) -> Counted {
    let hold = f64::from(model.budget.hold_s);
    let (closes, window_s, from_conntrack) = shown(model, tally);
    let open = tally.open.max(tally.ct_open);
    let beyond = (hold - f64::from(window_s)).max(0.0);
    let edge_per_s = if beyond > 0.0 {
        let from = window_s.saturating_sub(EDGE_S) as usize;
        let n: u32 = closes.buckets.iter().skip(from).sum();
        f64::from(n) / f64::from(window_s.min(EDGE_S))
    } else {
        0.0
    };
    let unseen_per_s = unseen_per_s.filter(|u| u.is_finite()).unwrap_or(0.0);
    let inferred = (edge_per_s * beyond).ceil();
    let unseen = (unseen_per_s.max(0.0) * hold).ceil();
    let used = f64::from(open) + f64::from(closes.total()) + inferred + unseen;
    Counted {
        used: used.min(f64::from(u32::MAX)) as u32,
        open,
        closes: closes.total(),
        inferred: inferred as u32,
        unseen: unseen as u32,
        edge_per_s,
        from_conntrack,
        window_s,
    }
}
