//! The NAT pools as the check judges them, against what a pod behind a
//! masquerading node really gets (see `natlab`): the check runs in the
//! node's namespace, then the pod connects until a connect times out. Each
//! scenario has its own topology, so they run side by side.

use std::time::Duration;

use crate::util::natlab::{POD, Role, Rule, SERVER, Topology};

const TIMEOUT: Duration = Duration::from_millis(250);
const HTTPS: &str = "tcp 10.200.2.1 -> 10.200.2.2:443";

#[test]
fn predicted_free_is_what_the_pod_gets_and_a_full_pool_is_critical_first() {
    let Some(mut topo) = Topology::new("predicted", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 4, TIMEOUT);
    let run = topo.check(&["-v", "--nat-ports", "40000-40009", "--pools", "nat"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let predicted = run.pool_free("nat pools", HTTPS);
    assert_eq!(predicted, 6, "{}", run.stdout);
    assert_eq!(run.perf("nat_free"), 6);
    // NAT pools alone: no socket table is read, and none is shown.
    assert!(!run.stdout.contains("connect pools"), "{}", run.stdout);
    assert!(!run.perf.contains_key("capacity"), "{}", run.stdout);
    // The pod gets every port the check called free, without a timeout...
    topo.pod_fill(to, predicted as usize, TIMEOUT);
    // ...and the check says CRITICAL before the first connect times out.
    let run = topo.check(&["-v", "--nat-ports", "40000-40009", "--pools", "nat"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.starts_with(&format!(
            "EPHEMERAL CRITICAL - nat {HTTPS}: 0 of 10 ports free (100.0% used)"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(run.perf("conntrack_insert_failed"), 0);
    assert_eq!(run.perf("conntrack_entries"), 10);
    assert_eq!(topo.pod_connects_until_timeout(to, TIMEOUT, 5), 0);
    let run = topo.check(&["-v", "--nat-ports", "40000-40009", "--pools", "nat"]);
    assert!(run.perf("conntrack_insert_failed") >= 1, "{}", run.stdout);
}

#[test]
fn each_destination_port_is_a_pool_and_the_worst_is_named() {
    let Some(mut topo) = Topology::new("per_port", &[Rule::tcp(40000, 40004)]) else {
        return;
    };
    let https = topo.listen(SERVER, 443);
    let other = topo.listen(SERVER, 8443);
    topo.pod_fill(https, 5, TIMEOUT);
    topo.pod_fill(other, 2, TIMEOUT);
    let run = topo.check(&["-v", "--nat-ports", "40000-40004"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with(&format!("EPHEMERAL CRITICAL - nat {HTTPS}: 0 of 5")),
        "{}",
        run.stdout
    );
    let alt = "tcp 10.200.2.1 -> 10.200.2.2:8443";
    assert_eq!(run.pool_free("nat pools", alt), 3);
    // --destination narrows NAT pools as it does connect pools.
    let run = topo.check(&[
        "--nat-ports",
        "40000-40004",
        "--pools",
        "nat",
        "--destination",
        "10.200.2.2:8443",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with(&format!("EPHEMERAL OK - nat {alt}: 3 of 5")),
        "{}",
        run.stdout
    );
    assert_eq!(topo.pod_connects_until_timeout(other, TIMEOUT, 10), 3);
    // --source narrows by the NAT address: another one has no pools, and a
    // new destination from it stands in.
    let run = topo.check(&["-v", "--pools", "nat", "--source", "10.200.1.1"]);
    assert!(
        run.stdout
            .starts_with("EPHEMERAL OK - nat 10.200.1.1 -> a new destination: 64512 of 64512"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_nodes_own_connections_take_ports_of_the_pool() {
    let Some(mut topo) = Topology::new("own", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.sysctl(Role::Node, "net.ipv4.ip_local_port_range", "40000 40003");
    for _ in 0..3 {
        topo.node_connect(to, TIMEOUT).expect("node connect");
    }
    topo.pod_fill(to, 2, TIMEOUT);
    let run = topo.check(&["-v", "--nat-ports", "40000-40009", "--pools", "nat"]);
    assert_eq!(run.pool_free("nat pools", HTTPS), 5, "{}", run.stdout);
    // One --source: the kernel leaves out replies to other addresses, and
    // the node's own entries (replies to its address) still count.
    let args = ["--nat-ports", "40000-40009", "--pools", "nat", "-vv"];
    let run = topo.check(&[&args[..], &["--source", "10.200.2.1"]].concat());
    assert_eq!(run.pool_free("nat pools", HTTPS), 5, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "conntrack: 5 entries from netlink (filtered in the kernel to replies to 10.200.2.1)"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(topo.pod_connects_until_timeout(to, TIMEOUT, 20), 5);
}

#[test]
fn udp_masquerade_pools() {
    let Some(mut topo) = Topology::new("udp_pool", &[Rule::udp(40000, 40009)]) else {
        return;
    };
    let to = topo.udp_listen(SERVER, 53);
    assert_eq!(topo.udp_flows_from_pod(to, 4), 4);
    let run = topo.check(&["-v", "--nat-ports", "40000-40009", "--pools", "nat"]);
    let dns = "udp 10.200.2.1 -> 10.200.2.2:53";
    let predicted = run.pool_free("nat pools", dns);
    assert_eq!(predicted, 6, "{}", run.stdout);
    assert_eq!(topo.udp_flows_from_pod(to, 10), predicted as usize);
}

/// Above 128 ports free ports do not promise a connection; the check says
/// how likely a new one fails at this fill, and the kernel agrees.
#[test]
fn a_large_range_near_full_fails_as_often_as_the_check_says() {
    let Some(mut topo) = Topology::new("chance", &[Rule::tcp(40000, 40299)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 298, TIMEOUT);
    let run = topo.check(&["-v", "--nat-ports", "40000-40299", "--pools", "nat"]);
    assert_eq!(run.pool_free("nat pools", HTTPS), 2, "{}", run.stdout);
    let predicted: f64 = run
        .stdout
        .split("fails with chance ")
        .nth(1)
        .and_then(|rest| rest.split('%').next())
        .and_then(|p| p.parse().ok())
        .map(|p: f64| p / 100.0)
        .unwrap_or_else(|| panic!("no failure chance in:\n{}", run.stdout));
    let attempts = 300;
    let failures = (0..attempts)
        .filter(|_| !topo.pod_probe(to, TIMEOUT))
        .count();
    let measured = failures as f64 / f64::from(attempts);
    eprintln!(
        "two free ports in 300: {failures} of {attempts} attempts failed, the check predicted {predicted:.3}"
    );
    // Five standard deviations, and a floor for a chance close to 0.
    let sigma = (predicted * (1.0 - predicted) / f64::from(attempts)).sqrt();
    assert!(
        (measured - predicted).abs() < 5.0 * sigma + 0.01,
        "measured {measured:.3}, predicted {predicted:.3}"
    );
}

#[test]
fn nat_pools_alone_with_no_nat_yet_stand_in_for_a_new_destination() {
    let Some(topo) = Topology::new("no_nat_yet", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let run = topo.check(&["-v", "--nat-ports", "40000-40009", "--pools", "nat"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with("EPHEMERAL OK - nat to a new destination: 10 of 10 ports free"),
        "{}",
        run.stdout
    );
}

#[test]
fn without_cap_net_admin_a_note_or_with_pools_nat_unknown() {
    let Some(mut topo) = Topology::new("unprivileged", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    // Whether the note shows depends on the privilege alone, not on whether
    // the table holds entries: with none yet it is there at -vv all the
    // same, and the default verbosity stays one line.
    let empty = topo.plugin_in(Role::Node).nobody().run().stdout;
    assert!(empty.contains("conntrack_entries=0;"), "{empty}");
    assert_eq!(empty.lines().count(), 1, "{empty}");
    let empty = topo.plugin_in(Role::Node).arg("-vv").nobody().run().stdout;
    assert!(
        empty.contains(
            "note: NAT pools not judged: reading the conntrack table needs CAP_NET_ADMIN"
        ),
        "{empty}"
    );
    topo.pod_fill(to, 2, TIMEOUT);
    let out = topo.plugin_in(Role::Node).nobody().run().stdout;
    assert!(out.starts_with("EPHEMERAL OK"), "{out}");
    // NAT pools were not asked for by name: no note at the default
    // verbosity, though the table holds NAT entries; one line.
    assert_eq!(out.lines().count(), 1, "{out}");
    // The table's size is anyone's to read.
    assert!(out.contains("conntrack_entries=2;"), "{out}");
    let out = topo.plugin_in(Role::Node).arg("-vv").nobody().run().stdout;
    assert!(
        out.contains("note: NAT pools not judged: reading the conntrack table needs CAP_NET_ADMIN"),
        "{out}"
    );
    let out = topo
        .plugin_in(Role::Node)
        .args(["--pools", "nat"])
        .nobody()
        .run();
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout
            .starts_with("EPHEMERAL UNKNOWN - --pools nat needs CAP_NET_ADMIN"),
        "{}",
        out.stdout
    );
}

#[test]
fn another_namespace_is_judged_from_outside() {
    let Some(mut topo) = Topology::new("netns", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 10, TIMEOUT);
    let node = topo.name(Role::Node).to_string();
    let run = topo.check_outside(&["--netns", &node, "--nat-ports", "40000-40009"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.starts_with(&format!(
            "EPHEMERAL CRITICAL - netns {node}: nat {HTTPS}: 0 of 10"
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn all_netns_reads_each_namespaces_own_conntrack_table() {
    let Some(mut topo) = Topology::new("all_netns", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 10, TIMEOUT);
    let node = topo.name(Role::Node).to_string();
    let run = topo.check_outside(&[
        "--all-netns",
        "--pools",
        "nat",
        "--nat-ports",
        "40000-40009",
        "--top",
        "100",
        "-t",
        "60",
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    // Other tests' nodes may be as full; this node's line is among them,
    // and the pod's and the server's namespaces have no NAT.
    assert!(
        run.stdout.contains(&format!(
            "  {node}: CRITICAL - nat {HTTPS}: 0 of 10 free (100.0% used)"
        )),
        "{}",
        run.stdout
    );
    let pod = topo.name(Role::Pod);
    assert!(
        run.stdout
            .contains(&format!("  {pod}: OK - nat to a new destination")),
        "{}",
        run.stdout
    );
}

/// A masquerade naming no port range: the kernel keeps a pod's port where
/// the translated tuple is unique, else searches the range of the port's
/// class, and connections from ports below 512 have only 1-511. The check
/// judges that class as a pool of its own.
#[test]
fn without_a_rule_range_low_source_ports_are_a_pool_of_their_own() {
    let Some(mut topo) = Topology::new("low_class", &[Rule::tcp_classes()]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    let second = topo.add_pod_address();
    let connect = |topo: &mut Topology, from, port| {
        topo.pod_connect_from(from, port, to, TIMEOUT)
            .unwrap_or_else(|e| panic!("connect from {from}:{port}: {e}"))
    };
    // The pod's low ports are kept; the second source's port 1 collides
    // and is moved, within 1-511.
    for port in 1..=20 {
        connect(&mut topo, POD, port);
    }
    connect(&mut topo, second, 1);
    let moved = topo
        .nat_port(second, 1)
        .expect("a NAT port for 10.200.1.3:1");
    assert!((21..=511).contains(&moved), "moved to {moved}");
    // Fill the class but for five ports, every one kept as it is.
    let rest: Vec<u16> = (21..=511).filter(|&p| p != moved).collect();
    let (fill, last) = rest.split_at(rest.len() - 5);
    for &port in fill {
        connect(&mut topo, POD, port);
    }
    let low = format!("{HTTPS} (source ports below 512)");
    let run = topo.check(&["-v", "--pools", "nat"]);
    assert_eq!(run.pool_free("nat pools", &low), 5, "{}", run.stdout);
    assert!(
        run.stdout.starts_with(&format!(
            "EPHEMERAL CRITICAL - nat {low}: 5 of 511 ports free"
        )),
        "{}",
        run.stdout
    );
    // The pod gets exactly those five...
    for &port in last {
        connect(&mut topo, POD, port);
    }
    let run = topo.check(&["-v", "--pools", "nat"]);
    assert!(
        run.stdout.starts_with(&format!(
            "EPHEMERAL CRITICAL - nat {low}: 0 of 511 ports free (100.0% used)"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(run.perf("nat_free"), 0);
    assert_eq!(run.perf("conntrack_insert_failed"), 0);
    // ...and then a low port that must be moved finds none: the SYN is
    // dropped, while the other classes still have room.
    let refused = topo.pod_connect_from(second, 2, to, TIMEOUT);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut),
        "{refused:?}\n{}",
        topo.conntrack_list()
    );
    connect(&mut topo, second, 700);
    topo.pod_connect(to, TIMEOUT)
        .expect("an ordinary pod connect");
    // A port from 512 to 599 is kept although no search hands it out: it
    // takes no port of any class.
    connect(&mut topo, second, 550);
    assert_eq!(topo.nat_port(second, 550), Some(550));
    let run = topo.check(&["-v", "--pools", "nat", "--top", "5"]);
    assert_eq!(
        run.pool_free("nat pools", &format!("{HTTPS} (source ports 512-1023)")),
        423,
        "{}",
        run.stdout
    );
    assert_eq!(run.pool_free("nat pools", HTTPS), 64511, "{}", run.stdout);
    assert!(run.stdout.contains("nat pools: 3 tuples"), "{}", run.stdout);
    assert!(run.perf("conntrack_insert_failed") >= 1, "{}", run.stdout);
    assert!(!run.stdout.contains("outside"), "{}", run.stdout);
}

/// A rule range the check was not told, or told wrong: ports outside the
/// range assumed are said in one note instead of counted silently.
#[test]
fn ports_outside_the_range_assumed_are_noted() {
    let Some(mut topo) = Topology::new("strays", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 8, TIMEOUT);
    let run = topo.check(&["-v", "--nat-ports", "40000-40004", "--pools", "nat"]);
    let free = run.pool_free("nat pools", HTTPS);
    let outside = 8 - (5 - free);
    assert!(outside >= 3, "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "note: {outside} source-translated connections hold NAT ports outside 40000-40004 (--nat-ports)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("the range given is wrong or the rule changed")
    );
    // No --nat-ports, and a low pod port the rule's range moved to 4000x:
    // outside the class the kernel's default would have used.
    topo.pod_connect_from(POD, 5, to, TIMEOUT)
        .expect("connect from port 5");
    let run = topo.check(&["-v", "--pools", "nat"]);
    assert!(
        run.stdout.contains(
            "note: 1 source-translated connection holds NAT ports outside the kernel's default range for their source port"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("give it with --nat-ports"),
        "{}",
        run.stdout
    );
}
