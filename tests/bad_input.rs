//! Every option given a malformed, empty, huge, negative, non-UTF-8 or
//! duplicated value, and `--extra-opts` given garbled ini files: the binary
//! answers with exit 3 and exactly one `EPHEMERAL UNKNOWN - ` line that
//! names the option, and never panics. Runs without root: every case is
//! refused before the check reads anything.
//!
//! Repeatable options (`--pools`, `--source`, `--destination`, `-v`) accept
//! a second occurrence by design; for them the duplicate case repeats the
//! option with a bad second value.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;

use crate::util::{Files, Plugin, scratch};

/// Longer than any valid value, shorter than the kernel's limit on one
/// argument (128 KiB).
const HUGE: usize = 100_000;

/// NRPE keeps 64 KiB of output; a refusal should be far shorter.
const MAX_LINE: usize = 1024;

struct Case {
    /// The spellings of the option the message may use.
    names: &'static [&'static str],
    what: &'static str,
    args: Vec<OsString>,
}

fn os(s: &str) -> OsString {
    OsString::from(s)
}

fn non_utf8(prefix: &str) -> OsString {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'7', 0x80]);
    OsString::from_vec(bytes)
}

fn case(names: &'static [&'static str], what: &'static str, args: &[OsString]) -> Case {
    Case {
        names,
        what,
        args: args.to_vec(),
    }
}

/// The six kinds of bad value for an option that takes one.
fn value_cases(
    names: &'static [&'static str],
    malformed: &str,
    huge: &str,
    negative: &str,
    duplicate: [&str; 2],
) -> Vec<Case> {
    let opt = os(names[0]);
    let long = names
        .iter()
        .find(|n| n.starts_with("--"))
        .unwrap_or(&names[0]);
    vec![
        case(names, "malformed", &[opt.clone(), os(malformed)]),
        case(names, "empty", &[opt.clone(), os("")]),
        case(names, "empty after =", &[os(&format!("{long}="))]),
        case(names, "huge", &[opt.clone(), os(huge)]),
        case(names, "negative", &[opt.clone(), os(negative)]),
        case(
            names,
            "negative after =",
            &[os(&format!("{long}={negative}"))],
        ),
        case(names, "non-UTF-8", &[opt.clone(), non_utf8("")]),
        case(names, "non-UTF-8 after =", &[non_utf8(&format!("{long}="))]),
        case(
            names,
            "duplicated",
            &[opt.clone(), os(duplicate[0]), opt.clone(), os(duplicate[1])],
        ),
        case(names, "missing", &[opt]),
    ]
}

fn option_cases() -> Vec<Case> {
    let digits = "9".repeat(HUGE);
    let letters = "x".repeat(HUGE);
    let number = format!("1{}", "0".repeat(HUGE));
    let mut cases = Vec::new();
    for names in [
        &["-w", "--warning"][..],
        &["-c", "--critical"],
        &["--free-warning"],
        &["--free-critical"],
    ] {
        cases.extend(value_cases(names, "abc", &number, "-5", ["70", "80"]));
        cases.push(case(names, "inverted", &[os(names[0]), os("10:5")]));
        cases.push(case(names, "exponent", &[os(names[0]), os("1e3")]));
    }
    cases.extend(value_cases(
        &["--pools"],
        "tcp",
        &letters,
        "-1",
        ["connect", "tcp"],
    ));
    cases.extend(value_cases(
        &["--source"],
        "10.0.0",
        &digits,
        "-1",
        ["127.0.0.1", "127.0.0.256"],
    ));
    cases.extend(value_cases(
        &["--destination"],
        "127.0.0.1:x",
        &digits,
        "-1",
        ["127.0.0.1:5000", "[::1"],
    ));
    for (malformed, what) in [
        ("127.0.0.1:0", "port 0"),
        ("127.0.0.1:70000", "port too large"),
        ("127.0.0.1:-1", "negative port"),
        ("[::1]5000", "no colon"),
    ] {
        cases.push(case(
            &["--destination"],
            what,
            &[os("--destination"), os(malformed)],
        ));
    }
    cases.extend(value_cases(&["--top"], "five", &digits, "-1", ["1", "2"]));
    cases.push(case(&["--top"], "too many", &[os("--top"), os("101")]));
    cases.extend(value_cases(
        &["-t", "--timeout"],
        "ten",
        &digits,
        "-1",
        ["1", "2"],
    ));
    cases.push(case(&["-t", "--timeout"], "zero", &[os("-t"), os("0")]));
    cases.push(case(
        &["-t", "--timeout"],
        "fraction",
        &[os("-t"), os("1.5")],
    ));
    cases.extend(value_cases(
        &["--backend"],
        "magic",
        &letters,
        "-1",
        ["proc", "netlink"],
    ));
    let verbose: &[&str] = &["-v", "--verbose"];
    for (what, arg) in [
        ("value", os("--verbose=1")),
        ("empty value", os("--verbose=")),
        ("negative value", os("--verbose=-1")),
        ("huge value", os(&format!("--verbose={digits}"))),
        ("non-UTF-8 value", non_utf8("--verbose=")),
    ] {
        cases.push(case(verbose, what, &[arg]));
    }
    cases
}

/// Runs a case that must be refused, checks the one-line refusal and
/// returns it.
fn assert_refused(c: &Case, env: &[(&str, &OsString)]) -> String {
    let out = Plugin::new()
        .args(&c.args)
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown: Vec<String> = c
        .args
        .iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.len() > 40 {
                format!("{}... ({} bytes)", &a[..20], a.len())
            } else {
                a.into_owned()
            }
        })
        .collect();
    let about = format!(
        "{} {} {shown:?}:\nstdout: {}\nstderr: {stderr}",
        c.names[0],
        c.what,
        if stdout.len() > 2000 {
            &stdout[..2000]
        } else {
            &stdout
        }
    );
    assert_eq!(out.status.code(), Some(3), "{about}");
    assert!(stdout.starts_with("EPHEMERAL UNKNOWN - "), "{about}");
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "not one line: {about}"
    );
    assert!(stdout.len() <= MAX_LINE, "{} bytes: {about}", stdout.len());
    // A line that ends on a colon promised something it does not say
    // (clap's "possible values:" for an option given no value).
    assert!(!stdout.trim_end().ends_with(':'), "cut short: {about}");
    assert!(
        c.names.iter().any(|n| stdout.contains(n)),
        "the message does not name the option: {about}"
    );
    for panic in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "internal error",
    ] {
        assert!(
            !stderr.contains(panic) && !stdout.contains(panic),
            "{about}"
        );
    }
    stdout.into_owned()
}

#[test]
fn every_option_refuses_bad_values_with_one_line() {
    let cases = option_cases();
    assert!(cases.len() > 80, "{} cases", cases.len());
    for c in &cases {
        assert_refused(c, &[]);
    }
}

#[test]
fn unknown_options_and_stray_arguments_are_refused() {
    for (names, args) in [
        (&["--nonsense"][..], vec![os("--nonsense")]),
        (&["-x"], vec![os("-x")]),
        (&["stray"], vec![os("stray")]),
        (&["--warn"], vec![os("--warn=70")]),
    ] {
        assert_refused(
            &Case {
                names,
                what: "unknown",
                args,
            },
            &[],
        );
    }
}

#[test]
fn extra_opts_refuses_garbled_ini_files() {
    const EXTRA: &[&str] = &["--extra-opts"];
    let dir = scratch("bad-ini");
    let garbled: &[(&str, &[u8], &[&str])] = &[
        ("no section", b"w = 70\n", EXTRA),
        ("no equals sign", b"[check_ephemeral]\nwarning\n", EXTRA),
        ("empty key", b"[check_ephemeral]\n = 3\n", EXTRA),
        ("unclosed section", b"[check_ephemeral\nw = 1\n", EXTRA),
        ("other section only", b"[other]\nw = 1\n", EXTRA),
        ("empty file", b"", EXTRA),
        ("not UTF-8", b"[check_ephemeral]\nw = \xff\xfe\n", EXTRA),
        ("NUL bytes", b"[check_ephemeral]\nw\0 = 70\n", EXTRA),
        ("unknown option", b"[check_ephemeral]\nbogus = 1\n", EXTRA),
        (
            "nested --extra-opts",
            b"[check_ephemeral]\nextra-opts = x@/etc/passwd\n",
            EXTRA,
        ),
        (
            "bad range",
            b"[check_ephemeral]\nwarning = abc\n",
            &["--extra-opts", "-w", "--warning"],
        ),
        (
            "bad short option value",
            b"[check_ephemeral]\nc = 10:5\n",
            &["--extra-opts", "-c", "--critical"],
        ),
        (
            "option twice",
            b"[check_ephemeral]\nw = 70\nw = 80\n",
            &["--extra-opts", "-w", "--warning"],
        ),
        (
            "bad timeout",
            b"[check_ephemeral]\ntimeout = -1\n",
            &["--extra-opts", "-t", "--timeout"],
        ),
        (
            "a flag with a value",
            b"[check_ephemeral]\nverbose = yes\n",
            &["--extra-opts", "-v", "--verbose"],
        ),
    ];
    for (i, (what, contents, names)) in garbled.iter().enumerate() {
        let path = dir.write(&format!("{i}.ini"), contents);
        let arg = format!("--extra-opts=@{}", path.display());
        let line = assert_refused(
            &Case {
                names,
                what,
                args: vec![os(&arg)],
            },
            &[],
        );
        // Whatever is wrong in the file, the line names the file.
        assert!(
            line.contains(&path.display().to_string()),
            "{what}: the file is not named: {line}"
        );
    }
    let huge_line = format!("[check_ephemeral]\nwarning = {}\n", "9".repeat(1 << 20));
    let huge = dir.write("huge.ini", huge_line.as_bytes());
    let missing = dir.path().join("missing.ini");
    assert_refused(
        &Case {
            names: &["--extra-opts", "-w", "--warning"],
            what: "huge value",
            args: vec![os(&format!("--extra-opts=@{}", huge.display()))],
        },
        &[],
    );
    let locators: Vec<(&str, OsString)> = vec![
        (
            "missing file",
            os(&format!("--extra-opts=@{}", missing.display())),
        ),
        (
            "a directory",
            os(&format!("--extra-opts=@{}", dir.path().display())),
        ),
        ("no file after @", os("--extra-opts=check_ephemeral@")),
        ("non-UTF-8 section", non_utf8("--extra-opts=")),
        (
            "missing section",
            os(&format!(
                "--extra-opts=nosuch@{}",
                dir.write("ok.ini", b"[check_ephemeral]\nw = 70\n")
                    .display()
            )),
        ),
    ];
    for (what, arg) in locators {
        assert_refused(
            &Case {
                names: EXTRA,
                what,
                args: vec![arg],
            },
            &[],
        );
    }
    // The default file, named by MP_CONFIG_FILE, and missing.
    let env_missing = missing.into_os_string();
    assert_refused(
        &Case {
            names: EXTRA,
            what: "MP_CONFIG_FILE missing",
            args: vec![os("--extra-opts")],
        },
        &[("MP_CONFIG_FILE", &env_missing)],
    );
}

#[test]
fn output_that_cannot_be_written_is_unknown() {
    // /dev/full refuses every write with ENOSPC. (A closed stdout cannot be
    // tested: the Rust runtime reopens it on /dev/null at start.)
    let Ok(full) = fs::OpenOptions::new().write(true).open("/dev/full") else {
        println!("SKIP output_that_cannot_be_written_is_unknown: no /dev/full");
        return;
    };
    let out = Plugin::new().arg("--version").stdout(full).output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with("EPHEMERAL UNKNOWN - cannot write the output")
            && stderr.lines().count() == 1,
        "{stderr:?}"
    );
}
