//! A private network namespace with a tiny port range, real loopback
//! sockets, and the binary run inside it: the harness every kernel test uses.
//!
//! Each lab runs on a thread of its own that calls `unshare(CLONE_NEWNET)`:
//! the namespace belongs to that thread (and the processes it starts) and
//! disappears with its last socket when the thread ends, also when a test
//! fails, so nothing is left behind to clean up. Only loopback addresses
//! exist inside it.

pub mod netns;
pub mod pace;

use std::io::{self};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{Plugin, Run};

/// `IP_LOCAL_PORT_RANGE` (Linux 6.3): a socket's own narrower port range.
const IP_LOCAL_PORT_RANGE: libc::c_int = 51;

/// The kernel settings a scenario starts from.
#[derive(Clone, Debug)]
pub struct Settings {
    pub range: (u16, u16),
    pub reserved: &'static str,
    pub tw_reuse: u8,
    pub timestamps: u8,
    pub tw_reuse_delay_ms: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            range: (40000, 40019),
            reserved: "",
            tw_reuse: 0,
            timestamps: 1,
            tw_reuse_delay_ms: None,
        }
    }
}

/// Why labs cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !super::is_root() {
        return Some("needs root to create a network namespace".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("needs `ip` (iproute2)".into());
    }
    None
}

/// Runs `f` in a fresh namespace set up with `settings`. Outside CI a
/// machine that cannot make namespaces skips with a printed reason; under
/// `CI=true` that is a failure, so CI can never pass by skipping.
pub fn run<R: Send + 'static>(
    name: &str,
    settings: Settings,
    f: impl FnOnce(&mut Lab) -> R + Send + 'static,
) -> Option<R> {
    if !super::ready(name, unavailable()) {
        return None;
    }
    let _shared = super::namespaces_shared();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // SAFETY: unshare affects only this thread, which owns the lab.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "unshare(CLONE_NEWNET): {}",
                io::Error::last_os_error()
            );
            let mut lab = Lab::new(settings);
            f(&mut lab)
        })
        .expect("spawn lab thread");
    match thread.join() {
        Ok(r) => Some(r),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

pub struct Lab {
    pub settings: Settings,
    /// Every socket the scenario made, kept open until the lab ends.
    keep: Vec<Socket>,
    listeners: Vec<TcpListener>,
}

impl Lab {
    fn new(settings: Settings) -> Lab {
        let status = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(status.success(), "ip link set lo up failed");
        let s = &settings;
        sysctl(
            "ip_local_port_range",
            &format!("{} {}", s.range.0, s.range.1),
        );
        sysctl("ip_local_reserved_ports", s.reserved);
        sysctl("tcp_tw_reuse", &s.tw_reuse.to_string());
        sysctl("tcp_timestamps", &s.timestamps.to_string());
        if let Some(ms) = s.tw_reuse_delay_ms {
            sysctl("tcp_tw_reuse_delay", &ms.to_string());
        }
        Lab {
            settings,
            keep: Vec::new(),
            listeners: Vec::new(),
        }
    }

    pub fn range_len(&self) -> usize {
        usize::from(self.settings.range.1 - self.settings.range.0) + 1
    }

    /// A listener with a deep backlog, so connects complete without accept.
    pub fn listen(&mut self, addr: &str) -> SocketAddr {
        self.listen_with(addr, |s| s.set_reuse_address(true).expect("SO_REUSEADDR"))
    }

    /// A listener whose IPV6_V6ONLY is set as asked.
    pub fn listen_v6(&mut self, addr: &str, v6only: bool) -> SocketAddr {
        self.listen_with(addr, |s| s.set_only_v6(v6only).expect("IPV6_V6ONLY"))
    }

    /// A listener on `addr` (deep backlog), `set` applied before bind().
    fn listen_with(&mut self, addr: &str, set: impl FnOnce(&Socket)) -> SocketAddr {
        let addr: SocketAddr = addr.parse().expect("listener address");
        let s = new_socket(addr.ip(), Type::STREAM);
        set(&s);
        s.bind(&addr.into()).expect("bind listener");
        s.listen(4096).expect("listen");
        let l: TcpListener = s.into();
        let bound = l.local_addr().expect("local_addr");
        self.listeners.push(l);
        bound
    }

    /// connect() from `source` (or the routed one) to `to`; the kernel
    /// chooses the port (IP_BIND_ADDRESS_NO_PORT).
    pub fn try_connect(&mut self, source: Option<&str>, to: SocketAddr) -> io::Result<()> {
        let s = new_socket(to.ip(), Type::STREAM);
        if let Some(src) = source {
            set_bind_address_no_port(&s);
            let src: IpAddr = src.parse().expect("source address");
            s.bind(&SocketAddr::new(src, 0).into())?;
        }
        s.connect(&to.into())?;
        self.keep.push(s);
        Ok(())
    }

    /// `n` connections whose ports the kernel picks from `own` only
    /// (IP_LOCAL_PORT_RANGE), so a scenario decides which ports they use.
    pub fn connect_in(&mut self, source: Option<&str>, to: SocketAddr, n: usize, own: (u16, u16)) {
        for i in 0..n {
            let s = new_socket(to.ip(), Type::STREAM);
            let range: u32 = u32::from(own.0) | (u32::from(own.1) << 16);
            // SAFETY: a valid fd and a pointer to a u32 of the given size.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::IPPROTO_IP,
                    IP_LOCAL_PORT_RANGE,
                    (&range as *const u32).cast(),
                    std::mem::size_of::<u32>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "IP_LOCAL_PORT_RANGE: {}", io::Error::last_os_error());
            if let Some(src) = source {
                set_bind_address_no_port(&s);
                let src: IpAddr = src.parse().expect("source address");
                s.bind(&SocketAddr::new(src, 0).into())
                    .expect("bind source");
            }
            if let Err(e) = s.connect(&to.into()) {
                panic!("connect {i} of {n} to {to} within {own:?}: {e}");
            }
            self.keep.push(s);
        }
    }

    pub fn connect(&mut self, source: Option<&str>, to: SocketAddr, n: usize) {
        for i in 0..n {
            if let Err(e) = self.try_connect(source, to) {
                panic!("connect {i} of {n} to {to}: {e}");
            }
        }
    }

    /// bind(addr, 0) and connect: the port comes from the bind pool and is
    /// marked for everyone, yet looks automatically chosen.
    pub fn bind_then_connect(&mut self, source: &str, to: SocketAddr) {
        let src: IpAddr = source.parse().expect("source");
        let s = new_socket(to.ip(), Type::STREAM);
        s.bind(&SocketAddr::new(src, 0).into()).expect("bind");
        s.connect(&to.into()).expect("connect");
        self.keep.push(s);
    }

    /// bind() to `addr` (port 0 lets the kernel choose) and keep the socket
    /// bound without listening or connecting.
    pub fn try_bind(&mut self, addr: SocketAddr, kind: Type) -> io::Result<u16> {
        let s = new_socket(addr.ip(), kind);
        s.bind(&addr.into())?;
        let port = s.local_addr()?.as_socket().map_or(0, |a| a.port());
        self.keep.push(s);
        Ok(port)
    }

    pub fn bind(&mut self, addr: &str) -> u16 {
        let addr: SocketAddr = addr.parse().expect("bind address");
        self.try_bind(addr, Type::STREAM).expect("bind")
    }

    /// A socket bound to an explicit port, then connected.
    pub fn bind_port_then_connect(&mut self, local: &str, to: SocketAddr) {
        let local: SocketAddr = local.parse().expect("local");
        let s = new_socket(to.ip(), Type::STREAM);
        s.bind(&local.into()).expect("bind explicit port");
        s.connect(&to.into()).expect("connect");
        self.keep.push(s);
    }

    /// A connection from the explicit port `local` to the lab's listener at
    /// `to`, both ends handed back (not kept), so the scenario decides when
    /// it closes.
    pub fn bound_connection(&mut self, local: &str, to: SocketAddr) -> (Socket, TcpStream) {
        let local: SocketAddr = local.parse().expect("local");
        let listener = self
            .listeners
            .iter()
            .find(|l| l.local_addr().ok() == Some(to))
            .expect("bound_connection needs a listener of the lab");
        let s = new_socket(to.ip(), Type::STREAM);
        s.bind(&local.into()).expect("bind explicit port");
        s.connect(&to.into()).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (s, server)
    }

    /// Closes a connection client first, so the client's side ends in
    /// TIME_WAIT (bounded wait for the FIN).
    pub fn close_client_first(client: Socket, server: TcpStream) {
        close_in_order(client, server);
        // Let the last ACKs land.
        std::thread::sleep(Duration::from_millis(50));
    }

    /// `n` client-side TIME_WAITs to the listener at `to` from `source`: the
    /// client closes first, then the accepted side.
    pub fn time_wait(&mut self, source: Option<&str>, to: SocketAddr, n: usize) {
        let listener = self
            .listeners
            .iter()
            .position(|l| l.local_addr().ok() == Some(to))
            .expect("time_wait needs a listener of the lab");
        for _ in 0..n {
            self.try_connect(source, to).expect("connect for TIME_WAIT");
            let client = self.keep.pop().expect("client");
            let (server, _) = self.listeners[listener].accept().expect("accept");
            close_in_order(client, server);
        }
        // Let the last ACKs land.
        std::thread::sleep(Duration::from_millis(50));
    }

    /// A UDP socket bound to `addr`, or connected (autobound) to `to`.
    pub fn udp_bind(&mut self, addr: &str) -> u16 {
        let addr: SocketAddr = addr.parse().expect("udp address");
        self.try_bind(addr, Type::DGRAM).expect("udp bind")
    }

    /// A UDP socket with IPV6_V6ONLY bound to `addr`.
    pub fn udp_bind_v6only(&mut self, addr: &str) -> u16 {
        let addr: SocketAddr = addr.parse().expect("udp address");
        let s = new_socket(addr.ip(), Type::DGRAM);
        s.set_only_v6(true).expect("IPV6_V6ONLY");
        s.bind(&addr.into()).expect("udp bind");
        let port = s
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map_or(0, |a| a.port());
        self.keep.push(s);
        port
    }

    pub fn try_udp_connect(&mut self, to: SocketAddr) -> io::Result<()> {
        let s = new_socket(to.ip(), Type::DGRAM);
        s.connect(&to.into())?;
        self.keep.push(s);
        Ok(())
    }

    /// Distinct local ports the lab's own sockets hold inside the range.
    pub fn ports_in_range(&self) -> usize {
        let (lo, hi) = self.settings.range;
        let mut ports: Vec<u16> = self
            .keep
            .iter()
            .filter_map(|s| s.local_addr().ok()?.as_socket().map(|a| a.port()))
            .filter(|p| (lo..=hi).contains(p))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports.len()
    }

    /// Runs the binary inside the namespace (it starts on this thread);
    /// it must write nothing to stderr.
    pub fn check(&self, args: &[&str]) -> Run {
        self.check_with_env(args, &[])
    }

    /// Runs the binary inside the namespace with more environment.
    pub fn check_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Plugin::new().args(args).envs(env.iter().copied()).check()
    }

    /// connect() from `source` to `to` until the kernel refuses; the refusal
    /// must be EADDRNOTAVAIL.
    pub fn exhaust_connect(&mut self, source: Option<&str>, to: SocketAddr) -> u32 {
        self.exhaust("connect()", libc::EADDRNOTAVAIL, |lab| {
            lab.try_connect(source, to)
        })
    }

    /// bind(addr, 0) until EADDRINUSE.
    pub fn exhaust_bind(&mut self, addr: &str) -> u32 {
        let ip: IpAddr = addr.parse().expect("bind address");
        self.exhaust("bind()", libc::EADDRINUSE, |lab| {
            lab.try_bind(SocketAddr::new(ip, 0), Type::STREAM).map(drop)
        })
    }

    /// UDP connect() of unbound sockets (autobind) until EAGAIN.
    pub fn exhaust_udp(&mut self, to: &str) -> u32 {
        let to: SocketAddr = to.parse().expect("udp target");
        self.exhaust("UDP autobind", libc::EAGAIN, |lab| lab.try_udp_connect(to))
    }

    /// Calls `allocate` until it fails, which it must do with `errno` within
    /// the size of the range; returns how many calls succeeded.
    fn exhaust(
        &mut self,
        what: &str,
        errno: i32,
        mut allocate: impl FnMut(&mut Lab) -> io::Result<()>,
    ) -> u32 {
        let limit = self.range_len() + 8;
        for n in 0..limit {
            if let Err(e) = allocate(self) {
                assert_eq!(e.raw_os_error(), Some(errno), "{what} refused with {e}");
                return n as u32;
            }
        }
        panic!("{what} never ran out after {limit} calls");
    }

    /// Waits (bounded) until `f` holds, e.g. for TIME_WAITs to age.
    pub fn wait_until(&self, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < limit, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn sysctl(name: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv4/{name}");
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

fn new_socket(ip: IpAddr, kind: Type) -> Socket {
    let domain = if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let protocol = if kind == Type::DGRAM {
        Protocol::UDP
    } else {
        Protocol::TCP
    };
    Socket::new(domain, kind, Some(protocol)).expect("socket")
}

/// The client closes first, then (after a bounded wait for its FIN) the
/// accepted side: the client's end is the one left in TIME_WAIT.
fn close_in_order(client: Socket, server: TcpStream) {
    client.shutdown(Shutdown::Both).ok();
    drop(client);
    let mut buf = [0u8; 1];
    server.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let _ = io::Read::read(&mut &server, &mut buf);
    drop(server);
}

fn set_bind_address_no_port(s: &Socket) {
    let one: libc::c_int = 1;
    // SAFETY: a valid fd and a pointer to a c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "IP_BIND_ADDRESS_NO_PORT: {}",
        io::Error::last_os_error()
    );
}
