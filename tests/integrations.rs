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

// --------------------------------------------------------------------- sudo

/// The shipped sudo rule, for `user` and the plugin at `plugin`, in a
/// directory of its own: root's, mode 0440, as sudo wants /etc/sudoers.
fn sudo_rule(plugin: &Path, user: &str) -> (TempDir, PathBuf) {
    let dir = scratch("sudoers");
    let rule = std::fs::read_to_string(repo("packaging/sudoers/check_ephemeral")).unwrap();
    assert!(rule.contains("\nnagios ALL=(root) NOPASSWD: "), "{rule}");
    let rule = rule
        .replace(INSTALLED, &plugin.display().to_string())
        .replace("\nnagios ALL=", &format!("\n{user} ALL="));
    let path = dir.write("sudoers", rule);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
    let out = run(Command::new(tool("visudo").unwrap()).arg("-cf").arg(&path));
    assert!(out.status.success(), "visudo: {}", text(&out.stdout));
    (dir, path)
}

/// `cmd` run with `sudoers` as /etc/sudoers, bind-mounted in a mount
/// namespace of its own: the host's sudo configuration is never touched.
fn with_sudoers(cmd: &Command, sudoers: &Path) -> Command {
    let mut wrapped = Command::new(tool("unshare").unwrap());
    wrapped
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/sudoers && exec "$@""#)
        .arg(sudoers)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// Whether sudo, as `user` may use it under `sudoers`, allows `argv`
/// exactly (`sudo -l -U user COMMAND` exits 0 only then).
fn sudo_allows(sudoers: &Path, user: &str, argv: &[String]) -> bool {
    let mut cmd = Command::new(tool("sudo").unwrap());
    cmd.args(["-n", "-l", "-U", user]).args(argv);
    run(&mut with_sudoers(&cmd, sudoers)).status.success()
}

fn sudo_ready() -> [(bool, String); 3] {
    [
        root(),
        have("sudo", "Debian package sudo"),
        have("unshare", "Debian package util-linux"),
    ]
}

#[test]
fn the_sudo_rule_allows_its_lines_and_nothing_else() {
    let test = "the_sudo_rule_allows_its_lines_and_nothing_else";
    if !ready(test, &sudo_ready()) {
        return;
    }
    // sudo -l refuses a program that does not exist: a copy stands in.
    let dir = scratch("sudo-l");
    let plugin = dir.plugin();
    let (_rule_dir, sudoers) = sudo_rule(&plugin, daemon_user());
    let user = daemon_user();
    let line = |args: &str| {
        std::iter::once(plugin.display().to_string())
            .chain(args.split(' ').map(String::from))
            .collect::<Vec<_>>()
    };
    for allowed in [
        "--all-netns",
        "--all-netns --processes",
        "--pools connect,bind,udp,nat",
    ] {
        assert!(sudo_allows(&sudoers, user, &line(allowed)), "{allowed}");
    }
    for refused in [
        "--processes --all-netns",
        "--all-netns -w 70 -c 90",
        "--all-netns --extra-opts=@/etc/shadow",
        "--pools connect,bind,udp,nat --output-file /etc/passwd",
    ] {
        assert!(!sudo_allows(&sudoers, user, &line(refused)), "{refused}");
    }
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

// --------------------------------------------------------------------- NRPE

#[test]
fn nrpe_returns_the_plugins_own_answer() {
    let test = "nrpe_returns_the_plugins_own_answer";
    if !ready(
        test,
        &[
            root(),
            have("nrpe", "Debian package nagios-nrpe-server"),
            have("check_nrpe", "Debian package nagios-nrpe-plugin"),
            have("sudo", "Debian package sudo"),
            have("unshare", "Debian package util-linux"),
        ],
    ) {
        return;
    }
    let dir = scratch("nrpe");
    let plugin = dir.plugin();
    let snippet = std::fs::read_to_string(repo("packaging/nrpe/check_ephemeral.cfg")).unwrap();
    assert!(snippet.contains(&format!("command[check_ephemeral]={INSTALLED} ")));
    // The privileged commands, enabled as the snippet says, through the
    // shipped sudo rule.
    let privileged = ["check_ephemeral_all_netns", "check_ephemeral_nat"];
    let mut snippet = snippet.replace(INSTALLED, &plugin.display().to_string());
    for command in privileged {
        let commented = format!("#command[{command}]=/usr/bin/sudo -n ");
        assert!(
            snippet.contains(&commented),
            "no {commented} in the snippet"
        );
        snippet = snippet.replace(&commented, &commented[1..]);
    }
    dir.write("nrpe.d/check_ephemeral.cfg", snippet);
    let (_rule_dir, sudoers) = sudo_rule(&plugin, daemon_user());
    dir.write("thresholds.ini", "[always_critical]\nc = @0:100\n");
    let port = free_port();
    let user = daemon_user();
    let p = plugin.display();
    let d = dir.path().display();
    let cfg = dir.write(
        "nrpe.cfg",
        format!(
            "server_address=127.0.0.1\nserver_port={port}\nallowed_hosts=127.0.0.1\n\
             nrpe_user={user}\nnrpe_group={user}\npid_file={d}/nrpe.pid\nlog_file={d}/nrpe.log\n\
             dont_blame_nrpe=0\ncommand_timeout=30\nconnection_timeout=30\n\
             include_dir={d}/nrpe.d/\n\
             command[check_ephemeral_warning]={p} -w @0:100 -c @200:300\n\
             command[check_ephemeral_critical]={p} --extra-opts=always_critical@{d}/thresholds.ini\n"
        ),
    );
    dir.give_to_daemon_user();
    let log = dir.join("nrpe.out");
    let mut nrpe_command = Command::new(tool("nrpe").unwrap());
    nrpe_command.arg("-c").arg(&cfg).arg("-f");
    let mut nrpe = Daemon::start("nrpe", &mut with_sudoers(&nrpe_command, &sudoers), &log);
    wait_for_port(&mut nrpe, port, &log);

    let direct = answer(&Plugin::at(&plugin).output());
    let check_nrpe = tool("check_nrpe").unwrap();
    let query = |command: &str| {
        run(Command::new(&check_nrpe).args([
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "30",
            "-c",
            command,
        ]))
    };
    let via = answer(&query("check_ephemeral"));
    assert_eq!(via.code, direct.code, "{}\n{}", via.first, direct.first);
    assert_eq!(labels(&via.perfdata), labels(&direct.perfdata));
    assert!(via.perfdata.contains(";70;90;0;100"), "{}", via.perfdata);

    let warning = answer(&query("check_ephemeral_warning"));
    assert_eq!(warning.code, 1, "{}", warning.first);
    assert!(
        warning.perfdata.contains(";@0:100;@200:300;"),
        "{}",
        warning.perfdata
    );
    let critical = answer(&query("check_ephemeral_critical"));
    assert_eq!(critical.code, 2, "{}", critical.first);
    assert!(
        critical.perfdata.contains(";70;@0:100;"),
        "{}",
        critical.perfdata
    );

    // Through sudo, as root: every namespace judged, the NAT pools read.
    let all = answer(&query("check_ephemeral_all_netns"));
    assert!(all.code < 3, "{}", all.first);
    assert!(all.perfdata.contains(" netns="), "{}", all.perfdata);
    let nat = query("check_ephemeral_nat");
    let nat_text = text(&nat.stdout);
    assert!(answer(&nat).code < 3, "{nat_text}");
    assert!(!nat_text.contains("CAP_NET_ADMIN"), "{nat_text}");
}

// ----------------------------------------------------------------- Icinga 2

fn icinga2(dir: &TempDir, args: &[&str], config: &Path) -> Command {
    let mut cmd = Command::new(tool("icinga2").unwrap());
    cmd.args(args).arg("-c").arg(config);
    for (name, sub) in [
        ("CacheDir", "cache"),
        ("DataDir", "data"),
        ("LogDir", "log"),
        ("InitRunDir", "run"),
        ("SpoolDir", "spool"),
        ("StateDir", "state"),
    ] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).unwrap();
        cmd.arg(format!("-D{name}={}", path.display()));
    }
    dir.give_to_daemon_user();
    cmd
}

#[test]
fn icinga2_validates_and_runs_the_check_command() {
    let test = "icinga2_validates_and_runs_the_check_command";
    // As root icinga2 switches to its own user; as anyone else it refuses.
    if !ready(
        test,
        &[
            root(),
            have("icinga2", "Debian package icinga2-bin"),
            have("sudo", "Debian package sudo"),
            have("unshare", "Debian package util-linux"),
        ],
    ) {
        return;
    }
    let dir = scratch("icinga2");
    // The plugin behind a wrapper that writes down each command line it
    // is run with, so that the one Icinga 2 ran through sudo can be shown
    // to sudo -l.
    let binary = dir.plugin();
    let real = dir.join("check_ephemeral.bin");
    std::fs::rename(&binary, &real).unwrap();
    // Written by the Icinga 2 user and by root (through sudo) alike.
    let argv_log = dir.write("argv.log", "");
    std::fs::set_permissions(&argv_log, std::fs::Permissions::from_mode(0o666)).unwrap();
    let plugin = dir.write(
        "check_ephemeral",
        format!(
            "#!/bin/sh\necho \"$0 $*\" >> {}\nexec {} \"$@\"\n",
            argv_log.display(),
            real.display()
        ),
    );
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = daemon_user();
    let (_rule_dir, sudoers) = sudo_rule(&plugin, user);
    let d = dir.path().display();
    for file in ["check_ephemeral.conf", "services.conf"] {
        std::fs::copy(repo(&format!("packaging/icinga2/{file}")), dir.join(file)).unwrap();
    }
    let base = |services: &str| {
        format!(
            "const PluginDir = \"{d}\"\nconst NodeName = \"localhost\"\nconst ZoneName = \"localhost\"\n\
             include <itl>\n\
             template Host \"generic-host\" {{ max_check_attempts = 3 }}\n\
             template Service \"generic-service\" {{ max_check_attempts = 1; check_interval = 1s; retry_interval = 1s }}\n\
             include \"{d}/check_ephemeral.conf\"\ninclude \"{d}/{services}\"\n"
        )
    };
    let config = dir.write("icinga2.conf", base("services.conf"));
    dir.give_to_daemon_user();
    let out = run(&mut icinga2(&dir, &["daemon", "-C"], &config));
    let log = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success(), "icinga2 daemon -C:\n{log}");
    assert!(log.contains("Instantiated 1 Service."), "{log}");

    // The validation is real: a service naming an unknown command fails.
    dir.write(
        "broken.conf",
        "object Host \"h\" { check_command = \"dummy\" }\n\
         object Service \"s\" { host_name = \"h\"; check_command = \"ephemeral_typo\" }\n",
    );
    let broken = dir.write("broken-icinga2.conf", base("broken.conf"));
    dir.give_to_daemon_user();
    let out = run(&mut icinga2(&dir, &["daemon", "-C"], &broken));
    assert!(!out.status.success(), "a broken config passed");

    // Run the check through the daemon and read the result back from a
    // PerfdataWriter.
    // Beside the example host, one whose check needs root: every
    // namespace, through sudo, as the CheckCommand's header says.
    let run_config = dir.write(
        "run.conf",
        format!(
            "include \"{d}/icinga2.conf\"\nobject CheckerComponent \"checker\" {{}}\n\
             object Host \"privileged\" {{\n\
             import \"generic-host\"\naddress = \"127.0.0.1\"\ncheck_command = \"dummy\"\n\
             vars.ephemeral = true\nvars.ephemeral_sudo = true\nvars.ephemeral_all_netns = true\n}}\n\
             object PerfdataWriter \"perfdata\" {{\n\
             service_perfdata_path = \"{d}/pd/service\"\nservice_temp_path = \"{d}/pd/service.tmp\"\n\
             host_perfdata_path = \"{d}/pd/host\"\nhost_temp_path = \"{d}/pd/host.tmp\"\n\
             service_format_template = \"HOST=$host.name$\\tSTATE=$service.state_id$\\tPERF=$service.perfdata$\\tOUTPUT=$service.output$\"\n\
             rotation_interval = 1s\n}}\n"
        ),
    );
    std::fs::create_dir_all(dir.join("pd")).unwrap();
    dir.give_to_daemon_user();
    let log = dir.join("icinga2.out");
    let daemon_command = icinga2(&dir, &["daemon"], &run_config);
    let mut daemon = Daemon::start(
        "icinga2",
        &mut with_sudoers(&daemon_command, &sudoers),
        &log,
    );
    let started = Instant::now();
    let result = |host: &str| {
        std::fs::read_dir(dir.join("pd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|t| t.lines().map(String::from).collect::<Vec<_>>())
            .find(|l| l.starts_with(&format!("HOST={host}\t")) && l.contains("\tSTATE="))
    };
    let (example, privileged) = loop {
        if let (Some(e), Some(p)) = (result("ephemeral-example"), result("privileged")) {
            break (e, p);
        }
        assert!(
            daemon.running() && started.elapsed() < Duration::from_secs(30),
            "no check result from icinga2:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(daemon);
    let field = |line: &str, name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or("")
            .to_string()
    };
    for line in [&example, &privileged] {
        let state: usize = field(line, "STATE=").parse().unwrap();
        assert!(state <= 2, "{line}");
        assert!(
            field(line, "OUTPUT=").starts_with(&format!("EPHEMERAL {} - ", WORDS[state])),
            "{line}"
        );
    }
    // The example host sets --free-critical 1000 (the range 1000:) and
    // --source 127.0.0.1.
    assert!(
        field(&example, "PERF=").contains("connect_free="),
        "{example}"
    );
    assert!(field(&example, "PERF=").contains(";;1000:;0;"), "{example}");
    // The privileged one ran as root: every namespace was judged.
    assert!(
        field(&privileged, "PERF=").contains(" netns="),
        "{privileged}"
    );

    // And the command line Icinga 2 ran is one sudo -l accepts as it is.
    let ran = std::fs::read_to_string(&argv_log).unwrap();
    let line = ran
        .lines()
        .find(|l| l.contains("--all-netns"))
        .unwrap_or_else(|| panic!("no privileged run in:\n{ran}"));
    let argv: Vec<String> = line.split(' ').map(String::from).collect();
    assert_eq!(argv[1..], ["--all-netns"], "{line}");
    assert!(sudo_allows(&sudoers, user, &argv), "{line}");
}

// -------------------------------------------------------------- Nagios Core

#[test]
fn sudo_rule_example_parses_and_pins_the_command_lines() {
    let test = "sudo_rule_example_parses_and_pins_the_command_lines";
    if !ready(test, &[have("visudo", "Debian package sudo")]) {
        return;
    }
    // The RPM's copy too: it names another plugin path.
    for file in ["packaging/rpm/sudoers", "packaging/sudoers/check_ephemeral"] {
        let out = run(Command::new(tool("visudo").unwrap())
            .arg("-cf")
            .arg(repo(file)));
        assert!(out.status.success(), "visudo {file}: {}", text(&out.stdout));
    }
    let rule = repo("packaging/sudoers/check_ephemeral");
    // Every allowed command names its arguments: none is open-ended.
    let text = std::fs::read_to_string(&rule).unwrap();
    let commands = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("/check_ephemeral"));
    for line in commands {
        let command = line.trim_end_matches(['\\', ',', ' ']);
        assert!(
            command.ends_with(" --all-netns")
                || command.contains(" --all-netns ")
                || command.contains(" --pools "),
            "{command}"
        );
    }
}

#[test]
fn nagios4_accepts_the_definitions() {
    let test = "nagios4_accepts_the_definitions";
    if !ready(test, &[have("nagios4", "Debian package nagios4-core")]) {
        return;
    }
    let dir = scratch("nagios4");
    let d = dir.path().display();
    std::fs::copy(
        repo("packaging/nagios/check_ephemeral.cfg"),
        dir.join("commands.cfg"),
    )
    .unwrap();
    std::fs::copy(
        repo("packaging/nagios/services.cfg"),
        dir.join("services.cfg"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("checkresults")).unwrap();
    let days: String = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|day| format!("    {day} 00:00-24:00\n"))
    .collect();
    dir.write(
        "objects.cfg",
        format!(
            "define timeperiod {{\n    timeperiod_name 24x7\n    alias always\n{days}}}\n\
             define command {{\n    command_name notify-nobody\n    command_line /bin/true\n}}\n\
             define contact {{\n    contact_name nobody\n    host_notifications_enabled 0\n\
             service_notifications_enabled 0\n    host_notification_period 24x7\n\
             service_notification_period 24x7\n    host_notification_options n\n\
             service_notification_options n\n    host_notification_commands notify-nobody\n\
             service_notification_commands notify-nobody\n}}\n\
             define host {{\n    host_name localhost\n    address 127.0.0.1\n    max_check_attempts 3\n\
             check_period 24x7\n    contacts nobody\n    notification_interval 0\n\
             notification_period 24x7\n}}\n\
             define service {{\n    name generic-service\n    register 0\n    max_check_attempts 3\n\
             check_interval 5\n    retry_interval 1\n    check_period 24x7\n\
             notification_interval 0\n    notification_period 24x7\n    contacts nobody\n}}\n"
        ),
    );
    let main = |services: &str| {
        format!(
            "log_file={d}/nagios.log\ncfg_file={d}/objects.cfg\ncfg_file={d}/commands.cfg\n\
             cfg_file={d}/{services}\ncheck_result_path={d}/checkresults\nlock_file={d}/nagios.pid\n\
             temp_file={d}/nagios.tmp\nstatus_file={d}/status.dat\nobject_cache_file={d}/objects.cache\n\
             precached_object_file={d}/objects.precache\nstate_retention_file={d}/retention.dat\n\
             command_file={d}/nagios.cmd\n"
        )
    };
    let cfg = dir.write("nagios.cfg", main("services.cfg"));
    dir.give_to_daemon_user();
    let out = run(Command::new(tool("nagios4").unwrap()).arg("-v").arg(&cfg));
    let log = text(&out.stdout);
    assert!(out.status.success(), "nagios4 -v:\n{log}");
    assert!(log.contains("Things look okay"), "{log}");
    assert!(log.contains("Checked 2 services."), "{log}");

    // And a typo is caught.
    let services = std::fs::read_to_string(dir.join("services.cfg")).unwrap();
    dir.write(
        "broken.cfg",
        services.replace("check_ephemeral!", "check_ephemeral_typo!"),
    );
    let broken = dir.write("broken-nagios.cfg", main("broken.cfg"));
    dir.give_to_daemon_user();
    let out = run(Command::new(tool("nagios4").unwrap())
        .arg("-v")
        .arg(&broken));
    assert!(!out.status.success(), "a broken config passed");
}

// -------------------------------------------------------------------- Sensu

/// Sensu Go's nagios_perfdata rules: the whole output split once on `|`
/// into exactly two parts, the second split on spaces, each metric
/// `label=value[UOM][;...]`, no quote stripping.
fn sensu_metrics(output: &str) -> Result<Vec<(String, f64)>, String> {
    let parts: Vec<&str> = output.split('|').collect();
    if parts.len() != 2 {
        return Err(format!("{} parts around '|'", parts.len()));
    }
    parts[1]
        .trim()
        .split(' ')
        .map(|metric| {
            let kv: Vec<&str> = metric.split('=').collect();
            if kv.len() != 2 {
                return Err(format!("{metric:?}: not label=value"));
            }
            let value = kv[1].split(';').next().unwrap_or("");
            let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            let number: f64 = number
                .parse()
                .map_err(|_| format!("{metric:?}: {value:?} is not a number"))?;
            Ok((kv[0].to_string(), number))
        })
        .collect()
}

#[test]
fn sensu_reads_every_metric_from_real_output() {
    for args in [
        &[][..],
        &["-vvv"],
        &["--pools", "connect", "--destination", "127.0.0.1:9"],
        &[
            "--free-warning",
            "100:",
            "--free-critical",
            "10:",
            "--top",
            "0",
        ],
    ] {
        let out = Plugin::new().args(args).output();
        let stdout = text(&out.stdout);
        answer(&out);
        let metrics = sensu_metrics(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{stdout}"));
        let perfdata = stdout.split('|').nth(1).unwrap().trim();
        assert_eq!(metrics.len(), perfdata.split(' ').count());
        for (label, value) in &metrics {
            assert!(
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "{args:?}: label {label:?} would reach Sensu as is"
            );
            assert!(value.is_finite() && *value >= 0.0, "{label}={value}");
        }
        let names: Vec<&str> = metrics.iter().map(|(l, _)| l.as_str()).collect();
        assert!(names.contains(&"capacity"), "{args:?}: {names:?}");
    }
}

#[test]
fn sensu_asset_has_the_expected_layout_and_sum() {
    let test = "sensu_asset_has_the_expected_layout_and_sum";
    if !ready(
        test,
        &[
            have("tar", "Debian package tar"),
            have("sha512sum", "Debian package coreutils"),
            have("gzip", "Debian package gzip"),
        ],
    ) {
        return;
    }
    let dir = scratch("sensu");
    let out = run(Command::new(repo("packaging/sensu/build-asset"))
        .args(["--binary", BIN, "--out"])
        .arg(dir.path()));
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}{}", text(&out.stderr));
    let value = |key: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{printed}"))
            .trim()
            .to_string()
    };
    let tarball = PathBuf::from(value("tarball:"));
    let sha512 = value("sha512:");
    assert_eq!(sha512.len(), 128, "{sha512}");
    let sum = text(&run(Command::new("sha512sum").arg(&tarball)).stdout);
    assert_eq!(sum.split(' ').next(), Some(sha512.as_str()));

    let listing = text(&run(Command::new("tar").arg("-tvzf").arg(&tarball)).stdout);
    let entries: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap_or(""))
        .collect();
    assert_eq!(entries, ["bin/", "bin/check_ephemeral"], "{listing}");
    assert!(
        listing.lines().nth(1).unwrap().starts_with("-rwxr-xr-x"),
        "{listing}"
    );

    let unpacked = dir.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked));
    let out = Plugin::at(unpacked.join("bin/check_ephemeral")).output();
    answer(&out);

    let asset = std::fs::read_to_string(repo("packaging/sensu/asset.yml")).unwrap();
    let check = std::fs::read_to_string(repo("packaging/sensu/check.yml")).unwrap();
    for needle in [
        "type: Asset",
        "api_version: core/v2",
        "entity.system.os == 'linux'",
        "sha512:",
        "name: check-ephemeral",
    ] {
        assert!(asset.contains(needle), "asset.yml lacks {needle}");
    }
    for needle in [
        "type: CheckConfig",
        "api_version: core/v2",
        "output_metric_format: nagios_perfdata",
        "- check-ephemeral",
        "command: check_ephemeral ",
        "subscriptions:",
        "interval:",
        "timeout:",
    ] {
        assert!(check.contains(needle), "check.yml lacks {needle}");
    }
}
