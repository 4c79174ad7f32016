//! Other network namespaces (`--netns`, `--all-netns`) and the processes
//! behind the pools (`--processes`), against the real kernel.
//!
//! Namespaces are made with `ip netns add` under names no one else uses and
//! deleted by a guard, also when a test fails; sockets are put into them
//! from threads that enter them with setns(). Only loopback addresses.
//! Needs root: elsewhere the tests skip with a printed reason, and under
//! `CI=true` they fail instead.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::lab::netns::{Netns, check, skip};
use crate::util::lab::{self, Settings};
use crate::util::plugin::copy_into;
use crate::util::{Plugin, Run, namespaces_alone};
use crate::util::{TempDir, scratch};

/// Environment variable that turns `helper_holds_sockets` into the child
/// process of `processes_names_the_child_that_holds_the_sockets`.
const HOLD: &str = "CHECK_EPHEMERAL_TEST_HOLD";

/// The binary copied where user nobody can run it, removed afterwards.
struct Copy {
    _dir: TempDir,
    bin: PathBuf,
}

impl Copy {
    fn new() -> Copy {
        let dir = scratch("nobody");
        let bin = copy_into(dir.path());
        Copy { _dir: dir, bin }
    }

    fn as_nobody(&self, args: &[&str]) -> Run {
        Plugin::at(&self.bin).args(args).nobody().check()
    }
}

#[test]
fn all_netns_finds_and_names_the_worst() {
    if skip("all_netns_finds_and_names_the_worst") {
        return;
    }
    // The worst of every namespace of the host: no other test's may be
    // there, full as this one's.
    let _alone = namespaces_alone();
    let busy = Netns::new("busy");
    busy.set_range(40000, 40009);
    let _busy_load = busy.load(None);
    let calm = Netns::new("calm");
    calm.set_range(40000, 40099);
    let _calm_load = calm.load(Some(5));

    // The calm one's counters prove it OK: judged by bound, not walked.
    let bounded = check(&["--all-netns", "--top", "100"]);
    assert_eq!(bounded.code, 2, "{}", bounded.stdout);
    bounded.line_starting(&format!(
        "  {}: OK by bound - no pool can exceed ",
        calm.name
    ));

    let run = check(&["--all-netns", "--exact", "--top", "100"]);
    // Every port of the busy one is taken: nothing can be worse.
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.status_line()
            .starts_with(&format!("EPHEMERAL CRITICAL - netns {}: connect 127.0.0.1 -> 127.0.0.1:5000: 0 of 10 ports free", busy.name)),
        "{}",
        run.stdout
    );
    run.line_starting(&format!(
        "  {}: CRITICAL - connect 127.0.0.1 -> 127.0.0.1:5000: 0 of 10 free",
        busy.name
    ));
    run.line_starting(&format!(
        "  {}: OK - connect 127.0.0.1 -> 127.0.0.1:5000: 95 of 100 free",
        calm.name
    ));
    assert_eq!(run.perf_f64("connect_free"), 0.0);
    assert_eq!(run.perf_f64("capacity"), 10.0);
    assert!(run.perf_f64("netns") >= 2.0 && run.perf_f64("netns_critical") >= 1.0);
    for label in ["netns_warning", "netns_unknown", "netns_skipped"] {
        run.perf_f64(label);
    }
    // No label names a namespace: the set stays the same from run to run.
    assert!(!run.stdout.split('|').nth(1).unwrap_or("").contains("ce-"));
}

#[test]
fn netns_by_name_and_by_path() {
    if skip("netns_by_name_and_by_path") {
        return;
    }
    let ns = Netns::new("one");
    ns.set_range(40000, 40019);
    let _load = ns.load(Some(4));

    let by_name = check(&["--netns", &ns.name]);
    let path = ns.path();
    let by_path = check(&["--netns", path.to_str().expect("utf-8 path")]);
    // A process living in it: /proc/PID/ns/net.
    let mut sleeper = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sleep", "30"])
        .spawn()
        .expect("ip netns exec sleep");
    let proc_path = format!("/proc/{}/ns/net", sleeper.id());
    wait_for("the sleeper to enter the namespace", || {
        fs::metadata(&proc_path)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            == fs::metadata(&path)
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
    });
    // -v: the namespace entered is said with the pools listed.
    let by_proc = check(&["-v", "--netns", &proc_path]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    for run in [&by_name, &by_path, &by_proc] {
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert_eq!(run.perf_f64("connect_free"), 16.0, "{}", run.stdout);
        assert_eq!(run.perf_f64("capacity"), 20.0, "{}", run.stdout);
        assert!(
            run.status_line().starts_with(&format!(
                "EPHEMERAL OK - netns {}: connect 127.0.0.1 -> 127.0.0.1:5000",
                ns.name
            )),
            "{}",
            run.stdout
        );
        assert!(!run.perf.contains_key("netns"));
    }
    run_line_has(&by_proc, "network namespace", &proc_path);

    let missing = check(&["--netns", "ce-no-such-namespace"]);
    assert_eq!(missing.code, 3, "{}", missing.stdout);
    assert!(
        missing.stdout.starts_with("EPHEMERAL UNKNOWN - "),
        "{}",
        missing.stdout
    );
    assert!(
        missing.stdout.contains("no such namespace"),
        "{}",
        missing.stdout
    );
}

fn run_line_has(run: &Run, prefix: &str, text: &str) {
    line_has(&run.stdout, prefix, text);
}

/// The first line starting with `prefix` contains `text`.
fn line_has(stdout: &str, prefix: &str, text: &str) {
    match stdout.lines().find(|l| l.starts_with(prefix)) {
        Some(line) => assert!(line.contains(text), "{line:?} lacks {text:?} in:\n{stdout}"),
        None => panic!("no line starting {prefix:?} in:\n{stdout}"),
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_namespace_that_disappears_mid_scan_is_skipped() {
    if skip("a_namespace_that_disappears_mid_scan_is_skipped") {
        return;
    }
    // Named namespaces and processes in unnamed ones come and go while the
    // check runs, a bounded number of times.
    let stop = AtomicBool::new(false);
    let runs = std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) && rounds < 200 {
                let named: Vec<Netns> = (0..3).map(|_| Netns::new("churn")).collect();
                let mut lonely: Vec<Child> = (0..3)
                    .filter_map(|_| {
                        Command::new("ip")
                            .args(["netns", "exec", &named[0].name, "sleep", "5"])
                            .stderr(Stdio::null())
                            .spawn()
                            .ok()
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(5));
                drop(named);
                for child in &mut lonely {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                rounds += 1;
            }
        });
        let runs: Vec<Run> = (0..15)
            .map(|_| check(&["--all-netns", "-t", "30"]))
            .collect();
        stop.store(true, Ordering::SeqCst);
        churn.join().expect("churn thread");
        runs
    });
    let mut skipped = 0;
    for run in &runs {
        assert!((0..=2).contains(&run.code), "{}", run.stdout);
        assert!(run.stdout.starts_with("EPHEMERAL "), "{}", run.stdout);
        skipped += run.perf_f64("netns_skipped") as usize;
    }
    let _ = writeln!(
        io::stderr(),
        "{} runs saw {skipped} namespaces disappear mid-scan",
        runs.len()
    );
}

#[test]
fn processes_names_the_child_that_holds_the_sockets() {
    if skip("processes_names_the_child_that_holds_the_sockets") {
        return;
    }
    let copy = Copy::new();
    lab::run("processes", Settings::default(), move |lab| {
        let db = lab.listen("127.0.0.1:5000");
        // The child starts on this thread, so in the lab's namespace.
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "namespaces::helper_holds_sockets",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(HOLD, format!("{db},6"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let mut out = BufReader::new(child.stdout.take().expect("child stdout"));
        let mut line = String::new();
        while !line.contains("holding") {
            line.clear();
            if out.read_line(&mut line).expect("read the child") == 0 {
                panic!("the child ended before holding its sockets");
            }
        }
        let pid = child.id();
        let command = fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
        let holder = format!("pid {pid} {}: 6", command.trim_end());

        // -v: the processes of every pool listed.
        let run = lab.check(&["-v", "--processes"]);
        line_has(
            &run.stdout,
            "  connect 127.0.0.1 -> 127.0.0.1:5000: ",
            &holder,
        );
        assert!(
            run.stdout.contains(&format!("  bind 127.0.0.1: {holder}")),
            "{}",
            run.stdout
        );
        assert_eq!(run.perf("sockets"), 6, "{}", run.stdout);

        // Unprivileged, the same sockets are there but their owner is not.
        let nobody = copy.as_nobody(&["--processes"]);
        assert_eq!(nobody.code, 0, "{}", nobody.stdout);
        run_line_has(
            &nobody,
            "  connect 127.0.0.1 -> 127.0.0.1:5000: ",
            "6 in no open file that could be read",
        );
        run_line_has(
            &nobody,
            "processes: the open files of ",
            "could not be read",
        );

        drop(child.stdin.take());
        let _ = child.wait();
    });
}

/// Not a test on its own: the child process of the test above, which
/// holds `n` connections to the address in `CHECK_EPHEMERAL_TEST_HOLD`
/// ("ADDR:PORT,n") until its stdin closes.
#[test]
fn helper_holds_sockets() {
    let Ok(spec) = std::env::var(HOLD) else {
        return;
    };
    let (addr, n) = spec.split_once(',').expect("ADDR:PORT,n");
    let n: usize = n.parse().expect("n");
    let held: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // On a line of its own: libtest has already printed "test ... " here.
    println!("\nholding {}", held.len());
    io::stdout().flush().expect("flush");
    // Until the parent closes stdin, and never more than a minute.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = io::stdin().read_to_end(&mut Vec::new());
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(Duration::from_secs(60));
    drop(held);
}

#[test]
fn unprivileged_namespace_options_say_what_is_missing() {
    if skip("unprivileged_namespace_options_say_what_is_missing") {
        return;
    }
    let copy = Copy::new();
    let all = copy.as_nobody(&["--all-netns"]);
    assert_eq!(all.code, 3, "{}", all.stdout);
    assert!(
        all.stdout.starts_with(
            "EPHEMERAL UNKNOWN - --all-netns needs CAP_SYS_ADMIN and CAP_SYS_PTRACE, which this process does not have"
        ),
        "{}",
        all.stdout
    );
    assert!(all.stdout.contains("sudo rule"), "{}", all.stdout);
    assert!(
        all.stdout.contains(&format!(
            "setcap cap_sys_admin,cap_sys_ptrace+ep {}",
            copy.bin.display()
        )),
        "{}",
        all.stdout
    );
    assert_eq!(all.stdout.lines().count(), 1, "{}", all.stdout);

    let one = copy.as_nobody(&["--netns", "/proc/1/ns/net"]);
    assert_eq!(one.code, 3, "{}", one.stdout);
    assert!(
        one.stdout
            .starts_with("EPHEMERAL UNKNOWN - --netns needs CAP_SYS_ADMIN"),
        "{}",
        one.stdout
    );
}
