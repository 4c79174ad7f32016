//! The oracle: the provider's documented rule applied to the client's own
//! log of opens and closes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Who closes a connection first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The client: the VM keeps a TIME_WAIT.
    ClientFirst,
    /// The server, at once: the VM keeps nothing.
    PeerFirst,
}

/// One connection as the client logged it.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub to: SocketAddr,
    pub opened: Instant,
    pub closed: Option<Instant>,
}

/// The provider's rule over a log: connections to `to` (its address
/// alone when `per_address`) that hold a port at `at`: open, or closed
/// less than `hold` ago.
pub fn rule_used(
    log: &[Conn],
    to: SocketAddr,
    per_address: bool,
    hold: Duration,
    at: Instant,
) -> u32 {
    log.iter()
        .filter(|c| {
            if per_address {
                c.to.ip() == to.ip()
            } else {
                c.to == to
            }
        })
        .filter(|c| c.opened <= at)
        .filter(|c| {
            c.closed
                .is_none_or(|t| t > at || at.duration_since(t) < hold)
        })
        .count() as u32
}

/// Seconds from `at` until the rule's count reaches `ports`, if closes go
/// on at `rate` a second (each opened and closed at once).
pub fn rule_full_in(
    log: &[Conn],
    to: SocketAddr,
    hold: Duration,
    at: Instant,
    rate: f64,
    ports: u32,
) -> Option<f64> {
    let mut t = 0.0;
    while t <= hold.as_secs_f64() + 1.0 {
        let later = at + Duration::from_secs_f64(t);
        let old = log
            .iter()
            .filter(|c| c.to == to && c.opened <= at)
            .filter(|c| {
                c.closed
                    .is_none_or(|x| later.duration_since(x.min(later)) < hold)
            })
            .count() as f64;
        if old + rate * t.min(hold.as_secs_f64()) >= f64::from(ports) {
            return Some(t);
        }
        t += 0.25;
    }
    None
}
