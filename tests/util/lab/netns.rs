//! Named network namespaces for the tests that need `ip netns` (other
//! namespaces seen from the host: `--netns`, `--all-netns`): the skip rule,
//! `ip`, a guard that deletes its namespace also when a test fails, a port
//! range and connections to fill it inside, and the binary run from the
//! host's namespace.
//! Names are unique (pid + counter), so tests running side by side and
//! other users of the host never meet.

use std::fs::File;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::turns::Shared;
use crate::util::{Plugin, Run};

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// A number no other call in this test process gets: for unique names.
pub fn serial() -> usize {
    SERIAL.fetch_add(1, Ordering::SeqCst)
}

/// Whether these tests cannot run here (skipped with a printed reason;
/// under CI that is a failure).
pub fn skip(test: &str) -> bool {
    let why = if !crate::util::is_root() {
        Some("needs root to make and enter network namespaces".to_string())
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("needs `ip` (iproute2)".to_string())
    } else {
        None
    };
    !crate::util::ready(test, why)
}

pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A named network namespace, its loopback up, that lives as long as the
/// guard.
pub struct Netns {
    pub name: String,
    _shared: Shared,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let _shared = crate::util::namespaces_shared();
        let name = format!("ce-{tag}-{}-{}", std::process::id(), serial());
        assert!(ip(&["netns", "add", &name]), "ip netns add {name}");
        let ns = Netns { name, _shared };
        assert!(ip(&["-n", &ns.name, "link", "set", "lo", "up"]), "lo up");
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `f` on a thread inside the namespace. Sockets it makes belong to
    /// the namespace for as long as they are open, wherever they go.
    pub fn inside<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = self.path();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let file = File::open(&path).expect("open the namespace");
                    // SAFETY: a valid namespace fd; affects only this thread.
                    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Sets the namespace's own `ip_local_port_range` (a per-namespace sysctl).
    pub fn set_range(&self, lo: u16, hi: u16) {
        self.inside(|| {
            std::fs::write(
                "/proc/sys/net/ipv4/ip_local_port_range",
                format!("{lo} {hi}"),
            )
            .expect("set the port range");
        });
    }

    /// A listener on 127.0.0.1:5000 and `n` connections to it (all of the
    /// range, until connect() refuses, when `n` is None).
    pub fn load(&self, n: Option<usize>) -> Load {
        self.inside(|| {
            let listener = TcpListener::bind("127.0.0.1:5000").expect("listen");
            let mut clients = Vec::new();
            while n.is_none_or(|n| clients.len() < n) {
                match TcpStream::connect("127.0.0.1:5000") {
                    Ok(s) => clients.push(s),
                    Err(e) if n.is_none() => {
                        assert_eq!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{e}");
                        break;
                    }
                    Err(e) => panic!("connect: {e}"),
                }
                assert!(clients.len() < 70_000, "connect() never ran out");
            }
            Load {
                _listener: listener,
                _clients: clients,
            }
        })
    }
}

/// The sockets of [`Netns::load`], open until dropped.
pub struct Load {
    _listener: TcpListener,
    _clients: Vec<TcpStream>,
}

/// The binary with `args`, run from the host's namespace; it must write
/// nothing to stderr.
pub fn check(args: &[&str]) -> Run {
    Plugin::new().args(args).check()
}

impl Drop for Netns {
    fn drop(&mut self) {
        ip(&["netns", "delete", &self.name]);
    }
}
