//! Replacing a file atomically, for `--output-file` and the `--trend`
//! state file: a reader (the textfile collector, the next run) sees the old
//! file or the new one, never half of one, and no temporary file is left
//! behind, whatever happens to the process.
//!
//! The text goes into an anonymous file (`O_TMPFILE`) in the target's
//! directory, so a process killed while it writes leaves nothing with a
//! name; only once it is complete and synced does it get a name
//! (`.NAME.RANDOM.tmp`, which the collector's `*.prom` skips), at once
//! renamed over the target. Where the file system has no `O_TMPFILE` (or
//! `/proc` is missing), the temporary file is created under that name with
//! `O_EXCL`. The random part keeps two writers apart even when they share
//! a PID (two PID namespaces, one directory). Temporary files of ours that
//! a killed run left (older than [`STALE_AFTER`]) are removed first; the
//! name of the one being written is kept in [`TEMP`], so the binary can
//! remove it when its deadline ends a hung write.

use std::collections::hash_map::RandomState;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::Mode;

/// A temporary file of ours this old was left by a run that was killed:
/// no run lives longer than its timeout (at most minutes), so it is not
/// one being written now.
pub const STALE_AFTER: Duration = Duration::from_secs(5 * 60);

/// Readable by the collector's user whatever the umask.
const MODE: u32 = 0o644;

/// Names tried before giving up when every one is taken.
const ATTEMPTS: usize = 16;

/// The name the temporary file has now, if it has one.
static TEMP: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Replaces `path` with `text`. On failure the old file stays as it was and
/// no temporary file is left.
pub fn replace(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or(path.as_os_str());
    remove_stale(dir, name, SystemTime::now());
    let written = write_named(dir, name, text).and_then(|temp| {
        let renamed = fs::rename(&temp, path);
        if renamed.is_err() {
            let _ = fs::remove_file(&temp);
        }
        forget();
        renamed
    });
    if written.is_err() {
        forget();
        return written;
    }
    // The rename is in the directory; without this a crash can undo it.
    sync_dir(dir)
}

/// Removes the temporary file being written, if it has a name: the
/// binary calls this when its deadline ends a hung write. Bounded: on a file system
/// that hangs, the unlink may hang too, and the answer must still go out;
/// the next run then removes the file as stale.
pub fn abandon() {
    let Some(temp) = TEMP.lock().ok().and_then(|mut t| t.take()) else {
        return;
    };
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = fs::remove_file(&temp);
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(Duration::from_secs(1));
}

fn remember(temp: &Path) {
    if let Ok(mut t) = TEMP.lock() {
        *t = Some(temp.to_path_buf());
    }
}

fn forget() {
    if let Ok(mut t) = TEMP.lock() {
        *t = None;
    }
}

/// Writes `text` to a complete, synced temporary file in `dir` and returns
/// its name.
fn write_named(dir: &Path, name: &OsStr, text: &str) -> io::Result<PathBuf> {
    match anonymous(dir, text) {
        Ok(file) => match link(&file, dir, name) {
            Ok(temp) => return Ok(temp),
            // No /proc to name the file by: write it again under a name.
            Err(e) if e.raw_os_error() == Some(Errno::ENOENT as i32) => {}
            Err(e) => return Err(e),
        },
        // Only "this file system cannot" falls back; anything else (no
        // space, no permission) is the answer.
        Err(e) if unsupported(&e) => {}
        Err(e) => return Err(e),
    }
    for _ in 0..ATTEMPTS {
        let temp = temporary(dir, name);
        remember(&temp);
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(&temp);
        let mut file = match created {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                forget();
                return Err(e);
            }
        };
        let filled = fill(&mut file, text);
        if let Err(e) = filled {
            let _ = fs::remove_file(&temp);
            forget();
            return Err(e);
        }
        return Ok(temp);
    }
    forget();
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every temporary name tried was taken",
    ))
}

/// The file system (or an old kernel) has no `O_TMPFILE`.
fn unsupported(e: &io::Error) -> bool {
    [Errno::EOPNOTSUPP, Errno::EISDIR, Errno::EINVAL]
        .iter()
        .any(|&n| e.raw_os_error() == Some(n as i32))
}

/// An unnamed file in `dir` holding `text`, synced.
fn anonymous(dir: &Path, text: &str) -> io::Result<File> {
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(MODE),
    )?;
    let mut file = File::from(fd);
    fill(&mut file, text)?;
    Ok(file)
}

/// Gives the unnamed `file` a temporary name in `dir`. Linking through
/// `/proc/self/fd` needs no privilege (`AT_EMPTY_PATH` would need
/// `CAP_DAC_READ_SEARCH`); like `O_EXCL`, it fails on a name that exists.
fn link(file: &File, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    for _ in 0..ATTEMPTS {
        let temp = temporary(dir, name);
        remember(&temp);
        match nix::unistd::linkat(
            AT_FDCWD,
            proc.as_str(),
            AT_FDCWD,
            &temp,
            AtFlags::AT_SYMLINK_FOLLOW,
        ) {
            Ok(()) => return Ok(temp),
            Err(Errno::EEXIST) => continue,
            Err(e) => {
                forget();
                return Err(e.into());
            }
        }
    }
    forget();
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every temporary name tried was taken",
    ))
}

fn fill(file: &mut File, text: &str) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(MODE))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Makes the rename durable. A file system that cannot sync a directory
/// says EINVAL; there is nothing more to do there.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() == Some(Errno::EINVAL as i32) => Ok(()),
        other => other,
    }
}

/// `dir/.name.RANDOM.tmp`: 16 hex digits from the kernel's generator.
fn temporary(dir: &Path, name: &OsStr) -> PathBuf {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{:016x}.tmp", random()));
    dir.join(temp)
}

/// 64 random bits: from `/dev/urandom`, else (no `/dev` in a chroot) from
/// the keys of std's `RandomState`, which std draws from `getrandom`.
fn random() -> u64 {
    let mut bytes = [0u8; 8];
    match File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => u64::from_ne_bytes(bytes),
        Err(_) => RandomState::new().hash_one((std::process::id(), SystemTime::now())),
    }
}

/// Whether `entry` is a temporary name of ours for `name`:
/// `.name.X.tmp` with X hex digits (a PID, as older versions wrote, or the
/// random part).
fn is_ours(entry: &OsStr, name: &OsStr) -> bool {
    let entry = entry.as_bytes();
    let name = name.as_bytes();
    let Some(rest) = entry
        .strip_prefix(b".")
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(b"."))
        .and_then(|r| r.strip_suffix(b".tmp"))
    else {
        return false;
    };
    (1..=16).contains(&rest.len()) && rest.iter().all(u8::is_ascii_hexdigit)
}

/// Removes regular files in `dir` with a temporary name of ours for `name`
/// last changed more than [`STALE_AFTER`] before `now`. Best effort: a
/// directory that cannot be listed is the write's error to report.
fn remove_stale(dir: &Path, name: &OsStr, now: SystemTime) {
    remove_stale_files(dir, STALE_AFTER, now, |entry| is_ours(entry, name));
}

/// Removes the regular files in `dir` that `ours` recognises as temporary
/// files of ours and that were last changed more than `stale_after` before
/// `now`: left by a run ended mid-write. Best effort: what cannot be listed
/// or removed stays for the next run; at most 10,000 entries are looked at.
fn remove_stale_files(
    dir: &Path,
    stale_after: Duration,
    now: SystemTime,
    ours: impl Fn(&std::ffi::OsStr) -> bool,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten().take(10_000) {
        if !ours(&entry.file_name()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > stale_after);
        if meta.is_file() && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// A directory of the test's own, removed when the test ends.
    fn scratch() -> TempDir {
        tempfile::tempdir().expect("temporary directory")
    }

    /// The names in `dir`, sorted.
    fn names(dir: &TempDir) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("list the directory")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// [`replace`] keeps the name it writes under in the process-wide
    /// [`TEMP`]: the tests that write take turns, so none sees another's.
    static WRITING: Mutex<()> = Mutex::new(());

    #[test]
    fn our_temporary_names_and_no_others() {
        let name = OsStr::new("check_ephemeral.prom");
        let made = temporary(Path::new("/d"), name);
        assert!(is_ours(made.file_name().unwrap(), name), "{made:?}");
        assert_ne!(made, temporary(Path::new("/d"), name));
        for ours in [
            ".check_ephemeral.prom.1234.tmp",
            ".check_ephemeral.prom.00ff00ff00ff00ff.tmp",
        ] {
            assert!(is_ours(OsStr::new(ours), name), "{ours}");
        }
        for other in [
            "check_ephemeral.prom",
            ".check_ephemeral.prom.tmp",
            ".check_ephemeral.prom..tmp",
            ".check_ephemeral.prom.12 4.tmp",
            ".check_ephemeral.prom.1234.tmp.x",
            ".check_ephemeral.prom.00ff00ff00ff00ff0.tmp",
            ".other.prom.1234.tmp",
            ".check_ephemeral.prometheus.1234.tmp",
        ] {
            assert!(!is_ours(OsStr::new(other), name), "{other}");
        }
    }

    #[test]
    fn replaces_and_leaves_no_temporary_file() {
        let _turn = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let d = scratch();
        let path = d.path().join("out.prom");
        replace(&path, "one\n").expect("first write");
        replace(&path, "two\n").expect("second write");
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, MODE);
        assert_eq!(names(&d), ["out.prom"]);
        assert!(TEMP.lock().unwrap().is_none());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_nothing_else() {
        let _turn = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let d = scratch();
        let path = d.path().join("out.prom");
        fs::write(&path, "old\n").unwrap();
        // A directory in the way of the rename.
        let blocked = d.path().join("sub");
        fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(replace(&blocked, "new\n").is_err());
        assert!(replace(&d.path().join("missing/out.prom"), "new\n").is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(names(&d), ["out.prom", "sub"]);
        assert_eq!(fs::read_dir(&blocked).unwrap().count(), 1);
    }

    #[test]
    fn only_old_temporary_files_of_ours_are_removed() {
        let d = scratch();
        let now = SystemTime::now();
        let old = now - STALE_AFTER - Duration::from_secs(60);
        for (name, when) in [
            (".out.prom.1234.tmp", old),
            (".out.prom.abcdef0123456789.tmp", old),
            (".out.prom.4321.tmp", now),
            (".other.prom.1234.tmp", old),
            (".out.prom.notours.tmp", old),
        ] {
            let file = File::create(d.path().join(name)).unwrap();
            file.set_modified(when).unwrap();
        }
        fs::create_dir(d.path().join(".out.prom.99.tmp")).unwrap();
        remove_stale(d.path(), OsStr::new("out.prom"), now);
        assert_eq!(
            names(&d),
            [
                ".other.prom.1234.tmp",
                ".out.prom.4321.tmp",
                ".out.prom.99.tmp",
                ".out.prom.notours.tmp"
            ]
        );
    }
}
