//! Socket populations on loopback, built in the current network namespace.
//!
//! `mix N`: N TCP sockets with the local port in the range — a few
//! listeners on explicit ports, then connections to a handful of
//! destinations (127.0.0.2-6 on four server ports, ::1 on two), 35 %
//! established and 65 % TIME_WAIT (made last: a TIME_WAIT lasts 60 s) —
//! plus N/100 bound UDP sockets.
//!
//! `web INBOUND OUTBOUND`: a busy web server. INBOUND connections to
//! 127.0.0.1:80 from clients bound to explicit ports below the range, and
//! OUTBOUND connections to a backend with ports from the range.
//!
//! The server ends of all connections listen outside the range. Every
//! connection is accepted at once, so no backlog fills; connect and accept
//! time out rather than hang. Open connections are held by forked worker
//! processes, each within the file limit (`RLIMIT_NOFILE` cannot always be
//! raised, even by root); a worker dies with the process that forked it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

const SERVER_PORTS: [u16; 4] = [5000, 5001, 5002, 5003];
const V6_SERVER_PORTS: [u16; 2] = [5000, 5001];
const TIMEOUT: Duration = Duration::from_secs(10);
/// Explicit client ports of the web population: below the range.
const CLIENT_PORTS: std::ops::RangeInclusive<u16> = 1024..=32767;

pub fn main(args: &[&str]) -> Result<(), String> {
    let (args, hold) = match args {
        [rest @ .., "--hold", secs] => (rest, crate::number(secs, "--hold")? as u64),
        _ => (args, 900),
    };
    let (lo, hi) = crate::port_range()?;
    let per_worker = raise_fd_limit()?;
    let started = Instant::now();
    let held = match args {
        ["mix", n] => mix(crate::number(n, "N")?, lo, hi, per_worker, hold)?,
        ["web", inbound, outbound] => web(
            crate::number(inbound, "INBOUND")?,
            crate::number(outbound, "OUTBOUND")?,
            lo,
            per_worker,
            hold,
        )?,
        _ => return Err("usage: populate mix N | populate web INBOUND OUTBOUND".into()),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ready: built in {:.1} s by {} processes",
        started.elapsed().as_secs_f64(),
        held.workers + 1
    )
    .map_err(|e| format!("stdout: {e}"))?;
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    hold_until(hold);
    drop(held.sockets);
    Ok(())
}

/// What the main process holds; the workers hold the rest.
struct Held {
    sockets: Vec<Socket>,
    workers: usize,
}

/// Keeps the population until killed; never longer than `hold` seconds.
fn hold_until(hold: u64) {
    let deadline = Instant::now() + Duration::from_secs(hold);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `work` in a forked process that then holds the sockets it made
/// until this process dies (or `hold` runs out); returns when it is done.
fn in_worker(hold: u64, work: impl FnOnce() -> Result<Vec<Socket>, String>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: this process has a single thread, so the child may go on
    // running ordinary code.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {
            // SAFETY: plain syscalls on our own descriptors.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                libc::close(read_end);
            }
            let code = match work() {
                Ok(sockets) => {
                    // SAFETY: writes one byte from a valid buffer.
                    unsafe { libc::write(write_end, b"+".as_ptr().cast(), 1) };
                    hold_until(hold);
                    drop(sockets);
                    0
                }
                Err(e) => {
                    eprintln!("bench-harness worker: {e}");
                    1
                }
            };
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        _ => {
            let mut byte = [0u8; 1];
            // SAFETY: plain syscalls on our own descriptors and buffer.
            let n = unsafe {
                libc::close(write_end);
                let n = libc::read(read_end, byte.as_mut_ptr().cast(), 1);
                libc::close(read_end);
                n
            };
            if n == 1 {
                Ok(())
            } else {
                Err("a worker failed".into())
            }
        }
    }
}

fn mix(n: usize, lo: u16, hi: u16, per_worker: usize, hold: u64) -> Result<Held, String> {
    let mut held = Vec::new();
    let mut servers = Vec::new();
    for port in SERVER_PORTS {
        servers.push(listener(v4(0, 0, 0, 0, port), false)?);
    }
    let mut v6_servers = Vec::new();
    for port in V6_SERVER_PORTS {
        v6_servers.push(listener(v6_loopback(port), true)?);
    }
    // A few listeners in the range: they mark their ports.
    let marks = [
        v4(127, 0, 0, 1, lo + 100),
        v4(127, 0, 0, 1, lo + 101),
        v4(0, 0, 0, 0, lo + 102),
        v4(127, 0, 0, 1, hi - 100),
        v6_loopback(lo + 103),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), lo + 104),
    ];
    for addr in marks.into_iter().take(n) {
        held.push(listener(addr, true)?);
    }
    let connections = n.saturating_sub(held.len());
    let established = connections * 35 / 100;
    // Connection i goes to this destination and server: one in ten over
    // IPv6, the rest round-robin over 20 IPv4 tuples.
    let route = |i: usize| {
        if i % 10 == 9 {
            let k = (i / 10) % V6_SERVER_PORTS.len();
            (v6_loopback(V6_SERVER_PORTS[k]), &v6_servers[k])
        } else {
            let k = (i - i / 10) % (5 * SERVER_PORTS.len());
            let host = 2 + (k / SERVER_PORTS.len()) as u8;
            let port_index = k % SERVER_PORTS.len();
            (
                v4(127, 0, 0, host, SERVER_PORTS[port_index]),
                &servers[port_index],
            )
        }
    };
    let mut workers = 0;
    let mut from = 0;
    while from < established {
        let to = (from + per_worker).min(established);
        in_worker(hold, || {
            let mut mine = Vec::new();
            for i in from..to {
                let (addr, server) = route(i);
                mine.push(connect(None, addr)?);
                mine.push(accept(server)?);
            }
            Ok(mine)
        })?;
        workers += 1;
        from = to;
    }
    // TIME_WAIT last: it lasts 60 s. The client closes first and ends in
    // TIME_WAIT on its ephemeral port; the server's end goes away.
    for i in established..connections {
        let (addr, server) = route(i);
        let client = connect(None, addr)?;
        let accepted = accept(server)?;
        drop(client);
        drop(accepted);
    }
    for i in 0..(n / 100).clamp(1, 3000) {
        let addr = if i % 4 == 3 {
            v6_loopback(0)
        } else {
            v4(127, 0, 0, 1, 0)
        };
        let s = new_socket(addr, Type::DGRAM)?;
        s.bind(&addr.into())
            .map_err(|e| format!("UDP bind {addr}: {e}"))?;
        held.push(s);
    }
    held.extend(servers);
    held.extend(v6_servers);
    Ok(Held {
        sockets: held,
        workers,
    })
}

fn web(
    inbound: usize,
    outbound: usize,
    lo: u16,
    per_worker: usize,
    hold: u64,
) -> Result<Held, String> {
    let per_source = usize::from(CLIENT_PORTS.end() - CLIENT_PORTS.start()) + 1;
    if CLIENT_PORTS.end() >= &lo || inbound > per_source * 200 {
        return Err("client ports must lie below the range, at most 200 sources".into());
    }
    let web = listener(v4(0, 0, 0, 0, 80), false)?;
    let backend = listener(v4(127, 0, 0, 2, 5432), false)?;
    let mut workers = 0;
    let mut from = 0;
    while from < inbound {
        let to = (from + per_worker).min(inbound);
        in_worker(hold, || {
            let mut mine = Vec::new();
            for k in from..to {
                let source = v4(
                    127,
                    0,
                    0,
                    10 + (k / per_source) as u8,
                    CLIENT_PORTS.start() + (k % per_source) as u16,
                );
                mine.push(connect(Some(source), v4(127, 0, 0, 1, 80))?);
                mine.push(accept(&web)?);
            }
            Ok(mine)
        })?;
        workers += 1;
        from = to;
    }
    let mut held = Vec::new();
    for _ in 0..outbound {
        held.push(connect(None, v4(127, 0, 0, 2, 5432))?);
        held.push(accept(&backend)?);
    }
    held.push(web);
    held.push(backend);
    Ok(Held {
        sockets: held,
        workers,
    })
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn v6_loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

fn new_socket(addr: SocketAddr, ty: Type) -> Result<Socket, String> {
    Socket::new(Domain::for_address(addr), ty, None).map_err(|e| format!("socket: {e}"))
}

fn listener(addr: SocketAddr, v6only: bool) -> Result<Socket, String> {
    let s = new_socket(addr, Type::STREAM)?;
    if addr.is_ipv6() {
        s.set_only_v6(v6only)
            .map_err(|e| format!("IPV6_V6ONLY: {e}"))?;
    }
    s.set_reuse_address(true)
        .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    s.bind(&addr.into())
        .map_err(|e| format!("bind {addr}: {e}"))?;
    s.listen(4096).map_err(|e| format!("listen {addr}: {e}"))?;
    // accept() honours SO_RCVTIMEO: a missing connection is an error, not a hang.
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    Ok(s)
}

fn connect(source: Option<SocketAddr>, to: SocketAddr) -> Result<Socket, String> {
    let s = new_socket(to, Type::STREAM)?;
    if let Some(src) = source {
        s.bind(&src.into())
            .map_err(|e| format!("bind {src}: {e}"))?;
    }
    s.connect_timeout(&to.into(), TIMEOUT)
        .map_err(|e| format!("connect to {to}: {e}"))?;
    Ok(s)
}

fn accept(listener: &Socket) -> Result<Socket, String> {
    listener
        .accept()
        .map(|(s, _)| s)
        .map_err(|e| format!("accept: {e}"))
}

/// Raises the soft file limit to the hard one (and that to `fs.nr_open`
/// where allowed); returns how many connections, two descriptors each, one
/// worker may hold.
fn raise_fd_limit() -> Result<usize, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a valid rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(limit.rlim_max);
    let wanted = libc::rlimit {
        rlim_cur: nr_open,
        rlim_max: nr_open,
    };
    // SAFETY: setrlimit reads a valid rlimit struct. Without
    // CAP_SYS_RESOURCE the hard limit stays; the soft one can reach it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
        }
    } else {
        limit = wanted;
    }
    let fds = limit.rlim_cur.min(1 << 20) as usize;
    if fds < 1000 {
        return Err(format!("only {fds} file descriptors allowed"));
    }
    // Room for what the worker inherits (listeners) and stdio.
    Ok((fds - 500) / 2)
}
