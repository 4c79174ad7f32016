//! What the test areas share: the one way to run the plugin ([`plugin`]),
//! the skip rule, the turns of the tests that must not overlap
//! ([`turns`]), the network labs ([`lab`], [`natlab`], [`upstreamlab`])
//! the package tools' helpers ([`pkg`]) and the tests' own directories
//! ([`scratch`]), and the runner of the property tests ([`random_cases`]).

#![allow(dead_code)]

pub mod lab;
pub mod natlab;
pub mod pkg;
pub mod plugin;
pub mod turns;
pub mod upstreamlab;

// The runner is the library's own unit tests' too: one way to draw cases.
#[path = "../../src/cases.rs"]
mod cases;
pub use cases::random_cases;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

pub use plugin::{BIN, Plugin, Run};
pub use tempfile::TempDir;
pub use turns::{busy_cpu, namespaces_alone, namespaces_shared, real_time};

/// Whether the test may run: `missing` names what it lacks, if anything.
/// Outside CI a test that lacks something skips with a printed reason;
/// under `CI=true` that is a failure, so CI can never pass by skipping.
pub fn ready(test: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else {
        return true;
    };
    if ci() {
        panic!("{test}: cannot run under CI: {why}");
    }
    let _ = writeln!(io::stderr(), "skipped {test}: {why}");
    false
}

pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// An empty directory of the test's own, removed when the test ends, also
/// when it fails: `check_ephemeral-{tag}-` and a random suffix under the
/// system temp dir, readable for every user (user nobody or a daemon reads
/// from it) whatever the umask.
pub fn scratch(tag: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("check_ephemeral-{tag}-"))
        .tempdir()
        .expect("scratch dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod scratch dir");
    dir
}

/// Files in a [`scratch`] directory.
pub trait Files {
    /// `name` inside the directory; a leading `/` is taken as its root.
    fn join(&self, name: &str) -> PathBuf;
    /// Writes `contents` to `name`, making the directories on the way.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf;
    /// [`Files::write`], then permissions `mode` whatever the umask.
    fn write_mode(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf;
    /// The names in the directory, sorted.
    fn names(&self) -> Vec<String>;
}

impl Files for TempDir {
    fn join(&self, name: &str) -> PathBuf {
        self.path().join(name.trim_start_matches('/'))
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = Files::join(self, name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("scratch subdirectory");
        }
        fs::write(&path, contents).expect("write scratch file");
        path
    }

    fn write_mode(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.write(name, contents);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod scratch file");
        path
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .expect("list scratch dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}
