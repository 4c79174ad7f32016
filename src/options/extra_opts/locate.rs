//! Where `--extra-opts` reads from: the section and file its value names,
//! and the file searched for when it names none. Pure: the environment and
//! whether a file exists are passed in.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::ini::{DEFAULT_SECTION, INI_NAMES, INI_PATHS};
use crate::error::{Error, Result};

/// Where an `--extra-opts` value points: a section and, if given, a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub section: String,
    pub file: Option<PathBuf>,
}

impl Locator {
    /// `[section][@file]`; an empty section means [`DEFAULT_SECTION`].
    pub fn parse(value: &OsStr) -> Result<Self> {
        let bytes = value.as_encoded_bytes();
        let at = bytes.iter().position(|&b| b == b'@');
        let (section, file) = match at {
            Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
            None => (bytes, None),
        };
        let section = std::str::from_utf8(section)
            .map_err(|_| Error::Usage("--extra-opts: the section name is not UTF-8".into()))?;
        let section = match section.trim() {
            "" => DEFAULT_SECTION.to_string(),
            s => s.to_string(),
        };
        let file = match file {
            None => None,
            Some([]) => return Err(Error::Usage("--extra-opts: no file name after '@'".into())),
            Some(f) => Some(PathBuf::from(os_from_bytes(f))),
        };
        Ok(Locator { section, file })
    }
}

pub(super) fn os_from_bytes(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_os_string()
}

/// The file `--extra-opts` reads when it names none: `MP_CONFIG_FILE` if
/// set (even if missing, so a typo is reported), else the first
/// [`INI_NAMES`] file in each `NAGIOS_CONFIG_PATH` directory, else the
/// first of [`INI_PATHS`] that exists.
pub fn default_file(
    env: impl Fn(&str) -> Option<OsString>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(file) = env("MP_CONFIG_FILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    if let Some(dirs) = env("NAGIOS_CONFIG_PATH") {
        let dirs = dirs.as_encoded_bytes().to_vec();
        for dir in dirs.split(|&b| b == b':').filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(os_from_bytes(dir));
            if let Some(file) = INI_NAMES.iter().map(|n| dir.join(n)).find(|p| exists(p)) {
                return Some(file);
            }
        }
    }
    INI_PATHS.iter().map(PathBuf::from).find(|p| exists(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators() {
        let loc = |s: &str| Locator::parse(OsStr::new(s)).unwrap();
        assert_eq!(loc("").section, "check_ephemeral");
        assert_eq!(loc("").file, None);
        assert_eq!(loc("db").section, "db");
        assert_eq!(loc("@/x/y.ini").section, "check_ephemeral");
        assert_eq!(loc("db@/x/y.ini").file, Some(PathBuf::from("/x/y.ini")));
        assert_eq!(loc("db@a@b").file, Some(PathBuf::from("a@b")));
        assert!(Locator::parse(OsStr::new("db@")).is_err());
    }

    #[test]
    fn search_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let files = |present: &'static [&'static str]| {
            move |p: &Path| present.iter().any(|f| Path::new(f) == p)
        };
        let find = |e: &'static [(&'static str, &'static str)], f: &'static [&'static str]| {
            default_file(env(e), files(f)).map(|p| p.display().to_string())
        };
        let all = &[
            "/a/plugins.ini",
            "/b/monitoring-plugins.ini",
            "/etc/monitoring-plugins.ini",
            "/etc/nagios/plugins.ini",
        ];
        assert_eq!(
            find(&[("MP_CONFIG_FILE", "/m.ini")], all).as_deref(),
            Some("/m.ini")
        );
        let path = &[("NAGIOS_CONFIG_PATH", ":/none:/a:/b")];
        assert_eq!(find(path, all).as_deref(), Some("/a/plugins.ini"));
        assert_eq!(
            find(&[("MP_CONFIG_FILE", "")], all).as_deref(),
            Some("/etc/monitoring-plugins.ini")
        );
        assert_eq!(
            find(&[], &["/etc/nagios/plugins.ini"]).as_deref(),
            Some("/etc/nagios/plugins.ini")
        );
        assert_eq!(find(&[], &[]), None);
    }
}
