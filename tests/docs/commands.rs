//! Every `check_ephemeral` command line of the guide and the shipped
//! examples parses; those that need no privilege and write nothing run.

use std::ffi::OsString;
use std::path::Path;

use check_ephemeral::error::Error;
use check_ephemeral::options;

use super::{guide, read, repo};
use crate::util::Plugin;

/// The shipped examples that run the plugin (the RPM's copies under
/// packaging/rpm/ are generated from these).
const SHIPPED: [&str; 6] = [
    "packaging/nrpe/check_ephemeral.cfg",
    "packaging/nagios/check_ephemeral.cfg",
    "packaging/sudoers/check_ephemeral",
    "packaging/systemd/check_ephemeral-prometheus.service",
    "packaging/sensu/check.yml",
    "check_ephemeral.conf.example",
];

/// Words that may stand before the program on a line: a prompt, a comment,
/// sudo, env, and the keys the daemons' files put a command under (`=` of
/// a sudoers `Cmnd_Alias`).
const BEFORE: [&str; 11] = [
    "$",
    "=",
    "#",
    "sudo",
    "-n",
    "/usr/bin/sudo",
    "env",
    "/usr/bin/env",
    "command:",
    "command_line",
    "as:",
];

/// Words as a shell splits them, quotes removed; `\,` (sudoers) is a comma.
fn words(line: &str) -> Vec<String> {
    let line = line.replace("\\,", ",");
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// What a word runs, for `KEY=/path` words (`ExecStart=`, NRPE's
/// `command[...]=`).
fn runs(word: &str) -> &str {
    if word.starts_with('-') {
        return word;
    }
    word.rsplit('=').next().unwrap_or(word)
}

fn is_env_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    })
}

/// The arguments of every `check_ephemeral` invocation on a logical line,
/// and of `cargo run ... -- ARGS`.
fn invocations(line: &str) -> Vec<Vec<String>> {
    let words = words(line);
    let mut found = Vec::new();
    let mut start = None;
    if let Some(dashes) = words.iter().position(|w| w == "--")
        && words.starts_with(&["cargo".to_string(), "run".to_string()])
    {
        start = Some(dashes);
    }
    for (i, word) in words.iter().enumerate() {
        let program = Path::new(runs(word)).file_name() == Some("check_ephemeral".as_ref());
        // A bare name is the program only where a shell prompt or a
        // daemon's key puts it; elsewhere (in a comment) it is prose.
        let bare = !runs(word).contains('/');
        let placed = match i.checked_sub(1).map(|b| &words[b]) {
            None => true,
            Some(before) if bare => ["$", "command:"].contains(&before.as_str()),
            Some(before) => {
                BEFORE.contains(&runs(before))
                    || BEFORE.contains(&before.as_str())
                    || is_env_assignment(before)
                    || before.ends_with(',')
            }
        };
        if program && placed {
            start = Some(i);
        }
        let Some(s) = start else { continue };
        let mut args = Vec::new();
        for word in &words[s + 1..] {
            if ["|", "||", "&&", ";", ">", ">>", "2>", "#", "<<"].contains(&word.as_str()) {
                break;
            }
            if let Some(last) = word.strip_suffix(',') {
                args.push(last.to_string());
                break;
            }
            args.push(word.clone());
        }
        found.push(args);
        start = None;
    }
    found
}

/// Logical lines: a trailing `\` continues a line.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines.push(current);
    lines
}

/// The code of a Markdown page: fenced blocks and indented ones.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every command line of the guide and the shipped examples, with where it
/// was found. Nagios macros take the values the example services give them.
fn command_lines() -> Vec<(String, Vec<String>)> {
    let mut sources: Vec<(String, String)> = guide()
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(repo("")).unwrap_or(&p).display().to_string();
            (name, code(&read(&p)))
        })
        .collect();
    for file in SHIPPED {
        sources.push((file.to_string(), read(&repo(file))));
    }
    let mut all = Vec::new();
    for (from, text) in sources {
        for line in logical_lines(&text) {
            for args in invocations(&line) {
                let args = args
                    .into_iter()
                    .map(|a| a.replace("$ARG1$", "70").replace("$ARG2$", "90"))
                    .collect();
                all.push((format!("{from}: {}", line.trim()), args));
            }
        }
    }
    all
}

#[test]
fn command_lines_are_found() {
    assert_eq!(
        invocations("command[x]=/usr/bin/sudo -n /usr/lib/nagios/plugins/check_ephemeral -w 1"),
        [["-w", "1"]]
    );
    assert_eq!(
        invocations("Cmnd_Alias A = /p/check_ephemeral --a, /p/check_ephemeral --pools x\\,y"),
        [vec!["--a"], vec!["--pools", "x,y"]]
    );
    assert_eq!(
        invocations("command_line /p/check_ephemeral -w '$ARG1$' | x"),
        [["-w", "$ARG1$"]]
    );
    assert_eq!(invocations("cargo run --release -- -w 70"), [["-w", "70"]]);
    assert!(invocations("setcap cap_x+ep /usr/lib/nagios/plugins/check_ephemeral").is_empty());
    assert!(invocations("sudo cp packaging/nrpe/check_ephemeral.cfg /etc/").is_empty());
    assert!(invocations("ExecStart=/p/check_ephemeral").len() == 1);
}

/// Options that need a privilege, write, or read files of the host: such
/// command lines are parsed, not run.
fn harmless(args: &[String]) -> bool {
    !args.iter().any(|a| {
        [
            "--netns",
            "--all-netns",
            "--processes",
            "--trend",
            "--output-file",
            "--extra-opts",
        ]
        .iter()
        .any(|o| a == o || a.starts_with(&format!("{o}=")))
            || a.contains("nat")
    })
}

#[test]
fn every_command_line_parses_and_the_harmless_ones_run() {
    let lines = command_lines();
    for (at, args) in &lines {
        println!("{at}\n    -> {args:?}");
    }
    assert!(
        lines.len() >= 20,
        "found only {} command lines",
        lines.len()
    );
    for (at, args) in &lines {
        // The default --extra-opts file is the host's own.
        if args.iter().any(|a| a == "--extra-opts") {
            continue;
        }
        // Cargo runs the test in the repository, where --extra-opts=@FILE
        // finds the example file.
        let argv = std::iter::once(OsString::from("check_ephemeral"))
            .chain(args.iter().map(OsString::from));
        if let Err(Error::Usage(why)) = options::parse(argv) {
            panic!("{at}\ndoes not parse: {why}");
        }
    }
    let mut ran = Vec::new();
    for (at, args) in lines.iter().filter(|(_, a)| harmless(a)) {
        if ran.contains(args) {
            continue;
        }
        let out = Plugin::new().args(args).current_dir(repo("")).output();
        let said = String::from_utf8_lossy(&out.stdout);
        let code = out.status.code();
        let prometheus = args.iter().any(|a| a == "prometheus");
        let answered = if prometheus {
            said.contains("\nephemeral_check_state ")
        } else {
            said.starts_with("EPHEMERAL ")
        };
        assert!(
            matches!(code, Some(0..=2)) && answered,
            "{at}\nexit {code:?}:\n{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran.push(args.clone());
    }
    assert!(!ran.is_empty());
}
