//! The model on hand-written socket records: each case is a kernel rule
//! from `__inet_hash_connect`, `inet_csk_bind_conflict`, `tcp_twsk_unique`
//! or `udp_lib_get_port`, checked without a kernel.

use std::net::IpAddr;

use check_ephemeral::model::{Model, Pool, PoolName, PoolsBuilder, Tuple};
use check_ephemeral::read::ports::PortRange;
use check_ephemeral::read::settings::{KernelSettings, TwReuse};
use check_ephemeral::read::socket::{Protocol, Sink, Socket, TcpState};

const LO: u16 = 40000;

fn settings(len: u16, reserved: &str) -> KernelSettings {
    KernelSettings {
        range: PortRange::new(LO, LO + len - 1).unwrap(),
        reserved: reserved.parse().unwrap(),
        tw_reuse: TwReuse::LoopbackOnly,
        timestamps: true,
        tw_reuse_delay_ms: Some(1000),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(state: TcpState, local: &str, port: u16, remote: &str, rport: u16) -> Socket {
    Socket::new(Protocol::Tcp, state, (ip(local), port), (ip(remote), rport))
}

fn est(local: &str, port: u16, remote: &str, rport: u16) -> Socket {
    tcp(TcpState::ESTABLISHED, local, port, remote, rport)
}

fn listener(local: &str, port: u16, v6only: Option<bool>) -> Socket {
    Socket {
        v6only,
        ..tcp(TcpState::LISTEN, local, port, "0.0.0.0", 0)
    }
}

fn time_wait(local: &str, port: u16, remote: &str, rport: u16, age_ms: u32) -> Socket {
    Socket {
        expires_ms: 60_000 - age_ms,
        ..tcp(TcpState::TIME_WAIT, local, port, remote, rport)
    }
}

/// Builds a model: marks first, as every reader delivers them.
fn model(s: &KernelSettings, marked: &[Socket], sockets: &[Socket]) -> Model {
    let mut b = PoolsBuilder::new(s);
    marked.iter().for_each(|m| b.marked(m));
    sockets.iter().for_each(|x| b.socket(x));
    b.finish()
}

fn tuple(m: &Model, source: &str, dest: &str, port: u16) -> Pool {
    m.connect_pool(Tuple {
        source: ip(source),
        destination: ip(dest),
        port,
    })
}

fn bind(m: &Model, addr: &str) -> u32 {
    m.bind_pool(ip(addr)).free
}

fn udp(m: &Model, wildcard: &str) -> u32 {
    m.udp_pools()
        .find(|p| p.name == PoolName::Address(ip(wildcard)))
        .unwrap()
        .free
}

#[test]
fn an_empty_host_has_every_candidate_free() {
    let m = model(&settings(20, "40002,40010-40011"), &[], &[]);
    assert_eq!(m.candidate_count(), 17);
    let p = tuple(&m, "10.0.0.5", "10.0.0.9", 5432);
    assert_eq!((p.free, p.capacity, p.used_pct()), (17, 17, 0.0));
    assert_eq!(
        (bind(&m, "0.0.0.0"), bind(&m, "::"), udp(&m, "0.0.0.0")),
        (17, 17, 17)
    );
}

#[test]
fn a_tuple_counts_only_its_own_entries() {
    let s = settings(20, "");
    let sockets: Vec<Socket> = (0..5)
        .map(|i| est("10.0.0.5", LO + i, "10.0.0.9", 5432))
        .chain((0..3).map(|i| est("10.0.0.5", LO + i, "10.0.0.10", 5432)))
        .collect();
    let m = model(&s, &[], &sockets);
    assert_eq!(m.tuple_count(), 2);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 5432).free, 15);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.10", 5432).free, 17);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 5433).free, 20);
    // bind(10.0.0.5, 0) cannot take any of the 5 ports touched.
    assert_eq!(bind(&m, "10.0.0.5"), 15);
    assert_eq!(bind(&m, "10.0.0.6"), 20);
}

#[test]
fn bind_marked_ports_leave_every_connect_pool() {
    let s = settings(20, "");
    let marked = [
        listener("127.0.0.1", LO + 3, None),
        // bound explicitly, then connected: marked, and not a connect() entry
        est("10.0.0.5", LO + 4, "10.0.0.9", 5432),
    ];
    let sockets = [
        est("10.0.0.5", LO + 4, "10.0.0.9", 5432),
        est("10.0.0.5", LO + 5, "10.0.0.9", 5432),
        // an accepted child of the listener on a marked port
        est("127.0.0.1", LO + 3, "127.0.0.1", 51000),
    ];
    let m = model(&s, &marked, &sockets);
    assert_eq!(m.bind_marked(), 2);
    assert_eq!(m.tuple_count(), 1);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 5432).free, 17);
    assert_eq!(tuple(&m, "10.0.0.7", "10.0.0.1", 80).free, 18);
}

#[test]
fn time_wait_reuse_follows_the_kernel_rule() {
    let cases = [
        // (tw_reuse, timestamps, local, remote, age ms, blocks)
        (
            TwReuse::LoopbackOnly,
            true,
            "127.0.0.1",
            "127.0.0.1",
            5_000,
            false,
        ),
        (
            TwReuse::LoopbackOnly,
            true,
            "127.0.0.1",
            "127.0.0.1",
            500,
            true,
        ),
        (
            TwReuse::LoopbackOnly,
            true,
            "10.0.0.5",
            "10.0.0.9",
            5_000,
            true,
        ),
        (
            TwReuse::LoopbackOnly,
            true,
            "10.0.0.5",
            "127.0.0.9",
            5_000,
            false,
        ),
        (TwReuse::Always, true, "10.0.0.5", "10.0.0.9", 5_000, false),
        (TwReuse::Always, false, "10.0.0.5", "10.0.0.9", 5_000, true),
        (TwReuse::Never, true, "127.0.0.1", "127.0.0.1", 5_000, true),
        (TwReuse::LoopbackOnly, true, "::1", "::1", 5_000, false),
    ];
    for (reuse, timestamps, local, remote, age, blocks) in cases {
        let s = KernelSettings {
            tw_reuse: reuse,
            timestamps,
            ..settings(20, "")
        };
        let m = model(&s, &[], &[time_wait(local, LO, remote, 80, age)]);
        let p = tuple(&m, local, remote, 80);
        let case = format!("{reuse:?} ts={timestamps} {local}->{remote} age {age}");
        assert_eq!(p.free, if blocks { 19 } else { 20 }, "{case}");
        assert_eq!(p.counts.time_wait, 1, "{case}");
        assert_eq!(p.counts.time_wait_reusable, u32::from(!blocks), "{case}");
        // A TIME_WAIT always holds its port against bind().
        assert_eq!(bind(&m, local), 19, "{case}");
    }
}

#[test]
fn odd_ranges_lose_one_end_port() {
    // 5 ports: connect() and bind() scan 4 of them from a random start.
    let s = settings(5, "");
    let m = model(&s, &[], &[]);
    let p = tuple(&m, "10.0.0.5", "10.0.0.9", 80);
    assert_eq!((p.capacity, p.free), (4, 4));
    assert_eq!(bind(&m, "10.0.0.5"), 4);
    assert_eq!(udp(&m, "0.0.0.0"), 5, "UDP scans the whole range");
    // Both end ports taken: the remaining three are all scanned.
    let ends = [
        est("10.0.0.5", LO, "10.0.0.9", 80),
        est("10.0.0.5", LO + 4, "10.0.0.9", 80),
    ];
    let m = model(&s, &[], &ends);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 80).free, 3);
    // One end taken: the other end may be the skipped one.
    let m = model(&s, &[], &ends[..1]);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 80).free, 3);
    // A one-port range has no quirk.
    let m = model(&settings(1, ""), &[], &[]);
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 80).free, 1);
}

#[test]
fn a_fully_reserved_range_has_nothing() {
    let m = model(&settings(4, "40000-40003"), &[], &[]);
    let p = tuple(&m, "10.0.0.5", "10.0.0.9", 80);
    assert_eq!((p.capacity, p.free, p.used_pct()), (0, 0, 100.0));
}

#[test]
fn bind_conflicts_follow_the_address_rules() {
    let s = settings(20, "");
    let marked = [
        listener("0.0.0.0", LO, None),
        listener("::", LO + 1, Some(false)),
        listener("::", LO + 2, Some(true)),
        listener("::1", LO + 3, Some(true)),
        listener("10.0.0.5", LO + 4, None),
        listener("fd00::5", LO + 5, Some(false)),
    ];
    let m = model(&s, &marked, &[]);
    // 10.0.0.5: 0.0.0.0, :: without v6only, and itself.
    assert_eq!(bind(&m, "10.0.0.5"), 17);
    // Another IPv4 address: only the two wildcards that cover IPv4.
    assert_eq!(bind(&m, "10.0.0.6"), 18);
    // ::1 and fd00::5: both :: wildcards (v6only or not), and itself; 0.0.0.0 does not count.
    assert_eq!(bind(&m, "::1"), 17);
    assert_eq!(bind(&m, "fd00::5"), 17);
    // 0.0.0.0: everything except v6only sockets.
    assert_eq!(bind(&m, "0.0.0.0"), 16);
    // :: (without v6only): everything.
    assert_eq!(bind(&m, "::"), 14);
}

#[test]
fn v4_mapped_sockets_count_as_ipv4() {
    let s = settings(20, "");
    let m = model(
        &s,
        &[],
        &[est("::ffff:10.0.0.5", LO, "::ffff:10.0.0.9", 80)],
    );
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 80).free, 19);
    assert_eq!(bind(&m, "10.0.0.5"), 19);
}

#[test]
fn udp_pools_are_per_wildcard_family() {
    let s = settings(20, "");
    let udp_socket = |local: &str, port: u16, v6only: Option<bool>| Socket {
        v6only,
        ..Socket::new(
            Protocol::Udp,
            TcpState::CLOSE,
            (ip(local), port),
            (ip("0.0.0.0"), 0),
        )
    };
    let sockets = [
        udp_socket("127.0.0.1", LO, None),
        udp_socket("::", LO + 1, Some(true)),
        udp_socket("::1", LO + 2, Some(false)),
    ];
    let m = model(&s, &[], &sockets);
    assert_eq!(
        udp(&m, "0.0.0.0"),
        18,
        "a v6only socket does not block IPv4 autobind"
    );
    assert_eq!(udp(&m, "::"), 17);
    // UDP sockets do not touch TCP pools.
    assert_eq!(bind(&m, "0.0.0.0"), 20);
}

#[test]
fn sockets_outside_the_range_are_ignored() {
    let s = settings(20, "");
    let m = model(
        &s,
        &[listener("0.0.0.0", 22, None)],
        &[est("10.0.0.5", 39999, "10.0.0.9", 80)],
    );
    assert_eq!(
        (m.totals.sockets, m.bind_marked(), m.tuple_count()),
        (0, 0, 0)
    );
}

#[test]
fn a_udp_read_can_be_started_over() {
    let s = settings(20, "");
    let datagram = Socket::new(
        Protocol::Udp,
        TcpState::CLOSE,
        (ip("127.0.0.1"), LO),
        (ip("0.0.0.0"), 0),
    );
    let mut b = PoolsBuilder::new(&s);
    b.socket(&est("10.0.0.5", LO + 1, "10.0.0.9", 80));
    b.socket(&datagram);
    b.reset_udp();
    let m = b.finish();
    assert_eq!(udp(&m, "0.0.0.0"), 20);
    assert_eq!((m.totals.sockets, m.totals.udp_sockets), (1, 0));
    assert_eq!(tuple(&m, "10.0.0.5", "10.0.0.9", 80).free, 19);
}
