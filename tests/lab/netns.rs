//! Named network namespaces for the tests that need `ip netns` (other
//! namespaces seen from the host: `--netns`, `--all-netns`): the skip rule,
//! `ip`, and a guard that deletes its namespace also when a test fails.
//! Names are unique (pid + counter), so tests running side by side and
//! other users of the host never meet.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// A number no other call in this test process gets: for unique names.
pub fn serial() -> usize {
    SERIAL.fetch_add(1, Ordering::SeqCst)
}

/// Why these tests cannot run here; under CI that is a failure.
pub fn skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let why = if unsafe { libc::geteuid() } != 0 {
        "needs root to make and enter network namespaces"
    } else if Command::new("ip").arg("-V").output().is_err() {
        "needs `ip` (iproute2)"
    } else {
        return false;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: cannot run under CI: {why}");
    }
    let _ = writeln!(io::stderr(), "skipped {test}: {why}");
    true
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
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("ce-{tag}-{}-{}", std::process::id(), serial());
        assert!(ip(&["netns", "add", &name]), "ip netns add {name}");
        let ns = Netns { name };
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
}

impl Drop for Netns {
    fn drop(&mut self) {
        ip(&["netns", "delete", &self.name]);
    }
}
