//! The processes in /proc, for the features that look at other processes
//! (`--all-netns`, `--processes`).

use std::fs;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Every process's pid and /proc directory. A process that exits while
/// the caller looks at it simply disappears from what it can read.
pub fn processes() -> Result<impl Iterator<Item = (u32, PathBuf)>> {
    let proc = fs::read_dir("/proc").map_err(|source| Error::read("/proc", source))?;
    Ok(proc.flatten().filter_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
        Some((pid, entry.path()))
    }))
}
