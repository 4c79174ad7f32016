//! The documentation cannot drift from what it describes: every relative
//! link and `#anchor` resolves; every block the README (or a page of docs/)
//! marks `<!-- example: FILE -->` is, line by line and in order, in that
//! shipped file; every `check_ephemeral` command line in the guide and in the
//! shipped examples parses, and those that need no privilege run; and
//! Cargo.toml's `rust-version` is one the dependencies and the toolchain
//! agree with.

mod commands;
mod examples;
mod licence;
mod links;
mod versions;

use std::path::{Path, PathBuf};

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

/// White space collapsed, so that tabs and indentation do not matter.
fn normal(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}
