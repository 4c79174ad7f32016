//! The systemd units and the example alerting rules as files: what the
//! service runs and how the timer starts it, its command line run with the
//! unit's capabilities, and the rules through promtool (syntax, and their
//! unit tests: each alert fires on its series, in time). systemd-analyze
//! checks the units as the packages install them, in tests/packaging.rs.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::pkg::*;
use crate::util::{BIN, Files, Plugin, scratch};

// ------------------------------------------------------------------- units

#[test]
fn the_service_writes_the_textfile_every_minute_once_enabled() {
    let service = std::fs::read_to_string(repo("packaging/systemd").join(SERVICE)).unwrap();
    let timer = std::fs::read_to_string(repo("packaging/systemd").join(TIMER)).unwrap();
    let lines = |unit: &str| -> Vec<String> {
        unit.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(String::from)
            .collect()
    };
    let service = lines(&service);
    let timer = lines(&timer);
    let has = |unit: &[String], line: &str| unit.iter().any(|l| l == line);
    assert!(has(
        &service,
        "ExecStart=/usr/lib/nagios/plugins/check_ephemeral --format prometheus \
         --output-file /var/lib/prometheus/node-exporter/check_ephemeral.prom -w 70 -c 90"
    ));
    assert!(has(&service, "Type=oneshot"));
    assert!(has(
        &service,
        "ReadWritePaths=-/var/lib/prometheus/node-exporter"
    ));
    // sock_diag answers for the namespace the socket lives in: the unit
    // must stay in the host's.
    assert!(!service.iter().any(|l| l.starts_with("PrivateNetwork")));
    // Started by the timer only: no [Install] of its own.
    assert!(!has(&service, "[Install]"));
    assert!(has(&timer, "OnCalendar=minutely"));
    assert!(has(&timer, "WantedBy=timers.target"));
}

/// The value of `key=` in the service (the last one, as systemd reads it).
fn service_setting(key: &str) -> String {
    let service = std::fs::read_to_string(repo("packaging/systemd").join(SERVICE)).unwrap();
    service
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {SERVICE}"))
        .to_string()
}

#[test]
fn the_service_command_writes_the_textfile_with_the_units_capabilities() {
    // What systemd would run, with what the unit leaves it of root's
    // privileges (CapabilityBoundingSet=, NoNewPrivileges=, UMask=), set up
    // by setpriv; the filesystem and system call confinement need systemd
    // itself and are checked by systemd-analyze in tests/packaging.rs.
    let test = "the_service_command_writes_the_textfile_with_the_units_capabilities";
    if !ready(
        test,
        &[
            root(),
            have("setpriv", "Debian package util-linux"),
            have("promtool", "Debian package prometheus"),
        ],
    ) {
        return;
    }
    let textfiles = scratch("pkg-textfile");
    let exec = service_setting("ExecStart");
    let target = "/var/lib/prometheus/node-exporter/check_ephemeral.prom";
    let mut args: Vec<String> = exec.split(' ').map(String::from).collect();
    assert_eq!(args[0], "/usr/lib/nagios/plugins/check_ephemeral");
    args[0] = BIN.to_string();
    let prom = textfiles.join("check_ephemeral.prom");
    let at = args.iter().position(|a| a == target).unwrap();
    args[at] = prom.display().to_string();

    let caps = service_setting("CapabilityBoundingSet");
    let bounding: Vec<String> = caps
        .split(' ')
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    assert_eq!(service_setting("NoNewPrivileges"), "yes");
    let umask = service_setting("UMask");
    let out = Plugin::at("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$@\""))
        .arg("sh")
        .arg(tool("setpriv").unwrap())
        .arg(format!("--bounding-set=-all,{}", bounding.join(",")))
        .args(["--inh-caps=-all", "--no-new-privs", "--"])
        .args(&args)
        .output();
    assert!(
        out.status.success(),
        "{exec}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // node_exporter, running as its own user, can read the file.
    let mode = std::fs::metadata(&prom).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let metrics = std::fs::read_to_string(&prom).unwrap();
    // promtool reads the metrics from stdin only.
    let lint = run(Command::new("sh")
        .args(["-c", "exec promtool check metrics < \"$1\"", "sh"])
        .arg(&prom));
    assert!(
        lint.status.success(),
        "{metrics}\n{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    for metric in ["ephemeral_pool_used_ratio", "ephemeral_check_state"] {
        assert!(
            metrics.contains(&format!("# TYPE {metric} gauge")),
            "{metrics}"
        );
    }
}

// ------------------------------------------------------------ alert rules

/// The metrics the rules may use: the textfile the service writes, and
/// node_exporter's own file age.
const METRICS: [&str; 8] = [
    "ephemeral_pool_free_ports",
    "ephemeral_pool_capacity_ports",
    "ephemeral_pool_used_ratio",
    "ephemeral_pool_new_connections_per_second",
    "ephemeral_pool_full_in_seconds",
    "ephemeral_check_state",
    "ephemeral_conntrack_insert_failed_total",
    "node_textfile_mtime_seconds",
];

#[test]
fn example_alert_rules_pass_promtool_and_fire_as_meant() {
    let test = "example_alert_rules_pass_promtool_and_fire_as_meant";
    if !ready(test, &[have("promtool", "Debian package prometheus")]) {
        return;
    }
    let rules = repo("packaging/prometheus/check_ephemeral.rules.yml");
    let out = ok(Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules));
    assert!(out.contains("SUCCESS: 4 rules found"), "{out}");
    // The rule tests: each alert fires on the series it is for, at the time
    // its `for` allows, with the text filled in; not before, not elsewhere.
    let out = ok(Command::new("promtool")
        .args(["test", "rules", "check_ephemeral.rules.test.yml"])
        .current_dir(repo("packaging/prometheus")));
    assert!(out.contains("SUCCESS"), "{out}");

    let text = std::fs::read_to_string(&rules).unwrap();
    for expr in text.lines().filter_map(|l| l.trim().strip_prefix("expr: ")) {
        let named: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("ephemeral_") || w.starts_with("node_"))
            .collect();
        assert!(!named.is_empty(), "{expr}");
        for metric in named {
            assert!(METRICS.contains(&metric), "{metric} in {expr}");
        }
    }
}
