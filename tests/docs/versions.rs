//! Cargo.toml's rust-version against the dependencies, the toolchain and
//! the README.

use std::process::Command;

use super::{read, repo};

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
