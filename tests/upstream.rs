//! The upstream pools against an emulated provider (see `upstreamlab`): a
//! VM namespace talks to public-looking addresses in a server namespace,
//! and the provider's documented rule applied to the client's own log of
//! opens and closes is the oracle. Each scenario has its own namespaces;
//! the real-time ones run side by side on threads.

use std::time::{Duration, Instant};

use crate::prometheus::{PROMTOOL, have, promtool_complaints};
use crate::util::upstreamlab::{self, Close, Provider, rule_full_in, rule_used, vm_address};
use crate::util::{Plugin, TempDir, namespaces_alone, real_time, scratch};

const HOLD_120: Duration = Duration::from_secs(120);

#[test]
fn long_lived_connections_near_the_budget_are_counted_exactly() {
    let Some(mut p) = Provider::new("long_lived", 1, &["198.51.100.9"]) else {
        return;
    };
    let web = p.serve("198.51.100.9", 443, Close::ClientFirst);
    p.open(0, web, 60);
    let run = p.check(0, &["--upstream-nat", "gcp"]);
    let used = rule_used(&p.log(), web, false, HOLD_120, Instant::now());
    assert_eq!(used, 60);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let vm = vm_address(0);
    assert!(
        run.stdout.starts_with(&format!(
            "EPHEMERAL CRITICAL - upstream {vm} -> 198.51.100.9:443: 4 of 64 ports free (93.8% used)"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(run.perf("upstream_free"), 64 - used);
    assert_eq!(run.perf_f64("upstream_used_pct"), 93.75);
    // The kernel's own pools are nowhere near full: the old answer was OK.
    let kernel = p.check(0, &[]);
    assert_eq!(kernel.code, 0, "{}", kernel.stdout);
    // --processes names who holds the pool's ports: this test, 60 sockets.
    let who = p.check(0, &["--upstream-nat", "gcp", "--processes"]);
    let line = who.line_starting(&format!("  upstream {vm} -> 198.51.100.9:443: "));
    let pid = format!("pid {} ", std::process::id());
    assert!(
        line.contains(&pid) && line.ends_with(": 60"),
        "{}",
        who.stdout
    );
    // The same pool in the Prometheus text, which promtool finds clean.
    let prom = p.check(0, &["--upstream-nat", "gcp", "--format", "prometheus"]);
    assert_eq!(prom.code, 0, "{}", prom.stdout);
    let line = prom
        .stdout
        .lines()
        .find(|l| l.starts_with("ephemeral_pool_free_ports{") && l.contains("kind=\"upstream\""))
        .unwrap_or_else(|| panic!("no upstream pool in:\n{}", prom.stdout));
    assert!(
        line.contains("destination=\"198.51.100.9\"") && line.ends_with(" 4"),
        "{line}"
    );
    if have("upstream_promtool", PROMTOOL) {
        assert_eq!(promtool_complaints(&prom.stdout), "");
    }
}

#[test]
fn the_budget_is_per_destination() {
    let Some(mut p) = Provider::new("destinations", 1, &["198.51.100.10", "203.0.113.10"]) else {
        return;
    };
    let a = p.serve("198.51.100.10", 443, Close::ClientFirst);
    let b = p.serve("198.51.100.10", 80, Close::ClientFirst);
    let c = p.serve("203.0.113.10", 443, Close::ClientFirst);
    p.open(0, a, 30);
    p.open(0, b, 10);
    p.open(0, c, 20);
    let spec = "ports=32,hold=120";
    let run = p.check(0, &["--upstream-nat", spec, "--pools", "upstream", "-v"]);
    let now = Instant::now();
    let log = p.log();
    let vm = vm_address(0);
    for (to, label) in [
        (a, "198.51.100.10:443"),
        (b, "198.51.100.10:80"),
        (c, "203.0.113.10:443"),
    ] {
        let free = 32 - rule_used(&log, to, false, HOLD_120, now);
        assert_eq!(
            run.pool_free("upstream pools", &format!("{vm} -> {label}")),
            free,
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("upstream pools: 3 destinations"),
        "{}",
        run.stdout
    );
    assert_eq!(run.perf("upstream_free"), 2, "{}", run.stdout);
    // Per address, both ports of the first server share one budget.
    let run = p.check(
        0,
        &[
            "--upstream-nat",
            "ports=64,hold=120,per=address",
            "--pools",
            "upstream",
            "-v",
        ],
    );
    let used = rule_used(&log, a, true, HOLD_120, now);
    assert_eq!(used, 40);
    assert_eq!(
        run.pool_free("upstream pools", &format!("{vm} -> 198.51.100.10")),
        64 - used
    );
}

#[test]
fn private_and_excluded_destinations_are_not_counted() {
    let Some(mut p) = Provider::new("private", 1, &["198.51.100.11", "203.0.113.11"]) else {
        return;
    };
    let private = p.serve(&upstreamlab::private_server(0), 443, Close::ClientFirst);
    let public = p.serve("198.51.100.11", 443, Close::ClientFirst);
    let peered = p.serve("203.0.113.11", 443, Close::ClientFirst);
    p.open(0, private, 60);
    p.open(0, public, 5);
    p.open(0, peered, 50);
    // The options from an --extra-opts file, as a site would keep them.
    let dir = scratch("upstream-private");
    let ini = dir.path().join("plugins.ini");
    std::fs::write(
        &ini,
        "[cloud]\nupstream-nat = gcp\nupstream-nat-exclude = 203.0.113.0/24\npools = upstream\n",
    )
    .expect("write the ini file");
    let extra = format!("cloud@{}", ini.display());
    let run = p.check(0, &["--extra-opts", &extra, "-v"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("upstream pools: 1 destination;"),
        "{}",
        run.stdout
    );
    assert_eq!(run.perf("upstream_free"), 59, "{}", run.stdout);
}

#[test]
fn udp_per_address_shares_one_budget_over_every_port() {
    let Some(mut p) = Provider::new("udp", 1, &["203.0.113.12"]) else {
        return;
    };
    for port in 5000..5010 {
        let to = format!("203.0.113.12:{port}").parse().unwrap();
        p.udp(0, to, 3);
    }
    let run = p.check(0, &["--upstream-nat", "azure-lb:32", "--pools", "upstream"]);
    let to = "203.0.113.12:5000".parse().unwrap();
    let used = rule_used(&p.log(), to, true, HOLD_120, Instant::now());
    assert_eq!(used, 30);
    let vm = vm_address(0);
    assert!(
        run.stdout.starts_with(&format!(
            "EPHEMERAL CRITICAL - upstream {vm} -> 203.0.113.12/udp: 2 of 32 ports free"
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn every_namespace_spends_the_one_budget() {
    // The sweep sees every namespace of the host: none comes or goes.
    let _alone = namespaces_alone();
    let Some(mut p) = Provider::new("all_netns", 2, &["198.51.100.13"]) else {
        return;
    };
    let web = p.serve("198.51.100.13", 4443, Close::ClientFirst);
    p.open(0, web, 30);
    p.open(1, web, 30);
    let used = rule_used(&p.log(), web, false, HOLD_120, Instant::now());
    assert_eq!(used, 60);
    // Alone, each namespace is at 30 of 64: fine.
    let one = p.check(0, &["--upstream-nat", "gcp", "--pools", "upstream"]);
    assert_eq!(
        (one.code, one.perf("upstream_free")),
        (0, 34),
        "{}",
        one.stdout
    );
    let sweep = |extra: &[&str]| {
        Plugin::new()
            .args([
                "--all-netns",
                "--upstream-nat",
                "gcp",
                "--pools",
                "upstream",
                "--destination",
                "198.51.100.13:4443",
                // Other namespaces of the host (a benchmark's hundreds) may
                // take a while to sweep; the assertions speak of two only.
                "-t",
                "120",
            ])
            .args(extra)
            .bound(Duration::from_secs(150))
            .check()
    };
    let run = sweep(&[]);
    let (a, b) = (vm_address(0), vm_address(1));
    assert_eq!(run.code, 2, "{}", run.stdout);
    let status = run.status_line();
    assert!(
        status.contains(&format!(
            "upstream {a} and 1 more -> 198.51.100.13:4443: 4 of 64 ports free (93.8% used)"
        )),
        "{}\n(the other source is {b})",
        run.stdout
    );
    assert_eq!(run.perf("upstream_free"), 4);
    // The Prometheus text says the same: the summed pool once, with no
    // `netns` label, and no namespace's own share of it.
    let prom = sweep(&["--format", "prometheus"]);
    assert_eq!(prom.code, 0, "{}", prom.stdout);
    let upstream: Vec<&str> = prom
        .stdout
        .lines()
        .filter(|l| l.contains("kind=\"upstream\""))
        .collect();
    assert!(
        upstream.iter().all(|l| !l.contains("netns=")),
        "{}",
        prom.stdout
    );
    let pool = "kind=\"upstream\",protocol=\"tcp\",destination=\"198.51.100.13\",port=\"4443\"";
    let sample = |name: &str| {
        let prefix = format!("{name}{{{pool}}} ");
        let lines: Vec<&str> = upstream
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        match lines[..] {
            [value] => value.parse::<f64>().unwrap(),
            _ => panic!("not one {prefix}in:\n{}", prom.stdout),
        }
    };
    assert_eq!(
        sample("ephemeral_pool_free_ports"),
        f64::from(run.perf("upstream_free"))
    );
    assert_eq!(sample("ephemeral_pool_capacity_ports"), 64.0);
    assert_eq!(
        sample("ephemeral_pool_used_ratio") * 100.0,
        run.perf_f64("upstream_used_pct")
    );
    assert!(
        upstream.contains(&"ephemeral_pools{kind=\"upstream\"} 1"),
        "{}",
        prom.stdout
    );
    if have("upstream_all_netns_promtool", PROMTOOL) {
        assert_eq!(promtool_complaints(&prom.stdout), "");
    }
}

/// `--trend`'s state in a directory of the test's own.
fn state_env(dir: &TempDir) -> [(&'static str, String); 1] {
    [("MP_STATE_PATH", dir.path().display().to_string())]
}

/// A hold shorter than TIME_WAIT: 30 s. Closes 35 s old still show as
/// TIME_WAIT on the host, but the provider has their ports back.
fn hold_shorter_than_time_wait() {
    let Some(mut p) = Provider::new("hold_30", 1, &["198.51.100.14"]) else {
        return;
    };
    let web = p.serve("198.51.100.14", 443, Close::ClientFirst);
    p.open(0, web, 20);
    p.close(web, 20);
    std::thread::sleep(Duration::from_secs(35));
    p.open(0, web, 10);
    p.close(web, 10);
    p.open(0, web, 5);
    let run = p.check(
        0,
        &[
            "--upstream-nat",
            "ports=64,hold=30",
            "--pools",
            "upstream,connect",
        ],
    );
    let used = rule_used(
        &p.log(),
        web,
        false,
        Duration::from_secs(30),
        Instant::now(),
    );
    assert_eq!(used, 15);
    assert_eq!(run.perf("upstream_free"), 64 - used, "{}", run.stdout);
    assert_eq!(
        run.perf("time_wait"),
        30,
        "the host shows all 30: {}",
        run.stdout
    );
}

/// Churn with a hold longer than TIME_WAIT: 5 closes a second into 400
/// ports held 120 s. The rule fills at 80 s; checked at 40 s, the check's
/// seconds until full must be within 20% of the rule's.
fn churn_with_a_hold_longer_than_time_wait() {
    let Some(mut p) = Provider::new("churn_120", 1, &["198.51.100.15"]) else {
        return;
    };
    let web = p.serve("198.51.100.15", 443, Close::ClientFirst);
    let rate = 5.0;
    std::thread::scope(|s| {
        let churner = p.churner(0);
        let churn = s.spawn(move || churner.run(web, rate, 50.0, Close::ClientFirst));
        std::thread::sleep(Duration::from_secs(40));
        let run = p.check(
            0,
            &[
                "--upstream-nat",
                "ports=400,hold=120",
                "--pools",
                "upstream",
            ],
        );
        let at = Instant::now();
        let rule = rule_full_in(&p.log(), web, HOLD_120, at, rate, 400).expect("the rule fills");
        let host = run.perf_f64("upstream_full_s");
        assert!(
            (host - rule).abs() <= 0.2 * rule,
            "full in {host:.1} s, the rule says {rule:.1} s:\n{}",
            run.stdout
        );
        churn.join().expect("churn");
    });
}

/// The server closes first: no TIME_WAIT on the VM. With conntrack active
/// the closes are counted exactly; without, the output says they are not
/// seen, and two --trend runs bound them so the forecast is not late.
fn peer_closes_first(conntrack: bool) {
    let tag = if conntrack { "peer_ct" } else { "peer_bare" };
    let server = if conntrack {
        "198.51.100.16"
    } else {
        "198.51.100.17"
    };
    let Some(mut p) = Provider::new(tag, 1, &[server]) else {
        return;
    };
    let web = p.serve(server, 443, Close::PeerFirst);
    if conntrack {
        p.conntrack_on(0);
    }
    let state = scratch(tag);
    let args = ["--upstream-nat", "gcp", "--pools", "upstream", "--trend"];
    let first = p.plugin(0).args(args).envs(state_env(&state)).check();
    assert_eq!(first.code, 0, "{}", first.stdout);
    let rate = 2.0;
    p.churn(0, web, rate, 20.0, Close::PeerFirst);
    let at = Instant::now();
    let log = p.log();
    let used = rule_used(&log, web, false, HOLD_120, at);
    assert_eq!(used, 40);
    let rule = rule_full_in(&log, web, HOLD_120, at, rate, 64).expect("the rule fills");
    if conntrack {
        let run = p.check(0, &["--upstream-nat", "gcp", "--pools", "upstream"]);
        assert_eq!(run.perf("upstream_free"), 64 - used, "{}", run.stdout);
        assert!(!run.stdout.contains("peer closed"), "{}", run.stdout);
        return;
    }
    // OK as far as the host sees: the note is for -vv.
    let blind = p.check(0, &["--upstream-nat", "gcp", "--pools", "upstream", "-vv"]);
    assert!(
        blind.stdout.contains(
            "note: upstream: connections the peer closed first leave no TIME_WAIT here and \
             conntrack is not active"
        ) && blind
            .stdout
            .contains("are not counted; --trend bounds them"),
        "{}",
        blind.stdout
    );
    // The second --trend run bounds them: never later than the rule.
    let second = p.plugin(0).args(args).envs(state_env(&state)).check();
    let host = second.perf_f64("upstream_full_s");
    assert!(
        host <= rule,
        "full in {host:.1} s, the rule says {rule:.1} s:\n{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("are bounded by the kernel's count"),
        "{}",
        second.stdout
    );
}

#[test]
fn real_time_scenarios_side_by_side() {
    let _cpu = real_time();
    let scenarios: [(&str, fn()); 4] = [
        ("a hold shorter than TIME_WAIT", hold_shorter_than_time_wait),
        (
            "churn with a hold longer than TIME_WAIT",
            churn_with_a_hold_longer_than_time_wait,
        ),
        ("the peer closes first, conntrack active", || {
            peer_closes_first(true)
        }),
        ("the peer closes first, no conntrack", || {
            peer_closes_first(false)
        }),
    ];
    let failed: Vec<String> = std::thread::scope(|s| {
        let running: Vec<_> = scenarios
            .iter()
            .map(|(name, f)| (*name, s.spawn(*f)))
            .collect();
        running
            .into_iter()
            .filter_map(|(name, h)| h.join().is_err().then(|| name.to_string()))
            .collect()
    });
    assert!(failed.is_empty(), "failed: {failed:?}");
}
