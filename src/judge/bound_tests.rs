//! The bound against the model: generated populations of sockets, each
//! handed to the model as the readers hand them, and the counters the
//! kernel would show for them given to the bound. Every pool the model
//! builds must stay within the bound, its forecast too, and a namespace
//! the bound proves OK must be judged OK.

use std::net::IpAddr;

use super::*;
use crate::forecast::{Ages, BUCKETS, Forecaster, pace};
use crate::judge::{Report, State, judge_with};
use crate::model::{Model, Pool};
use crate::read::ports::PortRange;
use crate::read::settings::TwReuse;
use crate::read::socket::{Protocol, Sink, Socket, TcpState};

/// xorshift64*: the same populations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One generated namespace: its settings, its records as the readers hand
/// them, and the counters the kernel keeps for them.
struct Population {
    settings: KernelSettings,
    marked: Vec<Socket>,
    sockets: Vec<Socket>,
    counters: Counters,
}

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn population(rng: &mut Rng) -> Population {
    let lo = 40000 + rng.below(100) as u16;
    let len = 5 + rng.below(120) as u16;
    let range = PortRange::new(lo, lo + len - 1).unwrap();
    let reserved = match rng.below(3) {
        0 => String::new(),
        1 => format!("{lo}"),
        _ => format!("{}-{}", lo + 2, lo + 4),
    };
    let settings = KernelSettings {
        range,
        reserved: reserved.parse().unwrap(),
        tw_reuse: rng.pick(&[TwReuse::Never, TwReuse::Always, TwReuse::LoopbackOnly]),
        timestamps: rng.chance(70),
        tw_reuse_delay_ms: rng.pick(&[None, Some(1000), Some(2500), Some(100)]),
    };
    let locals = [
        addr("127.0.0.1"),
        addr("127.0.0.2"),
        addr("::1"),
        addr("10.0.0.1"),
        addr("0.0.0.0"),
        addr("::"),
    ];
    let remotes = [addr("127.0.0.1"), addr("10.0.0.9"), addr("::1")];
    let mut p = Population {
        settings,
        marked: Vec::new(),
        sockets: Vec::new(),
        counters: Counters::default(),
    };
    let mut counts = Counts::default();
    let mut used = rng.below(20); // sockets of no table (unix and others)
    // Sparse to over-full; half without TIME_WAIT, which the forecast
    // bound makes loose.
    let (times, over) = (rng.pick(&[1, 3]), rng.pick(&[1, 2, 8]));
    let n = rng.below(u64::from(len) * times / over);
    let closes = rng.chance(50);
    // A burst of young TIME_WAITs in some: the fastest pace there is.
    let young = rng.chance(30);
    for _ in 0..n {
        let local = rng.pick(&locals);
        let port = lo - 5 + rng.below(u64::from(len) + 10) as u16;
        let remote = (rng.pick(&remotes), rng.pick(&[80, 443, 5432, lo + 1]));
        let v6 = local.is_ipv6();
        let tcp = |state| Socket::new(Protocol::Tcp, state, (local, port), remote);
        let what = match rng.below(10) {
            4..=7 if !closes => 3,
            n => n,
        };
        match what {
            0 => {
                p.marked.push(tcp(TcpState::LISTEN));
                used += 1;
                *if v6 {
                    &mut counts.tcp6
                } else {
                    &mut counts.tcp
                } += 1;
            }
            1 => {
                // Bound, neither listening nor connected: only `used`.
                p.marked.push(tcp(TcpState::CLOSE));
                used += 1;
            }
            2 | 3 => {
                let s = tcp(rng.pick(&[TcpState::ESTABLISHED, TcpState::FIN_WAIT2]));
                if rng.chance(30) {
                    p.marked.push(s);
                }
                p.sockets.push(s);
                used += 1;
                *if v6 {
                    &mut counts.tcp6
                } else {
                    &mut counts.tcp
                } += 1;
            }
            4..=7 => {
                let mut s = tcp(TcpState::TIME_WAIT);
                s.expires_ms = if young {
                    60_000 - rng.below(1500) as u32
                } else {
                    rng.below(60_001) as u32
                };
                p.sockets.push(s);
                counts.time_wait += 1;
            }
            _ => {
                let s = Socket::new(Protocol::Udp, TcpState::CLOSE, (local, port), remote);
                p.sockets.push(s);
                used += 1;
                *if v6 {
                    &mut counts.udp6
                } else {
                    &mut counts.udp
                } += 1;
            }
        }
    }
    counts.sockets = Some(used);
    p.counters = Counters {
        sockstat: counts,
        conntrack: None,
    };
    p
}

fn model_of(p: &Population) -> Model {
    let mut builder = PoolsBuilder::new(&p.settings);
    for s in &p.marked {
        builder.marked(s);
    }
    for s in &p.sockets {
        builder.socket(s);
    }
    builder.finish()
}

/// Every pool of the model: each tuple's, a new tuple's, each address's,
/// and UDP's.
fn every_pool(model: &Model) -> Vec<Pool> {
    let mut pools: Vec<Pool> = model.connect_pools().collect();
    pools.push(model.new_connect_pool(crate::model::PoolName::NewTuple {
        source: None,
        destination: None,
        port: None,
    }));
    pools.extend(model.bind_addresses().map(|a| model.bind_pool(a)));
    pools.extend(model.udp_pools());
    pools
}

fn range(rng: &mut Rng, choices: &[&str]) -> Option<Range> {
    let text = rng.pick(choices);
    (!text.is_empty()).then(|| text.parse().unwrap())
}

fn rule_parts(rng: &mut Rng) -> (Selection, Thresholds, ForecastRule) {
    let all = [Kind::Connect, Kind::Bind, Kind::Udp, Kind::Nat];
    let mut kinds: Vec<Kind> = all.into_iter().filter(|_| rng.chance(60)).collect();
    if kinds.is_empty() {
        kinds.push(Kind::Connect);
    }
    // Sometimes narrowed: fewer pools, or one tuple that may hold nothing.
    let narrowed = rng.chance(30);
    let selection = Selection {
        kinds,
        sources: match narrowed {
            true => vec![rng.pick(&[addr("127.0.0.1"), addr("10.0.0.1"), addr("::1")])],
            false => Vec::new(),
        },
        destinations: match narrowed && rng.chance(50) {
            true => vec![super::super::Destination {
                addr: addr("127.0.0.1"),
                port: rng.pick(&[None, Some(5432), Some(80)]),
            }],
            false => Vec::new(),
        },
    };
    let thresholds = Thresholds {
        used_warning: range(rng, &["70", "30", "95", "", "@~:5", "10:"]),
        used_critical: range(rng, &["90", "50", "", "99"]),
        free_warning: range(rng, &["", "20:", "5:", "@0:3"]),
        free_critical: range(rng, &["", "2:", "10:"]),
    };
    let mut forecast = if rng.chance(80) {
        ForecastRule::default()
    } else {
        ForecastRule::off()
    };
    if rng.chance(20) {
        forecast.full_in_warning = None;
    }
    (selection, thresholds, forecast)
}

fn judged(model: &Model, rule: &Rule, max_tw: Option<u32>) -> Report {
    let forecaster = Forecaster::new(model, max_tw);
    let f = Some((rule.forecast, &forecaster));
    judge_with(model, rule.selection, rule.thresholds, 1000, f)
}

#[test]
fn no_pool_of_a_generated_population_exceeds_its_bound() {
    let mut rng = Rng(0x5eed_0000_0000_0021);
    let (mut proven, mut walked, mut filling) = (0, 0, 0);
    for case in 0..3000 {
        let p = population(&mut rng);
        let (selection, thresholds, forecast) = rule_parts(&mut rng);
        let rule = Rule {
            selection: &selection,
            thresholds: &thresholds,
            forecast: &forecast,
            upstream: false,
        };
        let model = model_of(&p);
        let Some(b) = bound(&p.counters, &p.settings, &rule) else {
            assert!(selection.kinds == [Kind::Nat], "case {case}: no bound");
            continue;
        };
        let max_tw = rng.pick(&[None, Some(5), Some(100_000)]);
        let forecaster = Forecaster::new(&model, max_tw);
        let tcp_selected =
            selection.kinds.contains(&Kind::Connect) || selection.kinds.contains(&Kind::Bind);
        for pool in every_pool(&model) {
            if !selection.kinds.contains(&pool.kind) {
                continue;
            }
            let what = format!("case {case}: {pool:?} against {b:?}, {:?}", p.counters);
            assert!(pool.used_pct() <= b.used_pct, "level: {what}");
            if !forecast.enabled || !tcp_selected {
                continue;
            }
            let Some(f) = forecaster.of(&pool) else {
                continue;
            };
            let projected = (f.projected.ceil() as u32).min(pool.capacity);
            let at = Pool {
                free: pool.capacity - projected.max(pool.used()),
                ..pool
            };
            assert!(at.used_pct() <= b.used_pct, "projected: {what}, {f:?}");
            if b.cannot_fill {
                assert_eq!(f.full_in_s, None, "fills: {what}, {f:?}");
            } else {
                filling += 1;
            }
        }
        let report = judged(&model, &rule, max_tw);
        if b.proven {
            assert_eq!(report.state, State::Ok, "case {case}: proven OK, {b:?}");
            proven += 1;
        } else {
            walked += 1;
        }
    }
    // The cases cover both answers, and pools that may fill.
    assert!(
        proven > 300 && walked > 300 && filling > 100,
        "{proven} {walked} {filling}"
    );
}

#[test]
fn the_pace_never_exceeds_its_bound() {
    let mut rng = Rng(0x5eed_0000_0000_0022);
    for _ in 0..20_000 {
        let mut ages = Ages::new(rng.pick(&[60_000, 1000, 2500, 100, 15_000, 30_000]));
        if rng.chance(30) {
            ages.censored_after_ms = Some(rng.pick(&[1000, 2000, 9000]));
        }
        let span = 1 + rng.below(BUCKETS as u64) as usize;
        for _ in 0..rng.below(200) {
            let age = rng.below(span as u64) as usize;
            ages.buckets[age] += 1;
        }
        let p = pace(&ages);
        let most = max_per_second(u64::from(ages.total()));
        assert!(p.per_second <= most, "{p:?} above {most} for {ages:?}");
    }
}

#[test]
fn conntrack_entries_leave_nat_unbounded() {
    let mut rng = Rng(7);
    let mut p = population(&mut rng);
    let selection = Selection {
        kinds: vec![Kind::Connect, Kind::Nat],
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    let (thresholds, forecast) = (Thresholds::default(), ForecastRule::default());
    let rule = Rule {
        selection: &selection,
        thresholds: &thresholds,
        forecast: &forecast,
        upstream: false,
    };
    let table = |entries| TableFigures {
        entries,
        max: 1000,
        ..TableFigures::default()
    };
    p.counters.conntrack = Some(table(3));
    assert_eq!(bound(&p.counters, &p.settings, &rule), None);
    p.counters.conntrack = Some(table(0));
    assert!(bound(&p.counters, &p.settings, &rule).is_some());
    // The provider's pools are summed over every namespace: none is
    // bounded where they are judged.
    let mut upstream = selection.clone();
    upstream.kinds.push(Kind::Upstream);
    let with = |on| Rule {
        selection: &upstream,
        upstream: on,
        ..rule
    };
    assert_eq!(bound(&p.counters, &p.settings, &with(true)), None);
    assert!(bound(&p.counters, &p.settings, &with(false)).is_some());
    p.counters.sockstat.sockets = None;
    assert_eq!(bound(&p.counters, &p.settings, &rule), None);
}
