//! The shipped sudo rule: exactly the command lines it names, nothing else.

use super::*;

/// The shipped sudo rule, for `user` and the plugin at `plugin`, in a
/// directory of its own: root's, mode 0440, as sudo wants /etc/sudoers.
pub(super) fn sudo_rule(plugin: &Path, user: &str) -> (TempDir, PathBuf) {
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
pub(super) fn with_sudoers(cmd: &Command, sudoers: &Path) -> Command {
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
pub(super) fn sudo_allows(sudoers: &Path, user: &str, argv: &[String]) -> bool {
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
