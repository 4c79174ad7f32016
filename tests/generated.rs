//! Files generated from the clap option definitions, so the man page and the
//! Icinga 2 CheckCommand cannot drift from `--help`: each test renders the
//! file from `options::command()` and fails if the committed copy differs.
//! After changing an option, regenerate both with
//! `CHECK_EPHEMERAL_REGENERATE=1 cargo test --test generated`.

use std::path::{Path, PathBuf};

use check_ephemeral::options;
use check_ephemeral::options::extra_opts::{DEFAULT_SECTION, INI_NAMES, INI_PATHS};
use clap::{Arg, ArgAction};

const REGENERATE: &str = "CHECK_EPHEMERAL_REGENERATE";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Compares `rendered` with the committed file, or rewrites it on request.
fn check_committed(path: &str, rendered: &str) {
    let file = repo(path);
    if std::env::var_os(REGENERATE).is_some() {
        std::fs::write(&file, rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if committed != rendered {
        let first = committed
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(rendered.lines().count()));
        panic!(
            "{path} is out of date with the option definitions (first difference at line {}).\n\
             Regenerate it with: {REGENERATE}=1 cargo test --test generated\n\
             --- committed\n{}\n--- generated\n{}",
            first + 1,
            committed.lines().nth(first).unwrap_or("<end of file>"),
            rendered.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

/// The options an operator sets (not --help and --version).
fn options() -> Vec<Arg> {
    options::command()
        .get_arguments()
        .filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        })
        .cloned()
        .collect()
}

fn help(arg: &Arg) -> String {
    arg.get_help().map(|h| h.to_string()).unwrap_or_default()
}

/// The defaults of options that take values; a flag's "false" or a
/// counter's "0" says nothing.
fn defaults(arg: &Arg) -> Vec<String> {
    if !arg.get_action().takes_values() {
        return Vec::new();
    }
    arg.get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect()
}

fn possible(arg: &Arg) -> Vec<String> {
    if !arg.get_action().takes_values() {
        return Vec::new();
    }
    arg.get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| p.get_name().to_string())
        .collect()
}

fn value_name(arg: &Arg) -> Option<String> {
    if !arg.get_action().takes_values() {
        return None;
    }
    Some(
        arg.get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase()),
    )
}

fn is_flag(arg: &Arg) -> bool {
    !arg.get_action().takes_values()
}

// ---------------------------------------------------------------- man page

/// roff text: backslashes and hyphens escaped, no line starting with a dot.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_manpage() -> String {
    let mut cmd = options::command();
    cmd.build();
    let name = cmd.get_name().to_string();
    let version = env!("CARGO_PKG_VERSION");
    let mut m = String::new();
    m.push_str(".\\\" Generated from the option definitions by tests/generated.rs; do not edit.\n");
    m.push_str(&format!(
        ".\\\" Regenerate: {REGENERATE}=1 cargo test \\-\\-test generated\n"
    ));
    m.push_str(&format!(
        ".TH CHECK_EPHEMERAL 8 \"\" \"{name} {version}\" \"Monitoring Plugins\"\n"
    ));
    m.push_str(".nh\n.ad l\n");
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    m.push_str(&format!(
        ".SH NAME\n{} \\- {}\n",
        roff(&name),
        roff(about.trim_end_matches('.'))
    ));
    m.push_str(&format!(
        ".SH SYNOPSIS\n.B {}\n[\\fIOPTIONS\\fR]\n",
        roff(&name)
    ));
    m.push_str(".SH DESCRIPTION\n");
    let long_about = cmd.get_long_about().map(|a| a.to_string()).unwrap_or(about);
    for (i, para) in long_about.split("\n\n").enumerate() {
        if i > 0 {
            m.push_str(".PP\n");
        }
        m.push_str(&roff(para.trim()));
        m.push('\n');
    }
    m.push_str(".SH OPTIONS\n");
    for arg in cmd.get_arguments() {
        let mut names = Vec::new();
        if let Some(s) = arg.get_short() {
            names.push(format!("\\fB\\-{s}\\fR"));
        }
        if let Some(l) = arg.get_long() {
            names.push(format!("\\fB\\-\\-{}\\fR", roff(l)));
        }
        let mut head = names.join(", ");
        if let Some(v) = value_name(arg) {
            let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            if optional {
                head.push_str(&format!("[=\\fI{}\\fR]", roff(&v)));
            } else {
                head.push_str(&format!(" \\fI{}\\fR", roff(&v)));
            }
        }
        m.push_str(&format!(".TP\n{head}\n"));
        let mut text = help(arg);
        if matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong
        ) {
            text = "Print help and exit".to_string();
        }
        let defaults = defaults(arg);
        if !defaults.is_empty() {
            text.push_str(&format!(" [default: {}]", defaults.join(",")));
        }
        let possible = possible(arg);
        if !possible.is_empty() {
            text.push_str(&format!(" [possible values: {}]", possible.join(", ")));
        }
        m.push_str(&roff(&text));
        m.push('\n');
    }
    m.push_str(
        ".SH RANGES\n\
         A range is \\fB[@][\\fIstart\\fB:][\\fIend\\fB]\\fR as in the Monitoring Plugins: \
         \\fIstart\\fR defaults to 0, \\fB~\\fR means minus infinity and a missing \\fIend\\fR \
         plus infinity. Without \\fB@\\fR the check alerts when the value is outside the range, \
         with \\fB@\\fR when it is inside, endpoints included: \\fB10\\fR alerts above 10, \
         \\fB10:\\fR below 10, \\fB@10:20\\fR from 10 to 20.\n",
    );
    m.push_str(
        ".SH EXIT STATUS\n\
         .TP\n0\nOK\n.TP\n1\nWARNING\n.TP\n2\nCRITICAL\n.TP\n3\n\
         UNKNOWN: a bad option or config file, unreadable kernel state, or a timeout\n",
    );
    m.push_str(&format!(
        ".SH FILES\n\
         \\fB\\-\\-extra\\-opts\\fR reads section \\fB{}\\fR unless told otherwise, from the file after \
         \\fB@\\fR, else from \\fB$MP_CONFIG_FILE\\fR, else from the first of {} found in a \
         directory of \\fB$NAGIOS_CONFIG_PATH\\fR (colon separated), else from the first of these \
         that exists:\n",
        roff(DEFAULT_SECTION),
        roff(&INI_NAMES.join(", ")),
    ));
    for path in INI_PATHS {
        m.push_str(&format!(".br\n{}\n", roff(path)));
    }
    m.push_str(
        ".PP\n\
         Lines starting with \\fB#\\fR or \\fB;\\fR are comments; \\fB[section]\\fR starts a section; \
         \\fBkey = value\\fR gives an option, \\fB\\-k\\fR for a one\\-letter key and \\fB\\-\\-key\\fR \
         for a longer one; \\fBkey =\\fR with nothing after it is a flag. There is no quoting. \
         The file's options come first, so an option given on the command line replaces every \
         occurrence of the same option in the file (repeatable options included).\n\
         .PP\n\
         /usr/share/doc/check\\-ephemeral/check_ephemeral.conf.example documents every option.\n",
    );
    m.push_str(
        ".SH EXAMPLES\n\
         .nf\n\
         check_ephemeral \\-w 70 \\-c 90\n\
         check_ephemeral \\-\\-free\\-critical 1000: \\-\\-pools connect \\-\\-destination 10.0.0.9:5432\n\
         check_ephemeral \\-\\-extra\\-opts=db@/etc/nagios/check_ephemeral.ini\n\
         .fi\n",
    );
    m.push_str(".SH SEE ALSO\n\\fBsysctl\\fR(8) and the kernel's Documentation/networking/ip\\-sysctl.rst (ip_local_port_range, ip_local_reserved_ports), \\fBss\\fR(8), \\fBnrpe\\fR(8), \\fBicinga2\\fR(8)\n");
    m
}

#[test]
fn manpage_matches_the_options() {
    check_committed("packaging/check_ephemeral.8", &render_manpage());
}

// ------------------------------------------------------ Icinga CheckCommand

fn icinga_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn custom_var(arg: &Arg) -> String {
    format!(
        "ephemeral_{}",
        arg.get_long()
            .unwrap_or(arg.get_id().as_str())
            .replace('-', "_")
    )
}

fn render_icinga() -> String {
    let mut o = String::new();
    o.push_str(
        "/* Generated from the option definitions by tests/generated.rs; do not edit.\n \
         * Regenerate: CHECK_EPHEMERAL_REGENERATE=1 cargo test --test generated\n \
         *\n \
         * ITL-style CheckCommand for check_ephemeral. Every option is a custom\n \
         * variable ephemeral_<long option> (dashes become underscores). Defaults\n \
         * the plugin applies itself are in vars; -w/-c are left unset so that\n \
         * setting only ephemeral_free_warning/ephemeral_free_critical switches the\n \
         * percentage thresholds off (the plugin uses -w 70 -c 90 otherwise).\n \
         */\n\n",
    );
    o.push_str("object CheckCommand \"ephemeral\" {\n");
    o.push_str("\tcommand = [ PluginDir + \"/check_ephemeral\" ]\n\n");
    o.push_str("\targuments = {\n");
    let opts = options();
    for arg in &opts {
        let Some(long) = arg.get_long() else { continue };
        let var = custom_var(arg);
        o.push_str(&format!("\t\t\"--{long}\" = {{\n"));
        if is_flag(arg) {
            o.push_str(&format!("\t\t\tset_if = \"${var}$\"\n"));
        } else {
            o.push_str(&format!("\t\t\tvalue = \"${var}$\"\n"));
            if matches!(arg.get_action(), ArgAction::Append) {
                o.push_str("\t\t\trepeat_key = true\n");
            }
        }
        o.push_str(&format!(
            "\t\t\tdescription = {}\n",
            icinga_string(&help(arg))
        ));
        o.push_str("\t\t}\n");
    }
    o.push_str("\t}\n\n");
    for arg in &opts {
        let defaults = defaults(arg);
        if !defaults.is_empty() {
            let value = defaults.join(",");
            let value = if value.bytes().all(|b| b.is_ascii_digit()) {
                value
            } else {
                icinga_string(&value)
            };
            o.push_str(&format!("\tvars.{} = {value}\n", custom_var(arg)));
        }
    }
    o.push_str("}\n");
    o
}

#[test]
fn icinga_check_command_matches_the_options() {
    check_committed("packaging/icinga2/check_ephemeral.conf", &render_icinga());
}

#[test]
fn icinga_descriptions_are_the_help_texts() {
    // Independent of the renderer: read the committed file back and compare
    // every description with the option's --help line.
    let text = std::fs::read_to_string(repo("packaging/icinga2/check_ephemeral.conf")).unwrap();
    let help_text = {
        let mut cmd = options::command();
        cmd.render_help().to_string()
    };
    for arg in options() {
        let long = arg.get_long().unwrap();
        let key = format!("\"--{long}\" = {{");
        let at = text
            .find(&key)
            .unwrap_or_else(|| panic!("--{long} missing from the CheckCommand"));
        let desc_line = text[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("description = "))
            .unwrap();
        let desc = desc_line
            .trim()
            .trim_start_matches("description = ")
            .trim_matches('"');
        assert!(
            help_text.contains(desc),
            "--{long}: {desc:?} is not in --help"
        );
    }
}

#[test]
fn example_config_names_every_option() {
    let text = std::fs::read_to_string(repo("check_ephemeral.conf.example")).unwrap();
    for arg in options() {
        let long = arg.get_long().unwrap();
        if long == "extra-opts" {
            continue; // cannot be given inside a config file
        }
        let named = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ';', ' ']);
            let key = l.split('=').next().unwrap_or("").trim();
            l.contains('=')
                && (key == long || arg.get_short().is_some_and(|s| key == s.to_string()))
        });
        assert!(named, "check_ephemeral.conf.example does not show --{long}");
    }
}
