//! What the plugin says at each verbosity, on a real kernel: a healthy
//! host is one line (status and perfdata) whatever happens to be in its
//! tables, `-v` lists the top pools, `-vv` adds settings and notes; an
//! answer that is not OK names the pool that fails first and what fired,
//! and lists the pools that are not OK.
//!
//! Each case runs in a network namespace of its own (the kernel tests'
//! lab); needs root, skips with a printed reason without it, and fails
//! under CI=true.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::lab::pace::{Close, Pace, Phase};
use crate::util::lab::{self, Lab, Settings};
use crate::util::plugin::copy_into;
use crate::util::{Plugin, scratch};

/// `nft -f -` in the lab's namespace: conntrack comes alive in a
/// namespace only once a rule there needs it.
fn nft(ruleset: &str) -> bool {
    let Ok(mut child) = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return false;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ruleset.as_bytes())
        .expect("write the ruleset");
    let out = child.wait_with_output().expect("wait for nft");
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// The conntrack entries of the calling thread's namespace.
fn conntrack_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The binary run as user `nobody` (no capability at all), from a copy
/// that user can surely reach: exit code and stdout.
fn as_nobody(bin: &std::path::Path, args: &[&str]) -> (i32, String) {
    let run = Plugin::at(bin).args(args).nobody().run();
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    (run.code, run.stdout)
}

#[test]
fn healthy_and_unprivileged_with_conntrack_active_is_one_line() {
    let dir = scratch("quiet");
    let bin = copy_into(dir.path());
    let settings = Settings {
        range: (40000, 40999),
        ..Settings::default()
    };
    lab::run("quiet_one_line", settings, move |lab: &mut Lab| {
        let tracked = nft(
            "table inet quiet {\n chain out {\n  type filter hook output priority 0;\n  \
             ct state new counter\n }\n}\n",
        );
        if !tracked {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "nft is not installed (Debian package nftables)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "skipped quiet_one_line: nft is not installed"
            );
            return;
        }
        // One connection, which conntrack now holds.
        let to = lab.listen("127.0.0.1:5000");
        lab.connect(None, to, 1);
        let entries = conntrack_count();
        assert!(
            entries.is_some_and(|n| n > 0),
            "conntrack holds {entries:?}"
        );

        let (code, out) = as_nobody(&bin, &[]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(out.lines().count(), 1, "not one line:\n{out}");
        assert!(out.starts_with("EPHEMERAL OK - "), "{out}");
        assert_eq!(out.matches('|').count(), 1, "{out}");

        // -v lists the pools; the notes wait for -vv, where the plain
        // words name no kernel function.
        let (_, listed) = as_nobody(&bin, &["-v"]);
        assert!(listed.contains("connect pools: "), "{listed}");
        assert!(!listed.contains("note: "), "{listed}");
        let (_, notes) = as_nobody(&bin, &["-vv"]);
        assert!(notes.contains("note: "), "{notes}");
        assert!(notes.contains("kernel: port range"), "{notes}");
        for jargon in ["connect()", "bind(", "got them from"] {
            let said = notes.lines().filter(|l| l.starts_with("note: "));
            assert!(
                said.clone().all(|l| !l.contains(jargon)),
                "{jargon} in:\n{notes}"
            );
        }
    });
}

#[test]
fn a_warning_names_what_fired_and_lists_only_what_is_not_ok() {
    let settings = Settings {
        range: (40000, 40019),
        ..Settings::default()
    };
    lab::run("quiet_warning", settings, |lab: &mut Lab| {
        // 15 of 20 ports to one destination: 75% used, above -w 70.
        let busy = lab.listen("127.0.0.1:5000");
        lab.connect(None, busy, 15);
        let run = lab.check(&["--pools", "connect", "--destination", &busy.to_string()]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        let first = run.stdout.lines().next().unwrap();
        // Perfdata come last, after the long output.
        assert!(first.ends_with(" (more than 70% used)"), "{first}");
        // The long output: the one pool that is not OK, named in full, and
        // its forecast; no kind headings, no notes.
        let long: Vec<&str> = run.stdout.lines().skip(1).collect();
        assert!(!long.is_empty(), "{}", run.stdout);
        assert!(
            long[0].starts_with(&format!("connect 127.0.0.1 -> {busy}: 5 of 20 free")),
            "{}",
            run.stdout
        );
        assert!(long[0].contains("[WARNING]"), "{}", run.stdout);
        assert!(
            long.iter()
                .all(|l| !l.contains("pools:") && !l.starts_with("note: ")),
            "{}",
            run.stdout
        );
        // A free-count threshold, given as a plain number, fires as such.
        let run = lab.check(&[
            "--pools",
            "connect",
            "--destination",
            &busy.to_string(),
            "--free-critical",
            "6",
        ]);
        assert_eq!(run.code, 2, "{}", run.stdout);
        let first = run.stdout.lines().next().unwrap();
        assert!(first.ends_with(" (fewer than 6 free)"), "{}", run.stdout);
    });
}

#[test]
fn the_status_line_names_the_pool_that_fails_first() {
    let settings = Settings {
        range: (40000, 40599),
        ..Settings::default()
    };
    lab::run("fails_first", settings, |lab: &mut Lab| {
        // A fuller pool that does not move: 560 open connections, 40 of
        // 600 ports free, CRITICAL by its level.
        let still = lab.listen("127.0.0.1:6000");
        lab.connect(None, still, 560);
        // Beside it a pool filling fast: 20 connections a second, each
        // closed at once, whose ports stay in TIME_WAIT for 60 s: 1200
        // ports a minute into 600, full about 30 s in, CRITICAL by its
        // forecast.
        let pace = Pace::start(
            "127.0.0.1:7000",
            vec![Phase::new(20.0, 12.0, Close::ClientFirst)],
        );
        pace.sleep_until(8.0);
        let run = lab.check(&["-v", "--pools", "connect"]);
        let out = pace.stop();
        assert_eq!(out.refused, 0, "{out:?}");
        assert_eq!(run.code, 2, "{}", run.stdout);
        let first = run.stdout.lines().next().unwrap();
        assert!(
            first.starts_with("EPHEMERAL CRITICAL - connect 127.0.0.1 -> 127.0.0.1:7000: "),
            "the filling pool fails first:\n{}",
            run.stdout
        );
        assert!(first.ends_with(" (full within 600 s)"), "{}", run.stdout);
        // The static pool is CRITICAL too, with fewer ports free, and
        // listed after it.
        let listed: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("  127.0.0.1 -> "))
            .collect();
        assert_eq!(listed.len(), 2, "{}", run.stdout);
        assert!(listed[0].contains(":7000: "), "{}", run.stdout);
        assert!(
            listed[1].starts_with("  127.0.0.1 -> 127.0.0.1:6000: 40 of 600 free")
                && listed[1].contains("[CRITICAL]"),
            "{}",
            run.stdout
        );
    });
}
