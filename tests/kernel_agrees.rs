//! The plugin's numbers are the kernel's numbers. Each scenario builds real
//! sockets in a private namespace with a tiny port range, runs the check,
//! then allocates until the kernel refuses and compares, exactly.
//!
//! Every verdict is also a row of the README's scenario table: a test fails
//! if its row is missing there. `tests/scenario-table` regenerates the table
//! from a run of this suite.

use std::net::SocketAddr;

use crate::util::Run;
use crate::util::lab::{self, Lab, Settings};

const README: &str = include_str!("../docs/proof.md");

/// Asserts the prediction, and that the README's table carries the verdict.
fn verdict(scenario: &str, pool: &str, predicted: u32, allowed: &str, run: &Run) {
    let row = format!("| {scenario} | {pool} | {predicted} | {allowed} |");
    if let Ok(dir) = std::env::var("SCENARIO_ROWS") {
        let name: String = format!("{scenario} {pool}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let file = format!("{dir}/{name}.md");
        std::fs::write(file, format!("{row}\n")).expect("write scenario row");
        return;
    }
    assert!(
        README.contains(&row),
        "docs/proof.md's scenario table lacks this verdict (run tests/scenario-table):\n{row}\n\n{}",
        run.stdout
    );
}

/// Predicts one connect pool, then connect()s until EADDRNOTAVAIL.
fn connect_agrees(lab: &mut Lab, scenario: &str, source: &str, to: SocketAddr) -> u32 {
    connect_agrees_with(lab, scenario, source, to, &[], &[])
}

/// The same with more options and environment for the check.
fn connect_agrees_with(
    lab: &mut Lab,
    scenario: &str,
    source: &str,
    to: SocketAddr,
    extra: &[&str],
    env: &[(&str, &str)],
) -> u32 {
    let to_text = to.to_string();
    let mut args = vec!["--source", source, "--destination", &to_text];
    args.extend_from_slice(extra);
    let run = lab.check_with_env(&args, env);
    let predicted = run.perf("connect_free");
    let got = lab.exhaust_connect(Some(source), to);
    assert_eq!(
        predicted, got,
        "{scenario}: connect {source} -> {to}:\n{}",
        run.stdout
    );
    let pool = format!("connect {source} -> {to}");
    verdict(
        scenario,
        &pool,
        predicted,
        &format!("{got} connect(), then EADDRNOTAVAIL"),
        &run,
    );
    predicted
}

/// Predicts the bind pool of `addr`, then bind(addr, 0)s until EADDRINUSE.
fn bind_agrees(lab: &mut Lab, scenario: &str, addr: &str) -> u32 {
    let run = lab.check(&["--source", addr]);
    let predicted = run.perf("bind_free");
    let got = lab.exhaust_bind(addr);
    assert_eq!(
        predicted, got,
        "{scenario}: bind({addr}, 0):\n{}",
        run.stdout
    );
    verdict(
        scenario,
        &format!("bind {addr}"),
        predicted,
        &format!("{got} bind(), then EADDRINUSE"),
        &run,
    );
    predicted
}

/// Predicts the UDP pool of the wildcard `family`, then autobinds unbound
/// sockets by connect()ing them to `to` until the kernel refuses.
fn udp_agrees(lab: &mut Lab, scenario: &str, wildcard: &str, to: &str) -> u32 {
    let run = lab.check(&["-v", "--pools", "udp"]);
    let predicted = run.pool_free("udp pools", wildcard);
    let got = lab.exhaust_udp(to);
    assert_eq!(
        predicted, got,
        "{scenario}: UDP {wildcard}:\n{}",
        run.stdout
    );
    verdict(
        scenario,
        &format!("udp {wildcard}"),
        predicted,
        &format!("{got} autobinds, then EAGAIN"),
        &run,
    );
    predicted
}

#[test]
fn plain_tuple() {
    lab::run("plain_tuple", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.connect(None, db, 5);
        assert_eq!(
            connect_agrees(lab, "plain tuple, 5 connections", "127.0.0.1", db),
            15
        );
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
        let run = lab.check(&[]);
        assert_eq!(run.perf("tuples"), 3, "{}", run.stdout);
        let s = "3 tuples sharing ports";
        assert_eq!(connect_agrees(lab, s, "127.0.0.1", b), 13);
        assert_eq!(connect_agrees(lab, s, "127.0.0.2", a), 17);
        assert_eq!(connect_agrees(lab, s, "127.0.0.1", a), 8);
    });
}

#[test]
fn the_queried_tuple_with_no_socket_yet() {
    lab::run("queried_tuple_empty", Settings::default(), |lab| {
        let a = lab.listen("127.0.0.1:5000");
        let b = lab.listen("127.0.0.1:5001");
        // Explicit ports first: a kernel-chosen one could take them.
        lab.bind("127.0.0.1:40003");
        lab.connect(None, a, 10);
        let s = "queried tuple with no socket yet";
        assert_eq!(connect_agrees(lab, s, "127.0.0.3", b), 19);
    });
}

#[test]
fn marks_and_reserved_ports_inside_the_range() {
    let settings = Settings {
        reserved: "40010,40015-40016",
        ..Settings::default()
    };
    lab::run("marks_inside_range", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.listen("127.0.0.1:40005");
        lab.listen_v6("[::]:40006", false);
        lab.bind_port_then_connect("127.0.0.1:40008", db);
        lab.bind("127.0.0.1:0");
        lab.connect(None, db, 4);
        let run = lab.check(&[]);
        assert_eq!(run.perf("capacity"), 17, "{}", run.stdout);
        assert_eq!(run.perf("bind_marked"), 4, "{}", run.stdout);
        let s = "listener, [::] listener, bound-only, explicit port + connect, reserved 40010,40015-40016";
        assert_eq!(connect_agrees(lab, s, "127.0.0.1", db), 9);
        assert_eq!(bind_agrees(lab, s, "127.0.0.1"), 0);
        // Only the [::] listener covers 127.0.0.2.
        assert_eq!(bind_agrees(lab, s, "127.0.0.2"), 16);
    });
}

/// TIME_WAITs made on loopback, then judged and exhausted.
/// The free ports predicted (and allowed), or `None` where labs cannot run.
fn time_wait_case(
    name: &'static str,
    tw_reuse: u8,
    timestamps: u8,
    after_delay: bool,
) -> Option<u32> {
    let settings = Settings {
        tw_reuse,
        timestamps,
        // Before the delay: the longest delay the kernel accepts keeps every
        // TIME_WAIT young for the whole test.
        tw_reuse_delay_ms: Some(if after_delay { 200 } else { 60_000 }),
        ..Settings::default()
    };
    lab::run(name, settings, move |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.time_wait(None, db, 6);
        lab.connect(None, db, 3);
        if after_delay {
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
        let when = if after_delay { "after" } else { "before" };
        let scenario = format!(
            "6 TIME_WAIT + 3 established, tcp_tw_reuse {tw_reuse}, tcp_timestamps {timestamps}, {when} the reuse delay"
        );
        connect_agrees(lab, &scenario, "127.0.0.1", db)
    })
}

#[test]
fn time_wait_never_reused_with_tw_reuse_0() {
    if let Some(free) = time_wait_case("tw_reuse_0", 0, 1, true) {
        assert_eq!(free, 11);
    }
}

#[test]
fn time_wait_reused_with_tw_reuse_1_after_the_delay() {
    if let Some(free) = time_wait_case("tw_reuse_1_after", 1, 1, true) {
        assert_eq!(free, 17);
    }
}

#[test]
fn time_wait_reused_with_tw_reuse_2_on_loopback_after_the_delay() {
    if let Some(free) = time_wait_case("tw_reuse_2_after", 2, 1, true) {
        assert_eq!(free, 17);
    }
}

#[test]
fn time_wait_not_reused_before_the_delay() {
    if let Some(free) = time_wait_case("tw_reuse_2_before", 2, 1, false) {
        assert_eq!(free, 11);
    }
}

#[test]
fn time_wait_not_reused_without_timestamps() {
    if let Some(free) = time_wait_case("tw_reuse_2_no_timestamps", 2, 0, true) {
        assert_eq!(free, 11);
    }
}

#[test]
fn odd_sized_range_skips_one_end_port() {
    let settings = Settings {
        range: (40000, 40020),
        ..Settings::default()
    };
    lab::run("odd_range", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        // connect() scans 20 of the 21 ports from a random start: one end
        // port may be missed, so 20 is what is certain, 21 what is possible.
        let run = lab.check(&["--source", "127.0.0.1", "--destination", &db.to_string()]);
        let predicted = run.perf("connect_free");
        assert_eq!(predicted, 20, "{}", run.stdout);
        let got = lab.exhaust_connect(Some("127.0.0.1"), db);
        assert!(got == 20 || got == 21, "{got} connections:\n{}", run.stdout);
        let s = "odd range of 21 ports, empty";
        verdict(
            s,
            &format!("connect 127.0.0.1 -> {db}"),
            20,
            "20 or 21 connect() (one end port is skipped at random)",
            &run,
        );
    });
}

#[test]
fn odd_sized_range_with_both_end_ports_taken_is_exact() {
    let settings = Settings {
        range: (40000, 40020),
        ..Settings::default()
    };
    lab::run("odd_range_ends_taken", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.bind("127.0.0.1:40000");
        lab.bind("127.0.0.1:40020");
        let s = "odd range of 21 ports, both end ports bound";
        assert_eq!(connect_agrees(lab, s, "127.0.0.1", db), 19);
    });
}

#[test]
fn range_of_one_port() {
    let settings = Settings {
        range: (40000, 40000),
        ..Settings::default()
    };
    lab::run("one_port", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        assert_eq!(connect_agrees(lab, "range of one port", "127.0.0.1", db), 1);
    });
}

#[test]
fn range_fully_reserved() {
    let settings = Settings {
        range: (40000, 40003),
        reserved: "40000-40003",
        ..Settings::default()
    };
    lab::run("fully_reserved", settings, |lab| {
        let db = lab.listen("127.0.0.1:5000");
        let run = lab.check(&[]);
        assert_eq!(
            run.code, 2,
            "a range with no port is CRITICAL:\n{}",
            run.stdout
        );
        assert_eq!(
            connect_agrees(lab, "range fully reserved", "127.0.0.1", db),
            0
        );
    });
}

#[test]
fn bind_pools_fill_while_connect_pools_stay_free() {
    lab::run("bind_pool", Settings::default(), |lab| {
        // 4 connections to each of 4 destinations, each destination's ports
        // kept apart with IP_LOCAL_PORT_RANGE so 16 distinct ports are used.
        for i in 0..4u16 {
            let to = lab.listen(&format!("127.0.0.1:{}", 5000 + i));
            let own = (40000 + 5 * i, 40004 + 5 * i);
            lab.connect_in(Some("127.0.0.1"), to, 4, own);
        }
        assert_eq!(lab.ports_in_range(), 16);
        // bind(127.0.0.1, 0) has 4 ports left, while each connect pool
        // still has 16.
        let run = lab.check(&["--source", "127.0.0.1"]);
        assert_eq!(run.perf("connect_free"), 16, "{}", run.stdout);
        let s = "16 connections to 4 destinations";
        assert_eq!(bind_agrees(lab, s, "127.0.0.1"), 4);
        assert_eq!(bind_agrees(lab, s, "127.0.0.2"), 20);
    });
}

#[test]
fn bind_pool_of_the_wildcard() {
    lab::run("bind_wildcard", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        let db6 = lab.listen("[::1]:5000");
        lab.connect_in(Some("127.0.0.2"), db, 3, (40000, 40004));
        lab.connect_in(Some("127.0.0.3"), db, 2, (40005, 40009));
        lab.connect_in(None, db6, 2, (40010, 40014));
        // Bound to a specific IPv6 address, a socket is IPV6_V6ONLY by the
        // kernel's rule and leaves 0.0.0.0 alone; [::] without it does not.
        lab.bind("[::1]:40015");
        lab.listen_v6("[::]:40016", false);
        let s = "IPv4 and IPv6 connections, [::1] bound, [::] listening";
        assert_eq!(bind_agrees(lab, s, "0.0.0.0"), 12);
    });
}

#[test]
fn udp_bound_and_connected_sockets() {
    lab::run("udp_pool", Settings::default(), |lab| {
        for _ in 0..3 {
            lab.udp_bind("127.0.0.1:0");
        }
        lab.udp_bind("0.0.0.0:0");
        lab.udp_bind("[::1]:0");
        for _ in 0..2 {
            lab.try_udp_connect("127.0.0.1:9".parse().unwrap())
                .expect("udp connect");
        }
        // [::1] is IPV6_V6ONLY by the kernel's rule: it does not block IPv4.
        let s = "UDP: 3 bound to 127.0.0.1, 1 to 0.0.0.0, 1 to [::1], 2 connected";
        assert_eq!(udp_agrees(lab, s, "0.0.0.0", "127.0.0.1:9"), 14);
    });
}

#[test]
fn udp_v6only_socket_does_not_block_ipv4() {
    lab::run("udp_v6only", Settings::default(), |lab| {
        let v6only = lab.udp_bind_v6only("[::]:0");
        assert!(v6only >= 40000);
        lab.udp_bind("127.0.0.1:0");
        let s = "UDP: [::] with IPV6_V6ONLY and 127.0.0.1";
        assert_eq!(udp_agrees(lab, s, "0.0.0.0", "127.0.0.1:9"), 19);
        // An unbound IPv6 socket conflicts with every UDP socket.
        assert_eq!(udp_agrees(lab, s, "[::]", "[::1]:9"), 0);
    });
}

#[test]
fn ipv6_tuples_alongside_ipv4() {
    lab::run("ipv6_tuples", Settings::default(), |lab| {
        let v4 = lab.listen("127.0.0.1:5000");
        let v6 = lab.listen("[::1]:5000");
        lab.connect(None, v4, 5);
        lab.connect(None, v6, 7);
        let s = "IPv6 and IPv4 tuples to port 5000";
        assert_eq!(connect_agrees(lab, s, "::1", v6), 13);
        assert_eq!(connect_agrees(lab, s, "127.0.0.1", v4), 15);
    });
}

#[test]
fn bind_then_connect_is_invisible_and_bounded() {
    lab::run("bind_then_connect", Settings::default(), |lab| {
        let a = lab.listen("127.0.0.1:5000");
        let b = lab.listen("127.0.0.1:5001");
        // bind(addr, 0) marks the port for every connect(), yet the socket
        // looks like one whose port connect() chose.
        for _ in 0..3 {
            lab.bind_then_connect("127.0.0.1", a);
        }
        let run = lab.check(&[
            "-vv",
            "--source",
            "127.0.0.1",
            "--destination",
            &b.to_string(),
        ]);
        let predicted = run.perf("connect_free");
        assert!(
            run.stdout.contains(
                "note: 3 connections whose port the kernel chose count in their own destination's pool only"
            ),
            "the output must say what it cannot see:\n{}",
            run.stdout
        );
        let got = lab.exhaust_connect(Some("127.0.0.1"), b);
        assert_eq!((predicted, got), (20, 17), "{}", run.stdout);
        let s = "3 sockets bound with bind(addr, 0), then connected elsewhere";
        verdict(
            s,
            &format!("connect 127.0.0.1 -> {b}"),
            predicted,
            "17 connect(): 3 fewer, at most the 3 sockets the output names",
            &run,
        );
    });
}

#[test]
fn proc_backend_agrees_where_it_can_see() {
    lab::run("backends_agree", Settings::default(), |lab| {
        let a = lab.listen("127.0.0.1:5000");
        let v6 = lab.listen("[::1]:5001");
        lab.listen("127.0.0.1:40007");
        lab.connect(None, a, 6);
        lab.connect(None, v6, 3);
        lab.time_wait(None, a, 2);
        lab.udp_bind("127.0.0.1:0");
        let netlink = lab.check(&["--backend", "netlink"]);
        let proc = lab.check(&["--backend", "proc"]);
        assert_eq!(
            netlink.perf, proc.perf,
            "netlink:\n{}\nproc:\n{}",
            netlink.stdout, proc.stdout
        );
        let s = "--backend proc: listeners, connections, TIME_WAIT, UDP";
        let run = lab.check(&[
            "--backend",
            "proc",
            "--source",
            "127.0.0.1",
            "--destination",
            &a.to_string(),
        ]);
        let predicted = run.perf("connect_free");
        let got = lab.exhaust_connect(Some("127.0.0.1"), a);
        assert_eq!(predicted, got, "{}", run.stdout);
        verdict(
            s,
            &format!("connect 127.0.0.1 -> {a}"),
            predicted,
            &format!("{got} connect(), then EADDRNOTAVAIL"),
            &run,
        );
    });
}

#[test]
fn proc_backend_says_what_it_cannot_see() {
    lab::run("proc_blind", Settings::default(), |lab| {
        let db = lab.listen("127.0.0.1:5000");
        lab.bind_port_then_connect("127.0.0.1:40011", db);
        lab.bind("127.0.0.1:0");
        let args = [
            "-vv",
            "--source",
            "127.0.0.1",
            "--destination",
            "127.0.0.1:5000",
        ];
        let netlink = lab.check(&args);
        let proc = lab.check(&[&["--backend", "proc"][..], &args].concat());
        assert_eq!(netlink.perf("connect_free"), 18, "{}", netlink.stdout);
        assert_eq!(proc.perf("connect_free"), 19, "{}", proc.stdout);
        assert!(
            proc.stdout
                .contains("neither bound-only sockets nor explicitly bound ports"),
            "{}",
            proc.stdout
        );
        let got = lab.exhaust_connect(Some("127.0.0.1"), db);
        assert_eq!(got, 18);
        let s = "--backend proc with a bound-only socket and an explicit bind";
        verdict(
            s,
            "connect 127.0.0.1 -> 127.0.0.1:5000",
            19,
            "18 connect(): /proc cannot see the 2 marks, and says so",
            &proc,
        );
    });
}

/// A connection bound to an explicit port keeps its port marked for every
/// tuple while in TIME_WAIT, but sock_diag shows that TIME_WAIT as
/// automatically bound. A `--trend` run that saw the connection bound
/// while it was open counts the port as marked.
#[test]
fn a_time_wait_seen_bound_by_the_previous_trend_run_marks_its_port() {
    lab::run("bound_time_wait", Settings::default(), |lab| {
        let state = std::env::temp_dir().join(format!("ce-bound-tw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let dir = state.to_str().expect("UTF-8 path").to_string();
        let env = [("MP_STATE_PATH", dir.as_str())];
        let a = lab.listen("127.0.0.1:5000");
        let b = lab.listen("127.0.0.1:5001");
        let (client, server) = lab.bound_connection("127.0.0.1:40005", a);
        // The first run sees the connection bound, and keeps that.
        let to = b.to_string();
        let args = [
            "-vv",
            "--trend",
            "--source",
            "127.0.0.1",
            "--destination",
            &to,
        ];
        let first = lab.check_with_env(&args, &env);
        assert!(
            first.stdout.contains("trend: no history yet"),
            "{}",
            first.stdout
        );
        Lab::close_client_first(client, server);
        let s =
            "TIME_WAIT of a connection bound to port 40005, seen bound by the previous --trend run";
        let free = connect_agrees_with(lab, s, "127.0.0.1", b, &["--trend"], &env);
        let _ = std::fs::remove_dir_all(&state);
        assert_eq!(free, 19);
    });
}
