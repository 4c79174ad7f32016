//! Icinga 2 validates the CheckCommand and runs it through the real daemon.

use super::*;

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
