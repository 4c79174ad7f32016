//! `--output-file` when the writing goes wrong: a write that hangs is ended
//! by the timeout, temporary files that a killed run left are removed, and
//! no failure leaves a temporary file behind.
//!
//! The hung write needs a file system that stalls. The test makes one
//! without touching the host: the child that runs the check enters a mount
//! namespace of its own and mounts a FUSE file system there whose server
//! (this test, holding `/dev/fuse`) never answers, so every operation on it
//! waits. That needs root and `/dev/fuse`; outside CI the test skips with
//! a printed reason when they are missing, under `CI=true` it fails.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use crate::util::plugin::{os_check, own_mounts};
use crate::util::{Files, Plugin, scratch};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 3, nothing on stdout, one UNKNOWN line on stderr containing `needle`.
fn assert_failed(what: &str, out: &Output, needle: &str) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{what}: {out:#?}");
    assert!(stdout.is_empty(), "{what}: {stdout}");
    assert!(
        stderr.starts_with("EPHEMERAL UNKNOWN - ") && stderr.lines().count() == 1,
        "{what}: {stderr}"
    );
    assert!(stderr.contains(needle), "{what}: no {needle:?} in {stderr}");
}

fn prometheus_to(path: &Path) -> Vec<&str> {
    vec![
        "--format",
        "prometheus",
        "--output-file",
        path.to_str().expect("UTF-8 temp path"),
    ]
}

#[test]
fn stale_temporary_files_are_removed_and_others_stay() {
    let s = scratch("stale");
    let file = s.path().join("check_ephemeral.prom");
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for (name, when) in [
        // A killed run of an older version (PID) and of this one (random).
        (".check_ephemeral.prom.4242.tmp", hour_ago),
        (".check_ephemeral.prom.0123456789abcdef.tmp", hour_ago),
        // Young: perhaps a run writing now.
        (".check_ephemeral.prom.4343.tmp", SystemTime::now()),
        // Not ours.
        (".other.prom.4242.tmp", hour_ago),
        (".check_ephemeral.prom.keep.tmp", hour_ago),
    ] {
        File::create(s.path().join(name))
            .and_then(|f| f.set_modified(when))
            .expect("make a temporary file");
    }
    let out = Plugin::new().args(prometheus_to(&file)).output();
    assert_eq!(out.status.code(), Some(0), "{out:#?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:#?}");
    let written = fs::read_to_string(&file).expect("the file was written");
    assert!(written.starts_with("# HELP ephemeral_check_state "));
    assert_eq!(
        s.names(),
        [
            ".check_ephemeral.prom.4343.tmp",
            ".check_ephemeral.prom.keep.tmp",
            ".other.prom.4242.tmp",
            "check_ephemeral.prom",
        ]
    );
}

#[test]
fn a_file_that_cannot_be_replaced_leaves_no_temporary_file() {
    let s = scratch("refused");
    // A directory that is not empty cannot be renamed over.
    let blocked = s.path().join("check_ephemeral.prom");
    fs::create_dir_all(blocked.join("inside")).expect("dir in the way");
    let out = Plugin::new().args(prometheus_to(&blocked)).output();
    assert_failed("a directory in the way", &out, "cannot write the output to");
    assert_eq!(s.names(), ["check_ephemeral.prom"]);
    assert_eq!(fs::read_dir(&blocked).expect("list").count(), 1);

    let missing = s.path().join("missing/check_ephemeral.prom");
    let out = Plugin::new().args(prometheus_to(&missing)).output();
    assert_failed("a missing directory", &out, "No such file or directory");
    assert_eq!(s.names(), ["check_ephemeral.prom"]);
}

/// Why the hung-write test cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    if !crate::util::is_root() {
        return Some("needs root to mount a FUSE file system".into());
    }
    if let Err(e) = fuse_device() {
        return Some(format!("cannot open /dev/fuse: {e}"));
    }
    None
}

fn fuse_device() -> io::Result<File> {
    File::options().read(true).write(true).open("/dev/fuse")
}

#[test]
fn a_hung_write_is_ended_by_the_timeout() {
    if !crate::util::ready("hung_write", unavailable()) {
        return;
    }
    let s = scratch("hung");
    let stalled = s.path().join("stalled");
    fs::create_dir(&stalled).expect("mount point");
    // The server end: held here and never read, so the kernel's first
    // request (INIT) is never answered and every operation waits. Closing
    // it when the test ends aborts the connection.
    let device = fuse_device().expect("open /dev/fuse");
    let options = CString::new(format!(
        "fd={},rootmode=40000,user_id=0,group_id=0",
        device.as_raw_fd()
    ))
    .expect("no NUL");
    let target = CString::new(stalled.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: system calls only, on strings made before the fork. The fd is
    // inherited by the fork (close-on-exec closes it only at exec, after
    // the mount has taken its own reference).
    let plugin = unsafe {
        Plugin::new().pre_exec(move || {
            own_mounts(0)?;
            os_check(libc::mount(
                c"stalled".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            ))
        })
    };
    let file = stalled.join("check_ephemeral.prom");
    let mut args = prometheus_to(&file);
    args.extend(["-t", "1"]);
    let out = plugin.args(&args).output();
    assert_failed(
        "a write to a file system that never answers",
        &out,
        "timed out after 1 s while writing the output file",
    );
    drop(device);
    // The mount lived in the child's namespace only.
    assert_eq!(s.names(), ["stalled"]);
    assert_eq!(fs::read_dir(&stalled).expect("list").count(), 0);
}
