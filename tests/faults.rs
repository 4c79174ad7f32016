//! The kernel misbehaving, and least privilege. Each case runs the binary
//! in a child process of its own that, before it starts the check, enters a
//! new mount and network namespace (so nothing outside the child sees the
//! change, and the check sees an empty network of its own) and then:
//!
//! - bind-mounts garbage, empty, inverted or unreadable files over the
//!   sysctl files, or a directory of fake tables over the child's own
//!   `/proc/self/net` (the kernel drops bind mounts on single files in
//!   there as soon as it looks them up again);
//! - bind-mounts a FIFO that nobody writes to, so a read stalls until `-t`;
//! - installs a seccomp filter that makes `socket(AF_NETLINK, ...)` fail
//!   with EAFNOSUPPORT, as in a container that forbids netlink;
//! - drops to user `nobody`;
//! - makes every mount read-only.
//!
//! Every case ends with exit 0 or a correct fallback, or with exit 3 and
//! one line that names the file or the stage (in `--format prometheus` on
//! stderr, leaving the previous `--output-file` as it was). Needs root; outside CI the
//! tests skip with a printed reason when it is missing, under `CI=true`
//! they fail.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::plugin::{copy_into, os_check, own_mounts};
use crate::util::{BIN, Files, Plugin, Run, TempDir, scratch};
const SYSCTL: &str = "/proc/sys/net/ipv4";
const NOBODY: libc::uid_t = 65534;

/// What the child does to itself before it runs the check.
#[derive(Default)]
struct Sandbox {
    /// Bind mounts (source, target), in order.
    mounts: Vec<(CString, CString)>,
    /// Mount points to make read-only (every mount, for the no-write case).
    read_only: Vec<CString>,
    deny_netlink: bool,
    nobody: bool,
}

impl Sandbox {
    fn bind(mut self, source: &Path, target: &str) -> Sandbox {
        self.mounts
            .push((cstring(source.as_os_str()), cstring(OsStr::new(target))));
        self
    }

    /// A directory of fake tables over `/proc/net` of the check itself.
    fn proc_net(self, dir: &Path) -> Sandbox {
        self.bind(dir, "/proc/self/net")
    }

    fn sysctl(self, file: &Path, name: &str) -> Sandbox {
        self.bind(file, &format!("{SYSCTL}/{name}"))
    }

    fn deny_netlink(mut self) -> Sandbox {
        self.deny_netlink = true;
        self
    }

    fn nobody(mut self) -> Sandbox {
        self.nobody = true;
        self
    }
}

fn cstring(s: &OsStr) -> CString {
    CString::new(s.as_bytes()).expect("no NUL in a path")
}

/// Runs in the forked child, before exec: system calls only, no allocation.
fn enter(sandbox: &Sandbox) -> io::Result<()> {
    own_mounts(libc::CLONE_NEWNET)?;
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: plain system calls on NUL-terminated strings that outlive them.
    unsafe {
        for (source, target) in &sandbox.mounts {
            os_check(libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                null,
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
        }
        for target in &sandbox.read_only {
            // Some pseudo file systems refuse; the root must not.
            let rc = libc::mount(
                null,
                target.as_ptr(),
                null,
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                std::ptr::null(),
            );
            if target.as_bytes() == b"/" {
                os_check(rc)?;
            }
        }
        if sandbox.deny_netlink {
            deny_netlink()?;
        }
        if sandbox.nobody {
            os_check(libc::setgroups(0, std::ptr::null()))?;
            os_check(libc::setgid(NOBODY))?;
            os_check(libc::setuid(NOBODY))?;
        }
    }
    Ok(())
}

// Classic BPF, as seccomp takes it (linux/filter.h, linux/seccomp.h).
/// BPF_LD | BPF_W | BPF_ABS: load the 32-bit word at offset k.
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_JMP | BPF_JEQ | BPF_K: skip jt ops if the word equals k, else jf.
const BPF_JEQ_K: u16 = 0x15;
/// BPF_RET | BPF_K: return k.
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_MODE_FILTER: libc::c_ulong = 2;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
// struct seccomp_data: nr (4 bytes), arch (4), instruction_pointer (8),
// args (6 x 8); the low half of args[0] on a little-endian machine.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARG0: u32 = 16;

const fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// `socket(AF_NETLINK, ...)` fails with EAFNOSUPPORT; everything else runs.
fn deny_netlink() -> io::Result<()> {
    let mut program = [
        op(BPF_LD_W_ABS, 0, 0, DATA_ARCH),
        op(BPF_JEQ_K, 0, 5, AUDIT_ARCH),
        op(BPF_LD_W_ABS, 0, 0, DATA_NR),
        op(BPF_JEQ_K, 0, 3, libc::SYS_socket as u32),
        op(BPF_LD_W_ABS, 0, 0, DATA_ARG0),
        op(BPF_JEQ_K, 0, 1, libc::AF_NETLINK as u32),
        op(
            BPF_RET_K,
            0,
            0,
            SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32,
        ),
        op(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: the program outlives the call, which copies it.
    unsafe {
        os_check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        os_check(libc::prctl(
            libc::PR_SET_SECCOMP,
            SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        ))
    }
}

fn run(sandbox: Sandbox, args: &[&str]) -> Run {
    run_binary(BIN, sandbox, args)
}

fn run_binary(bin: &str, sandbox: Sandbox, args: &[&str]) -> Run {
    // SAFETY: `enter` makes system calls only; the sandbox is moved in.
    unsafe { Plugin::at(bin).pre_exec(move || enter(&sandbox)) }
        .args(args)
        .run()
}

/// Exit 3 with one `EPHEMERAL UNKNOWN` line containing every needle.
fn assert_unknown(what: &str, run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 3, "{what}: {run:#?}");
    assert!(
        run.stdout.starts_with("EPHEMERAL UNKNOWN - ")
            && run.stdout.ends_with('\n')
            && run.stdout.lines().count() == 1,
        "{what}: {run:#?}"
    );
    for needle in needles {
        assert!(
            run.stdout.contains(needle),
            "{what}: no {needle:?} in {run:#?}"
        );
    }
    assert!(!run.stderr.contains("panicked"), "{what}: {run:#?}");
}

fn assert_ok(what: &str, run: &Run) {
    assert_eq!(run.code, 0, "{what}: {run:#?}");
    assert!(
        run.stdout.starts_with("EPHEMERAL OK - "),
        "{what}: {run:#?}"
    );
    assert!(run.stderr.is_empty(), "{what}: {run:#?}");
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !crate::util::is_root() {
        return Some("needs root for mount and network namespaces".into());
    }
    let sandbox = Sandbox::default();
    // SAFETY: `enter` makes system calls only.
    let probe = unsafe { Plugin::new().pre_exec(move || enter(&sandbox)) };
    match probe.arg("--version").try_output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("the probe exited with {}", out.status)),
        Err(e) => Some(format!("cannot make mount and network namespaces: {e}")),
    }
}

/// Skips (printing why) outside CI, fails under CI, when root is missing.
fn ready(test: &str) -> bool {
    crate::util::ready(test, unavailable())
}

/// The files these tests make beside plain ones in a [`TempDir`].
trait FaultFiles {
    fn fifo(&self, name: &str) -> PathBuf;
    fn proc_net(&self, name: &str, changes: &[(&str, Option<&[u8]>)]) -> PathBuf;
}

impl FaultFiles for TempDir {
    fn fifo(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let c = cstring(path.as_os_str());
        // SAFETY: a NUL-terminated path.
        os_check(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }).expect("mkfifo");
        path
    }

    /// A directory of /proc/net tables, each with headings and no rows,
    /// then `changes` applied: a name with `None` is left out.
    fn proc_net(&self, name: &str, changes: &[(&str, Option<&[u8]>)]) -> PathBuf {
        let dir = self.path().join(name);
        fs::create_dir_all(&dir).expect("tables dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            let path = dir.join(table);
            match changes.iter().find(|(t, _)| *t == table) {
                Some((_, None)) => {}
                Some((_, Some(text))) => fs::write(&path, text).expect("write table"),
                None => fs::write(&path, HEADINGS).expect("write table"),
            }
        }
        dir
    }
}

const HEADINGS: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

#[test]
fn broken_sysctl_files_give_unknown_naming_the_file() {
    if !ready("broken_sysctl_files") {
        return;
    }
    let s = scratch("sysctl");
    let cases: &[(&str, &str, &[u8], &[&str])] = &[
        (
            "ip_local_port_range",
            "garbage",
            b"garbage\n",
            &["expected two port numbers"],
        ),
        (
            "ip_local_port_range",
            "empty",
            b"",
            &["expected two port numbers"],
        ),
        (
            "ip_local_port_range",
            "inverted",
            b"60999 32768\n",
            &["inverted"],
        ),
        ("ip_local_port_range", "port 0", b"0\t100\n", &["port 0"]),
        (
            "ip_local_port_range",
            "out of range",
            b"1024 70000\n",
            &["70000"],
        ),
        ("ip_local_port_range", "three numbers", b"1 2 3\n", &[]),
        (
            "ip_local_port_range",
            "binary",
            b"\xff\xfe\x00\x01",
            &["cannot read"],
        ),
        ("ip_local_reserved_ports", "garbage", b"garbage\n", &[]),
        (
            "ip_local_reserved_ports",
            "inverted",
            b"40009-40000\n",
            &["inverted"],
        ),
        ("ip_local_reserved_ports", "out of range", b"99999\n", &[]),
        ("tcp_tw_reuse", "garbage", b"yes\n", &["expected a number"]),
        ("tcp_tw_reuse", "empty", b"", &["expected a number"]),
        (
            "tcp_tw_reuse",
            "unknown value",
            b"7\n",
            &["unknown value 7"],
        ),
        ("tcp_timestamps", "garbage", b"-1\n", &["expected a number"]),
        (
            "tcp_tw_reuse_delay",
            "garbage",
            b"soon\n",
            &["expected a number"],
        ),
    ];
    for (i, (name, what, contents, needles)) in cases.iter().enumerate() {
        let file = s.write_mode(&i.to_string(), contents, 0o644);
        let run = run(Sandbox::default().sysctl(&file, name), &[]);
        let path = format!("{SYSCTL}/{name}");
        let mut all = vec![path.as_str()];
        all.extend_from_slice(needles);
        assert_unknown(&format!("{name} {what}"), &run, &all);
    }
    // An empty reserved list is what most hosts have, and every other port
    // reserved is the longest list the kernel can print: neither is an error.
    let every_other: Vec<String> = (1..=65535u32).step_by(2).map(|p| p.to_string()).collect();
    for (what, contents) in [
        ("empty", String::new()),
        ("every other port", every_other.join(",") + "\n"),
    ] {
        let file = s.write_mode(what, contents.as_bytes(), 0o644);
        assert_ok(
            &format!("{what} ip_local_reserved_ports"),
            &run(
                Sandbox::default().sysctl(&file, "ip_local_reserved_ports"),
                &[],
            ),
        );
    }
}

#[test]
fn unreadable_files_give_unknown_naming_the_file() {
    if !ready("unreadable_files") {
        return;
    }
    let s = scratch("unreadable");
    // Mode 000 stops everyone but root; the check runs as nobody.
    let locked = s.write_mode("locked", b"32768 60999\n", 0o000);
    for name in [
        "ip_local_port_range",
        "ip_local_reserved_ports",
        "tcp_tw_reuse",
    ] {
        let run = run(Sandbox::default().sysctl(&locked, name).nobody(), &[]);
        assert_unknown(
            &format!("unreadable {name}"),
            &run,
            &[
                "cannot read",
                &format!("{SYSCTL}/{name}"),
                "Permission denied",
            ],
        );
    }
    let tables = s.proc_net("locked-tables", &[]);
    fs::set_permissions(tables.join("tcp"), fs::Permissions::from_mode(0o000)).expect("chmod");
    let run = run(
        Sandbox::default().proc_net(&tables).nobody(),
        &["--backend", "proc"],
    );
    assert_unknown(
        "unreadable /proc/net/tcp",
        &run,
        &["cannot read /proc/net/tcp", "Permission denied"],
    );
}

#[test]
fn broken_proc_net_tables_give_unknown_naming_the_file() {
    if !ready("broken_proc_net_tables") {
        return;
    }
    let s = scratch("procnet");
    let row = b"   0: 0100007F:9C43 0100007F:1388 01 00000000:00000000 00:00000000 00000000     0        0 7 1 0000000000000000\n";
    let swapped = b"   0: 01 0100007F:9C43 0100007F:1388 00000000:00000000 00:00000000 00000000     0        0 7 1 0000000000000000\n";
    let with_headings = |rows: &[u8]| [HEADINGS, rows].concat();
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "tcp",
            "garbage row",
            with_headings(b"garbage row\n"),
            "line 2",
        ),
        ("tcp", "empty", Vec::new(), "empty"),
        ("tcp", "no headings", row.to_vec(), "line 1"),
        ("tcp", "garbage headings", b"\x00\xff\n".to_vec(), "line 1"),
        (
            "tcp",
            "columns in the wrong order",
            with_headings(swapped),
            "line 2",
        ),
        ("tcp", "cut short", with_headings(&row[..30]), "line 2"),
        ("tcp6", "garbage row", with_headings(b"0: x\n"), "line 2"),
        ("udp", "empty", Vec::new(), "empty"),
        ("udp6", "garbage row", with_headings(&row[..50]), "line 2"),
    ];
    for (i, (table, what, contents, needle)) in cases.iter().enumerate() {
        let dir = s.proc_net(&i.to_string(), &[(table, Some(contents))]);
        let run = run(Sandbox::default().proc_net(&dir), &["--backend", "proc"]);
        let path = format!("/proc/net/{table}:");
        assert_unknown(&format!("{table} {what}"), &run, &[&path, needle]);
    }
    // A directory where the table should be: it opens, then cannot be read.
    let dir = s.proc_net("dir", &[("tcp", None)]);
    fs::create_dir(dir.join("tcp")).expect("mkdir");
    let run1 = run(Sandbox::default().proc_net(&dir), &["--backend", "proc"]);
    assert_unknown("tcp a directory", &run1, &["cannot read /proc/net/tcp"]);
    // The IPv4 tables must be there; the IPv6 ones are missing on a kernel
    // without IPv6, which is fine.
    let dir = s.proc_net("no-udp", &[("udp", None)]);
    let run2 = run(Sandbox::default().proc_net(&dir), &["--backend", "proc"]);
    assert_unknown("udp missing", &run2, &["cannot read /proc/net/udp"]);
    let dir = s.proc_net("no-ipv6", &[("tcp6", None), ("udp6", None)]);
    let run3 = run(Sandbox::default().proc_net(&dir), &["--backend", "proc"]);
    assert_ok("no IPv6 tables", &run3);
}

#[test]
fn a_stalled_read_hits_the_timeout_and_names_the_stage() {
    if !ready("stalled_read") {
        return;
    }
    let s = scratch("stall");
    let fifo = s.fifo("fifo");
    let run1 = run(
        Sandbox::default().sysctl(&fifo, "ip_local_port_range"),
        &["-t", "1"],
    );
    assert_unknown(
        "FIFO over ip_local_port_range",
        &run1,
        &["timed out after 1 s while reading the kernel's port settings"],
    );
    for (table, stage) in [
        ("tcp", "reading the TCP socket table"),
        ("udp", "reading the UDP socket table"),
    ] {
        let dir = s.proc_net(table, &[(table, None)]);
        let path = dir.join(table);
        let c = cstring(path.as_os_str());
        // SAFETY: a NUL-terminated path.
        os_check(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }).expect("mkfifo");
        let run = run(
            Sandbox::default().proc_net(&dir),
            &["--backend", "proc", "-t", "2"],
        );
        assert_unknown(
            &format!("FIFO as /proc/net/{table}"),
            &run,
            &[&format!("timed out after 2 s while {stage}")],
        );
    }
}

#[test]
fn without_netlink_auto_falls_back_and_netlink_gives_unknown() {
    if !ready("without_netlink") {
        return;
    }
    let auto = run(Sandbox::default().deny_netlink(), &["-vv"]);
    assert_ok("auto without netlink", &auto);
    for needle in [
        "TCP from /proc/net, UDP from /proc/net",
        "netlink unavailable for TCP",
        "Address family not supported",
        "note: read from /proc/net",
    ] {
        assert!(auto.stdout.contains(needle), "no {needle:?}: {auto:#?}");
    }
    let netlink = run(Sandbox::default().deny_netlink(), &["--backend", "netlink"]);
    assert_unknown(
        "--backend netlink without netlink",
        &netlink,
        &["netlink sock_diag: socket failed", "EAFNOSUPPORT"],
    );
    assert_ok(
        "--backend proc without netlink",
        &run(Sandbox::default().deny_netlink(), &["--backend", "proc"]),
    );
}

#[test]
fn the_full_check_runs_as_nobody_in_its_own_namespace() {
    if !ready("as_nobody") {
        return;
    }
    // A copy of the binary that nobody can surely reach, whatever the
    // permissions of the build directory.
    let s = scratch("nobody");
    let bin = copy_into(s.path());
    let bin = bin.to_str().expect("UTF-8 temp path");
    let run1 = run_binary(bin, Sandbox::default().nobody(), &["-vvv"]);
    assert_ok("as nobody", &run1);
    assert!(
        run1.stdout.contains("TCP from netlink, UDP from netlink"),
        "{run1:#?}"
    );
    let run2 = run_binary(bin, Sandbox::default().nobody(), &["--backend", "proc"]);
    assert_ok("as nobody from /proc", &run2);
}

#[test]
fn the_check_works_with_every_mount_read_only() {
    if !ready("read_only") {
        return;
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut points: Vec<CString> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        // Mount points with escaped characters are not worth decoding here.
        .filter(|p| !p.contains('\\'))
        .map(|p| cstring(OsStr::new(p)))
        .collect();
    points.sort();
    points.dedup();
    assert!(points.iter().any(|p| p.as_bytes() == b"/"), "{mountinfo}");
    for args in [&["-vvv"][..], &["--backend", "proc"], &["--trend"]] {
        let sandbox = Sandbox {
            read_only: points.clone(),
            ..Sandbox::default()
        };
        let out = run(sandbox, args);
        assert_ok(&format!("read-only {args:?}"), &out);
        if args == ["--trend"] {
            // The state file cannot be written: a note, the state stays.
            assert!(out.stdout.contains("trend:"), "{out:#?}");
        }
    }
}

#[test]
fn in_prometheus_mode_a_failure_keeps_the_previous_file_and_says_why_on_stderr() {
    if !ready("prometheus_failures") {
        return;
    }
    let s = scratch("prometheus");
    let file = s.path().join("check_ephemeral.prom");
    let path = file.to_str().expect("UTF-8 temp path");
    let written = run(
        Sandbox::default(),
        &["--format", "prometheus", "--output-file", path],
    );
    assert_eq!(written.code, 0, "{written:#?}");
    assert!(written.stdout.is_empty() && written.stderr.is_empty());
    let previous = fs::read_to_string(&file).expect("the first run wrote the file");
    assert!(
        previous.starts_with("# HELP ephemeral_check_state "),
        "{previous}"
    );

    let garbage = s.write_mode("garbage", b"garbage\n", 0o644);
    let locked = s.write_mode("locked", b"32768 60999\n", 0o000);
    let fifo = s.fifo("fifo");
    let range = format!("{SYSCTL}/ip_local_port_range");
    let cases: [(&str, Sandbox, &[&str], &[&str]); 3] = [
        (
            "garbage",
            Sandbox::default().sysctl(&garbage, "ip_local_port_range"),
            &[],
            &[&range, "expected two port numbers"],
        ),
        (
            "unreadable",
            Sandbox::default()
                .sysctl(&locked, "ip_local_port_range")
                .nobody(),
            &[],
            &["cannot read", &range, "Permission denied"],
        ),
        (
            "stalled",
            Sandbox::default().sysctl(&fifo, "ip_local_port_range"),
            &["-t", "1"],
            &["timed out after 1 s while reading the kernel's port settings"],
        ),
    ];
    for (what, sandbox, extra, needles) in cases {
        let mut args = vec!["--format", "prometheus", "--output-file", path];
        args.extend_from_slice(extra);
        let failed = run(sandbox, &args);
        assert_eq!(failed.code, 3, "{what}: {failed:#?}");
        assert!(failed.stdout.is_empty(), "{what}: {failed:#?}");
        assert!(
            failed.stderr.starts_with("EPHEMERAL UNKNOWN - ") && failed.stderr.lines().count() == 1,
            "{what}: {failed:#?}"
        );
        for needle in needles {
            assert!(
                failed.stderr.contains(needle),
                "{what}: no {needle:?}: {failed:#?}"
            );
        }
        let now = fs::read_to_string(&file).expect("the file is still there");
        assert_eq!(now, previous, "{what}: the previous file changed");
        let mut names: Vec<_> = fs::read_dir(s.path())
            .expect("list")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["check_ephemeral.prom", "fifo", "garbage", "locked"],
            "{what}: a file was left behind"
        );
    }
    // To stdout: nothing there, the reason on stderr.
    let failed = run(
        Sandbox::default().sysctl(&garbage, "ip_local_port_range"),
        &["--format", "prometheus"],
    );
    assert_eq!(failed.code, 3, "{failed:#?}");
    assert!(failed.stdout.is_empty(), "{failed:#?}");
    assert!(failed.stderr.contains(&range), "{failed:#?}");
}
