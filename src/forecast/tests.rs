//! The estimator and the projection on hand-written pools, with the numbers
//! the kernel showed in the namespace lab (600-port range).

use super::*;

fn ages(hold_ms: u32, spread: &[(usize, u32)]) -> Ages {
    let mut a = Ages::new(hold_ms);
    for &(age_s, n) in spread {
        for _ in 0..n {
            a.add_age(age_s as u32 * 1000 + 500);
        }
    }
    a
}

fn even(from: usize, to: usize, per_s: u32) -> Vec<(usize, u32)> {
    (from..to).map(|s| (s, per_s)).collect()
}

fn pool(capacity: u32, holders: u32, ages: Ages) -> PoolNow {
    PoolNow {
        capacity,
        holders,
        ages,
        walk: None,
    }
}

#[test]
fn a_pace_that_began_ten_seconds_ago_fills_600_ports_in_twenty() {
    // 20 closes a second for 10 s, as seen 10 s into the overload.
    let p = pool(600, 0, ages(60_000, &even(0, 10, 20)));
    let f = forecast(&p, Limits::default());
    assert_eq!(f.pace.seen, Seen::Started { ago_s: 10 });
    assert!((f.pace.per_second - 20.0).abs() < 0.01, "{f:?}");
    assert_eq!(f.used_now, 200);
    assert!((f.projected_pct - 200.0).abs() < 1.0, "{f:?}");
    let full = f.full_in_s.expect("fills");
    assert!((19.0..=21.0).contains(&full), "{f:?}");
}

#[test]
fn a_sustained_pace_settles_at_rate_times_a_minute() {
    let p = pool(600, 0, ages(60_000, &even(0, 60, 8)));
    let f = forecast(&p, Limits::default());
    assert_eq!(f.pace.seen, Seen::Sustained { span_s: 60 });
    assert!((f.pace.per_second - 8.0).abs() < 0.01);
    assert!((f.projected_pct - 80.0).abs() < 1.0, "{f:?}");
    assert_eq!(f.full_in_s, None);
}

#[test]
fn a_finished_burst_projects_no_more_than_today() {
    let p = pool(600, 10, ages(60_000, &even(20, 25, 60)));
    let f = forecast(&p, Limits::default());
    assert_eq!(
        f.pace.seen,
        Seen::Ended {
            count: 300,
            quiet_s: 20
        }
    );
    assert_eq!(f.pace.per_second, 0.0);
    assert_eq!(f.used_now, 310);
    assert!((f.projected - 310.0).abs() < 0.01, "{f:?}");
    assert_eq!(f.full_in_s, None);
}

#[test]
fn a_burst_that_stopped_a_few_gaps_ago_has_ended() {
    // 5 closes a second until 6 s ago: six mean gaps of silence.
    let p = pool(600, 0, ages(60_000, &even(6, 40, 5)));
    assert!(matches!(pace(&p.ages).seen, Seen::Ended { quiet_s: 6, .. }));
}

#[test]
fn a_one_second_burst_checked_a_second_later_has_ended() {
    // 250 closes within 1 s, checked 1.6 s after it: no pace goes on, and
    // 600 ports (without reuse) are not said to fill.
    let mut a = Ages::new(60_000);
    a.buckets[1] = 250;
    let f = forecast(&pool(600, 0, a), Limits::default());
    assert_eq!(
        f.pace.seen,
        Seen::Ended {
            count: 250,
            quiet_s: 1
        }
    );
    assert_eq!(f.full_in_s, None, "{f:?}");
}

#[test]
fn a_fast_pace_is_not_ended_by_its_youngest_second() {
    // 20 closes a second, the youngest second still filling.
    let mut a = even(1, 15, 20);
    a.push((0, 8));
    let p = pace(&ages(60_000, &a));
    assert!(p.per_second > 15.0, "{p:?}");
}

#[test]
fn a_slow_pace_with_a_gap_goes_on() {
    // One close every 2 s: a 2 s gap is no end.
    let a: Vec<(usize, u32)> = (2..60).step_by(2).map(|s| (s, 1)).collect();
    let p = pace(&ages(60_000, &a));
    assert!(p.per_second > 0.3, "{p:?}");
}

#[test]
fn a_slowing_pace_is_read_from_the_recent_window() {
    let mut a = even(10, 60, 10);
    a.extend(even(0, 10, 2));
    let p = pace(&ages(60_000, &a));
    assert!(
        matches!(p.seen, Seen::Changed { rising: false, .. }),
        "{p:?}"
    );
    assert!((p.per_second - 2.0).abs() < 0.01);
}

#[test]
fn connect_pool_with_reuse_holds_only_the_young_entries() {
    // tcp_tw_reuse on loopback, 400 connections a second: only the entries
    // younger than the 1 s delay block the tuple.
    let p = pool(600, 0, ages(1_000, &[(0, 400)]));
    let f = forecast(&p, Limits::default());
    assert_eq!(f.pace.seen, Seen::Short { span_s: 1 });
    assert!((f.projected - 400.0).abs() < 0.01, "{f:?}");
    assert_eq!(f.full_in_s, None);
}

fn walked(spread: &[(usize, u32)]) -> PoolNow {
    let mut a = ages(60_000, spread);
    a.censored_after_ms = Some(1_000);
    PoolNow {
        capacity: 600,
        holders: 0,
        ages: a,
        walk: Some(Walk { delay_ms: 1_000 }),
    }
}

#[test]
fn fast_churn_with_reuse_holds_one_parity_and_bind_keeps_working() {
    // 100/s: the kernel kept exactly the 300 even ports in TIME_WAIT.
    let f = forecast(&walked(&[(0, 100), (1, 100), (2, 100)]), Limits::default());
    assert!((f.pace.per_second - 100.0).abs() < 0.01, "{f:?}");
    assert!((f.projected - 300.0).abs() < 1.0, "{f:?}");
    assert_eq!(f.full_in_s, None);
}

#[test]
fn churn_faster_than_half_the_range_per_delay_spills_and_fills() {
    // 400/s: the kernel had all 600 ports in TIME_WAIT by 20 s; bind()
    // then failed while connect() never did.
    let f = forecast(&walked(&[(0, 400)]), Limits::default());
    assert!(f.projected_pct >= 99.9, "{f:?}");
    let full = f.full_in_s.expect("fills");
    assert!((10.0..=25.0).contains(&full), "{f:?}");
}

#[test]
fn max_tw_buckets_caps_the_entries() {
    let p = pool(600, 0, ages(60_000, &even(0, 5, 20)));
    let limits = Limits {
        max_entries: Some(100),
    };
    let f = forecast(&p, limits);
    assert!((f.projected - 100.0).abs() < 0.01, "{f:?}");
    assert_eq!(f.full_in_s, None);
}

#[test]
fn full_or_empty_pools_are_full_now() {
    let f = forecast(&pool(0, 0, Ages::new(60_000)), Limits::default());
    assert_eq!(f.full_in_s, Some(0.0));
    assert_eq!(f.projected_pct, 100.0);
    let f = forecast(&pool(10, 10, Ages::new(60_000)), Limits::default());
    assert_eq!(f.full_in_s, Some(0.0));
}

#[test]
fn expiring_entries_free_ports_before_new_ones_fill_them() {
    // 500 entries about to expire and a slow new pace: no fill, though
    // today plus a minute of the pace would be above the capacity.
    let mut a = ages(60_000, &[(58, 500)]);
    a.merge(&ages(60_000, &even(0, 60, 1)));
    let f = forecast(&pool(600, 0, a), Limits::default());
    assert_eq!(f.full_in_s, None, "{f:?}");
}

#[test]
fn holders_count_towards_full() {
    let p = pool(600, 300, ages(60_000, &even(0, 10, 20)));
    let f = forecast(&p, Limits::default());
    let full = f.full_in_s.expect("fills");
    // 300 held and 200 entries, at 20/s: 100 more ports in about 5 s.
    assert!((4.0..=6.0).contains(&full), "{f:?}");
}

#[test]
fn a_stray_old_close_does_not_stretch_a_new_pace() {
    let mut spread = even(0, 10, 20);
    spread.push((15, 1));
    let p = pace(&ages(60_000, &spread));
    assert_eq!(p.seen, Seen::Started { ago_s: 10 });
    assert!((p.per_second - 20.0).abs() < 0.01, "{p:?}");
}

#[test]
fn a_pool_that_fills_by_growth_is_projected_full() {
    // 200 of 600 held by open connections, 10 more a second: no pace, yet
    // the pool fills in 40 s, so its projection is at least 100 %.
    let f = forecast(&pool(600, 200, Ages::new(60_000)), Limits::default());
    assert!((f.projected_pct - 33.3).abs() < 0.1, "{f:?}");
    let g = f.with_growth(600, 10.0);
    let full = g.full_in_s.expect("fills");
    assert!((full - 40.0).abs() < 0.01, "{g:?}");
    assert!(g.projected_pct >= 100.0, "{g:?}");
    assert!(g.projected >= 600.0, "{g:?}");
    // A shrinking pool keeps its projection.
    let h = f.with_growth(600, -1.0);
    assert_eq!(h.projected_pct, f.projected_pct);
    assert_eq!(h.full_in_s, None);
}
