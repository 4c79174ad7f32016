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
use proptest::prelude::*;
use proptest::sample::select;
use std::cell::Cell;

use crate::cases::random_cases;

mod population;

use population::*;

fn judged(model: &Model, rule: &Rule, max_tw: Option<u32>) -> Report {
    let forecaster = Forecaster::new(model, max_tw);
    let f = Some((rule.forecast, &forecaster));
    judge_with(model, rule.selection, rule.thresholds, 1000, f)
}

#[test]
fn no_pool_of_a_generated_population_exceeds_its_bound() {
    let (proven, walked, filling) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let max_tw = select(vec![None, Some(5), Some(100_000)]);
    let cases = (population(), rule_parts(), max_tw);
    random_cases(
        3000,
        cases,
        |(p, (selection, thresholds, forecast), max_tw)| {
            let rule = Rule {
                selection: &selection,
                thresholds: &thresholds,
                forecast: &forecast,
                upstream: false,
            };
            let model = model_of(&p);
            let Some(b) = bound(&p.counters, &p.settings, &rule) else {
                assert!(selection.kinds == [Kind::Nat], "no bound");
                return;
            };
            let forecaster = Forecaster::new(&model, max_tw);
            let tcp_selected =
                selection.kinds.contains(&Kind::Connect) || selection.kinds.contains(&Kind::Bind);
            for pool in every_pool(&model) {
                if !selection.kinds.contains(&pool.kind) {
                    continue;
                }
                let what = format!("{pool:?} against {b:?}, {:?}", p.counters);
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
                    filling.set(filling.get() + 1);
                }
            }
            let report = judged(&model, &rule, max_tw);
            if b.proven {
                assert_eq!(report.state, State::Ok, "proven OK, {b:?}");
                proven.set(proven.get() + 1);
            } else {
                walked.set(walked.get() + 1);
            }
        },
    );
    // The cases cover both answers, and pools that may fill.
    let (proven, walked, filling) = (proven.get(), walked.get(), filling.get());
    assert!(
        proven > 300 && walked > 300 && filling > 100,
        "{proven} {walked} {filling}"
    );
}

#[test]
fn the_pace_never_exceeds_its_bound() {
    let ages = (
        select(vec![60_000, 1000, 2500, 100, 15_000, 30_000]),
        prop::bool::weighted(0.3),
        select(vec![1000, 2000, 9000]),
        1..=BUCKETS,
    )
        .prop_flat_map(|(hold, censored, after, span)| {
            let censored_after_ms = censored.then_some(after);
            let ages = prop::collection::vec(0..span, 0..200);
            (Just(hold), Just(censored_after_ms), ages)
        })
        .prop_map(|(hold, censored_after_ms, each)| {
            let mut ages = Ages::new(hold);
            ages.censored_after_ms = censored_after_ms;
            for age in each {
                ages.buckets[age] += 1;
            }
            ages
        });
    random_cases(20_000, ages, |ages| {
        let p = pace(&ages);
        let most = max_per_second(u64::from(ages.total()));
        assert!(p.per_second <= most, "{p:?} above {most} for {ages:?}");
    });
}

#[test]
fn conntrack_entries_leave_nat_unbounded() {
    random_cases(1, population(), conntrack_entries_leave_nat_unbounded_in);
}

fn conntrack_entries_leave_nat_unbounded_in(mut p: Population) {
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
