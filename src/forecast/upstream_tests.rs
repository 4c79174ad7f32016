//! The provider's pools counted and forecast on records written by hand: the provider's rule
//! applied to a log of opens and closes gives the number the model must.

use std::net::IpAddr;

use proptest::prelude::*;

use super::forecast as upstream_forecast;
use crate::cases::random_cases;
use crate::forecast::Forecast;
use crate::model::PoolName;
use crate::model::upstream::*;
use crate::read::conntrack::Entry;
use crate::read::conntrack::Tuple as CtTuple;
use crate::read::conntrack::entry::{CT_TCP_TIME_WAIT, IPPROTO_TCP};
use crate::read::socket::{Protocol, Socket, TcpState};

const VM: &str = "10.0.0.5";

fn budget(ports: u32, hold_s: u32) -> Budget {
    Budget {
        profile: None,
        ports,
        hold_s,
        tcp_per: Per::Destination,
        udp_per: Per::Destination,
        ipv6: false,
    }
}

fn model(b: Budget) -> UpstreamModel {
    let route = Route::new(&b, &[]);
    UpstreamModel::new(b, route)
}

fn ip(a: &str) -> IpAddr {
    a.parse().unwrap()
}

fn tcp(state: TcpState, local_port: u16, to: (&str, u16)) -> Socket {
    Socket::new(Protocol::Tcp, state, (ip(VM), local_port), (ip(to.0), to.1))
}

/// A TIME_WAIT that closed `age_s` seconds ago.
fn closed(age_s: u32, local_port: u16, to: (&str, u16)) -> Socket {
    let mut s = tcp(TcpState::TIME_WAIT, local_port, to);
    s.expires_ms = (60 - age_s) * 1000 - 500;
    s
}

fn key(to: (&str, u16)) -> UpstreamKey {
    UpstreamKey {
        protocol: Protocol::Tcp,
        destination: ip(to.0),
        port: Some(to.1),
    }
}

/// A pool's count and its forecast, as the judge gets them.
#[derive(Debug)]
struct Seen {
    used: u32,
    open: u32,
    closes: u32,
    inferred: u32,
    unseen: u32,
    from_conntrack: bool,
    forecast: Forecast,
}

/// The pool of `k` once the model is finished with `unseen` as the bound.
fn seen(m: &UpstreamModel, k: UpstreamKey, unseen: Option<f64>) -> Seen {
    let mut m = m.clone();
    m.finish(unseen);
    let name = m
        .pools
        .iter()
        .find(|(p, _)| matches!(p.name, PoolName::Upstream(n) if n.key == k))
        .map_or(
            PoolName::Upstream(UpstreamName {
                key: k,
                sources: None,
            }),
            |(p, _)| p.name,
        );
    let c = *m.counted(&name).expect("counted");
    Seen {
        used: c.used,
        open: c.open,
        closes: c.closes,
        inferred: c.inferred,
        unseen: c.unseen,
        from_conntrack: c.from_conntrack,
        forecast: upstream_forecast(&m, &name).expect("a forecast"),
    }
}

fn of(m: &UpstreamModel, to: (&str, u16)) -> Seen {
    seen(m, key(to), None)
}

const WEB: (&str, u16) = ("198.51.100.9", 443);

#[test]
fn connections_holding_a_port_count_whatever_their_state() {
    let mut m = model(budget(64, 120));
    for (i, state) in [
        TcpState::ESTABLISHED,
        TcpState::SYN_SENT,
        TcpState::FIN_WAIT1,
        TcpState::FIN_WAIT2,
        TcpState::CLOSE_WAIT,
        TcpState::LAST_ACK,
        TcpState::CLOSING,
    ]
    .into_iter()
    .enumerate()
    {
        m.socket(&tcp(state, 40000 + i as u16, WEB));
    }
    m.socket(&tcp(TcpState::LISTEN, 40100, ("0.0.0.0", 0)));
    m.socket(&tcp(TcpState::CLOSE, 40101, WEB));
    let f = of(&m, WEB);
    assert_eq!((f.used, f.open, f.closes), (7, 7, 0));
    assert_eq!(f.forecast.full_in_s, None);
}

#[test]
fn long_lived_connections_near_the_budget() {
    let mut m = model(budget(64, 120));
    for p in 0..60 {
        m.socket(&tcp(TcpState::ESTABLISHED, 40000 + p, WEB));
    }
    let f = of(&m, WEB);
    assert_eq!(f.used, 60);
    let sources = m.tallies[&key(WEB)].sources().unwrap();
    assert_eq!((sources.lowest, sources.others), (ip(VM), 0));
}

#[test]
fn the_budget_is_per_destination_or_per_address() {
    let mut m = model(budget(64, 120));
    m.socket(&tcp(TcpState::ESTABLISHED, 40000, WEB));
    m.socket(&tcp(TcpState::ESTABLISHED, 40001, ("198.51.100.9", 80)));
    m.socket(&tcp(TcpState::ESTABLISHED, 40002, ("203.0.113.7", 443)));
    assert_eq!(m.tallies.len(), 3);
    let mut per_address = budget(64, 120);
    per_address.udp_per = Per::Address;
    let mut m = model(per_address);
    for port in [53, 123, 5000] {
        m.socket(&Socket::new(
            Protocol::Udp,
            TcpState::ESTABLISHED,
            (ip(VM), 40000 + port),
            (ip("203.0.113.7"), port),
        ));
    }
    // Unconnected UDP tells no destination.
    m.socket(&Socket::new(
        Protocol::Udp,
        TcpState::CLOSE,
        (ip(VM), 41000),
        (ip("0.0.0.0"), 0),
    ));
    let k = UpstreamKey {
        protocol: Protocol::Udp,
        destination: ip("203.0.113.7"),
        port: None,
    };
    assert_eq!(m.tallies.len(), 1);
    assert_eq!(seen(&m, k, None).used, 3);
}

#[test]
fn private_destinations_are_not_counted() {
    let mut m = model(budget(64, 120));
    for (i, to) in [
        "10.0.0.9",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "127.0.0.1",
    ]
    .into_iter()
    .enumerate()
    {
        m.socket(&tcp(TcpState::ESTABLISHED, 40000 + i as u16, (to, 443)));
    }
    assert!(m.tallies.is_empty());
}

#[test]
fn a_hold_shorter_than_time_wait_counts_only_the_younger_closes() {
    let mut m = model(budget(64, 30));
    for age in 0..60 {
        m.socket(&closed(age, 40000 + age as u16, WEB));
    }
    let f = of(&m, WEB);
    // The rule: closes of the last 30 s hold a port; the host shows 60.
    assert_eq!((f.closes, f.used, f.inferred), (30, 30, 0));
}

/// Closes at `rate` per second for the last `ran_s` seconds, the oldest
/// the host still shows (60 s).
fn churn(m: &mut UpstreamModel, rate: u32, ran_s: u32) {
    let mut port = 40000;
    for age in 0..ran_s.min(60) {
        for _ in 0..rate {
            m.socket(&closed(age, port, WEB));
            port += 1;
        }
    }
}

#[test]
fn a_hold_longer_than_time_wait_infers_the_closes_the_host_no_longer_shows() {
    // A pace of 2/s for ten minutes, hold 120 s: the rule holds 240.
    let mut m = model(budget(300, 120));
    churn(&mut m, 2, 600);
    let f = of(&m, WEB);
    assert_eq!((f.closes, f.inferred), (120, 120));
    assert_eq!(f.used, 240);
    assert!(f.forecast.full_in_s.is_none());
    assert!((f.forecast.projected - 240.0).abs() < 10.0, "{f:?}");
    // The same pace into 200 ports: full now.
    let mut m = model(budget(200, 120));
    churn(&mut m, 2, 600);
    assert_eq!(of(&m, WEB).forecast.full_in_s, Some(0.0));
}

#[test]
fn a_pace_that_began_within_the_window_is_projected_over_the_hold() {
    // 5/s for 40 s, hold 120, 400 ports: the rule fills at 80 s, 40 s
    // from now.
    let mut m = model(budget(400, 120));
    churn(&mut m, 5, 40);
    let f = of(&m, WEB);
    assert_eq!((f.used, f.inferred), (200, 0));
    let full = f.forecast.full_in_s.expect("fills");
    assert!((full - 40.0).abs() <= 8.0, "{full}");
}

#[test]
fn conntrack_keeps_the_closes_the_peer_made() {
    let mut m = model(budget(64, 120));
    m.conntrack_read(120);
    let entry = |state: u8, left_s: u32, port: u16| Entry {
        protocol: IPPROTO_TCP,
        orig: CtTuple {
            src: ip(VM),
            dst: ip(WEB.0),
            src_port: port,
            dst_port: WEB.1,
        },
        reply: CtTuple {
            src: ip(WEB.0),
            dst: ip(VM),
            src_port: WEB.1,
            dst_port: port,
        },
        status: 0,
        timeout_s: left_s,
        tcp_state: Some(state),
        zone: 0,
    };
    // Ten closed by the peer 10-100 s ago (no TIME_WAIT on the host), one
    // open, one closed 130 s ago (older than... the table keeps 120 s).
    for i in 0..10u16 {
        m.conntrack_entry(&entry(CT_TCP_TIME_WAIT, 110 - u32::from(i) * 10, 40000 + i));
    }
    m.conntrack_entry(&entry(3, 300, 40100));
    m.socket(&tcp(TcpState::ESTABLISHED, 40100, WEB));
    let f = of(&m, WEB);
    assert!(f.from_conntrack);
    assert_eq!((f.open, f.closes, f.used), (1, 10, 11));
    // Without conntrack the host sees only the open one.
    let mut bare = model(budget(64, 120));
    bare.socket(&tcp(TcpState::ESTABLISHED, 40100, WEB));
    assert_eq!(of(&bare, WEB).used, 1);
}

#[test]
fn unseen_closes_bound_by_the_open_count_make_the_forecast_earlier() {
    let mut m = model(budget(64, 120));
    m.socket(&tcp(TcpState::ESTABLISHED, 40000, WEB));
    let without = seen(&m, key(WEB), None);
    let bound = seen(&m, key(WEB), Some(1.0));
    assert_eq!(without.forecast.full_in_s, None);
    // One new connection a second that nothing shows, each held 120 s.
    assert_eq!(bound.unseen, 120);
    assert_eq!(bound.forecast.full_in_s, Some(0.0));
    let slow = seen(&m, key(WEB), Some(0.25));
    assert_eq!((slow.unseen, slow.used), (30, 31));
    assert!(slow.forecast.full_in_s.is_none());
}

#[test]
fn namespaces_sum_into_one_pool() {
    let mut a = model(budget(64, 120));
    let mut b = model(budget(64, 120));
    for p in 0..20 {
        a.socket(&tcp(TcpState::ESTABLISHED, 40000 + p, WEB));
        b.socket(&Socket::new(
            Protocol::Tcp,
            TcpState::ESTABLISHED,
            (ip("10.0.1.7"), 40000 + p),
            (ip(WEB.0), WEB.1),
        ));
    }
    a.conntrack_read(120);
    a.merge(&b);
    let f = of(&a, WEB);
    assert_eq!(f.used, 40);
    assert!(
        !a.sees_peer_closes(),
        "one of two namespaces had no conntrack"
    );
    let s = a.tallies[&key(WEB)].sources().unwrap();
    assert_eq!((s.lowest, s.others), (ip(VM), 1));
}

/// Any log the host can show in full (open connections, closes within
/// the last minute) and any hold up to a minute: the count is the rule's.
#[test]
fn property_what_the_host_shows_in_full_is_counted_exactly() {
    let logs = (
        0..61u32,
        1..501u32,
        0..200u32,
        prop::collection::vec(0..60u32, 0..300),
    );
    random_cases(300, logs, |(hold, ports, open, close_ages)| {
        let closes = close_ages.len();
        let mut m = model(budget(ports, hold));
        let mut port = 30000u16;
        let mut rule = open;
        for _ in 0..open {
            m.socket(&tcp(TcpState::ESTABLISHED, port, WEB));
            port += 1;
        }
        for &age in &close_ages {
            m.socket(&closed(age, port, WEB));
            port += 1;
            rule += u32::from(age < hold);
        }
        if rule == 0 {
            assert!(
                m.tallies
                    .get(&key(WEB))
                    .is_none_or(|_| of(&m, WEB).used == 0)
            );
            return;
        }
        let f = of(&m, WEB);
        assert_eq!(f.used, rule, "hold {hold}, {open} open, {closes} closes");
        assert!(
            f.forecast.projected >= f64::from(rule.min(ports)) - 0.5,
            "hold {hold}, {open} open, {closes} closes"
        );
        assert_eq!(f.forecast.full_in_s == Some(0.0), rule >= ports, "{f:?}");
    });
}

/// A steady pace that has gone on longer than any hold, and a hold beyond
/// the minute the host shows: the forecast is never later than the rule.
#[test]
fn property_a_long_hold_is_never_late_at_a_steady_pace() {
    let paces = (1..9u32, 61..361u32, 50..3050u32);
    random_cases(100, paces, |(rate, hold, ports)| {
        let mut m = model(budget(ports, hold));
        churn(&mut m, rate, 3600);
        let f = of(&m, WEB);
        // The rule: rate × hold ports held at the steady state.
        let rule_used = rate * hold;
        let rule_full = (rule_used >= ports).then_some(0.0);
        match rule_full {
            Some(_) => assert_eq!(f.forecast.full_in_s, Some(0.0), "{f:?}"),
            None => assert!(
                f.forecast.full_in_s.is_none() || f.used + 2 * rate >= ports,
                "rate {rate}, hold {hold}, {ports} ports: {f:?}"
            ),
        }
        let off = f64::from(f.used).max(1.0) / f64::from(rule_used);
        assert!((0.95..=1.05).contains(&off), "{} for {rule_used}", f.used);
    });
}
