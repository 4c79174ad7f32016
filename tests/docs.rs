//! The documentation cannot drift from what it describes: every relative
//! link and `#anchor` resolves; every block the README (or a page of docs/)
//! marks `<!-- example: FILE -->` is, line by line and in order, in that
//! shipped file; every `check_ephemeral` command line in the guide and in the
//! shipped examples parses, and those that need no privilege run; and
//! Cargo.toml's `rust-version` is one the dependencies and the toolchain
//! agree with.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use check_ephemeral::error::Error;
use check_ephemeral::options;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pages of the guide: the operator's README and docs/.
fn guide() -> Vec<PathBuf> {
    let mut pages = vec![repo("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// Every Markdown file whose links must resolve.
fn markdown() -> Vec<PathBuf> {
    let mut files = guide();
    for other in ["CONTRIBUTING.md", "bench/RESULTS.md", "packaging/README.md"] {
        files.push(repo(other));
    }
    files
}

/// The lines of `text` outside fenced code blocks and HTML comments, with
/// inline code spans blanked, each with its 1-based number.
fn prose(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.trim_start().starts_with("<!--") {
            continue;
        }
        let mut kept = String::new();
        for (n, part) in line.split('`').enumerate() {
            kept.push_str(if n % 2 == 0 { part } else { "code" });
        }
        lines.push((i + 1, kept));
    }
    lines
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as dashes (inline code counts as its text).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings, numbered as GitHub numbers
/// repeated ones.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let base = slug(line.trim_start_matches('#'));
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` on a line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        targets.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    targets
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    for file in markdown() {
        let text = read(&file);
        let dir = file.parent().unwrap();
        for (number, line) in prose(&text) {
            for target in link_targets(&line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let linked = if path.is_empty() {
                    file.clone()
                } else {
                    dir.join(path)
                };
                let at = format!("{}:{number}: {target}", file.display());
                if !linked.exists() {
                    broken.push(format!("{at}: no such file"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    let known = if linked.extension().is_some_and(|x| x == "md") {
                        anchors(&read(&linked))
                    } else {
                        Vec::new()
                    };
                    if !known.iter().any(|a| a == anchor) {
                        broken.push(format!("{at}: no heading with this anchor"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_github() {
    assert_eq!(
        slug(" Every namespace: `--all-netns`"),
        "every-namespace---all-netns"
    );
    assert_eq!(slug(" Cost of --processes"), "cost-of---processes");
    assert_eq!(anchors("# A\n## A\n```\n# not\n```\n"), ["a", "a-1"]);
    let line = &prose("see [a](x.md#y) and [b](../z/), `[c](d)`")[0].1;
    assert_eq!(link_targets(line), ["x.md#y", "../z/"]);
}

// ------------------------------------------------------------- examples

/// White space collapsed, so that tabs and indentation do not matter.
fn normal(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The fenced blocks that follow an `<!-- example: FILE -->` line.
fn marked_examples(text: &str) -> Vec<(String, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut examples = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(file) = line
            .trim()
            .strip_prefix("<!-- example:")
            .and_then(|l| l.strip_suffix("-->"))
        else {
            continue;
        };
        let start = lines[i + 1..]
            .iter()
            .position(|l| !l.trim().is_empty())
            .map(|p| i + 1 + p);
        let Some(start) = start.filter(|&s| lines[s].trim_start().starts_with("```")) else {
            panic!("the example of {} is not a fenced block", file.trim());
        };
        let block: Vec<String> = lines[start + 1..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .map(|l| normal(l))
            .filter(|l| !l.is_empty())
            .collect();
        examples.push((file.trim().to_string(), block));
    }
    examples
}

/// The first line of `block` that is not in `file` in order (comment
/// markers aside), if any.
fn not_contained(block: &[String], file: &str) -> Option<String> {
    let lines: Vec<String> = file.lines().map(normal).collect();
    let mut at = 0;
    for wanted in block {
        let found = lines[at..].iter().position(|l| {
            l == wanted || normal(l.trim_start_matches('#').trim_start_matches(';')) == *wanted
        });
        match found {
            Some(p) => at += p + 1,
            None => return Some(wanted.clone()),
        }
    }
    None
}

#[test]
fn marked_examples_are_the_shipped_files() {
    let mut shown = Vec::new();
    let mut drifted = Vec::new();
    for page in guide() {
        for (file, block) in marked_examples(&read(&page)) {
            assert!(!block.is_empty(), "{}: empty example", page.display());
            if let Some(line) = not_contained(&block, &read(&repo(&file))) {
                drifted.push(format!(
                    "{}: the example of {file} has a line that file lacks: {line}",
                    page.display()
                ));
            }
            if page == repo("README.md") {
                shown.push(file);
            }
        }
    }
    assert!(drifted.is_empty(), "{}", drifted.join("\n"));
    // One example per daemon, each from the file the packages ship.
    for daemon in [
        "packaging/nrpe/",
        "packaging/icinga2/",
        "packaging/nagios/",
        "packaging/sensu/",
        "packaging/prometheus/",
    ] {
        assert!(
            shown.iter().any(|f| f.starts_with(daemon)),
            "the README shows no example from {daemon}: {shown:?}"
        );
    }
}

#[test]
fn examples_compare_line_by_line_in_order() {
    let file = "a {\n\t# x = 1\n\ty =  2\n}\n";
    assert_eq!(not_contained(&[normal("a {"), normal("y = 2")], file), None);
    assert_eq!(not_contained(&[normal("x = 1")], file), None);
    assert_eq!(
        not_contained(&[normal("y = 2"), normal("a {")], file),
        Some("a {".into())
    );
}

// -------------------------------------------------------- command lines

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
        let out = Command::new(env!("CARGO_BIN_EXE_check_ephemeral"))
            .args(args)
            .output()
            .unwrap();
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

// ----------------------------------------------------------- rust-version

/// `1.88` or `1.88.0` as (1, 88, 0).
fn version(text: &str) -> (u32, u32, u32) {
    let mut parts = text
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn our_rust_version() -> String {
    let manifest = read(&repo("Cargo.toml"));
    let line = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("Cargo.toml states no rust-version");
    line.trim_matches('"').to_string()
}

#[test]
fn rust_version_is_what_the_dependencies_and_the_toolchain_allow() {
    let ours = our_rust_version();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(repo(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    // Each package's rust_version comes after its manifest_path, which
    // names the package and its version.
    let mut newer = Vec::new();
    let mut checked = 0;
    for (at, _) in json.match_indices("\"rust_version\":\"") {
        let value = &json[at + 16..];
        let value = &value[..value.find('"').unwrap()];
        let manifest = json[..at]
            .rfind("\"manifest_path\":\"")
            .map(|m| &json[m + 17..at])
            .and_then(|m| m.split('"').next())
            .unwrap_or("?");
        checked += 1;
        if version(value) > version(&ours) {
            newer.push(format!("{manifest} needs {value}"));
        }
    }
    assert!(checked > 5, "no dependency states a rust_version:\n{json}");
    assert!(
        newer.is_empty(),
        "rust-version {ours} is older than a dependency needs:\n{}",
        newer.join("\n")
    );

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let running = said.split_whitespace().nth(1).unwrap_or("0");
    assert!(
        version(&ours) <= version(running),
        "rust-version {ours} is newer than the rustc building it: {said}"
    );
}

#[test]
fn the_readme_names_the_rust_version() {
    let ours = our_rust_version();
    let readme = read(&repo("README.md"));
    assert!(
        readme.contains(&format!("Rust {ours} or newer")),
        "the README does not say that it needs Rust {ours} or newer"
    );
    for command in ["cargo run --release -- -w 70 -c 90", "cargo test"] {
        assert!(readme.contains(command), "the README lost `{command}`");
    }
}

// ---------------------------------------------------------------- licence

#[test]
fn the_licence_is_the_same_everywhere() {
    let manifest = read(&repo("Cargo.toml"));
    assert!(manifest.contains("\nlicense = \"MIT OR Apache-2.0\"\n"));
    let mit = read(&repo("LICENSE-MIT"));
    let apache = read(&repo("LICENSE-APACHE"));
    assert!(mit.contains("Copyright (c) 2026 check_ephemeral maintainers"));
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    // The .deb's copyright file carries the MIT text and names both.
    let copyright = read(&repo("packaging/debian/copyright"));
    assert!(copyright.contains("\nLicense: MIT or Apache-2.0\n"));
    let body: Vec<String> = mit
        .lines()
        .skip_while(|l| !l.starts_with("Permission is hereby granted"))
        .filter(|l| !l.trim().is_empty())
        .map(normal)
        .collect();
    assert_eq!(not_contained(&body, &copyright), None);
    let readme = read(&repo("README.md"));
    assert!(readme.contains("MIT OR Apache-2.0"));
}
