//! The forecast of a NAT pool against the kernel: a pod opens and closes
//! connections at a steady pace through a small masquerade range, each
//! close leaving a conntrack entry in TIME_WAIT on the node for
//! `nf_conntrack_tcp_timeout_time_wait` (lowered inside the test's node
//! namespace to keep the test short). The check, run part way, says when
//! the pool will be full; the pod's connects show when it is.

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::natlab::{Role, Rule, SERVER, Topology};
use crate::util::real_time;
use socket2::{Domain, Protocol, Socket, Type};

/// The range's ports, the pace and the TIME_WAIT timeout: 120 ports at 6
/// closes a second fill in 20 s, well before the first entry expires.
const LO: u16 = 40000;
const HI: u16 = 40119;
const PER_SECOND: f64 = 6.0;
const TIME_WAIT_S: &str = "40";
/// When the check runs, after the pace began.
const CHECK_AT: Duration = Duration::from_secs(8);
/// The longest the pace may run.
const BOUND: Duration = Duration::from_secs(45);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// What the pod saw: connections made, and when a connect first timed
/// out (the moment it started).
struct Paced {
    made: u32,
    first_timeout: Option<Instant>,
    other_errors: Vec<String>,
}

/// Opens and closes connections from inside the pod namespace at
/// `PER_SECOND` until a connect times out or `BOUND` passes.
fn pace(pod_ns: String, to: SocketAddr, start: Instant) -> Paced {
    let ns = File::open(format!("/run/netns/{pod_ns}")).expect("open the pod namespace");
    // SAFETY: a valid namespace fd; setns changes only this thread.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
    let mut paced = Paced {
        made: 0,
        first_timeout: None,
        other_errors: Vec::new(),
    };
    let max = (BOUND.as_secs_f64() * PER_SECOND) as u32;
    for i in 0..max {
        let at = start + Duration::from_secs_f64(f64::from(i) / PER_SECOND);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let began = Instant::now();
        let attempt = (|| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.connect_timeout(&to.into(), CONNECT_TIMEOUT)?;
            // The server closes first; once its FIN is here, close too:
            // the last ACK puts the node's entry in TIME_WAIT.
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut stream = std::net::TcpStream::from(s);
            let mut buf = [0u8; 16];
            while stream.read(&mut buf)? > 0 {}
            Ok::<_, io::Error>(())
        })();
        match attempt {
            Ok(()) => paced.made += 1,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                paced.first_timeout = Some(began);
                break;
            }
            Err(e) => {
                paced.other_errors.push(e.to_string());
                if paced.other_errors.len() > 5 {
                    break;
                }
            }
        }
    }
    paced
}

/// Accepts and closes at once, until told to stop (bounded by `BOUND`).
fn serve(listener: TcpListener, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + BOUND + Duration::from_secs(5);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => drop(stream),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn a_steady_pace_fills_the_nat_pool_when_the_check_said() {
    // A real pace: no build takes the cores meanwhile.
    let _cpu = real_time();
    let Some(topo) = Topology::new("nat_forecast", &[Rule::tcp(LO, HI)]) else {
        return;
    };
    topo.sysctl(
        Role::Node,
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
        TIME_WAIT_S,
    );
    let to = SocketAddr::from((SERVER, 443));
    let listener = topo.within(Role::Server, || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        s.set_reuse_address(true).expect("SO_REUSEADDR");
        s.bind(&to.into()).expect("bind");
        s.listen(1024).expect("listen");
        TcpListener::from(s)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || serve(listener, stop))
    };
    let start = Instant::now() + Duration::from_millis(200);
    let pod = topo.name(Role::Pod).to_string();
    let pacer = std::thread::spawn(move || pace(pod, to, start));
    std::thread::sleep((start + CHECK_AT).saturating_duration_since(Instant::now()));
    let ports = format!("{LO}-{HI}");
    let checked_at = Instant::now();
    let run = topo.check(&["--nat-ports", &ports, "--pools", "nat", "-vv"]);
    let paced = pacer.join().expect("the pace thread");
    stop.store(true, Ordering::Relaxed);
    server.join().expect("the server thread");
    eprintln!("{}", run.stdout);
    assert!(paced.other_errors.is_empty(), "{:?}", paced.other_errors);
    let failed = paced.first_timeout.unwrap_or_else(|| {
        panic!(
            "no connect timed out in {} connections:\n{}",
            paced.made,
            topo.conntrack_list()
        )
    });
    let really = failed.duration_since(checked_at).as_secs_f64();
    let said = run.perf_f64("nat_full_s");
    let capacity = u32::from(HI - LO) + 1;
    eprintln!(
        "made {} connections through {capacity} ports; the check said full in {said:.1} s, \
         the first connect timed out {really:.1} s after it",
        paced.made
    );
    // Never late: the check warns before the pod's first timeout.
    assert!(
        really >= 0.8 * said,
        "said {said:.1} s, but a connect timed out {really:.1} s after:\n{}",
        run.stdout
    );
    // On time, unless the kernel's search evicted TIME_WAIT entries (its
    // last tries of a round may, README: "What the NAT pools cannot see"):
    // then the pod got more connections than the range has ports before
    // any entry could expire, and the timeout comes later than said.
    let first_expiry = start + Duration::from_secs(TIME_WAIT_S.parse().expect("seconds"));
    let evicted = paced.made > capacity && failed < first_expiry;
    assert!(
        (said - really).abs() <= 0.2 * really || evicted,
        "said {said:.1} s, really {really:.1} s:\n{}",
        run.stdout
    );
}
