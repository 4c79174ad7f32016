//! `--all-netns` over many namespaces, against the real kernel: the pool
//! of threads gives the answer one thread gives, a sweep that runs out of
//! time says so, and two hundred namespaces are all judged within the
//! default timeout.
//!
//! Namespaces are made with `ip netns add` under names no one else uses and
//! deleted by a guard, also when a test fails; sockets are put into them
//! from threads that enter them with setns(). Only loopback addresses.
//! Other namespaces of the host come and go while these tests run, so the
//! tests look only at the lines of their own. Needs root: elsewhere the
//! tests skip with a printed reason, and under `CI=true` they fail instead.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use crate::util::Run;
use crate::util::lab::netns::{Load, Netns, check, serial, skip};
use crate::util::namespaces_alone;

/// A namespace with a range of 10 ports and `n` of them taken by
/// connections to a listener on 127.0.0.1:5000.
fn loaded(tag: &str, n: usize) -> (Netns, Load) {
    let ns = Netns::new(tag);
    ns.set_range(40000, 40009);
    let load = ns.load(Some(n));
    (ns, load)
}

#[test]
fn threads_do_not_change_the_answer() {
    if skip("threads_do_not_change_the_answer") {
        return;
    }
    // Ties in every state: the order among equals must not depend on which
    // thread finished first. None is full: a namespace with no port left
    // would tie with those of other tests that run at the same time.
    let tag = "same";
    let loads = [9, 7, 9, 3, 7, 9, 3, 8];
    let made: Vec<_> = loads.iter().map(|&n| loaded(tag, n)).collect();
    let mine = format!("  ce-{tag}-{}-", std::process::id());
    let ours = |run: &Run| -> Vec<String> {
        assert!((0..=2).contains(&run.code), "{}", run.stdout);
        run.stdout
            .lines()
            .filter(|l| l.starts_with(&mine))
            .map(str::to_string)
            .collect()
    };
    // --exact: every namespace walked. Judged by bound, a namespace at the
    // edge of its proof may be walked in one run and not the next (a socket
    // the last run closed may still count for a moment).
    let one = ours(&check(&[
        "--all-netns",
        "--exact",
        "--top",
        "100",
        "--threads",
        "1",
    ]));
    assert_eq!(one.len(), loads.len(), "{one:#?}");
    for threads in ["2", "8", "1024"] {
        for _ in 0..3 {
            let args = [
                "--all-netns",
                "--exact",
                "--top",
                "100",
                "--threads",
                threads,
            ];
            let run = check(&args);
            assert_eq!(ours(&run), one, "--threads {threads}:\n{}", run.stdout);
        }
    }
    // The fullest first, then the ties in the order found.
    assert!(one[0].contains(": WARNING - "), "{one:#?}");
    drop(made);
}

#[test]
fn a_sweep_out_of_time_says_so() {
    if skip("a_sweep_out_of_time_says_so") {
        return;
    }
    let _a = Netns::new("late");
    let _b = Netns::new("late");
    // The options file is a FIFO written only after 3/4 of -t has passed:
    // the sweep may then start just one namespace.
    let n = serial();
    let fifo = std::env::temp_dir().join(format!("ce-late-{}-{n}.ini", std::process::id()));
    let c = CString::new(fifo.to_str().expect("utf-8 path")).expect("no NUL");
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let release = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(3300));
            // Without a reader (the check gone), this fails at once.
            if let Ok(mut w) = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
            {
                let _ = w.write_all(b"[check_ephemeral]\n");
            }
        })
    };
    let extra = format!("--extra-opts=@{}", fifo.display());
    let run = check(&["--all-netns", "-t", "4", "--threads", "1", &extra]);
    let _ = release.join();
    let _ = std::fs::remove_file(&fifo);

    assert_eq!(run.perf_f64("netns"), 1.0, "{}", run.stdout);
    let found = 1.0 + run.perf_f64("netns_unjudged") + run.perf_f64("netns_skipped");
    assert!(found >= 3.0, "{}", run.stdout);
    let status = run.status_line();
    if run.code == 3 {
        assert!(
            status.starts_with("EPHEMERAL UNKNOWN - ")
                && status.contains(" network namespaces not judged: out of time (-t 4 s)"),
            "{}",
            run.stdout
        );
    } else {
        assert!((1..=2).contains(&run.code), "{}", run.stdout);
        assert!(status.contains(" not judged: "), "{}", run.stdout);
    }
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("network namespaces: 1 judged (")
                && l.contains(" not judged (out of time)")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.starts_with("not judged: ")),
        "{}",
        run.stdout
    );
}

#[test]
fn two_hundred_namespaces_are_judged_within_the_default_timeout() {
    if skip("two_hundred_namespaces_are_judged_within_the_default_timeout") {
        return;
    }
    // Every namespace of the host is judged within the default -t: only
    // this test's own, not those of the tests around it.
    let _alone = namespaces_alone();
    let made = Instant::now();
    let namespaces: Vec<Netns> = (0..200).map(|_| Netns::new("node")).collect();
    // A listener and a UDP socket on ports of the range in each.
    let sockets: Vec<(TcpListener, UdpSocket)> = namespaces
        .iter()
        .map(|ns| {
            ns.inside(|| {
                (
                    TcpListener::bind("0.0.0.0:0").expect("listen"),
                    UdpSocket::bind("0.0.0.0:0").expect("udp"),
                )
            })
        })
        .collect();
    let _ = writeln!(
        io::stderr(),
        "made 200 namespaces in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    // The default -t: every namespace is judged before the sweep's share
    // of it runs out.
    let run = check(&["--all-netns", "--top", "0"]);
    assert!((0..=2).contains(&run.code), "{}", run.stdout);
    assert!(run.perf_f64("netns") >= 200.0, "{}", run.stdout);
    assert_eq!(run.perf_f64("netns_unjudged"), 0.0, "{}", run.stdout);
    drop(sockets);
}
