//! The blocks marked `<!-- example: FILE -->` are the shipped files.

use super::{guide, normal, read, repo};

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
pub fn not_contained(block: &[String], file: &str) -> Option<String> {
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
