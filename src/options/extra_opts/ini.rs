//! The ini grammar of `--extra-opts` files, as the Monitoring Plugins
//! define it, and where such files are looked for: pure text in,
//! command-line arguments out.

/// The section read when the locator names none: the plugin's name.
pub const DEFAULT_SECTION: &str = "check_ephemeral";

/// File names looked for in every `NAGIOS_CONFIG_PATH` directory, in order.
pub const INI_NAMES: [&str; 3] = [
    "monitoring-plugins.ini",
    "plugins.ini",
    "nagios-plugins.ini",
];

/// Files tried in order when neither `MP_CONFIG_FILE` nor
/// `NAGIOS_CONFIG_PATH` names one; the last seven are the older names still
/// honoured by the Monitoring Plugins.
pub const INI_PATHS: [&str; 11] = [
    "/usr/local/etc/monitoring-plugins/monitoring-plugins.ini",
    "/usr/local/etc/monitoring-plugins.ini",
    "/etc/monitoring-plugins/monitoring-plugins.ini",
    "/etc/monitoring-plugins.ini",
    "/etc/nagios/plugins.ini",
    "/usr/local/nagios/etc/plugins.ini",
    "/usr/local/etc/nagios/plugins.ini",
    "/etc/opt/nagios/plugins.ini",
    "/etc/nagios-plugins.ini",
    "/usr/local/etc/nagios-plugins.ini",
    "/etc/opt/nagios-plugins.ini",
];

/// What is wrong with an ini text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("no section [{0}]")]
    NoSection(String),
}

/// The options of `section` in `text`, one command-line argument per
/// `key = value` line: `-k<value>` for a one-letter key, `--key=<value>`
/// for a longer one, and `-k` or `--key` alone when the value is empty.
///
/// Grammar: `#` or `;` start a comment line; `[name]` starts a section
/// (name trimmed); `key = value` with key and value trimmed (a CR before the
/// newline is whitespace too); no quoting or escapes. A line that is not a
/// comment and holds no `=`, an empty key, or an option line before the
/// first section is an error. Sections of the same name add up.
pub fn parse_ini(text: &str, section: &str) -> Result<Vec<String>, IniError> {
    let mut args = Vec::new();
    let mut found = false;
    let mut in_section: Option<bool> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        let syntax = |reason| IniError::Syntax {
            line: index + 1,
            reason,
        };
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| syntax("a section header must end with ']'"))?;
            let matches = name.trim() == section;
            found |= matches;
            in_section = Some(matches);
            continue;
        }
        match in_section {
            None => return Err(syntax("option before the first [section]")),
            Some(false) => continue,
            Some(true) => {}
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| syntax("expected key = value (a flag is written key =)"))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(syntax("empty key before '='"));
        }
        let dashes = if key.chars().count() == 1 { "-" } else { "--" };
        args.push(match (dashes, value.is_empty()) {
            (_, true) => format!("{dashes}{key}"),
            ("-", false) => format!("-{key}{value}"),
            _ => format!("--{key}={value}"),
        });
    }
    if found {
        Ok(args)
    } else {
        Err(IniError::NoSection(section.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Result<Vec<String>, IniError> {
        parse_ini(text, "check_ephemeral")
    }

    #[test]
    fn keys_become_options() {
        let text = "# comment\n; another\n[other]\nw = 1\n\n[ check_ephemeral ]\r\n  w = 80 \r\n\
                    critical=@90:95\nverbose =\nv=\nsource = 10.0.0.1\n[other]\nc = 2\n";
        assert_eq!(
            ini(text).unwrap(),
            [
                "-w80",
                "--critical=@90:95",
                "--verbose",
                "-v",
                "--source=10.0.0.1"
            ]
        );
    }

    #[test]
    fn sections_of_the_same_name_add_up() {
        let text = "[check_ephemeral]\nw=1\n[x]\nw=2\n[check_ephemeral]\nc=3\n";
        assert_eq!(ini(text).unwrap(), ["-w1", "-c3"]);
        assert_eq!(parse_ini(text, "x").unwrap(), ["-w2"]);
    }

    #[test]
    fn an_empty_section_is_found() {
        assert_eq!(
            ini("[check_ephemeral]\n# nothing yet\n").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn values_are_taken_as_written() {
        // No quoting, no escapes, no trailing comments: all part of the value.
        assert_eq!(
            ini("[check_ephemeral]\nsource = \"10.0.0.1\" # x\n").unwrap(),
            ["--source=\"10.0.0.1\" # x"]
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (text, expected) in [
            ("w=1\n", "line 1: option before the first [section]"),
            (
                "[check_ephemeral]\n\nverbose\n",
                "line 3: expected key = value (a flag is written key =)",
            ),
            ("[check_ephemeral]\n = 3\n", "line 2: empty key before '='"),
            (
                "[check_ephemeral\n",
                "line 1: a section header must end with ']'",
            ),
            ("[other]\nw=1\n", "no section [check_ephemeral]"),
            ("", "no section [check_ephemeral]"),
        ] {
            assert_eq!(ini(text).unwrap_err().to_string(), expected, "{text:?}");
        }
    }
}
