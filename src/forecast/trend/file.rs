//! The `--trend` state file on disk, the Monitoring Plugins way: the
//! directory from `MP_STATE_PATH` (older name
//! `NAGIOS_PLUGIN_STATE_DIRECTORY`; OMD sites set `MP_STATE_DIRECTORY`),
//! else [`DEFAULT_DIR`]; one file per key under `check_ephemeral/`;
//! replaced atomically by [`atomic_file`], so a reader (or a check running
//! at the same time) sees the old file or the new one, never a mix. Every
//! failure is handed back as a reason for a note: the state file never
//! fails a check.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::atomic_file;

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

/// Replaces the state file with `text`, atomically, with the writer of
/// `--output-file`, making its directory first.
pub fn store(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("create", e))?;
    atomic_file::replace(path, text).map_err(|e| fail("write a state file in", e))
}

/// Now, in ms since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
