//! The `--trend` state file on disk, the Monitoring Plugins way: the
//! directory from `MP_STATE_PATH` (older name
//! `NAGIOS_PLUGIN_STATE_DIRECTORY`; OMD sites set `MP_STATE_DIRECTORY`),
//! else [`DEFAULT_DIR`]; one file per key
//! under `check_ephemeral/`; written to a temporary file in the same
//! directory and renamed over the old one, so a reader (or a check running
//! at the same time) sees the old file or the new one, never a mix. Every
//! failure is handed back as a reason for a note: the state file never
//! fails a check.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the state goes when the environment names no directory.
pub const DEFAULT_DIR: &str = "/var/lib/monitoring-plugins";

/// The state file of `key`.
pub fn path(key: u64) -> PathBuf {
    let dir = [
        "MP_STATE_PATH",
        "NAGIOS_PLUGIN_STATE_DIRECTORY",
        "MP_STATE_DIRECTORY",
    ]
    .iter()
    .find_map(|v| std::env::var_os(v).filter(|d| !d.is_empty()))
    .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    dir.join("check_ephemeral")
        .join(format!("{key:016x}.state"))
}

/// The text of the state file, `Ok(None)` if there is none yet; reads at
/// most `limit` bytes and one more, so a huge file is seen as too large
/// without reading it all.
pub fn load(path: &Path, limit: usize) -> Result<Option<String>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // Not UTF-8 is corrupt, which the parser says: hand it a text it refuses.
    Ok(Some(String::from_utf8(bytes).unwrap_or_default()))
}

/// Replaces the state file with `text`, atomically.
pub fn store(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("create", e))?;
    remove_stale(dir, SystemTime::now());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.{nanos}", std::process::id()));
    let written = std::fs::File::create_new(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write a state file in", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("replace the state file in", e)
    })
}

/// Temporary files older than this were left by a run that was ended
/// mid-write (the watchdog behind `-t`): no run writes for that long.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Removes our temporary state files (`.KEY.state.PID.NANOS`) in `dir`
/// last changed more than [`STALE_AFTER`] before `now`.
fn remove_stale(dir: &Path, now: SystemTime) {
    remove_stale_files(dir, STALE_AFTER, now, |name| {
        name.to_str().is_some_and(is_temporary)
    });
}

/// Removes the regular files in `dir` that `ours` recognises as temporary
/// files of a writer of ours and that were last changed more than
/// `stale_after` before `now`: left by a run ended mid-write. Best effort:
/// what cannot be listed or removed stays for the next run; at most 10,000
/// entries are looked at.
pub fn remove_stale_files(
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

/// `.0123456789abcdef.state.PID.NANOS`, as [`store`] names them.
fn is_temporary(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((key, tail)) = rest.split_once(".state.") else {
        return false;
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    key.len() == 16
        && key.bytes().all(|b| b.is_ascii_hexdigit())
        && tail
            .split_once('.')
            .is_some_and(|(pid, nanos)| digits(pid) && digits(nanos))
}

/// Now, in ms since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_temporary_names_count() {
        assert!(is_temporary(".00000000000000ab.state.123.456"));
        assert!(!is_temporary("00000000000000ab.state"));
        assert!(!is_temporary(".00000000000000ab.state"));
        assert!(!is_temporary(".bashrc"));
        assert!(!is_temporary(".x.state.1.2"));
        assert!(!is_temporary(".00000000000000ab.state.1.2.3"));
    }

    #[test]
    fn stale_temporary_files_go_fresh_ones_and_others_stay() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let names = [
            ".00000000000000ab.state.1.2",
            "00000000000000ab.state",
            "other",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        // Just written: nothing is stale yet.
        remove_stale(dir.path(), SystemTime::now());
        assert!(dir.path().join(names[0]).exists());
        // Two hours on, the temporary file is stale; the rest stays.
        remove_stale(dir.path(), SystemTime::now() + Duration::from_secs(7200));
        let left: Vec<bool> = names.iter().map(|n| dir.path().join(n).exists()).collect();
        assert_eq!(left, [false, true, true]);
    }
}
