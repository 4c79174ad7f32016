//! A container host in miniature: three named network namespaces (pod,
//! node, server) joined by two veth pairs, the node forwarding and
//! masquerading the pod's traffic with nftables. The harness every NAT test
//! uses: it holds pod connections, counts what the pod really gets before a
//! connect times out, and runs the binary in the node's namespace.
//!
//! The addresses exist only inside these namespaces. Names are unique (pid
//! and a counter) and the namespaces are deleted by `Drop`, also when a test
//! fails; every loop is bounded by a count and a time.

use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::turns::Shared;
use super::{Plugin, Run};

/// The pod's address, behind the node.
pub const POD: Ipv4Addr = Ipv4Addr::new(10, 200, 1, 2);
/// The node's address towards the server: the NAT address.
pub const NODE: Ipv4Addr = Ipv4Addr::new(10, 200, 2, 1);
/// The server's first address; `add_server_address` adds more.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 200, 2, 2);
/// The pod picks its own ports from here, away from every NAT range the
/// tests use, so the kernel never keeps a pod's port as the NAT port.
const POD_PORTS: &str = "20000 29999";

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// One masquerade rule on the node: which protocol, and the rule's own
/// port range (`masquerade to :LO-HI`) or the kernel's default.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub protocol: &'static str,
    pub ports: Option<(u16, u16)>,
}

impl Rule {
    pub fn tcp(lo: u16, hi: u16) -> Rule {
        Rule {
            protocol: "tcp",
            ports: Some((lo, hi)),
        }
    }

    /// A TCP masquerade naming no port range: the kernel's port classes.
    pub fn tcp_classes() -> Rule {
        Rule {
            protocol: "tcp",
            ports: None,
        }
    }

    pub fn udp(lo: u16, hi: u16) -> Rule {
        Rule {
            protocol: "udp",
            ports: Some((lo, hi)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Pod,
    Node,
    Server,
}

/// Why the topology cannot be built here, if it cannot.
fn unavailable() -> Option<String> {
    if !super::is_root() {
        return Some("needs root to make network namespaces".into());
    }
    for (tool, arg, package) in [
        ("ip", "-V", "iproute2"),
        ("nft", "--version", "nftables"),
        ("conntrack", "--version", "conntrack"),
    ] {
        if Command::new(tool).arg(arg).output().is_err() {
            return Some(format!("needs `{tool}` (package {package})"));
        }
    }
    None
}

pub struct Topology {
    /// Dropped after the namespaces are deleted (fields drop after `Drop`).
    _shared: Shared,
    names: [String; 3],
    /// Sockets held open until the topology ends.
    held: Vec<Socket>,
    listeners: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
    next_server_host: u8,
}

impl Topology {
    /// Builds the three namespaces with `rules` on the node. Outside CI a
    /// machine that cannot skips with a printed reason (None); under
    /// `CI=true` that is a failure.
    pub fn new(test: &str, rules: &[Rule]) -> Option<Topology> {
        if !super::ready(test, unavailable()) {
            return None;
        }
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let names = ["pod", "node", "srv"].map(|r| format!("ce-nat{pid}-{serial}-{r}"));
        // The guard exists before the first namespace does, so a failure
        // half way through still deletes what was made.
        let topo = Topology {
            _shared: super::namespaces_shared(),
            names,
            held: Vec::new(),
            listeners: Vec::new(),
            udp: Vec::new(),
            next_server_host: 3,
        };
        for name in &topo.names {
            run("ip", &["netns", "add", name]);
        }
        let [pod, node, srv] = &topo.names;
        run(
            "ip",
            &[
                "-n", pod, "link", "add", "p0", "type", "veth", "peer", "name", "n0", "netns", node,
            ],
        );
        run(
            "ip",
            &[
                "-n", node, "link", "add", "n1", "type", "veth", "peer", "name", "s0", "netns", srv,
            ],
        );
        for (ns, addr, dev) in [
            (pod, "10.200.1.2/24", "p0"),
            (node, "10.200.1.1/24", "n0"),
            (node, "10.200.2.1/24", "n1"),
            (srv, "10.200.2.2/24", "s0"),
        ] {
            run("ip", &["-n", ns, "addr", "add", addr, "dev", dev]);
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        for ns in &topo.names {
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run(
            "ip",
            &["-n", pod, "route", "add", "default", "via", "10.200.1.1"],
        );
        topo.sysctl(Role::Node, "net.ipv4.ip_forward", "1");
        topo.sysctl(Role::Pod, "net.ipv4.ip_local_port_range", POD_PORTS);
        topo.nft(&ruleset(rules));
        Some(topo)
    }

    pub fn name(&self, role: Role) -> &str {
        &self.names[role as usize]
    }

    /// Writes a sysctl of one of the topology's namespaces.
    pub fn sysctl(&self, role: Role, key: &str, value: &str) {
        let setting = format!("{key}={value}");
        self.exec(role, "sysctl", &["-qw", &setting]);
    }

    /// Loads an nftables ruleset into the node.
    pub fn nft(&self, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.name(Role::Node), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(ruleset.as_bytes()).expect("write ruleset");
        }
        let out = child.wait_with_output().expect("wait for nft");
        assert!(
            out.status.success(),
            "nft -f refused:\n{ruleset}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a program inside one namespace; it must succeed.
    pub fn exec(&self, role: Role, program: &str, args: &[&str]) -> String {
        let out = self.exec_output(role, program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} in the {role:?} namespace failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a program inside one namespace; its exit code and stdout.
    pub fn exec_status(&self, role: Role, program: &str, args: &[&str]) -> (i32, String) {
        let out = self.exec_output(role, program, args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    fn exec_output(&self, role: Role, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", self.name(role), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// Runs `f` on a thread that entered the namespace of `role`: sockets
    /// it makes belong to that namespace.
    pub fn within<R: Send>(&self, role: Role, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.name(role));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                    // SAFETY: a valid namespace fd; setns changes only this thread.
                    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns {path}: {}", io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Gives the server one more address; pools are per destination.
    pub fn add_server_address(&mut self) -> Ipv4Addr {
        let host = self.next_server_host;
        self.next_server_host += 1;
        let addr = Ipv4Addr::new(10, 200, 2, host);
        let cidr = format!("{addr}/24");
        self.exec(Role::Server, "ip", &["addr", "add", &cidr, "dev", "s0"]);
        addr
    }

    /// A TCP listener on the server with a deep backlog: connects complete
    /// without accept().
    pub fn listen(&mut self, addr: Ipv4Addr, port: u16) -> SocketAddr {
        let to = SocketAddr::new(IpAddr::V4(addr), port);
        let listener = self.within(Role::Server, || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
            s.set_reuse_address(true).expect("SO_REUSEADDR");
            s.bind(&to.into()).expect("bind listener");
            s.listen(4096).expect("listen");
            TcpListener::from(s)
        });
        self.listeners.push(listener);
        to
    }

    /// A UDP socket on the server that counts the flows reaching it.
    pub fn udp_listen(&mut self, addr: Ipv4Addr, port: u16) -> SocketAddr {
        let to = SocketAddr::new(IpAddr::V4(addr), port);
        let socket = self.within(Role::Server, || UdpSocket::bind(to).expect("bind UDP"));
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        self.udp.push(socket);
        to
    }

    /// One TCP connect from the pod, held open when it succeeds. A connect
    /// the node cannot translate is dropped silently: it times out.
    pub fn pod_connect(&mut self, to: SocketAddr, timeout: Duration) -> io::Result<u16> {
        self.connect_from(Role::Pod, None, to, timeout)
    }

    /// Gives the pod a second address (10.200.1.3): a second source whose
    /// ports may collide with the first's once translated.
    pub fn add_pod_address(&mut self) -> Ipv4Addr {
        let addr = Ipv4Addr::new(10, 200, 1, 3);
        self.exec(
            Role::Pod,
            "ip",
            &["addr", "add", "10.200.1.3/24", "dev", "p0"],
        );
        addr
    }

    /// One TCP connect from the pod's `source`:`port` (ports below 1024
    /// need the test to run as root, which it does), held when it succeeds.
    pub fn pod_connect_from(
        &mut self,
        source: Ipv4Addr,
        port: u16,
        to: SocketAddr,
        timeout: Duration,
    ) -> io::Result<u16> {
        let from = SocketAddr::new(IpAddr::V4(source), port);
        let socket = self.within(Role::Pod, || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.bind(&from.into())?;
            s.connect_timeout(&to.into(), timeout)?;
            Ok::<_, io::Error>(s)
        })?;
        self.held.push(socket);
        Ok(port)
    }

    /// The NAT port the node gave the pod's connection from
    /// `source`:`port`, from its conntrack table.
    pub fn nat_port(&self, source: Ipv4Addr, port: u16) -> Option<u16> {
        let src = source.to_string();
        let sport = port.to_string();
        let out = self.exec_output(
            Role::Node,
            "conntrack",
            &["-L", "-p", "tcp", "-s", &src, "--sport", &sport],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        reply_port(text.lines().next()?, &format!("dst={NODE}"))
    }

    /// One TCP connect of the node's own, from its NAT address.
    pub fn node_connect(&mut self, to: SocketAddr, timeout: Duration) -> io::Result<u16> {
        self.connect_from(Role::Node, Some(NODE), to, timeout)
    }

    fn connect_from(
        &mut self,
        role: Role,
        source: Option<Ipv4Addr>,
        to: SocketAddr,
        timeout: Duration,
    ) -> io::Result<u16> {
        let (socket, port) = self.within(role, || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            if let Some(ip) = source {
                s.bind(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
            }
            s.connect_timeout(&to.into(), timeout)?;
            let port = s.local_addr()?.as_socket().map_or(0, |a| a.port());
            Ok::<_, io::Error>((s, port))
        })?;
        self.held.push(socket);
        Ok(port)
    }

    /// Pod connects until `n` are held; each failure costs `timeout`, and
    /// more than `n` failures are a test failure.
    pub fn pod_fill(&mut self, to: SocketAddr, n: usize, timeout: Duration) {
        let mut failures = 0;
        let mut held = 0;
        while held < n {
            match self.pod_connect(to, timeout) {
                Ok(_) => held += 1,
                Err(e) if e.kind() == io::ErrorKind::TimedOut && failures < n => failures += 1,
                Err(e) => panic!("pod connect {held} of {n} to {to}: {e} ({failures} timeouts)"),
            }
        }
    }

    /// Pod connects until one times out; returns how many succeeded. Any
    /// other error, or no timeout within `limit` connects, fails the test.
    pub fn pod_connects_until_timeout(
        &mut self,
        to: SocketAddr,
        timeout: Duration,
        limit: usize,
    ) -> u32 {
        for n in 0..limit {
            match self.pod_connect(to, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return n as u32,
                Err(e) => panic!("pod connect {n} to {to}: {e}"),
            }
        }
        panic!("the pod's connects to {to} never timed out in {limit} tries");
    }

    /// One attempt that leaves the table as it was: a pod connect that,
    /// when it succeeds, is reset and its conntrack entry deleted on the
    /// node. True when the kernel found a NAT port.
    pub fn pod_probe(&mut self, to: SocketAddr, timeout: Duration) -> bool {
        let attempt = self.within(Role::Pod, || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.connect_timeout(&to.into(), timeout)?;
            let port = s.local_addr()?.as_socket().map_or(0, |a| a.port());
            Ok::<_, io::Error>((s, port))
        });
        match attempt {
            Ok((socket, port)) => {
                // SO_LINGER 0: close with a reset, no TIME_WAIT in the pod.
                socket.set_linger(Some(Duration::ZERO)).ok();
                drop(socket);
                let sport = port.to_string();
                let out = self.exec_output(
                    Role::Node,
                    "conntrack",
                    &["-D", "-p", "tcp", "-s", "10.200.1.2", "--sport", &sport],
                );
                assert!(
                    out.status.success(),
                    "conntrack -D for pod port {port}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                true
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => false,
            Err(e) => panic!("pod probe to {to}: {e}"),
        }
    }

    /// Sends one datagram from each of `n` new pod sockets (held open) and
    /// returns how many distinct flows reached the server: a flow the node
    /// cannot translate is dropped without a word.
    pub fn udp_flows_from_pod(&mut self, to: SocketAddr, n: usize) -> usize {
        let sockets = self.within(Role::Pod, || {
            (0..n)
                .map(|_| {
                    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
                        .expect("UDP socket");
                    s.send_to(b"x", &SockAddr::from(to)).expect("send");
                    s
                })
                .collect::<Vec<_>>()
        });
        self.held.extend(sockets);
        let server = self
            .udp
            .iter()
            .find(|s| s.local_addr().ok() == Some(to))
            .expect("udp_flows_from_pod needs a udp_listen socket");
        let mut peers = Vec::new();
        let mut buf = [0u8; 16];
        let deadline = Instant::now() + Duration::from_secs(5);
        // Reads until the server is quiet (timeout) or every flow arrived.
        while peers.len() < n && Instant::now() < deadline {
            match server.recv_from(&mut buf) {
                Ok((_, peer)) => {
                    if !peers.contains(&peer) {
                        peers.push(peer);
                    }
                }
                Err(_) => break,
            }
        }
        peers.len()
    }

    /// The node's conntrack statistics summed over CPUs, from `conntrack -S`.
    pub fn conntrack_stats(&self) -> ConntrackStats {
        let text = self.exec(Role::Node, "conntrack", &["-S"]);
        let mut stats = ConntrackStats::default();
        for field in text.split_whitespace() {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let value: u64 = value.parse().unwrap_or(0);
            match key {
                "insert_failed" => stats.insert_failed += value,
                "drop" => stats.drop += value,
                _ => {}
            }
        }
        stats
    }

    /// The node's table as `conntrack -L` prints it, for failure messages.
    pub fn conntrack_list(&self) -> String {
        let out = self.exec_output(Role::Node, "conntrack", &["-L"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The binary, to run in the namespace of `role`.
    pub fn plugin_in(&self, role: Role) -> Plugin {
        Plugin::new().netns(format!("/run/netns/{}", self.name(role)))
    }

    /// Runs the binary in the node's namespace.
    pub fn check(&self, args: &[&str]) -> Run {
        self.check_in(Role::Node, args)
    }

    /// Runs the binary in the namespace of `role`; it must write nothing
    /// to stderr.
    pub fn check_in(&self, role: Role, args: &[&str]) -> Run {
        self.plugin_in(role).args(args).check()
    }

    /// Runs the binary in the test's own namespace (e.g. with `--netns`).
    pub fn check_outside(&self, args: &[&str]) -> Run {
        Plugin::new().args(args).check()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.held.clear();
        self.listeners.clear();
        self.udp.clear();
        for name in &self.names {
            // A namespace that was never made is not an error here.
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConntrackStats {
    pub insert_failed: u64,
    pub drop: u64,
}

/// The node's nftables ruleset: one masquerade rule per `Rule`, on the
/// interface towards the server.
pub fn ruleset(rules: &[Rule]) -> String {
    let mut text = String::from(
        "table ip nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat;\n",
    );
    for rule in rules {
        let to = match rule.ports {
            Some((lo, hi)) => format!(" to :{lo}-{hi}"),
            None => String::new(),
        };
        text.push_str(&format!(
            "    oifname \"n1\" meta l4proto {} masquerade{to}\n",
            rule.protocol
        ));
    }
    text.push_str("  }\n}\n");
    text
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The destination port of the reply tuple on a `conntrack -L` line: the
/// `dport=` after `reply_dst` (`dst=ADDR`, the reply's destination, which
/// only the reply tuple has towards the node).
pub fn reply_port(line: &str, reply_dst: &str) -> Option<u16> {
    line.split(reply_dst)
        .nth(1)?
        .split("dport=")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}
