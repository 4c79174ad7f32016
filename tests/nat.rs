//! NAT source ports against the real kernel: a pod behind a masquerading
//! node, in namespaces the tests make (see `natlab`). First the kernel's own
//! behaviour the NAT pools model, measured; each scenario runs on its own
//! topology, so they run side by side.

use std::time::Duration;

use crate::util::natlab::{self, Role, Rule, SERVER, Topology};

/// Long enough for a SYN and its answer over two veth pairs, short enough
/// that a dropped SYN (no retransmit before 1 s) costs little.
const TIMEOUT: Duration = Duration::from_millis(250);

/// The number of attempts of each round of the kernel's port search
/// (nf_nat_l4proto_unique_tuple): 128, then halved with a new random start
/// while the round had at least 16, so 128, 64, 32, 16, 8.
const ROUNDS: [u32; 5] = [128, 64, 32, 16, 8];

#[test]
fn a_ten_port_masquerade_admits_ten_pod_connections_then_drops() {
    let Some(mut topo) = Topology::new("ten_ports", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    let before = topo.conntrack_stats();
    let got = topo.pod_connects_until_timeout(to, TIMEOUT, 20);
    assert_eq!(got, 10, "{}", topo.conntrack_list());
    // The 11th SYN found no port: the node counted it, nothing else did.
    let after = topo.conntrack_stats();
    assert!(after.insert_failed > before.insert_failed, "{after:?}");
    assert!(after.drop > before.drop, "{after:?}");
    // Every entry's reply tuple holds one port of the range, towards the node.
    let list = topo.conntrack_list();
    let mut ports: Vec<u16> = list
        .lines()
        .filter_map(|l| natlab::reply_port(l, "src=10.200.2.2 dst=10.200.2.1"))
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, (40000..=40009).collect::<Vec<_>>(), "{list}");
}

#[test]
fn each_destination_port_has_its_own_nat_ports() {
    let Some(mut topo) = Topology::new("per_dport", &[Rule::tcp(40000, 40004)]) else {
        return;
    };
    let https = topo.listen(SERVER, 443);
    let other = topo.listen(SERVER, 8443);
    let second = topo.add_server_address();
    let far = topo.listen(second, 443);
    assert_eq!(topo.pod_connects_until_timeout(https, TIMEOUT, 10), 5);
    assert_eq!(topo.pod_connects_until_timeout(other, TIMEOUT, 10), 5);
    assert_eq!(topo.pod_connects_until_timeout(far, TIMEOUT, 10), 5);
}

#[test]
fn the_nodes_own_connections_take_nat_ports() {
    let Some(mut topo) = Topology::new("node_own", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    // The node's own sockets draw from a range inside the NAT range.
    topo.sysctl(Role::Node, "net.ipv4.ip_local_port_range", "40000 40003");
    for _ in 0..3 {
        topo.node_connect(to, TIMEOUT).expect("node connect");
    }
    assert_eq!(topo.pod_connects_until_timeout(to, TIMEOUT, 20), 7);
}

#[test]
fn udp_masquerade_has_the_same_limit() {
    let Some(mut topo) = Topology::new("udp", &[Rule::udp(40000, 40009)]) else {
        return;
    };
    let to = topo.udp_listen(SERVER, 53);
    let before = topo.conntrack_stats();
    assert_eq!(topo.udp_flows_from_pod(to, 14), 10);
    let after = topo.conntrack_stats();
    assert!(after.insert_failed >= before.insert_failed + 4, "{after:?}");
}

/// Above 128 ports the kernel tries a bounded number of ports from random
/// starts, so it can fail while ports are free. With one free port in 300
/// a round of `a` attempts misses it with chance (300 - a) / 300.
#[test]
fn a_large_range_with_one_free_port_fails_as_the_search_predicts() {
    let Some(mut topo) = Topology::new("search", &[Rule::tcp(40000, 40299)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 299, TIMEOUT);
    let expected: f64 = ROUNDS.iter().map(|&a| f64::from(300 - a) / 300.0).product();
    let attempts = 200;
    let failures = (0..attempts)
        .filter(|_| !topo.pod_probe(to, TIMEOUT))
        .count();
    let measured = failures as f64 / f64::from(attempts);
    // Five standard deviations of a binomial count: a false alarm is rarer
    // than one in a million runs.
    eprintln!(
        "one free port in 300: {failures} of {attempts} attempts failed, the search predicts {expected:.3}"
    );
    let sigma = (expected * (1.0 - expected) / f64::from(attempts)).sqrt();
    assert!(
        (measured - expected).abs() < 5.0 * sigma,
        "measured {measured:.3} ({failures} of {attempts}), expected {expected:.3}"
    );
}

/// The two readers of the conntrack table agree on the node's entries:
/// ctnetlink and the text of /proc/net/nf_conntrack.
#[test]
fn netlink_and_the_proc_text_read_the_same_entries() {
    use check_ephemeral::read::conntrack::{Entry, read_entries, text};
    let Some(mut topo) = Topology::new("readers", &[Rule::tcp(40000, 40009)]) else {
        return;
    };
    let to = topo.listen(SERVER, 443);
    topo.pod_fill(to, 3, TIMEOUT);
    let key = |e: &Entry| (e.protocol, e.orig, e.reply, e.tcp_state, e.zone);
    let (from_netlink, from_text) = topo.within(Role::Node, || {
        let mut netlink = Vec::new();
        let proc_dir = std::path::Path::new("/proc/thread-self/net");
        read_entries(proc_dir, None, &mut |e| netlink.push(key(e))).expect("netlink read");
        let listing = std::fs::read_to_string(proc_dir.join("nf_conntrack")).expect("read text");
        let text: Vec<_> = listing
            .lines()
            .map(|l| key(&text::parse_line(l).expect("parse line")))
            .collect();
        (netlink, text)
    });
    let sorted = |mut v: Vec<_>| {
        v.sort_by_key(|k: &(u8, _, _, _, _)| format!("{k:?}"));
        v
    };
    assert_eq!(from_netlink.len(), 3);
    assert_eq!(sorted(from_netlink), sorted(from_text));
}
