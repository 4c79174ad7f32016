//! Nagios Core accepts the definitions; the sudo example pins its command lines.

use super::*;

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
