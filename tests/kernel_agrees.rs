//! The plugin's numbers are the kernel's numbers: each scenario builds real
//! sockets in a private namespace, runs the check, then allocates until the
//! kernel refuses and compares, exactly.

mod lab;

use lab::{Lab, Settings};
use std::net::SocketAddr;

/// The predicted free ports of one connect pool, then what connect() really gets.
fn connect_agrees(lab: &mut Lab, source: &str, to: SocketAddr) -> u32 {
    let dest = to.to_string();
    let run = lab.check(&["--source", source, "--destination", &dest]);
    let predicted = run.perf("connect_free");
    let got = lab.exhaust_connect(Some(source), to);
    assert_eq!(predicted, got, "connect {source} -> {to}:\n{}", run.stdout);
    predicted
}

fn bind_agrees(lab: &mut Lab, addr: &str) -> u32 {
    let run = lab.check(&["--source", addr]);
    let predicted = run.perf("bind_free");
    let got = lab.exhaust_bind(addr);
    assert_eq!(predicted, got, "bind({addr}, 0):\n{}", run.stdout);
    predicted
}

#[test]
fn plain_tuple() {
    lab::run("plain_tuple", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.connect(None, db, 5);
        assert_eq!(connect_agrees(lab, "127.0.0.1", db), 15);
    });
}

#[test]
fn several_destinations_and_sources_share_ports() {
    lab::run("several_destinations", Settings::default(), |lab| {
        let a = lab.listen("127.0.0.1:5000");
        let b = lab.listen("127.0.0.1:5001");
        lab.connect(Some("127.0.0.1"), a, 12);
        lab.connect(Some("127.0.0.1"), b, 7);
        lab.connect(Some("127.0.0.2"), a, 3);
        // Ports held for other tuples do not count: each tuple has its own pool.
        let run = lab.check(&[]);
        assert_eq!(run.perf("tuples"), 3, "{}", run.stdout);
        assert_eq!(connect_agrees(lab, "127.0.0.1", b), 13);
        assert_eq!(connect_agrees(lab, "127.0.0.2", a), 17);
        assert_eq!(connect_agrees(lab, "127.0.0.1", a), 8);
    });
}

#[test]
fn the_queried_tuple_with_no_socket_yet() {
    lab::run("queried_tuple_empty", Settings::default(), |lab| {
        let a = lab.listen("127.0.0.1:5000");
        let b = lab.listen("127.0.0.1:5001");
        lab.connect(None, a, 10);
        lab.bind("127.0.0.1:40003");
        assert_eq!(connect_agrees(lab, "127.0.0.3", b), 19);
    });
}

#[test]
fn listener_and_reserved_ports_inside_the_range() {
    let settings = Settings {
        reserved: "40010-40012,40015",
        ..Settings::default()
    };
    lab::run("listener_and_reserved", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.listen("127.0.0.1:40005");
        lab.connect(None, db, 4);
        let run = lab.check(&[]);
        assert_eq!(run.perf("capacity"), 16, "{}", run.stdout);
        assert_eq!(run.perf("bind_marked"), 1, "{}", run.stdout);
        assert_eq!(connect_agrees(lab, "127.0.0.1", db), 11);
    });
}

#[test]
fn bind_pool_fills_while_connect_pools_stay_free() {
    lab::run("bind_pool", Settings::default(), |lab| {
        let targets: Vec<SocketAddr> = (0..4)
            .map(|i| lab.listen(&format!("127.0.0.1:{}", 5000 + i)))
            .collect();
        for t in &targets {
            lab.connect(Some("127.0.0.1"), *t, 4);
        }
        // Every port any of the 16 connections touched is gone for
        // bind(127.0.0.1, 0), while each connect pool still has 16.
        let touched = lab.ports_in_range() as u32;
        assert!(touched >= 4);
        let run = lab.check(&["--source", "127.0.0.1"]);
        assert_eq!(run.perf("connect_free"), 16, "{}", run.stdout);
        assert_eq!(bind_agrees(lab, "127.0.0.1"), 20 - touched);
        // Another address is not blocked by these sockets.
        assert_eq!(bind_agrees(lab, "127.0.0.2"), 20);
    });
}

#[test]
fn udp_pool() {
    lab::run("udp_pool", Settings::default(), |lab| {
        for _ in 0..3 {
            lab.udp_bind("127.0.0.1:0");
        }
        lab.udp_bind("0.0.0.0:0");
        for _ in 0..2 {
            lab.try_udp_connect("127.0.0.1:9".parse().unwrap())
                .expect("udp connect");
        }
        let run = lab.check(&["--pools", "udp"]);
        let predicted = run.perf("udp_free");
        assert_eq!(predicted, 14, "{}", run.stdout);
        assert_eq!(lab.exhaust_udp("127.0.0.1:9"), predicted, "{}", run.stdout);
    });
}

#[test]
fn netlink_and_proc_agree_where_both_can_see() {
    lab::run("backends_agree", Settings::default(), |lab| {
        let a = lab.listen("127.0.0.1:5000");
        let v6 = lab.listen("[::1]:5001");
        lab.connect(None, a, 6);
        lab.connect(None, v6, 3);
        lab.time_wait(None, a, 2);
        lab.listen("127.0.0.1:40007");
        lab.udp_bind("127.0.0.1:0");
        let netlink = lab.check(&["--backend", "netlink"]);
        let proc = lab.check(&["--backend", "proc"]);
        assert_eq!(
            netlink.perf, proc.perf,
            "netlink:\n{}\nproc:\n{}",
            netlink.stdout, proc.stdout
        );
        assert!(proc.stdout.contains("/proc/net"), "{}", proc.stdout);
    });
}
