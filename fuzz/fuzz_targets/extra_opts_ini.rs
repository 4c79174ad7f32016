//! `--extra-opts`: the ini parser, the `[section][@file]` locator and the
//! taking apart of the command line, on any bytes. The first line of the
//! input names the section, the rest is the file; the whole input is also a
//! locator and, split at NUL bytes, a command line.

#![no_main]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use check_ephemeral::options::extra_opts::{Locator, parse_ini, split_args};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let newline = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (section, file) = data.split_at(newline);
    if let (Ok(section), Ok(text)) = (std::str::from_utf8(section), std::str::from_utf8(file))
        && let Ok(args) = parse_ini(text, section.trim())
    {
        // One option per `key = value` line, each a single argument.
        assert!(args.len() <= text.split('\n').count());
        for arg in &args {
            assert!(arg.starts_with('-') && !arg.contains('\n'), "{arg:?}");
        }
    }
    let _ = Locator::parse(OsStr::from_bytes(data));
    let args: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|a| OsStr::from_bytes(a).to_os_string())
        .collect();
    let given = args.len();
    let (locators, rest) = split_args(args);
    assert!(locators.len() + rest.len() <= given);
});
