//! `--what-if` against the kernel: each scenario builds real sockets in a
//! private namespace, asks the check what a changed setting would give,
//! then writes that setting for real (in the namespace only: the
//! `net.ipv4` settings are per namespace) and allocates until the kernel
//! refuses. The figure asked for before the change must be the figure the
//! kernel then shows, exactly.

use std::net::SocketAddr;
use std::time::Duration;

use crate::util::lab::pace::{Close, Pace, Phase};
use crate::util::lab::{self, Lab, Settings};
use crate::util::{Run, real_time};

/// Writes a `net.ipv4` setting of the lab's namespace (the calling thread
/// is the lab's, so `/proc/sys/net` is the lab's) as `sysctl -w` does: the
/// value and a newline (an empty write would leave a list as it was).
fn write_setting(lab: &mut Lab, name: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv4/{name}");
    std::fs::write(&path, format!("{value}\n")).unwrap_or_else(|e| panic!("write {path}: {e}"));
    if name == "ip_local_port_range" {
        let (lo, hi) = value.split_once(' ').expect("LO HI");
        lab.settings.range = (lo.parse().unwrap(), hi.parse().unwrap());
    }
}

/// The check of one connect pool under `what_if`.
fn ask(lab: &Lab, what_if: &[&str], source: &str, to: SocketAddr) -> Run {
    let to = to.to_string();
    let mut args = vec!["--source", source, "--destination", &to];
    for w in what_if {
        args.extend(["--what-if", w]);
    }
    lab.check(&args)
}

/// Asks the check under `what_if` (each `KEY=VALUE` of `net.ipv4`), writes
/// the settings for real, then connect()s until EADDRNOTAVAIL; the two
/// must agree. Returns the figure.
fn connect_after_change(lab: &mut Lab, what_if: &[&str], source: &str, to: SocketAddr) -> u32 {
    let run = ask(lab, what_if, source, to);
    let predicted = run.perf("connect_free");
    let first = run.stdout.lines().next().unwrap_or_default();
    let asked = what_if.join(", ");
    assert!(
        first.contains(&format!("what if {asked}: ")),
        "the status line does not say which what-if it answers:\n{}",
        run.stdout
    );
    for w in what_if {
        let (key, value) = w.split_once('=').expect("KEY=VALUE");
        let name = key.strip_prefix("net.ipv4.").expect("a net.ipv4 key");
        write_setting(lab, name, value);
    }
    let got = lab.exhaust_connect(Some(source), to);
    assert_eq!(
        predicted, got,
        "{asked}: predicted {predicted}, the kernel then gave {got}:\n{}",
        run.stdout
    );
    predicted
}

/// The same for `bind(addr, 0)` until EADDRINUSE.
fn bind_after_change(lab: &mut Lab, what_if: &[&str], addr: &str) -> u32 {
    let mut args = vec!["--source", addr];
    for w in what_if {
        args.extend(["--what-if", w]);
    }
    let run = lab.check(&args);
    let predicted = run.perf("bind_free");
    for w in what_if {
        let (key, value) = w.split_once('=').expect("KEY=VALUE");
        write_setting(lab, key.strip_prefix("net.ipv4.").unwrap(), value);
    }
    let got = lab.exhaust_bind(addr);
    assert_eq!(predicted, got, "bind({addr}, 0):\n{}", run.stdout);
    predicted
}

/// 8 TIME_WAIT entries older than the reuse delay, 4 younger, 3
/// established, with reuse off: today 5 ports are left; with
/// `tcp_tw_reuse=1` (and a delay of 8 s) the old 8 come back, the young 4
/// do not.
#[test]
fn tw_reuse_frees_the_time_wait_older_than_the_delay() {
    let settings = Settings {
        tw_reuse: 0,
        tw_reuse_delay_ms: Some(60_000),
        ..Settings::default()
    };
    lab::run("whatif_tw_reuse", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.time_wait(None, db, 8);
        // Old by 400 ms past the delay; the young stay young for the 8 s
        // that the checks and the probe may take on a busy machine.
        std::thread::sleep(Duration::from_millis(8_400));
        lab.time_wait(None, db, 4);
        lab.connect(None, db, 3);
        let today = ask(lab, &[], "127.0.0.1", db);
        assert_eq!(today.perf("connect_free"), 5, "{}", today.stdout);
        assert_eq!(today.code, 2, "{}", today.stdout);
        let what_if = [
            "net.ipv4.tcp_tw_reuse=1",
            "net.ipv4.tcp_tw_reuse_delay=8000",
        ];
        assert_eq!(connect_after_change(lab, &what_if, "127.0.0.1", db), 13);
    });
}

/// Reuse applies to connect() only: the bind pool keeps every TIME_WAIT.
#[test]
fn tw_reuse_leaves_the_bind_pool_as_it_is() {
    let settings = Settings {
        tw_reuse: 0,
        tw_reuse_delay_ms: Some(200),
        ..Settings::default()
    };
    lab::run("whatif_tw_reuse_bind", settings, |lab| {
        let db = lab.listen("127.0.0.2:5000");
        lab.time_wait(Some("127.0.0.1"), db, 6);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            bind_after_change(lab, &["net.ipv4.tcp_tw_reuse=1"], "127.0.0.1"),
            14
        );
    });
}

/// 15 connections fill 15 of 20 ports; a range twice as wide, with a
/// listener on one of the new ports, leaves 24.
#[test]
fn a_wider_range_counts_the_listeners_it_takes_in() {
    lab::run("whatif_wider", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.listen("127.0.0.1:40030");
        lab.connect(None, db, 15);
        let what_if = ["net.ipv4.ip_local_port_range=40000 40039"];
        assert_eq!(connect_after_change(lab, &what_if, "127.0.0.1", db), 24);
    });
}

/// A range moved off today's ports: today's 15 connections hold nothing
/// of it.
#[test]
fn a_range_moved_off_todays_ports() {
    lab::run("whatif_moved", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.connect(None, db, 15);
        let what_if = ["net.ipv4.ip_local_port_range=41000 41019"];
        assert_eq!(connect_after_change(lab, &what_if, "127.0.0.1", db), 20);
    });
}

/// Reserving a block: connections already on the block's ports keep them,
/// but the block is no longer handed out.
#[test]
fn reserving_a_block_of_the_range() {
    lab::run("whatif_reserve", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.connect_in(None, db, 3, (40010, 40014));
        lab.connect_in(None, db, 4, (40000, 40004));
        let what_if = ["net.ipv4.ip_local_reserved_ports=40010-40014"];
        assert_eq!(connect_after_change(lab, &what_if, "127.0.0.1", db), 11);
    });
}

/// Freeing reserved ports gives them back to connect() and bind().
#[test]
fn freeing_reserved_ports() {
    let settings = Settings {
        reserved: "40012-40019",
        ..Settings::default()
    };
    lab::run("whatif_unreserve", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.connect(None, db, 10);
        let today = ask(lab, &[], "127.0.0.1", db);
        assert_eq!(today.perf("connect_free"), 2, "{}", today.stdout);
        let what_if = ["net.ipv4.ip_local_reserved_ports="];
        assert_eq!(connect_after_change(lab, &what_if, "127.0.0.1", db), 10);
    });
}

/// A value the kernel refuses is refused before anything is read.
#[test]
fn a_value_the_kernel_refuses_is_unknown() {
    lab::run("whatif_refused", Settings::default(), |lab| {
        // Each the kernel refuses too, but for the last: not a setting the
        // check can judge.
        for (bad, kernel_refuses) in [
            ("net.ipv4.ip_local_port_range=500 40019", true),
            ("net.ipv4.ip_local_port_range=40019 40000", true),
            ("net.ipv4.tcp_tw_reuse=3", true),
            ("net.ipv4.ip_local_reserved_ports=1, 2", true),
            ("net.ipv4.tcp_fin_timeout=30", false),
        ] {
            let run = lab.check(&["--what-if", bad]);
            assert_eq!(run.code, 3, "{bad}: {}", run.stdout);
            assert_eq!(run.stdout.lines().count(), 1, "{bad}: {}", run.stdout);
            if kernel_refuses {
                let (key, value) = bad.split_once('=').unwrap();
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
                assert!(
                    std::fs::write(&path, value).is_err(),
                    "the kernel took {bad}"
                );
            }
        }
    });
}

/// The free count of the remedy line that starts with `change` (e.g.
/// `net.ipv4.tcp_tw_reuse=1`), under the pool heading `pool`.
fn remedy_free(run: &Run, pool: &str, change: &str) -> u32 {
    let heading = format!("remedies for {pool} [");
    let prefix = format!("  {change}");
    run.stdout
        .lines()
        .skip_while(|l| !l.starts_with(&heading))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .find_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let figures = rest.rsplit_once("): ").map_or(rest, |(_, f)| f);
            let figures = figures.strip_prefix(": ").unwrap_or(figures);
            figures.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no remedy {change} for {pool} in:\n{}", run.stdout))
}

/// The alert offers tcp_tw_reuse=1 with the figure --what-if gives, and the
/// kernel agrees once it is set.
#[test]
fn the_alert_offers_tw_reuse_with_the_kernels_figure() {
    let settings = Settings {
        tw_reuse: 0,
        tw_reuse_delay_ms: Some(8000),
        ..Settings::default()
    };
    lab::run("whatif_remedy_tw_reuse", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.time_wait(None, db, 8);
        // Old by 400 ms past the delay; the young stay young for the 8 s
        // that the checks and the probe may take on a busy machine.
        std::thread::sleep(Duration::from_millis(8_400));
        lab.time_wait(None, db, 4);
        lab.connect(None, db, 3);
        let run = ask(lab, &[], "127.0.0.1", db);
        assert_eq!(run.code, 2, "{}", run.stdout);
        let pool = format!("connect 127.0.0.1 -> {db}");
        let offered = remedy_free(&run, &pool, "net.ipv4.tcp_tw_reuse=1: ");
        let what_if = ["net.ipv4.tcp_tw_reuse=1"];
        assert_eq!(
            connect_after_change(lab, &what_if, "127.0.0.1", db),
            offered
        );
        assert_eq!(offered, 13);
    });
}

/// The wider range offered stops short of the listeners on either side,
/// and holds what it says once set.
#[test]
fn the_alert_offers_a_wider_range_that_avoids_the_listeners() {
    lab::run("whatif_remedy_range", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.listen("127.0.0.1:39989");
        lab.listen("127.0.0.1:40030");
        lab.connect(None, db, 15);
        let run = ask(lab, &[], "127.0.0.1", db);
        assert_eq!(run.code, 1, "{}", run.stdout);
        let pool = format!("connect 127.0.0.1 -> {db}");
        let range = "net.ipv4.ip_local_port_range=39990 40029";
        let offered = remedy_free(&run, &pool, &format!("{range}: "));
        assert_eq!(
            connect_after_change(lab, &[range], "127.0.0.1", db),
            offered
        );
        assert_eq!(offered, 25);
    });
}

/// Freeing the reserved ports of the range, offered with its figure.
#[test]
fn the_alert_offers_freeing_reserved_ports() {
    let settings = Settings {
        reserved: "40010-40019",
        ..Settings::default()
    };
    lab::run("whatif_remedy_reserved", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.connect(None, db, 8);
        let run = ask(lab, &[], "127.0.0.1", db);
        assert_eq!(run.code, 1, "{}", run.stdout);
        let pool = format!("connect 127.0.0.1 -> {db}");
        let change = "net.ipv4.ip_local_reserved_ports=";
        let offered = remedy_free(&run, &pool, &format!("{change}: "));
        assert_eq!(
            connect_after_change(lab, &[change], "127.0.0.1", db),
            offered
        );
        assert_eq!(offered, 12);
    });
}

/// 15 connections that bind 127.0.0.1 first, five to each of three
/// destinations, fill the bind pool of 127.0.0.1; the alert offers
/// IP_BIND_ADDRESS_NO_PORT with the fullest connect pool's figure. The
/// same population made with the option (the change made) gives the
/// kernel's figure: connect() to that destination until refused.
#[test]
fn the_alert_offers_no_port_to_programs_that_bind_first() {
    let destinations = ["127.0.0.2:5000", "127.0.0.2:5001", "127.0.0.2:5002"];
    let offered = lab::run("whatif_remedy_no_port", Settings::default(), move |lab| {
        for d in destinations {
            let to = lab.listen(d);
            for _ in 0..5 {
                lab.bind_then_connect("127.0.0.1", to);
            }
        }
        let run = lab.check(&["--source", "127.0.0.1"]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        remedy_free(&run, "bind 127.0.0.1", "IP_BIND_ADDRESS_NO_PORT")
    });
    let Some(offered) = offered else { return };
    lab::run(
        "whatif_remedy_no_port_made",
        Settings::default(),
        move |lab| {
            let mut fullest = None;
            for d in destinations {
                let to = lab.listen(d);
                lab.connect(Some("127.0.0.1"), to, 5);
                fullest.get_or_insert(to);
            }
            let got = lab.exhaust_connect(Some("127.0.0.1"), fullest.unwrap());
            assert_eq!(offered, got, "offered {offered}, the kernel gave {got}");
            assert_eq!(got, 15);
        },
    );
}

/// A churn that fills today's range settles in a wider one: 5 new
/// connections a second, each closed at once, need 300 ports at the steady
/// state (60 s of TIME_WAIT). Into 200 the check says CRITICAL and the
/// kernel, left alone, refuses 40 s in; asked about 600 ports, the check
/// says the use settles at half, and with 600 written 9 s in the same
/// churn runs 75 s without a refusal. Both labs run side by side.
#[test]
fn a_churn_that_fills_todays_range_settles_in_a_wider_one() {
    let _cpu = real_time();
    let settings = Settings {
        range: (40000, 40199),
        ..Settings::default()
    };
    let left_alone = {
        let settings = settings.clone();
        std::thread::spawn(move || {
            lab::run("whatif_churn_alone", settings, |lab| {
                let pace = Pace::start(SERVER, vec![Phase::new(5.0, 50.0, Close::ClientFirst)]);
                pace.sleep_until(8.0);
                let run = churn_check(lab, &[]);
                let out = pace.join();
                (run, out.first_refusal_s, out.first_errno)
            })
        })
    };
    let changed = lab::run("whatif_churn_wider", settings, |lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(5.0, 75.0, Close::ClientFirst)]);
        pace.sleep_until(8.0);
        let range = "net.ipv4.ip_local_port_range=40000 40599";
        let run = churn_check(lab, &[range]);
        write_setting(lab, "ip_local_port_range", "40000 40599");
        let out = pace.join();
        (run, out.refused, out.made)
    });
    let alone = left_alone.join().expect("lab thread");
    let (Some((today, refused_at, errno)), Some((wider, refused, made))) = (alone, changed) else {
        return;
    };
    assert_eq!(today.code, 2, "{}", today.stdout);
    assert!(today.stdout.contains("full in"), "{}", today.stdout);
    let refused_at = refused_at.expect("the churn left alone was never refused");
    assert_eq!(errno, Some(libc::EADDRNOTAVAIL));
    assert!(
        refused_at > 8.0,
        "refused {refused_at:.1} s in, before the check"
    );
    assert_eq!(wider.code, 0, "{}", wider.stdout);
    let status = wider.stdout.lines().next().unwrap_or_default();
    assert!(
        status.contains("what if net.ipv4.ip_local_port_range=40000 40599: "),
        "{status}"
    );
    // 300 ports at the steady state, of 600.
    let settles = wider.perf_f64("connect_forecast_pct");
    assert!((40.0..=60.0).contains(&settles), "{}", wider.stdout);
    assert_eq!(
        refused, 0,
        "{made} made, {refused} refused after the range was widened"
    );
}

/// The same kind of churn on loopback, 20 a second into 200 ports: full in
/// 10 s without reuse; with tcp_tw_reuse=2 (loopback only, the kernel's
/// default) only the entries younger than the reuse delay block, the check
/// says it settles, and with the setting written 4 s in the churn runs 30 s
/// without a refusal.
#[test]
fn the_same_churn_with_reuse_on_loopback_settles() {
    let _cpu = real_time();
    let settings = Settings {
        range: (40000, 40199),
        tw_reuse: 0,
        tw_reuse_delay_ms: Some(1000),
        ..Settings::default()
    };
    let found = lab::run("whatif_churn_reuse", settings, |lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(20.0, 30.0, Close::ClientFirst)]);
        pace.sleep_until(3.0);
        let today = churn_check(lab, &[]);
        let reuse = churn_check(lab, &["net.ipv4.tcp_tw_reuse=2"]);
        write_setting(lab, "tcp_tw_reuse", "2");
        let out = pace.join();
        (today, reuse, out.refused, out.made)
    });
    let Some((today, reuse, refused, made)) = found else {
        return;
    };
    assert_eq!(today.code, 2, "{}", today.stdout);
    assert!(today.stdout.contains("full in"), "{}", today.stdout);
    assert_eq!(reuse.code, 0, "{}", reuse.stdout);
    // 20 a second younger than the 1 s delay block, of 200.
    let settles = reuse.perf_f64("connect_forecast_pct");
    assert!(settles <= 20.0, "{}", reuse.stdout);
    assert_eq!(refused, 0, "{made} made, {refused} refused with reuse on");
}

const SERVER: &str = "127.0.0.1:7000";

/// The check of the churn's connect pool under `what_if`.
fn churn_check(lab: &Lab, what_if: &[&str]) -> Run {
    let server: SocketAddr = SERVER.parse().expect("server");
    ask(lab, what_if, "127.0.0.1", server)
}

/// The conntrack table is judged against the nf_conntrack_max asked for
/// (a setting of the host's namespace alone, so not written here).
#[test]
fn conntrack_max_is_the_one_asked_for() {
    lab::run("whatif_conntrack_max", Settings::default(), |lab| {
        let today = lab.check(&[]);
        if !today.stdout.contains("conntrack table: ") {
            eprintln!("skipped conntrack_max_is_the_one_asked_for: no conntrack table here");
            return;
        }
        let run = lab.check(&["--what-if", "net.netfilter.nf_conntrack_max=1000"]);
        assert!(
            run.stdout.contains("entries free (0.0% used)")
                && run.stdout.contains(" of 1000 entries free"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("conntrack_entries=0;;;0;1000"),
            "{}",
            run.stdout
        );
    });
}

/// The churn of 5 a second into 200 ports again, capped by
/// tcp_max_tw_buckets=100: past the cap the kernel destroys new TIME_WAIT
/// entries at once, so the use settles at half. Written 8 s in, the churn
/// runs 50 s (10 s past where it was refused without the cap) without a
/// refusal.
#[test]
fn a_cap_on_time_wait_settles_the_churn() {
    let _cpu = real_time();
    let settings = Settings {
        range: (40000, 40199),
        ..Settings::default()
    };
    let found = lab::run("whatif_churn_cap", settings, |lab| {
        let pace = Pace::start(SERVER, vec![Phase::new(5.0, 50.0, Close::ClientFirst)]);
        pace.sleep_until(8.0);
        let today = churn_check(lab, &[]);
        let capped = churn_check(lab, &["net.ipv4.tcp_max_tw_buckets=100"]);
        write_setting(lab, "tcp_max_tw_buckets", "100");
        let out = pace.join();
        (today, capped, out.refused, out.made)
    });
    let Some((today, capped, refused, made)) = found else {
        return;
    };
    assert_eq!(today.code, 2, "{}", today.stdout);
    assert_eq!(capped.code, 0, "{}", capped.stdout);
    // The cap's 100 entries, of 200.
    let settles = capped.perf_f64("connect_forecast_pct");
    assert!((40.0..=60.0).contains(&settles), "{}", capped.stdout);
    assert_eq!(refused, 0, "{made} made, {refused} refused with the cap");
}

/// With --processes the connection-reuse line names who makes the
/// connections: 14 TIME_WAIT and 3 established leave 3 of 20 ports, reuse
/// would leave 17, and this test's own process holds the 3.
#[test]
fn the_reuse_remedy_names_who_makes_the_connections() {
    lab::run("whatif_remedy_processes", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.time_wait(None, db, 14);
        lab.connect(None, db, 3);
        let db_text = db.to_string();
        let args = [
            "--processes",
            "--source",
            "127.0.0.1",
            "--destination",
            &db_text,
        ];
        let run = lab.check(&args);
        let pool = format!("connect 127.0.0.1 -> {db}");
        assert_eq!(remedy_free(&run, &pool, "reusing connections"), 17);
        let me = format!("held by pid {} ", std::process::id());
        let reuse = run
            .stdout
            .lines()
            .find(|l| l.starts_with("  reusing connections"));
        assert!(
            reuse.is_some_and(|l| l.contains(&me) && l.contains(" (3)")),
            "{}",
            run.stdout
        );
    });
}

/// The provider NAT: 60 long-lived connections to one destination spend
/// 60 of Cloud NAT's 64 ports (CRITICAL). The alert offers 128 ports per
/// VM, and --what-if upstream.ports=128 answers with what the emulated
/// provider's rule gives: 128 less the 60 its log holds.
#[test]
fn the_provider_nat_gets_more_ports_per_vm() {
    use crate::util::upstreamlab::{Close, Provider, rule_used};
    let Some(mut p) = Provider::new("whatif_upstream", 1, &["198.51.100.9"]) else {
        return;
    };
    let web = p.serve("198.51.100.9", 443, Close::ClientFirst);
    p.open(0, web, 60);
    let run = p.check(0, &["--upstream-nat", "gcp"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("  upstream.ports="))
        .unwrap_or_else(|| panic!("no upstream.ports remedy in:\n{}", run.stdout));
    assert!(
        line.starts_with("  upstream.ports=128: 68 of 128 free"),
        "{line}"
    );
    let asked = p.check(
        0,
        &["--upstream-nat", "gcp", "--what-if", "upstream.ports=128"],
    );
    let hold = std::time::Duration::from_secs(120);
    let used = rule_used(&p.log(), web, false, hold, std::time::Instant::now());
    assert_eq!(asked.code, 0, "{}", asked.stdout);
    assert_eq!(asked.perf("upstream_free"), 128 - used, "{}", asked.stdout);
}
