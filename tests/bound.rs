//! Judged by bound, against the kernel: namespaces the test makes, filled
//! with real loopback sockets of every kind the bound rests on (connected,
//! listening, bound only, TIME_WAIT, UDP), their counters read inside them
//! as the sweep reads them, and the bound they give compared with the exact
//! reading of the same namespace (`--netns`). Then a sweep: the namespaces
//! the bound proves OK are not walked, the one that matters is, with its
//! exact figures.
//!
//! Namespaces are made with `ip netns add` and deleted by a guard, also
//! when a test fails. Needs root: elsewhere the tests skip with a printed
//! reason, and under `CI=true` they fail instead.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;

use crate::util::lab::netns::{Netns, check, skip};
use crate::util::{Run, namespaces_alone};
use check_ephemeral::judge::bound::{self, Bound, Counters, Rule};
use check_ephemeral::judge::forecast::ForecastRule;
use check_ephemeral::judge::{Selection, Thresholds};
use check_ephemeral::model::Kind;
use check_ephemeral::read::conntrack::{NETFILTER_DIR, read_figures};
use check_ephemeral::read::settings::{KernelSettings, SYSCTL_DIR};
use check_ephemeral::read::sockstat::Counts;
use socket2::{Domain, Socket, Type};

/// Every socket a population holds, open until dropped.
#[derive(Default)]
struct Held {
    tcp: Vec<TcpStream>,
    listeners: Vec<TcpListener>,
    bound: Vec<Socket>,
    udp: Vec<UdpSocket>,
}

/// A population: `connected` connections to a listener, `bound` TCP
/// sockets bound to a port of the range but neither listening nor
/// connected, `closed` connections closed by the client (TIME_WAIT on its
/// side), `udp` UDP sockets on ports of the range.
#[derive(Clone, Copy, Debug)]
struct Mix {
    connected: usize,
    bound: usize,
    closed: usize,
    udp: usize,
}

fn fill(ns: &Netns, mix: Mix) -> Held {
    ns.inside(|| {
        let mut held = Held::default();
        let listener = TcpListener::bind("127.0.0.1:5000").expect("listen");
        for _ in 0..mix.closed {
            let client = TcpStream::connect("127.0.0.1:5000").expect("connect");
            let (server, _) = listener.accept().expect("accept");
            // The client closes first: the TIME_WAIT is on its side.
            drop(client);
            drop(server);
        }
        for _ in 0..mix.connected {
            held.tcp
                .push(TcpStream::connect("127.0.0.1:5000").expect("connect"));
            held.tcp.push(listener.accept().expect("accept").0);
        }
        for _ in 0..mix.bound {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
            let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
            s.bind(&any.into()).expect("bind");
            held.bound.push(s);
        }
        for _ in 0..mix.udp {
            held.udp.push(UdpSocket::bind("127.0.0.1:0").expect("udp"));
        }
        held.listeners.push(listener);
        held
    })
}

struct Judging {
    selection: Selection,
    thresholds: Thresholds,
    forecast: ForecastRule,
}

impl Judging {
    /// `-w 70 -c 90 --pools connect,bind,udp`, the forecast on.
    fn new() -> Judging {
        Judging {
            selection: Selection {
                kinds: vec![Kind::Connect, Kind::Bind, Kind::Udp],
                sources: Vec::new(),
                destinations: Vec::new(),
            },
            thresholds: Thresholds {
                used_warning: "70".parse().ok(),
                used_critical: "90".parse().ok(),
                ..Thresholds::default()
            },
            forecast: ForecastRule::default(),
        }
    }

    const ARGS: [&'static str; 6] = ["-w", "70", "-c", "90", "--pools", "connect,bind,udp"];
}

/// The bound of `ns` from its counters, read inside it as the sweep does.
fn bound_of(ns: &Netns, judging: &Judging) -> Bound {
    ns.inside(|| {
        let proc_net = Path::new("/proc/thread-self/net");
        let settings = KernelSettings::read(Path::new(SYSCTL_DIR)).expect("settings");
        let counters = Counters {
            sockstat: Counts::read(proc_net).expect("sockstat"),
            conntrack: read_figures(Path::new(NETFILTER_DIR), proc_net),
        };
        let rule = Rule {
            selection: &judging.selection,
            thresholds: &judging.thresholds,
            forecast: &judging.forecast,
            upstream: false,
        };
        bound::bound(&counters, &settings, &rule).expect("a bound")
    })
}

/// The exact reading of `ns`.
fn exact(ns: &Netns) -> Run {
    let mut args = vec!["--netns", ns.name.as_str()];
    args.extend(Judging::ARGS);
    check(&args)
}

#[test]
fn the_bound_is_never_below_the_kernel() {
    if skip("the_bound_is_never_below_the_kernel") {
        return;
    }
    let judging = Judging::new();
    let mixes = [
        Mix {
            connected: 0,
            bound: 0,
            closed: 0,
            udp: 0,
        },
        Mix {
            connected: 30,
            bound: 0,
            closed: 0,
            udp: 0,
        },
        // Bound only: counted in `sockets: used` and nowhere else.
        Mix {
            connected: 0,
            bound: 32,
            closed: 0,
            udp: 0,
        },
        Mix {
            connected: 5,
            bound: 3,
            closed: 12,
            udp: 0,
        },
        Mix {
            connected: 0,
            bound: 0,
            closed: 0,
            udp: 35,
        },
        Mix {
            connected: 8,
            bound: 8,
            closed: 4,
            udp: 8,
        },
    ];
    let (mut proven, mut not) = (0, 0);
    for mix in mixes {
        let ns = Netns::new("bound");
        ns.set_range(40000, 40039);
        let held = fill(&ns, mix);
        let b = bound_of(&ns, &judging);
        let run = exact(&ns);
        assert!((0..=2).contains(&run.code), "{mix:?}:\n{}", run.stdout);
        for label in ["connect_used_pct", "bind_used_pct", "udp_used_pct"] {
            let exact = run.perf_f64(label);
            assert!(
                exact <= b.used_pct,
                "{mix:?}: {label} {exact} above {b:?}\n{}",
                run.stdout
            );
        }
        for label in ["connect_forecast_pct", "bind_forecast_pct"] {
            let exact = run.perf_f64(label).min(100.0);
            assert!(
                exact <= b.used_pct,
                "{mix:?}: {label} {exact} above {b:?}\n{}",
                run.stdout
            );
        }
        if b.proven {
            assert_eq!(run.code, 0, "{mix:?}: proven OK, {b:?}\n{}", run.stdout);
            proven += 1;
        } else {
            not += 1;
        }
        drop(held);
    }
    assert!(proven >= 1 && not >= 3, "{proven} proven, {not} not");
}

#[test]
fn a_sweep_walks_only_what_its_counters_cannot_clear() {
    if skip("a_sweep_walks_only_what_its_counters_cannot_clear") {
        return;
    }
    // The answer of every namespace of the host, with and without --exact:
    // no other test's may come or go in between.
    let _alone = namespaces_alone();
    let quiet: Vec<(Netns, Held)> = (0..3)
        .map(|_| {
            let ns = Netns::new("cleared");
            let mix = Mix {
                connected: 20,
                bound: 0,
                closed: 0,
                udp: 2,
            };
            let held = fill(&ns, mix);
            (ns, held)
        })
        .collect();
    let busy = Netns::new("busy");
    busy.set_range(40000, 40019);
    let _load = busy.load(Some(17));
    let mut args = vec!["--all-netns", "--top", "100", "-v"];
    args.extend(Judging::ARGS);
    let run = check(&args);
    let line = |ns: &Netns| run.line_starting(&format!("  {}: ", ns.name)).to_string();
    // The 17 of 20 ports taken: walked, with its exact free count.
    assert!(
        line(&busy)
            .contains(": WARNING - connect 127.0.0.1 -> 127.0.0.1:5000: 3 of 20 free (85.0% used)"),
        "{}",
        run.stdout
    );
    for (ns, _) in &quiet {
        assert!(
            line(ns).contains(": OK by bound - no pool can exceed "),
            "{}",
            run.stdout
        );
    }
    // The host's own namespace by the name an operator knows.
    run.line_starting("  host: ");
    assert!(run.perf("netns_bounded") >= 3, "{}", run.stdout);
    assert!(run.perf("netns_walked") >= 1, "{}", run.stdout);
    let judged = run.perf("netns_bounded") + run.perf("netns_walked");
    assert_eq!(run.perf("netns"), judged, "{}", run.stdout);

    // --exact walks them all: the same answer, none by bound.
    let mut args = vec!["--all-netns", "--exact", "--top", "100"];
    args.extend(Judging::ARGS);
    let exact = check(&args);
    assert_eq!(exact.perf("netns_bounded"), 0, "{}", exact.stdout);
    assert_eq!(exact.code, run.code, "{}\n{}", run.stdout, exact.stdout);
    for (ns, _) in &quiet {
        let l = exact.line_starting(&format!("  {}: ", ns.name));
        assert!(l.contains(": OK - "), "{}", exact.stdout);
    }

    // --what-if: the counters were read under today's settings, so no
    // namespace is judged by a bound taken from them.
    let mut args = vec!["--all-netns", "--top", "100", "--what-if"];
    args.push("net.ipv4.tcp_tw_reuse=1");
    args.extend(Judging::ARGS);
    let hypothesis = check(&args);
    assert_eq!(hypothesis.perf("netns_bounded"), 0, "{}", hypothesis.stdout);
    let walked = hypothesis.perf("netns_walked");
    assert_eq!(hypothesis.perf("netns"), walked, "{}", hypothesis.stdout);
}
