//! Every relative link and `#anchor` of the Markdown files resolves.

use std::collections::HashMap;

use super::{markdown, read};

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
