//! What the package and integration tests share: skipping without root or
//! a tool (failing under CI=true), commands with a time limit, the release
//! build both package tools pack, and systemd-analyze on the units as a
//! package installs them.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use super::Plugin;
pub use super::{ci, is_root};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const SERVICE: &str = "check_ephemeral-prometheus.service";
pub const TIMER: &str = "check_ephemeral-prometheus.timer";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Whether `test` can run: every requirement holds, or it skips (fails under CI).
pub fn ready(test: &str, requirements: &[(bool, String)]) -> bool {
    let missing: Vec<&str> = requirements
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, why)| why.as_str())
        .collect();
    super::ready(test, (!missing.is_empty()).then(|| missing.join("; ")))
}

pub fn root() -> (bool, String) {
    (is_root(), "needs root".to_string())
}

/// A program from PATH or the usual sbin and plugin directories.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/lib/nagios/plugins"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `name` is installed; `how` says how to get it.
pub fn have(name: &str, how: &str) -> (bool, String) {
    (
        tool(name).is_some(),
        format!("{name} is not installed ({how})"),
    )
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command to completion in its own process group, killing the group
/// after `limit`.
pub fn run_for(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; the negative
            // pid names the process group the child was started in.
            unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
            panic!("{cmd:?} took more than {} s", limit.as_secs());
        }
    }
}

pub fn run(cmd: &mut Command) -> Output {
    run_for(cmd, Duration::from_secs(120))
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// target/release/check_ephemeral, built once for every test here (both
/// package tools pack that path).
pub fn release_build() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        // Minutes of both cores: not while a real-time suite runs.
        let _cpu = super::busy_cpu();
        let out = run_for(
            Command::new("cargo")
                .args(["build", "--release", "--locked", "--quiet"])
                .current_dir(repo("")),
            Duration::from_secs(1200),
        );
        match out.status.success() {
            true => Ok(()),
            false => Err(text(&out.stderr)),
        }
    });
    if let Err(e) = result {
        panic!("cargo build --release failed:\n{e}");
    }
}

/// The last line cargo deb prints: the path of the package it wrote.
pub fn built_package(stdout: &str) -> PathBuf {
    let path = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    assert!(path.is_file(), "no package at {}", path.display());
    path
}

/// The plugin answers with a Nagios status line.
pub fn plugin_answers(binary: &Path) {
    let run = Plugin::at(binary).run();
    let (code, stdout) = (run.code, &run.stdout);
    assert!((0..=2).contains(&code), "exit {code}: {stdout}");
    assert!(stdout.starts_with("EPHEMERAL "), "{stdout}");
}

/// `systemd-analyze verify` of the two units as a package put them under
/// `root` (the plugin and the man page included), with systemd's own units
/// copied in for the dependencies every unit has (sysinit.target...). Any
/// message fails, not only a non-zero exit: an unknown key is only a warning
/// to systemd-analyze.
pub fn verify_units(root: &Path, man: &Path) {
    let units = root.join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for entry in std::fs::read_dir("/usr/lib/systemd/system")
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        if path.is_file() && !path.starts_with(root) {
            let _ = std::fs::copy(&path, units.join(entry.file_name()));
        }
    }
    let out = run(Command::new(tool("systemd-analyze").unwrap())
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args([SERVICE, TIMER])
        .env("MANPATH", man));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    // The hardening, as systemd scores it (0 = fully confined, 10 = not at
    // all); 2.0 or more means a protection was lost.
    let out = run(Command::new(tool("systemd-analyze").unwrap())
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--root={}", root.display()))
        .arg(SERVICE));
    let said = text(&out.stdout);
    let level = said
        .lines()
        .find_map(|l| l.split("exposure level for ").nth(1))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|l| l.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{said}{}", text(&out.stderr)));
    assert!(level < 2.0, "exposure {level}:\n{said}");
}
