//! The plugin with the real consumers: NRPE, Icinga 2, Nagios Core and
//! Sensu's perfdata rules, each fed the files under packaging/ (the packages
//! themselves are tests/packaging.rs).
//!
//! A test that needs root or a program that is not installed skips with the
//! reason on stderr; with CI=true it fails instead. Daemons run on 127.0.0.1
//! from configurations written to a temporary directory, in their own process
//! group, and are killed when the test ends, whether it passes or not.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::pkg::{have, is_root, ready, repo, root, run_for, text, tool};
use crate::util::plugin::copy_into;
use crate::util::{BIN, Files, Plugin, TempDir, scratch};
const INSTALLED: &str = "/usr/lib/nagios/plugins/check_ephemeral";
const LIMIT: Duration = Duration::from_secs(60);

mod icinga2;
mod nagios;
mod nrpe;
mod sensu;
mod sudo;

use sudo::{sudo_allows, sudo_rule, with_sudoers};

// ------------------------------------------------------------------ helpers

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}

/// The unprivileged user daemons switch to when started as root.
fn daemon_user() -> &'static str {
    if user_exists("nagios") {
        "nagios"
    } else {
        "nobody"
    }
}

/// What the daemons need of a [`TempDir`] beside its files.
trait DaemonDir {
    fn plugin(&self) -> PathBuf;
    fn give_to_daemon_user(&self);
}

impl DaemonDir for TempDir {
    /// The plugin copied in, so an unprivileged daemon user can run it.
    fn plugin(&self) -> PathBuf {
        copy_into(self.path())
    }

    /// Hands the tree to the daemon user when running as root.
    fn give_to_daemon_user(&self) {
        if is_root() {
            let user = daemon_user();
            let out = run(Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(self.path()));
            assert!(out.status.success(), "chown: {}", text(&out.stderr));
        }
    }
}

fn kill_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; the negative pid
    // names the process group the child was started in.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// Runs a command to completion, killing its process group after [`LIMIT`].
fn run(cmd: &mut Command) -> Output {
    run_for(cmd, LIMIT)
}

/// A daemon in its own process group: terminated (then killed) on drop.
struct Daemon {
    child: Child,
    name: &'static str,
}

impl Daemon {
    fn start(name: &'static str, cmd: &mut Command, log: &Path) -> Self {
        let log = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { child, name }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id();
        kill_group(pid, libc::SIGTERM);
        for _ in 0..50 {
            if !self.running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        kill_group(pid, libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = writeln!(std::io::stderr(), "stopped {} (pid {pid})", self.name);
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn wait_for_port(daemon: &mut Daemon, port: u16, log: &Path) {
    for _ in 0..100 {
        assert!(
            daemon.running(),
            "{} exited early:\n{}",
            daemon.name,
            std::fs::read_to_string(log).unwrap_or_default()
        );
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} is not listening on 127.0.0.1:{port}", daemon.name);
}

const WORDS: [&str; 4] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

/// The exit code, first line and perfdata of a plugin answer, checked for
/// the shape every consumer relies on.
struct Answer {
    code: i32,
    first: String,
    perfdata: String,
}

fn answer(out: &Output) -> Answer {
    let stdout = text(&out.stdout);
    let code = out.status.code().unwrap_or(-1);
    assert!((0..=3).contains(&code), "exit {code}: {stdout}");
    let first = stdout.lines().next().unwrap_or("").to_string();
    let word = WORDS[code as usize];
    assert!(
        first.starts_with(&format!("EPHEMERAL {word} - ")),
        "exit {code} but the status line says: {first}"
    );
    assert_eq!(stdout.matches('|').count(), 1, "one '|' only:\n{stdout}");
    let perfdata = stdout.split('|').nth(1).unwrap_or("").trim().to_string();
    Answer {
        code,
        first,
        perfdata,
    }
}

fn labels(perfdata: &str) -> Vec<String> {
    perfdata
        .split(' ')
        .map(|m| m.split('=').next().unwrap_or("").to_string())
        .collect()
}

// --------------------------------------------------------------- thresholds

#[test]
fn a_plain_free_count_alerts_when_fewer_are_free() {
    // A destination with no socket: every port of the range is free.
    let check = |args: &[&str]| {
        answer(&run(Command::new(BIN)
            .args(["--pools", "connect", "--destination", "127.0.0.1:9"])
            .args(args)))
    };
    let all_free = check(&["--free-critical", "500"]);
    assert_eq!(all_free.code, 0, "{}", all_free.first);
    assert!(
        all_free.perfdata.contains(";;500:;0;"),
        "{}",
        all_free.perfdata
    );
    // More than a pool can hold: always fewer free.
    let never = check(&["--free-warning", "65536"]);
    assert_eq!(never.code, 1, "{}", never.first);
    // Written out, a range keeps its Nagios meaning: @0:65535 alerts
    // inside, and every count of free ports is inside.
    let inside = check(&["--free-critical", "@0:65535"]);
    assert_eq!(inside.code, 2, "{}", inside.first);
    // Beside a free count the level thresholds stay on.
    let level = check(&["--free-critical", "500", "-w", "@0:100"]);
    assert_eq!(level.code, 1, "{}", level.first);
    let defaults = check(&["--free-critical", "500"]);
    assert!(
        defaults.perfdata.contains("connect_used_pct=0.00%;70;90;"),
        "{}",
        defaults.perfdata
    );
}

// --------------------------------------------------------------- extra-opts

#[test]
fn the_example_config_loads_as_is() {
    let example = repo("check_ephemeral.conf.example");
    for locator in [
        format!("@{}", example.display()),
        format!("check_ephemeral_db@{}", example.display()),
    ] {
        let out = Plugin::new()
            .arg(format!("--extra-opts={locator}"))
            .output();
        let a = answer(&out);
        assert!(a.code < 3, "{locator}: {}", a.first);
    }
}

#[test]
fn extra_opts_file_first_command_line_wins() {
    let dir = scratch("extra-opts");
    let ini = dir.write(
        "plugins.ini",
        "# thresholds that always alert\n[check_ephemeral]\nw = @0:100\ncritical = @0:100\n\
         [warn_only]\nwarning = @0:100\n",
    );
    // Arguments (split on spaces, AT replaced by @<file>), environment, exit code.
    let cases = [
        ("--extra-opts=AT", "", 2),
        // A command-line option replaces the file's.
        ("--extra-opts=AT -c 100", "", 1),
        ("--extra-opts=AT --critical=100 -w 100", "", 0),
        ("--extra-opts=warn_onlyAT", "", 1),
        // The default file: MP_CONFIG_FILE, then NAGIOS_CONFIG_PATH.
        ("--extra-opts", "MP_CONFIG_FILE", 2),
        ("--extra-opts warn_only", "NAGIOS_CONFIG_PATH", 1),
        // Given twice on the command line is still an error.
        ("--extra-opts=AT -w 1 -w 2", "", 3),
        ("--extra-opts=missingAT", "", 3),
        ("--extra-opts=@/nonexistent/plugins.ini", "", 3),
    ];
    for (args, env, expected) in cases {
        let plugin = Plugin::new().args(
            args.replace("AT", &format!("@{}", ini.display()))
                .split(' '),
        );
        let out = match env {
            "MP_CONFIG_FILE" => plugin.env(env, &ini),
            "NAGIOS_CONFIG_PATH" => plugin.env(env, dir.path()),
            _ => plugin,
        }
        .output();
        let (got, stdout) = (out.status.code().unwrap_or(-1), text(&out.stdout));
        assert_eq!(got, expected, "{args} {env}:\n{stdout}");
        if expected == 3 {
            assert_eq!(stdout.lines().count(), 1, "{stdout}");
        }
    }
}
