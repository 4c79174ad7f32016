//! `--extra-opts=[section][@file]`: options read from an ini file, as the
//! Monitoring Plugins define them. The ini parser and the file search are
//! pure functions (text in, arguments out; environment and file existence
//! passed in), so they can be tested and fuzzed without touching the system;
//! [`expand`] is the thin layer that reads the environment and the file.
//!
//! Merging: the options of every `--extra-opts` come first, in the order
//! given, then the command line. An option named on the command line drops
//! every occurrence of that option from the files, and a later
//! `--extra-opts` drops the same option from an earlier one. This holds for
//! repeatable options too (`--source`, `--destination`, `-v`): they are
//! replaced, not appended to, so the command line can always narrow what a
//! file says. Within one source an option given twice is still an error.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::parser::ValueSource;

use crate::error::{Error, Result};

mod ini;
mod locate;

pub use ini::{DEFAULT_SECTION, INI_NAMES, INI_PATHS, IniError, parse_ini};
use locate::os_from_bytes;
pub use locate::{Locator, default_file};

/// Takes every `--extra-opts` out of `args` (as `--extra-opts=V`,
/// `--extra-opts V` when V does not start with `-`, or `--extra-opts`
/// alone) and returns the locators in order with the remaining arguments.
pub fn split_args(args: Vec<OsString>) -> (Vec<Option<OsString>>, Vec<OsString>) {
    let mut locators = Vec::new();
    let mut rest = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    if let Some(program) = iter.next() {
        rest.push(program);
    }
    while let Some(arg) = iter.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(iter.by_ref());
            break;
        }
        let bytes = arg.as_encoded_bytes();
        if let Some(value) = bytes.strip_prefix(b"--extra-opts=") {
            locators.push(Some(os_from_bytes(value)));
        } else if arg == "--extra-opts" {
            let takes_next = iter
                .peek()
                .is_some_and(|next| !next.as_encoded_bytes().starts_with(b"-"));
            locators.push(if takes_next { iter.next() } else { None });
        } else {
            rest.push(arg);
        }
    }
    (locators, rest)
}

/// The arguments with every `--extra-opts` replaced by the options it reads,
/// merged as the module documentation says. Arguments without
/// `--extra-opts` come back unchanged.
pub fn expand(args: Vec<OsString>, command: &clap::Command) -> Result<Vec<OsString>> {
    let (locators, rest) = split_args(args);
    if locators.is_empty() {
        return Ok(rest);
    }
    let mut layers = Vec::with_capacity(locators.len());
    for locator in &locators {
        let locator = match locator {
            Some(value) => Locator::parse(value)?,
            None => Locator::parse(OsStr::new(""))?,
        };
        layers.push(read_layer(&locator, command)?);
    }
    // Which options the command line names; if it does not parse by
    // itself, the full parse reports the same error (or prints --help).
    let Ok(matches) = command.clone().try_get_matches_from(&rest) else {
        return Ok(rest);
    };
    let mut seen: HashSet<String> = matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect();
    let mut kept: Vec<Vec<OsString>> = Vec::with_capacity(layers.len());
    for mut layer in layers.into_iter().rev() {
        let ids: Vec<String> = layer.options.iter().map(|(id, _)| id.clone()).collect();
        let args: Vec<OsString> = std::mem::take(&mut layer.options)
            .into_iter()
            .filter(|(id, _)| !seen.contains(id))
            .map(|(_, arg)| OsString::from(arg))
            .collect();
        layer.check(&args, command)?;
        kept.push(args);
        seen.extend(ids);
    }
    let mut out = Vec::new();
    let mut rest = rest.into_iter();
    out.extend(rest.next());
    out.extend(kept.into_iter().rev().flatten());
    out.extend(rest);
    Ok(out)
}

/// An options file larger than this is refused rather than read on.
const MAX_INI: usize = 1024 * 1024;

/// Reads at most one byte more than [`MAX_INI`], so a huge or endless
/// input (`@/dev/zero`) is refused instead of filling memory.
fn read_limited(reader: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader.take(MAX_INI as u64 + 1), &mut bytes)?;
    Ok(bytes)
}

/// One `--extra-opts`: the file read and parsed.
struct Layer {
    path: PathBuf,
    section: String,
    /// Each argument paired with the id of the option it names.
    options: Vec<(String, String)>,
}

impl Layer {
    /// The options of this file that the merge keeps must parse by
    /// themselves, so that a bad value or an option given twice in the file
    /// is refused with the file's name (one the command line replaces is
    /// not looked at, as the command line wins).
    fn check(&self, kept: &[OsString], command: &clap::Command) -> Result<()> {
        let alone = std::iter::once(OsString::from(command.get_name())).chain(kept.iter().cloned());
        match command.clone().try_get_matches_from(alone) {
            Ok(_) => Ok(()),
            // `version =` in a file prints the version, as on the command line.
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                Ok(())
            }
            Err(e) => Err(Error::ExtraOpts {
                path: self.path.clone(),
                reason: format!(
                    "[{}]: {}",
                    self.section,
                    crate::options::usage::usage_message(&e)
                ),
            }),
        }
    }
}

fn read_layer(locator: &Locator, command: &clap::Command) -> Result<Layer> {
    let path = match &locator.file {
        Some(f) => f.clone(),
        None => default_file(|name| std::env::var_os(name), |p| p.exists()).ok_or_else(|| {
            Error::Usage(format!(
                "--extra-opts: no {} found in NAGIOS_CONFIG_PATH or any standard location; set MP_CONFIG_FILE or give @FILE",
                INI_NAMES.join(", ")
            ))
        })?,
    };
    let config = |reason: String| Error::ExtraOpts {
        path: path.clone(),
        reason,
    };
    let bytes = if path == Path::new("-") {
        read_limited(std::io::stdin())
    } else {
        std::fs::File::open(&path).and_then(read_limited)
    }
    .map_err(|e| config(format!("cannot read: {e}")))?;
    if bytes.len() > MAX_INI {
        return Err(config(format!("larger than {} KiB", MAX_INI / 1024)));
    }
    let text = String::from_utf8(bytes).map_err(|_| config("not UTF-8 text".into()))?;
    let args = parse_ini(&text, &locator.section).map_err(|e| config(e.to_string()))?;
    let options = args
        .into_iter()
        .map(|arg| match option_id(&arg, command) {
            Some(id) if id == "extra_opts" => Err(config(
                "--extra-opts cannot be given inside a config file".into(),
            )),
            Some(id) => Ok((id, arg)),
            None => Err(config(format!(
                "[{}]: unknown option {}",
                locator.section,
                arg.split('=').next().unwrap_or(&arg).escape_debug()
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Layer {
        path,
        section: locator.section.clone(),
        options,
    })
}

/// The id of the option an argument made by [`parse_ini`] names.
fn option_id(arg: &str, command: &clap::Command) -> Option<String> {
    let found = if let Some(long) = arg.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or(long);
        command.get_arguments().find(|a| {
            a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
        })
    } else {
        let short = arg.strip_prefix('-')?.chars().next()?;
        command.get_arguments().find(|a| {
            a.get_short() == Some(short)
                || a.get_all_short_aliases()
                    .is_some_and(|al| al.contains(&short))
        })
    };
    found.map(|a| a.get_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_opts_forms_are_taken_out() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let (locators, rest) = split_args(os(&[
            "p",
            "--extra-opts=a@f",
            "-w",
            "1",
            "--extra-opts",
            "b",
            "--extra-opts",
            "-c",
            "2",
            "--extra-opts",
        ]));
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(locators, [some("a@f"), some("b"), None, None]);
        assert_eq!(rest, os(&["p", "-w", "1", "-c", "2"]));
    }

    fn expanded(ini: &str, args: &[&str]) -> Result<Vec<String>> {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "check_ephemeral-extra-opts-unit-{}-{n}.ini",
            std::process::id()
        ));
        std::fs::write(&path, ini).unwrap();
        let argv = std::iter::once("check_ephemeral".to_string())
            .chain(
                args.iter()
                    .map(|a| a.replace("FILE", &path.display().to_string())),
            )
            .map(OsString::from)
            .collect();
        let result = expand(argv, &crate::options::command());
        std::fs::remove_file(&path).unwrap();
        result.map(|v| {
            v.into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn the_command_line_replaces_the_files_options() {
        let ini = "[check_ephemeral]\nw = 1\nsource = 10.0.0.1\nsource = 10.0.0.2\nv =\ntop = 3\n\
                   [later]\ntop = 4\nc = 9\n";
        let got = expanded(
            ini,
            &[
                "--extra-opts=@FILE",
                "--warning",
                "5",
                "--extra-opts",
                "later@FILE",
                "--source=::1",
                "-v",
            ],
        )
        .unwrap();
        // -w and --warning, --source (every occurrence) and -v come from the
        // command line; the later section's --top replaces the earlier one.
        assert_eq!(
            got,
            [
                "check_ephemeral",
                "--top=4",
                "-c9",
                "--warning",
                "5",
                "--source=::1",
                "-v"
            ]
        );
    }

    #[test]
    fn the_command_line_replaces_even_a_bad_or_repeated_option_of_a_file() {
        let ini = "[check_ephemeral]\ntimeout = 99999\nw = 1\nw = 2\n";
        let got = expanded(ini, &["--extra-opts=@FILE", "-t", "5", "-w", "5"]).unwrap();
        assert_eq!(got, ["check_ephemeral", "-t", "5", "-w", "5"]);
        // Not replaced, the same options are refused, naming the file.
        let e = expanded(ini, &["--extra-opts=@FILE", "-t", "5"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--extra-opts: /") && e.contains("multiple times"),
            "{e}"
        );
        let e = expanded(ini, &["--extra-opts=@FILE", "-w", "5"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a whole number from 1 to 3600"), "{e}");
        // `version =` prints the version, as on the command line.
        assert!(expanded("[check_ephemeral]\nversion =\n", &["--extra-opts=@FILE"]).is_ok());
    }

    #[test]
    fn file_errors_name_the_file() {
        for (ini, args, expected) in [
            (
                "[check_ephemeral]\nnonsense = 1\n",
                &["--extra-opts=@FILE"][..],
                "unknown option --nonsense",
            ),
            (
                "[check_ephemeral]\nextra-opts = x\n",
                &["--extra-opts=@FILE"],
                "cannot be given inside",
            ),
            (
                "[other]\n",
                &["--extra-opts=@FILE"],
                "no section [check_ephemeral]",
            ),
            ("[x]\nw=1\n", &["--extra-opts=db@FILE"], "no section [db]"),
        ] {
            let e = expanded(ini, args).unwrap_err().to_string();
            assert!(
                e.starts_with("--extra-opts: /") && e.contains(expected),
                "{e}"
            );
        }
    }

    #[test]
    fn without_extra_opts_nothing_changes() {
        let got = expanded("", &["-w", "1", "--", "--extra-opts"]).unwrap();
        assert_eq!(got, ["check_ephemeral", "-w", "1", "--", "--extra-opts"]);
    }
}
