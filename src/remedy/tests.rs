use std::net::IpAddr;

use super::*;
use crate::judge::forecast::ForecastRule;
use crate::read::ports::PortRange;
use crate::read::settings::TwReuse;
use crate::read::socket::{Protocol, Sink, TcpState};

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// 15 TIME_WAIT entries 30 s old and 2 connections from 10.0.0.5 to
/// 10.0.0.9:5432 in a range of 20, a listener just above the range.
fn records() -> Records {
    let mut records = Records::default();
    let listener = Socket::new(
        Protocol::Tcp,
        TcpState::LISTEN,
        (addr("0.0.0.0"), 40030),
        (addr("0.0.0.0"), 0),
    );
    records.marked(&listener);
    let tcp = |state, port| {
        Socket::new(
            Protocol::Tcp,
            state,
            (addr("10.0.0.5"), port),
            (addr("10.0.0.9"), 5432),
        )
    };
    for port in 40000..40015 {
        let mut s = tcp(TcpState::TIME_WAIT, port);
        s.expires_ms = 30_000;
        records.socket(&s);
    }
    records.socket(&tcp(TcpState::ESTABLISHED, 40015));
    records.socket(&tcp(TcpState::ESTABLISHED, 40016));
    records
}

fn settings() -> KernelSettings {
    KernelSettings {
        range: PortRange::new(40000, 40019).unwrap(),
        reserved: Default::default(),
        tw_reuse: TwReuse::Never,
        timestamps: true,
        tw_reuse_delay_ms: Some(1000),
    }
}

fn advice_of(settings: &KernelSettings) -> Vec<Advice> {
    let records = records();
    let selection = Selection {
        kinds: vec![Kind::Connect, Kind::Bind, Kind::Udp],
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    let thresholds = Thresholds {
        used_warning: "70".parse().ok(),
        used_critical: "90".parse().ok(),
        ..Thresholds::default()
    };
    let rule = ForecastRule::off();
    let basis = Basis {
        settings,
        max_tw_buckets: None,
        unprivileged: 1024,
        thresholds: &thresholds,
        forecast: &rule,
        selection: &selection,
        verbose: false,
    };
    let today = remodel(settings, &records, |s| Some(*s));
    let report = crate::judge::judge(&today, &selection, &thresholds, 5);
    advise_from(&basis, &report, &records)
}

fn setting(r: &Remedy) -> Option<&str> {
    match &r.change {
        Change::Setting { what_if, .. } => Some(what_if),
        _ => None,
    }
}

#[test]
fn each_remedy_is_the_pool_remodelled_under_its_change() {
    let advice = advice_of(&settings());
    let connect = advice
        .iter()
        .find(|a| a.pool.kind == Kind::Connect)
        .expect("the connect pool is in alert");
    assert_eq!((connect.pool.free, connect.state), (3, State::Warning));
    let by = |name: &str| {
        let r = connect.remedies.iter().find(|r| setting(r) == Some(name));
        r.unwrap_or_else(|| panic!("no {name} in {:?}", connect.remedies))
    };
    // The 15 old TIME_WAIT entries are taken over: 2 ports held.
    assert_eq!(by("net.ipv4.tcp_tw_reuse=1").pool.free, 18);
    // Up to the listener at 40030, from 1024: 39006 ports, 17 held.
    let wider = by("net.ipv4.ip_local_port_range=1024 40029");
    assert_eq!((wider.pool.capacity, wider.pool.free), (39006, 38989));
    let reuse = connect.remedies.iter().find_map(|r| match r.change {
        Change::Reuse { time_wait, .. } => Some((time_wait, r.pool.free)),
        _ => None,
    });
    assert_eq!(reuse, Some((15, 18)));
    // Every other connection from a second address: 9 and 8 entries.
    let second = connect
        .remedies
        .iter()
        .find(|r| r.change == Change::SecondSource);
    assert_eq!(second.map(|r| r.pool.free), Some(11));
    for r in &connect.remedies {
        assert!(
            r.state < connect.state,
            "offered without changing the state: {r:?}"
        );
    }
}

#[test]
fn nothing_is_offered_that_leaves_the_state_as_it_is() {
    // With reuse on already and the range as wide as it can be, the
    // connect pool (2 of 20 ports) is fine and nothing is advised.
    let settings = KernelSettings {
        tw_reuse: TwReuse::Always,
        ..settings()
    };
    let advice = advice_of(&settings);
    assert!(
        advice.iter().all(|a| a.pool.kind != Kind::Connect),
        "{advice:?}"
    );
    // The bind pool of 10.0.0.5 keeps its TIME_WAIT: reuse does not help
    // bind(), so it is never offered there.
    for a in advice_of(&self::settings()) {
        if a.pool.kind == Kind::Bind {
            assert!(
                a.remedies
                    .iter()
                    .all(|r| setting(r) != Some("net.ipv4.tcp_tw_reuse=1"))
            );
        }
    }
}
