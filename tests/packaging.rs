//! The packages, built with the commands packaging/README.md documents and
//! checked with the ecosystem's own tools: the .deb with dpkg-deb, lintian
//! and (as root under CI) dpkg itself; the RPM installed with rpm into a
//! scratch root, its file list and modes read back, and its scriptlets run
//! against a stand-in systemctl; in both, systemd-analyze on the units as
//! installed. Both pack target/release/check_ephemeral, built once with
//! `cargo build --release --locked`.
//!
//! A test that needs root or a program that is not installed skips with the
//! reason on stderr; with CI=true it fails instead.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::pkg::*;
use crate::util::{Files, TempDir, scratch};

/// Every file the .deb holds, with its mode.
const DEB_FILES: [(&str, &str); 17] = [
    ("/usr/lib/nagios/plugins/check_ephemeral", "-rwxr-xr-x"),
    ("/usr/share/man/man8/check_ephemeral.8.gz", "-rw-r--r--"),
    (
        "/usr/share/icinga2/include/plugins-contrib.d/check_ephemeral.conf",
        "-rw-r--r--",
    ),
    ("/etc/nagios/nrpe.d/check_ephemeral.cfg", "-rw-r--r--"),
    (
        "/etc/nagios-plugins/config/check_ephemeral.cfg",
        "-rw-r--r--",
    ),
    (
        "/usr/lib/systemd/system/check_ephemeral-prometheus.service",
        "-rw-r--r--",
    ),
    (
        "/usr/lib/systemd/system/check_ephemeral-prometheus.timer",
        "-rw-r--r--",
    ),
    ("/usr/share/doc/check-ephemeral/copyright", "-rw-r--r--"),
    (
        "/usr/share/doc/check-ephemeral/changelog.Debian.gz",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/check_ephemeral.conf.example",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/icinga2-services.conf",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/nagios-services.cfg",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/sensu-check.yml",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/sensu-asset.yml",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/sudoers",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/prometheus-rules.yml",
        "-rw-r--r--",
    ),
    ("/usr/share/lintian/overrides/check-ephemeral", "-rw-r--r--"),
];

/// Every file the RPM holds, with its mode. Fedora and RHEL keep plugins
/// and NRPE snippets elsewhere than Debian; the Nagios commands are an
/// example there (no nagios-plugins/config directory).
const RPM_FILES: [(&str, &str); 16] = [
    ("/usr/lib64/nagios/plugins/check_ephemeral", "-rwxr-xr-x"),
    (
        "/usr/share/licenses/check-ephemeral/LICENSE-MIT",
        "-rw-r--r--",
    ),
    (
        "/usr/share/licenses/check-ephemeral/LICENSE-APACHE",
        "-rw-r--r--",
    ),
    ("/usr/share/man/man8/check_ephemeral.8", "-rw-r--r--"),
    (
        "/usr/share/icinga2/include/plugins-contrib.d/check_ephemeral.conf",
        "-rw-r--r--",
    ),
    ("/etc/nrpe.d/check_ephemeral.cfg", "-rw-r--r--"),
    (
        "/usr/lib/systemd/system/check_ephemeral-prometheus.service",
        "-rw-r--r--",
    ),
    (
        "/usr/lib/systemd/system/check_ephemeral-prometheus.timer",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/check_ephemeral.conf.example",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/icinga2-services.conf",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/nagios-commands.cfg",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/nagios-services.cfg",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/sensu-check.yml",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/sensu-asset.yml",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/sudoers",
        "-rw-r--r--",
    ),
    (
        "/usr/share/doc/check-ephemeral/examples/prometheus-rules.yml",
        "-rw-r--r--",
    ),
];

/// The operator's guide both packages install: README.md, and docs/*.md
/// in a docs/ folder beside it.
fn guide() -> Vec<(String, &'static str)> {
    let doc = "/usr/share/doc/check-ephemeral";
    let mut files = vec![(format!("{doc}/README.md"), "-rw-r--r--")];
    for entry in std::fs::read_dir(repo("docs")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            files.push((format!("{doc}/docs/{name}"), "-rw-r--r--"));
        }
    }
    files
}

/// `list` and the guide, each path with its mode and owner.
fn expected_files(list: &[(&str, &str)], owner: &str) -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = list
        .iter()
        .map(|(path, mode)| (path.to_string(), *mode))
        .chain(guide())
        .map(|(path, mode)| (path, format!("{mode} {owner}")))
        .collect();
    expected.sort();
    expected
}

// --------------------------------------------------------------------- .deb

#[test]
fn deb_is_lintian_clean_and_installs_every_file() {
    let test = "deb_is_lintian_clean_and_installs_every_file";
    let install = "cargo install --locked cargo-deb";
    if !ready(
        test,
        &[
            have("cargo-deb", install),
            have("dpkg-deb", "Debian package dpkg"),
            have("dpkg-shlibdeps", "Debian package dpkg-dev"),
            have("lintian", "Debian package lintian"),
            have("systemd-analyze", "Debian package systemd"),
        ],
    ) {
        return;
    }
    release_build();
    let dir = scratch("pkg-deb");
    let deb = built_package(&ok(Command::new("cargo")
        .args(["deb", "--no-build", "--locked", "--output"])
        .arg(dir.path())
        .current_dir(repo(""))));

    let info = ok(Command::new("dpkg-deb").arg("--info").arg(&deb));
    for needle in [
        "Package: check-ephemeral",
        &format!("Version: {VERSION}-1"),
        "Depends: libc6",
        "Suggests: nagios-nrpe-server | icinga2 | nagios4 | prometheus-node-exporter",
    ] {
        assert!(info.contains(needle), "{needle} missing:\n{info}");
    }
    // Every file with its mode and owner, and nothing else.
    let contents = ok(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let mut files: Vec<(String, String)> = contents
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let path = fields.last().unwrap().trim_start_matches('.').to_string();
            (path, format!("{} {}", fields[0], fields[1]))
        })
        .collect();
    files.sort();
    assert_eq!(files, expected_files(&DEB_FILES, "0/0"), "{contents}");

    // /etc files are conffiles; the units are installed, never enabled or
    // started by the maintainer scripts.
    let control = dir.join("control");
    ok(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(&control));
    let read = |name: &str| std::fs::read_to_string(control.join(name)).unwrap_or_default();
    let mut conffiles: Vec<String> = read("conffiles").lines().map(String::from).collect();
    conffiles.sort();
    assert_eq!(
        conffiles,
        [
            "/etc/nagios-plugins/config/check_ephemeral.cfg",
            "/etc/nagios/nrpe.d/check_ephemeral.cfg"
        ]
    );
    let postinst = read("postinst");
    assert!(postinst.contains("daemon-reload"), "{postinst}");
    assert!(postinst.contains("was-enabled"), "{postinst}");
    for script in ["postinst", "prerm", "postrm"] {
        let body = read(script);
        assert!(!body.is_empty(), "no {script}");
        for forbidden in [
            "deb-systemd-invoke start",
            "systemctl enable",
            "systemctl start",
        ] {
            assert!(!body.contains(forbidden), "{script}: {forbidden}\n{body}");
        }
    }
    assert!(read("prerm").contains("deb-systemd-invoke stop"));
    assert!(read("postrm").contains("deb-systemd-helper purge"));

    // No error or warning; the one override carries its reason.
    let out = run(Command::new("lintian")
        .args(["--fail-on", "error,warning", "--pedantic"])
        .arg(&deb));
    let said = text(&out.stdout);
    assert!(
        out.status.success(),
        "lintian:\n{said}{}",
        text(&out.stderr)
    );
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{said}"
    );

    let unpacked = dir.join("root");
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    plugin_answers(&unpacked.join("usr/lib/nagios/plugins/check_ephemeral"));
    // The copyright file is ours as it is: both licences, DEP-5.
    let copyright = unpacked.join("usr/share/doc/check-ephemeral/copyright");
    assert_eq!(
        std::fs::read_to_string(copyright).unwrap(),
        std::fs::read_to_string(repo("packaging/debian/copyright")).unwrap()
    );
    verify_units(&unpacked, &unpacked.join("usr/share/man"));

    // Installing for real changes the machine: only as root under CI.
    let install = (ci(), "dpkg -i runs only with CI=true".to_string());
    if !ready(
        test,
        &[root(), have("dpkg", "Debian package dpkg"), install],
    ) {
        return;
    }
    let out = run(Command::new("dpkg").arg("-i").arg(&deb));
    let installed = (out.status.success(), text(&out.stdout) + &text(&out.stderr));
    let listed = ok(Command::new("dpkg").args(["-L", "check-ephemeral"]));
    let enabled = Path::new("/etc/systemd/system/timers.target.wants").join(TIMER);
    let was_enabled = enabled.exists();
    let answer = run(&mut Command::new("/usr/lib/nagios/plugins/check_ephemeral"));
    let purge = run(Command::new("dpkg").args(["--purge", "check-ephemeral"]));
    assert!(installed.0, "dpkg -i: {}", installed.1);
    assert!(!was_enabled, "installing enabled the timer");
    assert!(text(&answer.stdout).starts_with("EPHEMERAL "));
    for (path, _) in expected_files(&DEB_FILES, "") {
        assert!(listed.lines().any(|l| l == path), "{path}:\n{listed}");
    }
    assert!(purge.status.success(), "{}", text(&purge.stderr));
    assert!(!Path::new("/usr/lib/systemd/system").join(SERVICE).exists());
}

// --------------------------------------------------------------------- RPM

/// A root for `rpm --root` in which the scriptlets can run: a /bin/sh with
/// its libraries, /dev/null, a running systemd as the scriptlets detect it
/// (/run/systemd/system) and a stand-in systemctl that logs its arguments.
fn rpm_scratch_root(dir: &TempDir) -> PathBuf {
    let root = dir.join("root");
    let shell = std::fs::canonicalize("/bin/sh").unwrap();
    let sh = root.join("bin/sh");
    std::fs::create_dir_all(sh.parent().unwrap()).unwrap();
    std::fs::copy(&shell, &sh).unwrap();
    for lib in ok(Command::new("ldd").arg(&shell)).split_whitespace() {
        if lib.starts_with('/') {
            let to = root.join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(lib, &to).unwrap();
        }
    }
    std::fs::create_dir_all(root.join("dev")).unwrap();
    ok(Command::new("mknod")
        .args(["-m", "666"])
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"]));
    std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    dir.write_mode(
        "root/usr/bin/systemctl",
        "#!/bin/sh\necho \"$*\" >> /systemctl.log\n",
        0o755,
    );
    root
}

/// What the scriptlets asked systemctl since the last call, one call a line.
fn systemctl_calls(root: &Path) -> Vec<String> {
    let log = root.join("systemctl.log");
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    calls.lines().map(String::from).collect()
}

#[test]
fn rpm_installs_into_a_scratch_root_with_its_scriptlets() {
    let test = "rpm_installs_into_a_scratch_root_with_its_scriptlets";
    if !ready(
        test,
        &[
            root(),
            have(
                "cargo-generate-rpm",
                "cargo install --locked cargo-generate-rpm",
            ),
            have("rpm", "Debian package rpm"),
            have("ldd", "Debian package libc-bin"),
            have("systemd-analyze", "Debian package systemd"),
        ],
    ) {
        return;
    }
    release_build();
    let dir = scratch("pkg-rpm");
    // cargo generate-rpm prints nothing; the RPM is the one file in `out`.
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    ok(Command::new("cargo")
        .args(["generate-rpm", "--output"])
        .arg(&out)
        .current_dir(repo("")));
    let rpm = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .next()
        .unwrap();
    let name = rpm.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("check-ephemeral-{VERSION}-1.")) && name.ends_with(".rpm"),
        "{name}"
    );
    let query = |args: &[&str]| ok(Command::new("rpm").args(args).arg(&rpm));
    let info = query(&["-qip"]);
    for needle in [
        "Name        : check-ephemeral",
        VERSION,
        "Release     : 1",
        "License     : MIT OR Apache-2.0",
    ] {
        assert!(info.contains(needle), "{needle} missing:\n{info}");
    }
    let scripts = query(&["-qp", "--scripts"]);
    for (scriptlet, file) in [
        ("postinstall", "post_install.sh"),
        ("preuninstall", "pre_uninstall.sh"),
        ("postuninstall", "post_uninstall.sh"),
    ] {
        let body = std::fs::read_to_string(repo(&format!("packaging/rpm/{file}"))).unwrap();
        assert!(
            scripts.contains(&format!("{scriptlet} scriptlet")) && scripts.contains(&body),
            "{scriptlet} is not {file}:\n{scripts}"
        );
    }
    assert_eq!(query(&["-qcp"]), "/etc/nrpe.d/check_ephemeral.cfg\n");

    let root = rpm_scratch_root(&dir);
    let rpm_at = |args: &[&str]| {
        let out = run(Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(args)
            .arg(&rpm));
        let said = text(&out.stdout) + &text(&out.stderr);
        // Debian's rpm warns that it is not the system's package manager.
        let trouble: Vec<&str> = said
            .lines()
            .filter(|l| !l.contains("Alien") && !l.contains("you know what you are doing"))
            .collect();
        assert!(
            out.status.success() && trouble.is_empty(),
            "rpm {args:?}:\n{said}"
        );
    };
    rpm_at(&["--nodeps", "-i"]);
    assert_eq!(systemctl_calls(&root), ["daemon-reload"]);

    // The database and the files agree with the list: path, mode, owner.
    let listed = ok(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["-qlv", "check-ephemeral"]));
    let mut files: Vec<(String, String)> = listed
        .lines()
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let owner = format!("{}/{}", fields[2], fields[3]);
            (
                fields.last().unwrap().to_string(),
                format!("{} {owner}", fields[0]),
            )
        })
        .collect();
    files.sort();
    assert_eq!(files, expected_files(&RPM_FILES, "root/root"), "{listed}");
    for (path, mode) in RPM_FILES {
        let on_disk = std::fs::metadata(root.join(path.trim_start_matches('/'))).unwrap();
        let bits = if mode.contains('x') { 0o755 } else { 0o644 };
        assert_eq!(on_disk.permissions().mode() & 0o7777, bits, "{path}");
        // Every file names the plugin where this package puts it (sudo
        // matches exact paths, systemd and NRPE run them). The guide, not
        // in this list, names the paths of both packages.
        let content = std::fs::read(root.join(path.trim_start_matches('/'))).unwrap();
        let elsewhere = b"/usr/lib/nagios/plugins";
        assert!(
            !content.windows(elsewhere.len()).any(|w| w == elsewhere),
            "{path} names /usr/lib/nagios/plugins; the RPM's plugin is in /usr/lib64"
        );
    }
    plugin_answers(&root.join("usr/lib64/nagios/plugins/check_ephemeral"));
    verify_units(&root, &root.join("usr/share/man"));

    // An upgrade (here: the same package again) reloads systemd and
    // restarts a running timer; removal stops and disables both units.
    // Nothing ever enables or starts them.
    rpm_at(&["--nodeps", "-U", "--replacepkgs"]);
    assert_eq!(
        systemctl_calls(&root),
        [
            "daemon-reload",
            "daemon-reload",
            "try-restart check_ephemeral-prometheus.timer"
        ]
    );
    let out = run(Command::new("rpm").arg("--root").arg(&root).args([
        "--nodeps",
        "-e",
        "check-ephemeral",
    ]));
    assert!(out.status.success(), "rpm -e: {}", text(&out.stderr));
    assert_eq!(
        systemctl_calls(&root),
        [
            "--no-reload disable --now check_ephemeral-prometheus.timer \
             check_ephemeral-prometheus.service",
            "daemon-reload"
        ]
    );
    for (path, _) in RPM_FILES {
        assert!(!root.join(path.trim_start_matches('/')).exists(), "{path}");
    }
}
