//! The upstream pools against an emulated provider (see `upstreamlab`): a
//! VM namespace talks to public-looking addresses in a server namespace,
//! and the provider's documented rule applied to the client's own log of
//! opens and closes is the oracle. Each scenario has its own namespaces;
//! the real-time ones run side by side on threads.

mod lab;
mod upstreamlab;

use std::time::{Duration, Instant};

use upstreamlab::{Close, Provider, rule_used, vm_address};

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
    let run = p.check(0, &["--upstream-nat", spec, "--pools", "upstream"]);
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
    let run = p.check(
        0,
        &[
            "--upstream-nat",
            "gcp",
            "--upstream-nat-exclude",
            "203.0.113.0/24",
            "--pools",
            "upstream",
        ],
    );
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
