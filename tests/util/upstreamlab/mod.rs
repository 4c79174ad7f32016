//! An emulated provider: VM namespaces and a server namespace joined by
//! veth pairs, the server holding public-looking documentation addresses
//! (198.51.100.0/24, 203.0.113.0/24) on its loopback and a private one on
//! its link, reached over routes on the link itself (no gateway). No NAT device: the oracle is the
//! provider's rule applied to the client's own log of opens and closes.
//!
//! Listeners either wait for the client's FIN (the VM keeps a TIME_WAIT)
//! or close first (the VM keeps nothing). Names are unique (pid and a
//! counter); `Drop` stops every thread and deletes the namespaces, also
//! when a test fails; every loop is bounded by a count and a time.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::turns::Shared;
use super::{Plugin, Run};

mod client;
mod oracle;

pub use oracle::{Close, Conn, rule_full_in, rule_used};

static SERIAL: AtomicUsize = AtomicUsize::new(0);

fn unavailable() -> Option<String> {
    if !super::is_root() {
        return Some("needs root to make network namespaces".into());
    }
    for (tool, arg) in [("ip", "-V"), ("nft", "--version")] {
        if Command::new(tool).arg(arg).output().is_err() {
            return Some(format!("needs `{tool}`"));
        }
    }
    None
}

/// The VM's address in VM namespace `k`.
pub fn vm_address(k: usize) -> String {
    format!("10.1.{k}.5")
}

/// The private server address VM `k` reaches on its link.
pub fn private_server(k: usize) -> String {
    format!("10.1.{k}.9")
}

pub struct Provider {
    /// Dropped after the namespaces are deleted (fields drop after `Drop`).
    _shared: Shared,
    /// The server's namespace, then one per VM.
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Client sockets held open, and the client's log.
    held: Vec<(TcpStream, usize)>,
    udp: Vec<UdpSocket>,
    pub log: Arc<Mutex<Vec<Conn>>>,
}

impl Provider {
    /// A server and `vms` VM namespaces, the server holding `public`
    /// addresses. Outside CI a machine that cannot skips (None).
    pub fn new(test: &str, vms: usize, public: &[&str]) -> Option<Provider> {
        if !super::ready(test, unavailable()) {
            return None;
        }
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let mut names = vec![format!("ce-up{pid}-{serial}-srv")];
        names.extend((0..vms).map(|k| format!("ce-up{pid}-{serial}-vm{k}")));
        // The guard exists before the first namespace does.
        let p = Provider {
            _shared: super::namespaces_shared(),
            names,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            held: Vec::new(),
            udp: Vec::new(),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        for name in &p.names {
            run("ip", &["netns", "add", name]);
            run("ip", &["-n", name, "link", "set", "lo", "up"]);
        }
        let srv = p.names[0].clone();
        for addr in public {
            run(
                "ip",
                &[
                    "-n",
                    &srv,
                    "addr",
                    "add",
                    &format!("{addr}/32"),
                    "dev",
                    "lo",
                ],
            );
        }
        for k in 0..vms {
            let vm = &p.names[k + 1];
            let (v, s) = ("v0".to_string(), format!("s{k}"));
            run(
                "ip",
                &[
                    "-n", vm, "link", "add", &v, "type", "veth", "peer", "name", &s, "netns", &srv,
                ],
            );
            run(
                "ip",
                &[
                    "-n",
                    vm,
                    "addr",
                    "add",
                    &format!("{}/24", vm_address(k)),
                    "dev",
                    &v,
                ],
            );
            run(
                "ip",
                &[
                    "-n",
                    &srv,
                    "addr",
                    "add",
                    &format!("10.1.{k}.1/24"),
                    "dev",
                    &s,
                ],
            );
            run(
                "ip",
                &[
                    "-n",
                    &srv,
                    "addr",
                    "add",
                    &format!("{}/24", private_server(k)),
                    "dev",
                    &s,
                ],
            );
            run("ip", &["-n", vm, "link", "set", &v, "up"]);
            run("ip", &["-n", &srv, "link", "set", &s, "up"]);
            for net in ["198.51.100.0/24", "203.0.113.0/24"] {
                run("ip", &["-n", vm, "route", "add", net, "dev", &v]);
            }
            // A wide range: the VM's own pools stay far from full.
            p.sysctl(k, "net.ipv4.ip_local_port_range", "20000 60999");
        }
        Some(p)
    }

    pub fn vm(&self, k: usize) -> &str {
        &self.names[k + 1]
    }

    pub fn sysctl(&self, vm: usize, key: &str, value: &str) {
        let out = self.exec(vm, "sysctl", &["-qw", &format!("{key}={value}")]);
        assert!(
            out.status.success(),
            "sysctl {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Turns conntrack on in VM `k`: a rule that asks for it.
    pub fn conntrack_on(&self, vm: usize) {
        let rules = "table inet upstream_test {\n  chain out {\n    \
                     type filter hook output priority 0;\n    ct state new accept\n  }\n}\n";
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.vm(vm), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(rules.as_bytes())
                .expect("write the ruleset");
        }
        let out = child.wait_with_output().expect("wait for nft");
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn exec(&self, vm: usize, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", self.vm(vm), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// The binary, to run in VM `k`.
    pub fn plugin(&self, vm: usize) -> Plugin {
        Plugin::new().netns(format!("/run/netns/{}", self.vm(vm)))
    }

    /// Runs the binary in VM `k`; it must write nothing to stderr.
    pub fn check(&self, vm: usize, args: &[&str]) -> Run {
        self.plugin(vm).args(args).check()
    }

    /// Runs `f` on a thread in namespace `name`.
    fn within<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{name}");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    enter(&path);
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A listener on the server that lets the client close first, or
    /// closes every connection at once.
    pub fn serve(&mut self, addr: &str, port: u16, close: Close) -> SocketAddr {
        let to = SocketAddr::new(addr.parse().expect("address"), port);
        let listener = Self::within(&self.names[0], || TcpListener::bind(to).expect("listen"));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = self.stop.clone();
        self.threads
            .push(std::thread::spawn(move || serve(listener, close, &stop)));
        to
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.held.clear();
        self.udp.clear();
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for name in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn enter(path: &str) {
    let ns = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: a valid namespace fd; setns changes only this thread.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", io::Error::last_os_error());
}

/// The server's loop: accepts, and closes each connection at once or once
/// the client's FIN came. Ends when `stop` is set, at the latest ten
/// minutes after it began.
fn serve(listener: TcpListener, close: Close, stop: &AtomicBool) {
    let began = Instant::now();
    let mut open: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::Relaxed) && began.elapsed() < Duration::from_secs(600) {
        let mut idle = true;
        while let Ok((s, _)) = listener.accept() {
            idle = false;
            match close {
                Close::PeerFirst => drop(s),
                Close::ClientFirst => {
                    s.set_nonblocking(true).ok();
                    open.push(s);
                }
            }
        }
        let mut buf = [0u8; 64];
        open.retain_mut(|s| match s.read(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        });
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().expect("run");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// IpAddr helper for tests.
pub fn addr(text: &str) -> IpAddr {
    text.parse().expect("address")
}
