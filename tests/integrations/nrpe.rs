//! NRPE runs the packaged snippet and returns the plugin's own answer.

use super::*;

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
