//! A directory of a test's own files, removed when the test ends, also when
//! it fails. Shared by the test binaries (`mod scratch;`), so every test
//! makes and cleans up its files the same way.
//!
//! Names are unique (tag, pid and a counter): tests running side by side,
//! in one binary or several, never share a directory.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// An empty directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `check_ephemeral-{tag}-{pid}-{n}`, readable for every user (other
    /// users such as `nobody` or a daemon's read from it) whatever the umask.
    pub fn new(tag: &str) -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("check_ephemeral-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory; a leading `/` is taken as its root.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name.trim_start_matches('/'))
    }

    /// Writes `contents` to `name`, making the directories on the way.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("scratch subdirectory");
        }
        fs::write(&path, contents).expect("write scratch file");
        path
    }

    /// [`Scratch::write`], then permissions `mode` whatever the umask.
    pub fn write_mode(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.write(name, contents);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod scratch file");
        path
    }

    /// The names in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .expect("list scratch dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
