use super::*;
use crate::model::{Kind, StateCounts, Tuple};

fn pool(kind: Kind, name: PoolName, capacity: u32, free: u32) -> Pool {
    Pool {
        kind,
        name,
        capacity,
        free,
        counts: StateCounts::default(),
        fail_ppm: None,
    }
}

fn snapshot(netns: Option<&str>) -> Snapshot {
    let tuple = Tuple {
        source: "127.0.0.1".parse().unwrap(),
        destination: "::1".parse().unwrap(),
        port: 5432,
    };
    let connect = pool(Kind::Connect, PoolName::Tuple(tuple), 20, 5);
    let bind = pool(
        Kind::Bind,
        PoolName::Address("0.0.0.0".parse().unwrap()),
        20,
        20,
    );
    let udp = pool(Kind::Udp, PoolName::Address("::".parse().unwrap()), 20, 1);
    let report = Report {
        state: State::Critical,
        worst: (connect, State::Critical),
        kinds: vec![
            KindReport {
                kind: Kind::Connect,
                judged: true,
                pools: 7,
                top: vec![(connect, State::Critical)],
            },
            KindReport {
                kind: Kind::Bind,
                judged: true,
                pools: 1,
                top: vec![(bind, State::Ok)],
            },
            // Left out by --pools: not listed at all.
            KindReport {
                kind: Kind::Udp,
                judged: false,
                pools: 3,
                top: vec![(udp, State::Ok)],
            },
        ],
        forecasts: Default::default(),
        conntrack: None,
    };
    Snapshot {
        netns: netns.map(str::to_string),
        report,
        host: Some(Host {
            capacity: 20,
            sockets: Some(SocketFigures {
                time_wait: 3,
                ..SocketFigures::default()
            }),
        }),
    }
}

#[test]
fn one_namespace_in_full() {
    let text = render(State::Critical, &[snapshot(None)], &[], &[]);
    let expected = "\
# HELP ephemeral_check_state The state the thresholds give: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
# TYPE ephemeral_check_state gauge
ephemeral_check_state 2
# HELP ephemeral_pools Pools of each judged kind in the namespace that match the selection.
# TYPE ephemeral_pools gauge
ephemeral_pools{kind=\"connect\"} 7
ephemeral_pools{kind=\"bind\"} 1
# HELP ephemeral_pool_free_ports Ports a new caller of the pool is sure to get now.
# TYPE ephemeral_pool_free_ports gauge
ephemeral_pool_free_ports{kind=\"connect\",source=\"127.0.0.1\",destination=\"::1\",port=\"5432\"} 5
ephemeral_pool_free_ports{kind=\"bind\",source=\"0.0.0.0\"} 20
";
    assert!(text.starts_with(expected), "{text}");
    assert!(text.contains(
        "ephemeral_pool_used_ratio{kind=\"connect\",source=\"127.0.0.1\",destination=\"::1\",port=\"5432\"} 0.75\n"
    ), "{text}");
    assert!(text.contains("\nephemeral_time_wait_sockets 3\n"), "{text}");
    assert!(!text.contains("udp"), "an unjudged kind is listed: {text}");
    assert!(
        text.ends_with("ephemeral_time_wait_reusable_sockets 0\n"),
        "{text}"
    );
}

#[test]
fn nat_pools_name_their_class_only_where_it_is_not_the_ordinary_one() {
    use crate::model::NatKey;
    use crate::read::socket::Protocol;
    let key = |class| NatKey {
        protocol: Protocol::Tcp,
        address: "10.0.0.1".parse().unwrap(),
        destination: "10.0.0.9".parse().unwrap(),
        port: 443,
        zone: 0,
        class,
    };
    let labels = |class| {
        pool_labels(&pool(Kind::Nat, PoolName::Nat(key(class)), 511, 5))
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let plain = "kind=nat,protocol=tcp,source=10.0.0.1,destination=10.0.0.9,port=443";
    assert_eq!(labels(PortClass::Ordinary), plain);
    assert_eq!(
        labels(PortClass::Low),
        "kind=nat,protocol=tcp,port_class=below-512,source=10.0.0.1,destination=10.0.0.9,port=443"
    );
    assert!(labels(PortClass::Reserved).contains("port_class=512-1023"));
}

#[test]
fn namespaces_are_labelled_and_families_stay_together() {
    let counts = [("netns", 2), ("netns_critical", 2), ("netns_new", 0)];
    let snapshots = [snapshot(Some("web\"1")), snapshot(Some("db"))];
    let bounds = [("pod-7".to_string(), 5.25)];
    let text = render(State::Critical, &snapshots, &counts, &bounds);
    // A bound has its own name, never a measured figure's.
    assert!(
        text.contains("\nephemeral_netns_bound_used_ratio{netns=\"pod-7\"} 0.0525\n"),
        "{text}"
    );
    assert!(
        !text.contains("ephemeral_pool_used_ratio{netns=\"pod-7\""),
        "{text}"
    );
    let names: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let mut seen: Vec<&str> = names.clone();
    seen.dedup();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), unique.len(), "a family split up: {text}");
    assert!(
        text.contains("ephemeral_sockets{netns=\"web\\\"1\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("ephemeral_check_state 2\n"), "{text}");
    assert!(text.contains("\nephemeral_netns_critical 2\n"), "{text}");
    assert!(text.ends_with("\nephemeral_netns_new 0\n"), "{text}");
}

#[test]
fn values_and_labels_are_escaped() {
    assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
    assert_eq!(number(0.5), "0.5");
    assert_eq!(number(28232.0), "28232");
    assert_eq!(number(1e21), "1000000000000000000000");
    assert_eq!(number(f64::INFINITY), "+Inf");
    let empty = pool(Kind::Udp, PoolName::Address("::".parse().unwrap()), 0, 0);
    assert_eq!(figures::used_ratio(&empty), 1.0);
}
