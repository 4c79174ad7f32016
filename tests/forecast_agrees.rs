//! The forecast against the kernel: each scenario drives a real pace of
//! connections in a private namespace with a 600-port range, and what the
//! kernel then does (when `connect()` is refused, where the use settles,
//! whether `bind(addr, 0)` still works) is measured in the same run.
//!
//! The scenarios take up to two minutes of real time each, so one test
//! starts them all side by side, each on its own thread in its own
//! namespace: the wall time is that of the longest.

mod lab;

use std::net::SocketAddr;
use std::time::Duration;

use lab::pace::{Close, Pace, Phase};
use lab::{Lab, Settings};

const SERVER: &str = "127.0.0.1:7000";

fn settings(tw_reuse: u8) -> Settings {
    Settings {
        range: (40000, 40599),
        tw_reuse,
        ..Settings::default()
    }
}

/// TIME_WAIT entries in the lab's namespace (the thread's own /proc view).
fn time_waits() -> usize {
    let text = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(3) == Some("06"))
        .count()
}

fn bind_works(lab: &mut Lab) -> bool {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    lab.try_bind(any, socket2::Type::STREAM).is_ok()
}

/// 20 new connections a second, each closed by the client at once, into
/// 600 ports without reuse: 1,200 would be needed, so `connect()` fails
/// once 600 are in TIME_WAIT, 30 s in.
fn sustained_overload() -> Option<String> {
    lab::run("overload", settings(0), |_lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(20.0, 40.0, Close::ClientFirst)]);
        let out = pace.join();
        let failed = out.first_refusal_s.expect("connect() never refused");
        assert_eq!(out.first_errno, Some(libc::EADDRNOTAVAIL));
        assert!((28.0..=32.5).contains(&failed), "refused at {failed:.1} s");
        format!("sustained overload: connect() refused at {failed:.1} s")
    })
}

/// 8 a second into 600 ports: the kernel settles at about 8 × 60 = 480
/// entries and never refuses.
fn sustainable_pace() -> Option<String> {
    lab::run("sustainable", settings(0), |_lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(8.0, 95.0, Close::ClientFirst)]);
        let mut settled = Vec::new();
        for t in [70.0, 80.0, 90.0] {
            pace.sleep_until(t);
            settled.push(time_waits());
        }
        let out = pace.join();
        assert_eq!(out.refused, 0, "{out:?}");
        let mean = settled.iter().sum::<usize>() as f64 / settled.len() as f64;
        assert!((450.0..=520.0).contains(&mean), "settled at {settled:?}");
        format!("sustainable pace: settled at {settled:?} TIME_WAIT")
    })
}

/// 300 connections in 10 s, then nothing: the pool absorbs it.
fn finished_burst() -> Option<String> {
    lab::run("burst", settings(0), |_lab| {
        let pace = Pace::start(
            SERVER,
            vec![
                Phase::new(30.0, 10.0, Close::ClientFirst),
                Phase::new(0.0, 20.0, Close::ClientFirst),
            ],
        );
        let out = pace.join();
        assert_eq!(out.refused, 0, "{out:?}");
        format!("finished burst: {} connections, none refused", out.made)
    })
}

/// Fast churn on loopback with reuse: 100 a second would need 6,000 ports
/// at 60 s each, yet `connect()` takes over entries older than the 1 s
/// delay, walking the even ports only, so the odd half stays free and
/// `bind(addr, 0)` (which starts on the odd half) still works.
fn fast_churn_with_reuse() -> Option<String> {
    lab::run("churn", settings(2), |lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(100.0, 70.0, Close::ClientFirst)]);
        pace.sleep_until(65.0);
        let held = time_waits();
        let out = pace.join();
        assert_eq!(out.refused, 0, "{out:?}");
        assert!((280..=320).contains(&held), "{held} TIME_WAIT");
        assert!(
            bind_works(lab),
            "bind(127.0.0.1, 0) refused after the churn"
        );
        format!("fast churn with reuse: {held} TIME_WAIT, bind() still works")
    })
}

/// 10 connections a second that stay open: a leak that fills 600 ports
/// at 60 s.
fn leak() -> Option<String> {
    lab::run("leak", settings(0), |_lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(10.0, 70.0, Close::KeepOpen)]);
        let out = pace.join();
        let failed = out.first_refusal_s.expect("connect() never refused");
        assert!((58.0..=62.5).contains(&failed), "refused at {failed:.1} s");
        std::thread::sleep(Duration::from_millis(10));
        format!("leak: connect() refused at {failed:.1} s")
    })
}

#[test]
fn forecasts_agree_with_the_kernel() {
    let scenarios: [fn() -> Option<String>; 5] = [
        sustained_overload,
        sustainable_pace,
        finished_burst,
        fast_churn_with_reuse,
        leak,
    ];
    let threads: Vec<_> = scenarios.into_iter().map(std::thread::spawn).collect();
    let mut failed = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(panic) => failed.push(panic),
        }
    }
    if let Some(panic) = failed.pop() {
        std::panic::resume_unwind(panic);
    }
}
