//! Remedies in the clients rather than the kernel: a second source address
//! for a tuple, connections reused instead of one per request, and
//! IP_BIND_ADDRESS_NO_PORT for programs that bind before they connect.
//! Each is the snapshot's records as the change would leave them,
//! re-modelled.

use super::{Basis, Change, Remedy, judged, narrowed, remodel, spare_source};
use crate::judge::Selection;
use crate::model::{Kind, Model, Pool, PoolName, Tuple};
use crate::read::records::Records;
use crate::read::socket::{Protocol, Socket, TcpState};

/// The client remedies of `pool`, judged (not yet filtered).
pub fn remedies(basis: &Basis, records: &Records, today: &Model, pool: &Pool) -> Vec<Remedy> {
    match (pool.kind, pool.name) {
        (Kind::Connect, PoolName::Tuple(t)) => {
            let mut found = vec![second_source(basis, records, t)];
            found.extend(reuse(basis, records, today, pool, t));
            found
        }
        (Kind::Bind, PoolName::Address(a)) if !a.is_unspecified() => {
            vec![no_port(basis, today, a)]
        }
        _ => Vec::new(),
    }
}

fn of_tuple(s: &Socket, t: Tuple) -> bool {
    s.protocol == Protocol::Tcp
        && s.local == t.source
        && s.remote == t.destination
        && s.remote_port == t.port
}

/// Every other connection of the tuple from a second source address: the
/// client spreads its connections, and its pace, over two tuples. The
/// fuller of the two is what is judged.
fn second_source(basis: &Basis, records: &Records, t: Tuple) -> Remedy {
    let spare = spare_source(t.source);
    let mut n = 0u32;
    let model = remodel(basis.settings, records, |s| {
        if !of_tuple(s, t) {
            return Some(*s);
        }
        n += 1;
        Some(if n.is_multiple_of(2) {
            Socket { local: spare, ..*s }
        } else {
            *s
        })
    });
    let mut selection = narrowed(basis.selection, &tuple_pool(t));
    selection.sources.push(spare);
    let (pool, state, forecast) = judged(basis, &model, &selection);
    Remedy {
        change: Change::SecondSource,
        pool,
        state,
        forecast,
    }
}

/// The tuple's TIME_WAIT entries gone, and with them the pace of new
/// connections they measure: what reusing connections would leave.
fn reuse(basis: &Basis, records: &Records, today: &Model, pool: &Pool, t: Tuple) -> Option<Remedy> {
    if pool.counts.time_wait == 0 {
        return None;
    }
    let selection = narrowed(basis.selection, pool);
    let (_, _, now) = judged(basis, today, &selection);
    let per_second = now.map_or(0.0, |f| f.pace.per_second);
    let model = remodel(basis.settings, records, |s| {
        (!(of_tuple(s, t) && s.state == TcpState::TIME_WAIT)).then_some(*s)
    });
    let (p, state, forecast) = judged(basis, &model, &selection);
    Some(Remedy {
        change: Change::Reuse {
            per_second,
            time_wait: pool.counts.time_wait,
        },
        pool: p,
        state,
        forecast,
    })
}

/// With IP_BIND_ADDRESS_NO_PORT, a program that binds `addr` before it
/// connects gets its port from the connect pool of the destination, not
/// from the bind pool of `addr`: the fullest connect pool of `addr` is what
/// its next connection may meet.
fn no_port(basis: &Basis, today: &Model, addr: std::net::IpAddr) -> Remedy {
    let selection = Selection {
        kinds: vec![Kind::Connect],
        sources: vec![addr],
        ..basis.selection.clone()
    };
    let (via, state, forecast) = judged(basis, today, &selection);
    Remedy {
        change: Change::NoPort { via },
        pool: via,
        state,
        forecast,
    }
}

fn tuple_pool(t: Tuple) -> Pool {
    Pool {
        kind: Kind::Connect,
        name: PoolName::Tuple(t),
        capacity: 0,
        free: 0,
        counts: Default::default(),
        fail_ppm: None,
    }
}
