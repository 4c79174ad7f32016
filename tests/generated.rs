//! Files generated from other files, so they cannot drift: the man page
//! (clap_mangen) and the Icinga 2 CheckCommand from the clap option
//! definitions, and the RPM's copies of the snippets that name the plugin's
//! path. Each test renders the file and fails if the committed copy differs.
//! After changing an option or a snippet, regenerate them all with
//! `CHECK_EPHEMERAL_REGENERATE=1 cargo test --test tests generated::`.

use std::path::{Path, PathBuf};

use check_ephemeral::options;
use check_ephemeral::options::extra_opts::{DEFAULT_SECTION, INI_NAMES, INI_PATHS};
use clap::{Arg, ArgAction};
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

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
             Regenerate it with: {REGENERATE}=1 cargo test --test tests generated::\n\
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

fn is_flag(arg: &Arg) -> bool {
    !arg.get_action().takes_values()
}

// ---------------------------------------------------------------- man page

/// clap_mangen's sections render with roff's two-line apostrophe preamble
/// each; the page needs it once, at the top.
fn without_preamble(section: Vec<u8>) -> String {
    let text = String::from_utf8(section).unwrap();
    let mut lines = text.lines().peekable();
    while lines
        .peek()
        .is_some_and(|l| l.starts_with(".ie \\n(.g .ds Aq") || l.starts_with(".el .ds Aq"))
    {
        lines.next();
    }
    lines.map(|l| format!("{l}\n")).collect()
}

/// The sections --help has no place for: ranges, exit status, files,
/// examples, see also. Written with the roff crate, which escapes the text.
fn manpage_extra_sections() -> String {
    let mut r = Roff::new();
    r.control("SH", ["RANGES"]).text([
        roman("A range is "),
        bold("[@][start:][end]"),
        roman(" as in the Monitoring Plugins: "),
        italic("start"),
        roman(" defaults to 0, "),
        bold("~"),
        roman(" means minus infinity and a missing "),
        italic("end"),
        roman(" plus infinity. Without "),
        bold("@"),
        roman(
            " the check alerts when the value is outside the range, with it when the value is \
             inside, endpoints included: ",
        ),
        bold("10"),
        roman(" alerts above 10, "),
        bold("10:"),
        roman(" below 10, "),
        bold("@10:20"),
        roman(" from 10 to 20."),
    ]);
    r.control("PP", []).text([
        roman("The free-count thresholds "),
        bold("--free-warning"),
        roman(" and "),
        bold("--free-critical"),
        roman(" read a plain number as check_disk does: "),
        bold("--free-critical 500"),
        roman(" is critical when the worst pool has fewer than 500 ports free (the range "),
        bold("500:"),
        roman("). A range written out with "),
        bold(":"),
        roman(" or "),
        bold("@"),
        roman(" keeps its meaning above: "),
        bold("--free-warning @0:499"),
        roman(" is the same warning written out. They add to "),
        bold("-w"),
        roman(" and "),
        bold("-c"),
        roman(", which keep their defaults of 70 and 90 unless given; "),
        bold("-w ~: -c ~:"),
        roman(" (ranges that never alert) judge the free count alone."),
    ]);
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "OK"),
        ("1", "WARNING"),
        ("2", "CRITICAL"),
        (
            "3",
            "UNKNOWN: a bad option or config file, unreadable kernel state, a timeout, or an output that cannot be written",
        ),
    ] {
        r.control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }
    r.control("PP", []).text([
        roman("With "),
        bold("--format prometheus"),
        roman(
            " the exit status is 0 whenever the metrics were made (the state is in \
             ephemeral_check_state) and 3 when they could not be. In that case, and in any \
             failure with ",
        ),
        bold("--output-file"),
        roman(
            ", the reason goes to stderr, stdout stays empty and a previous output file \
             stays in place.",
        ),
    ]);
    r.control("SH", ["FILES"]).text([
        bold("--extra-opts"),
        roman(" reads section "),
        bold(DEFAULT_SECTION),
        roman(" unless told otherwise, from the file after "),
        bold("@"),
        roman(", else from "),
        bold("$MP_CONFIG_FILE"),
        roman(format!(
            ", else from the first of {} found in a directory of ",
            INI_NAMES.join(", ")
        )),
        bold("$NAGIOS_CONFIG_PATH"),
        roman(" (colon separated), else from the first of these that exists:"),
    ]);
    for path in INI_PATHS {
        r.control("br", []).text([roman(path)]);
    }
    r.control("PP", []).text([
        roman("Lines starting with "),
        bold("#"),
        roman(" or "),
        bold(";"),
        roman(" are comments; "),
        bold("[section]"),
        roman(" starts a section; "),
        bold("key = value"),
        roman(" gives an option, "),
        bold("-k"),
        roman(" for a one-letter key and "),
        bold("--key"),
        roman(" for a longer one; "),
        bold("key ="),
        roman(
            " with nothing after it is a flag. There is no quoting. The file's options come \
             first, so an option given on the command line replaces every occurrence of the \
             same option in the file (repeatable options included).",
        ),
    ]);
    r.control("PP", []).text([roman(
        "/usr/share/doc/check-ephemeral/check_ephemeral.conf.example documents every option.",
    )]);
    r.control("PP", []).text([
        roman("The packages install "),
        bold("check_ephemeral-prometheus.timer"),
        roman(
            ", which, once enabled, runs the check every minute with \
             --format prometheus and writes \
             /var/lib/prometheus/node-exporter/check_ephemeral.prom for node_exporter's \
             textfile collector; example alerting rules are in \
             /usr/share/doc/check-ephemeral/examples/prometheus-rules.yml.",
        ),
    ]);
    r.control("SH", ["EXAMPLES"]).control("nf", []);
    for example in [
        "check_ephemeral -w 70 -c 90",
        "check_ephemeral --free-critical 1000 --pools connect --destination 10.0.0.9:5432",
        "check_ephemeral --extra-opts=db@/etc/nagios/check_ephemeral.ini",
    ] {
        r.text([roman(example)]);
    }
    r.control("fi", []);
    r.control("SH", ["SEE ALSO"]).text([
        bold("sysctl"),
        roman("(8) and the kernel's Documentation/networking/ip-sysctl.rst (ip_local_port_range, ip_local_reserved_ports), "),
        bold("ss"),
        roman("(8), "),
        bold("nrpe"),
        roman("(8), "),
        bold("icinga2"),
        roman("(8)"),
    ]);
    without_preamble(r.render().into_bytes())
}

/// An option's value as the synopsis shows it: the choices of one that
/// takes a fixed set (`auto|netlink|proc`), else its value name.
fn value_shown(arg: &Arg) -> String {
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect();
    if !choices.is_empty() {
        return choices.join("|");
    }
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names.iter().map(|n| n.to_string()).collect(),
        _ => arg.get_id().as_str().to_uppercase(),
    }
}

/// The synopsis, with the value each option takes (clap_mangen's shows
/// the option names alone, so `-w` looks like a flag).
fn synopsis_section() -> String {
    let mut parts = vec![bold("check_ephemeral")];
    let mut command = options::command();
    command.build(); // adds --help
    for arg in command.get_arguments() {
        let mut names = Vec::new();
        if let Some(short) = arg.get_short() {
            names.push(format!("-{short}"));
        }
        if let Some(long) = arg.get_long() {
            names.push(format!("--{long}"));
        }
        parts.push(roman(" ["));
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                parts.push(roman("|"));
            }
            parts.push(bold(name.clone()));
        }
        if !is_flag(arg) {
            let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            let value = italic(value_shown(arg));
            if optional {
                parts.extend([roman("[="), value, roman("]")]);
            } else {
                parts.extend([roman(" "), value]);
            }
        }
        parts.push(roman("]"));
        if matches!(arg.get_action(), ArgAction::Append | ArgAction::Count) {
            parts.push(roman("..."));
        }
    }
    let mut r = Roff::new();
    r.control("SH", ["SYNOPSIS"]).text(parts);
    without_preamble(r.render().into_bytes())
}

/// The man page: clap_mangen renders title, name, description and options
/// from the clap definitions; the synopsis and the sections --help lacks
/// are written here.
fn render_manpage() -> String {
    let man = Man::new(options::command());
    // The title line is written here: clap_mangen leaves an empty date out
    // of .TH altogether, which shifts the source and manual into the wrong
    // fields.
    let mut m = format!(
        ".\\\" Generated from the option definitions by tests/generated.rs; do not edit.\n\
         .\\\" Regenerate: {REGENERATE}=1 cargo test \\-\\-test tests generated::\n\
         .ie \\n(.g .ds Aq \\(aq\n\
         .el .ds Aq '\n\
         .TH CHECK_EPHEMERAL 8 \"\" \"check_ephemeral {}\" \"Monitoring Plugins\"\n",
        env!("CARGO_PKG_VERSION")
    );
    type Section = fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>;
    let render = |section: Section| {
        let mut out = Vec::new();
        section(&man, &mut out).unwrap();
        without_preamble(out)
    };
    m.push_str(&render(Man::render_name_section));
    m.push_str(&synopsis_section());
    m.push_str(&render(Man::render_description_section));
    m.push_str(&render(Man::render_options_section));
    m.push_str(&manpage_extra_sections());
    m
}

#[test]
fn manpage_matches_the_options() {
    check_committed("packaging/check_ephemeral.8", &render_manpage());
}

#[test]
fn the_synopsis_shows_what_each_option_takes() {
    let page = render_manpage();
    let synopsis = page
        .split(".SH SYNOPSIS\n")
        .nth(1)
        .and_then(|s| s.lines().next())
        .unwrap();
    for shown in [
        "\\fB\\-w\\fR|\\fB\\-\\-warning\\fR \\fIRANGE\\fR]",
        "\\fB\\-\\-free\\-critical\\fR \\fIN|RANGE\\fR]",
        "\\fB\\-\\-backend\\fR \\fIauto|netlink|proc\\fR]",
        "\\fB\\-\\-source\\fR \\fIADDR\\fR]...",
        "\\fB\\-\\-all\\-netns\\fR]",
        "\\fB\\-v\\fR|\\fB\\-\\-verbose\\fR]...",
    ] {
        assert!(synopsis.contains(shown), "{shown} not in {synopsis}");
    }
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

/// The CheckCommand that runs the plugin through `sudo -n`.
const SUDO_COMMAND: &str = "ephemeral_sudo";

/// The command lines the shipped sudo rule allows: the privileged
/// features, each as the options an Icinga 2 service turns on with its
/// custom variables (or an NRPE command passes), at the plugin's default
/// thresholds. A site that sets other options adds its own line, written
/// as [`privileged_argv`] writes these.
const PRIVILEGED: [&[(&str, Option<&str>)]; 3] = [
    &[("all-netns", None)],
    &[("all-netns", None), ("processes", None)],
    &[("pools", Some("connect,bind,udp,nat"))],
];

/// The options in the order the CheckCommand passes them: the order of
/// the clap definitions (and of --help), each with a fixed `order`, so
/// that a command line Icinga 2 runs is one an exact sudo rule can name.
fn argument_order() -> Vec<String> {
    options()
        .iter()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// The arguments Icinga 2 passes for `options` (long name, value).
fn privileged_argv(options: &[(&str, Option<&str>)]) -> Vec<String> {
    let order = argument_order();
    let mut sorted = options.to_vec();
    sorted.sort_by_key(|(long, _)| {
        order
            .iter()
            .position(|o| o == long)
            .unwrap_or_else(|| panic!("--{long} is not an option"))
    });
    sorted
        .iter()
        .flat_map(|(long, value)| {
            std::iter::once(format!("--{long}")).chain(value.map(String::from))
        })
        .collect()
}

fn render_icinga() -> String {
    let mut o = String::new();
    o.push_str(
        "/* Generated from the option definitions by tests/generated.rs; do not edit.\n \
         * Regenerate: CHECK_EPHEMERAL_REGENERATE=1 cargo test --test tests generated::\n \
         *\n \
         * ITL-style CheckCommands for check_ephemeral. Every option is a custom\n \
         * variable ephemeral_<long option> (dashes become underscores); one left\n \
         * unset is not passed, and the plugin applies its own default (-w 70 -c 90\n \
         * also beside ephemeral_free_warning/ephemeral_free_critical).\n \
         *\n \
         * \"ephemeral\" runs the plugin as the Icinga 2 user. \"ephemeral_sudo\" runs\n \
         * it as /usr/bin/sudo -n <plugin>, for the features that need root\n \
         * (ephemeral_all_netns, ephemeral_netns, ephemeral_processes,\n \
         * ephemeral_pools with nat); the example apply rule picks it for hosts\n \
         * with vars.ephemeral_sudo = true. Both pass the options in the fixed\n \
         * order below (that of --help), so the command lines of the shipped sudo\n \
         * rule (examples/sudoers) match as they are, e.g.\n \
         *   sudo -n <plugin> --all-netns --processes\n \
         * A service that sets other options needs a rule line of its own, with\n \
         * them in this order and by their long names.\n \
         */\n\n",
    );
    o.push_str("template CheckCommand \"ephemeral-arguments\" {\n");
    o.push_str("\targuments = {\n");
    let opts = options();
    let order = argument_order();
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
        let position = order.iter().position(|o| o == long).unwrap() + 1;
        o.push_str(&format!("\t\t\torder = {position}\n"));
        o.push_str(&format!(
            "\t\t\tdescription = {}\n",
            icinga_string(&help(arg))
        ));
        o.push_str("\t\t}\n");
    }
    o.push_str("\t}\n");
    o.push_str("}\n\n");
    o.push_str(&format!(
        "object CheckCommand \"ephemeral\" {{\n\
         \timport \"ephemeral-arguments\"\n\
         \tcommand = [ PluginDir + \"/check_ephemeral\" ]\n\
         }}\n\n\
         object CheckCommand \"{SUDO_COMMAND}\" {{\n\
         \timport \"ephemeral-arguments\"\n\
         \tcommand = [ \"/usr/bin/sudo\", \"-n\", PluginDir + \"/check_ephemeral\" ]\n\
         }}\n"
    ));
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

// --------------------------------------------------------------- sudo rule

const SUDOERS: &str = "packaging/sudoers/check_ephemeral";
const NRPE: &str = "packaging/nrpe/check_ephemeral.cfg";

/// A word as sudoers reads it: its special characters escaped.
fn sudoers_word(word: &str) -> String {
    word.chars()
        .flat_map(|c| {
            let special = "\\,:=()!*?[]#".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// The rule's command lines, from [`PRIVILEGED`] in the CheckCommand's
/// order: the part of the sudoers file after its comments.
fn render_sudo_rule() -> String {
    let lines: Vec<String> = PRIVILEGED
        .iter()
        .map(|options| {
            let argv = privileged_argv(options);
            let words: Vec<String> = argv.iter().map(|w| sudoers_word(w)).collect();
            format!("    {DEB_PLUGIN_DIR}/check_ephemeral {}", words.join(" "))
        })
        .collect();
    format!(
        "# The command lines below are generated by tests/generated.rs, with the\n\
         # options in the order the Icinga 2 CheckCommand passes them; do not edit.\n\
         Cmnd_Alias CHECK_EPHEMERAL_PRIVILEGED = \\\n{}\n\
         nagios ALL=(root) NOPASSWD: CHECK_EPHEMERAL_PRIVILEGED\n",
        lines.join(", \\\n")
    )
}

/// The sudoers file with its generated part rendered anew; the comments
/// above it are written by hand.
fn render_sudoers() -> String {
    let text = std::fs::read_to_string(repo(SUDOERS)).unwrap();
    let marker = "# The command lines below are generated";
    let head = text.find(marker).map_or(text.as_str(), |at| &text[..at]);
    format!("{head}{}", render_sudo_rule())
}

#[test]
fn sudo_rule_allows_the_lines_icinga_runs() {
    check_committed(SUDOERS, &render_sudoers());
}

#[test]
fn nrpe_sudo_commands_are_lines_the_rule_allows() {
    // The NRPE snippet's privileged commands, `sudo -n` and the plugin's
    // path aside, are argument lists the rule names.
    let allowed: Vec<Vec<String>> = PRIVILEGED.iter().map(|o| privileged_argv(o)).collect();
    let snippet = std::fs::read_to_string(repo(NRPE)).unwrap();
    let prefix = format!("/usr/bin/sudo -n {DEB_PLUGIN_DIR}/check_ephemeral ");
    let mut seen = 0;
    for line in snippet.lines().filter(|l| l.contains("sudo -n")) {
        let (_, command) = line.split_once('=').unwrap();
        let argv = command
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{command} does not start with {prefix}"));
        let argv: Vec<String> = argv.split(' ').map(String::from).collect();
        assert!(allowed.contains(&argv), "no rule line allows {command}");
        seen += 1;
    }
    assert!(seen >= 2, "{NRPE} has {seen} sudo commands");
}

#[test]
fn the_sudo_rule_follows_the_check_commands_order() {
    // Options given out of order come out in the CheckCommand's.
    assert_eq!(
        privileged_argv(&[
            ("processes", None),
            ("warning", Some("70")),
            ("all-netns", None)
        ]),
        ["--warning", "70", "--all-netns", "--processes"]
    );
    assert_eq!(sudoers_word("connect,bind"), "connect\\,bind");
    assert_eq!(sudoers_word("@10:20"), "@10\\:20");
}

// ------------------------------------------------------------ RPM variants

/// Where the Debian package (and the files under packaging/) put the plugin,
/// and where the RPM does: Fedora and RHEL keep plugins in
/// %{_libdir}/nagios/plugins, /usr/lib64 on x86_64 and aarch64.
const DEB_PLUGIN_DIR: &str = "/usr/lib/nagios/plugins";
const RPM_PLUGIN_DIR: &str = "/usr/lib64/nagios/plugins";

/// The files the RPM installs that name the plugin's path (sudo matches exact
/// paths, systemd and NRPE run them): each is its Debian original with the
/// path changed, under packaging/rpm/.
const RPM_VARIANTS: [(&str, &str); 4] = [
    (
        "packaging/nrpe/check_ephemeral.cfg",
        "packaging/rpm/nrpe-check_ephemeral.cfg",
    ),
    (
        "packaging/nagios/check_ephemeral.cfg",
        "packaging/rpm/nagios-commands.cfg",
    ),
    ("packaging/sudoers/check_ephemeral", "packaging/rpm/sudoers"),
    (
        "packaging/systemd/check_ephemeral-prometheus.service",
        "packaging/rpm/check_ephemeral-prometheus.service",
    ),
];

fn render_rpm_variant(original: &str) -> String {
    let text = std::fs::read_to_string(repo(original)).unwrap();
    assert!(
        text.contains(DEB_PLUGIN_DIR),
        "{original} names no plugin path"
    );
    format!(
        "# Generated from {original} by tests/generated.rs;\n\
         # do not edit. The RPM keeps the plugin in {RPM_PLUGIN_DIR}.\n\
         # Regenerate: {REGENERATE}=1 cargo test --test tests generated::\n{}",
        text.replace(DEB_PLUGIN_DIR, RPM_PLUGIN_DIR)
    )
}

#[test]
fn rpm_variants_name_the_rpm_plugin_dir() {
    for (original, variant) in RPM_VARIANTS {
        check_committed(variant, &render_rpm_variant(original));
    }
}

#[test]
fn every_packaged_file_naming_the_plugin_path_has_an_rpm_variant() {
    // A new file under packaging/ that names the Debian path must get an RPM
    // variant too, or the RPM would point at a plugin that is not there.
    let mut naming = Vec::new();
    let mut dirs = vec![repo("packaging")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("rpm") {
                    dirs.push(path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if text.contains(DEB_PLUGIN_DIR) && name != "README.md" {
                let relative = path.strip_prefix(repo("")).unwrap();
                naming.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    naming.sort();
    let mut expected: Vec<String> = RPM_VARIANTS.iter().map(|(o, _)| o.to_string()).collect();
    expected.sort();
    assert_eq!(naming, expected);
}
