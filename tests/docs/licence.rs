//! The licence reads the same wherever it is stated.

use super::examples::not_contained;
use super::{normal, read, repo};

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
