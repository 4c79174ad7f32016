//! The pool the status line names is the one that fails first: unit
//! tests from hand-written records.

use super::*;
use crate::model::PoolsBuilder;
use std::net::IpAddr;

use crate::forecast::Forecaster;
use crate::judge::forecast::ForecastRule;
use crate::model::PoolName;
use crate::read::ports::PortRange;
use crate::read::settings::{KernelSettings, TwReuse};
use crate::read::socket::{Protocol, Sink, Socket, TcpState};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A fast-filling tuple beside a fuller one that does not move, from
/// hand-written records: 1000 ports; to 10.0.0.9:5432, 300 closes in
/// the last 10 s (30 new connections a second, full in about 20 s)
/// and 700 free; to 10.0.0.10:80, 950 open connections and nothing
/// closing, 50 free. Both are CRITICAL; the first fails first.
fn filling_beside_full() -> crate::model::Model {
    let settings = KernelSettings {
        range: PortRange::new(40000, 40999).unwrap(),
        reserved: "".parse().unwrap(),
        tw_reuse: TwReuse::LoopbackOnly,
        timestamps: true,
        tw_reuse_delay_ms: Some(1000),
    };
    let mut b = PoolsBuilder::new(&settings);
    let (source, filling, full) = (ip("10.0.0.5"), ip("10.0.0.9"), ip("10.0.0.10"));
    for i in 0..300u16 {
        let tw = Socket {
            // Ages spread evenly over the last 10 s.
            expires_ms: 60_000 - u32::from(i) * 33,
            ..Socket::new(
                Protocol::Tcp,
                TcpState::TIME_WAIT,
                (source, 40000 + i),
                (filling, 5432),
            )
        };
        b.socket(&tw);
    }
    for i in 0..950u16 {
        let est = Socket::new(
            Protocol::Tcp,
            TcpState::ESTABLISHED,
            (source, 40000 + i),
            (full, 80),
        );
        b.socket(&est);
    }
    b.finish()
}

#[test]
fn the_headline_is_the_pool_that_fails_first() {
    let model = filling_beside_full();
    let selection = Selection {
        kinds: vec![Kind::Connect],
        sources: vec![],
        destinations: vec![],
    };
    let thresholds = Thresholds {
        used_warning: "70".parse().ok(),
        used_critical: "90".parse().ok(),
        ..Thresholds::default()
    };
    let forecaster = Forecaster::new(&model, None);
    let rule = ForecastRule::default();
    let report = judge_with(
        &model,
        &selection,
        &thresholds,
        5,
        Some((&rule, &forecaster)),
    );
    let name = |pool: &Pool| match pool.name {
        PoolName::Tuple(t) => t.destination.to_string(),
        _ => panic!("{pool:?}"),
    };
    assert_eq!(report.state, State::Critical);
    let top = &report.kinds[0].top;
    assert_eq!(top.len(), 2);
    assert!(top.iter().all(|(_, s)| *s == State::Critical), "{top:?}");
    // The fuller pool has fewer ports free, yet the filling one fails first.
    assert!(top[1].0.free < top[0].0.free, "{top:?}");
    assert_eq!(name(&report.worst.0), "10.0.0.9");
    let full_in = report
        .forecasts
        .of(&report.worst.0)
        .unwrap()
        .forecast
        .full_in_s;
    assert!(full_in.is_some_and(|s| s < 600.0), "{full_in:?}");
    // Without a forecast, the fewest free decides.
    let level = judge(&model, &selection, &thresholds, 5);
    assert_eq!(name(&level.worst.0), "10.0.0.10");
}

#[test]
fn a_full_pool_fails_before_one_that_fills() {
    let pool = |free| Pool {
        kind: Kind::Connect,
        name: PoolName::Address(ip("127.0.0.1")),
        capacity: 100,
        free,
        counts: Default::default(),
        fail_ppm: None,
    };
    assert_eq!(failure_in_ms(&pool(0), Some(30.0)), 0);
    assert_eq!(failure_in_ms(&pool(0), None), 0);
    assert_eq!(failure_in_ms(&pool(5), Some(2.5)), 2500);
    assert_eq!(failure_in_ms(&pool(5), Some(-1.0)), 0);
    assert_eq!(failure_in_ms(&pool(5), None), u64::MAX);
    assert!(failure_in_ms(&pool(5), Some(1e300)) < u64::MAX);
}
