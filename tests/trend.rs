//! `--trend` and its state file: every trouble with the file is a note,
//! never an error. Runs the binary on the machine's own namespace (it only
//! reads), each case with a state directory of its own.

use std::path::{Path, PathBuf};

use crate::util::{Plugin, scratch};

/// The `trend:` note of a run with the state in `dir`, after checking
/// that the run judged (exit 0-2) and printed one line of perfdata.
fn trend_note(dir: &Path, extra: &[&str]) -> String {
    let out = Plugin::new()
        .args(["--trend", "-vv"])
        .args(extra)
        .env("MP_STATE_PATH", dir)
        .run();
    let (code, stdout) = (out.code, out.stdout);
    assert!((0..=2).contains(&code), "exit {code}:\n{stdout}");
    assert_eq!(stdout.matches('|').count(), 1, "{stdout}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("note: trend: "))
        .map(|l| l.split(" | ").next().unwrap_or(l).to_string())
        .unwrap_or_else(|| panic!("no trend note in:\n{stdout}"))
}

fn state_file(dir: &Path) -> PathBuf {
    let sub = dir.join("check_ephemeral");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
        .expect("state directory made")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one state file and no temporary left: {files:?}"
    );
    files.pop().expect("one file")
}

#[test]
fn the_first_run_has_no_history_and_the_second_has() {
    let dir = scratch("trend-fresh");
    assert!(trend_note(dir.path(), &[]).starts_with("no history yet"));
    let file = state_file(dir.path());
    let text = std::fs::read_to_string(&file).expect("state written");
    assert!(text.starts_with("check_ephemeral trend 1\n"), "{text}");
    // A state file dated two seconds back is a previous run.
    let at: u64 = text
        .lines()
        .nth(2)
        .and_then(|l| l.strip_prefix("at "))
        .unwrap()
        .parse()
        .unwrap();
    let earlier = text.replace(&format!("at {at}"), &format!("at {}", at - 2000));
    std::fs::write(&file, earlier).expect("rewrite state");
    let note = trend_note(dir.path(), &[]);
    assert!(
        note.starts_with("growth of open connections since the previous run"),
        "{note}"
    );
}

#[test]
fn other_options_use_another_file() {
    let dir = scratch("trend-options");
    trend_note(dir.path(), &[]);
    let note = trend_note(dir.path(), &["--pools", "connect"]);
    assert!(note.starts_with("no history yet"), "{note}");
}

#[test]
fn a_bad_state_file_is_a_note() {
    let dir = scratch("trend-bad");
    trend_note(dir.path(), &[]);
    let file = state_file(dir.path());
    let text = std::fs::read_to_string(&file).expect("state written");
    let cases = [
        ("garbage\n".to_string(), "is of another format or version"),
        (
            text.replace("trend 1", "trend 9"),
            "is of another format or version",
        ),
        (format!("{text}connect nonsense\n"), "is corrupt"),
        ("\u{0}\u{ff}".to_string(), "is of another format or version"),
        ("x".repeat(200_000), "is too large"),
        (text.replace("\nat ", "\nat 1"), "dated in the future"),
        (
            text.lines()
                .map(|l| {
                    if l.starts_with("at ") {
                        "at 1000".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            "more than 60 min",
        ),
    ];
    for (content, said) in cases {
        std::fs::write(&file, &content).expect("write state");
        let note = trend_note(dir.path(), &[]);
        assert!(note.contains(said), "{said:?} not in {note:?}");
        // The run replaced the bad file with a good one.
        let now = std::fs::read_to_string(&file).expect("state");
        assert!(now.starts_with("check_ephemeral trend 1\n"), "{now}");
    }
}

#[test]
fn a_state_that_cannot_be_written_is_a_note() {
    let dir = scratch("trend-unwritable");
    // A file where the directory should be.
    std::fs::write(dir.path().join("check_ephemeral"), "").expect("block the directory");
    let note = trend_note(dir.path(), &[]);
    assert!(note.contains("this run could not be kept"), "{note}");
}

#[test]
fn with_no_forecast_growth_is_not_judged_and_the_note_says_so() {
    let dir = scratch("trend-no_forecast");
    let first = trend_note(dir.path(), &["--no-forecast"]);
    assert!(
        first.contains("growth is not judged with --no-forecast"),
        "{first}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let stdout = Plugin::new()
        .args(["--trend", "--no-forecast", "-vv"])
        .env("MP_STATE_PATH", dir.path())
        .run()
        .stdout;
    assert!(
        stdout.contains("growth is not judged with --no-forecast"),
        "{stdout}"
    );
    assert!(!stdout.contains("connect_full_s"), "{stdout}");
    assert!(!stdout.contains("open connections/s"), "{stdout}");
}
