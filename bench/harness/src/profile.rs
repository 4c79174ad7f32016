//! perf's samples of check_ephemeral runs (`bench/run`, function
//! `profile`, writes them as `profile-NAME.txt` next to the results), read
//! back by function, and the report's Profile section made from them.

use std::collections::BTreeMap;
use std::path::Path;

/// The kernel function that walks the TCP tables for a sock_diag dump.
pub const TABLE_WALK: &str = "tcp_diag_dump";

/// How many functions with the most samples the report names (its text
/// says "four").
const TOP: usize = 4;

/// perf's samples of one population's check_ephemeral runs.
pub struct Profile {
    /// Share of the samples in the kernel, percent.
    pub kernel: f64,
    /// The functions with the most samples, the most first.
    pub top: Vec<Function>,
}

pub struct Function {
    pub name: String,
    /// Share of the samples, percent.
    pub percent: f64,
    pub in_kernel: bool,
}

impl Profile {
    /// Parses `perf report -q --sort dso,sym` lines, such as
    /// `    75.15%  [kernel.kallsyms]  [k] tcp_diag_dump`; None if there are
    /// none.
    pub fn parse(text: &str) -> Option<Profile> {
        let mut kernel = 0.0;
        let mut top = Vec::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(pct), Some(_dso), Some(space)) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let Some(percent) = pct.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) else {
                continue;
            };
            let in_kernel = space == "[k]";
            if in_kernel {
                kernel += percent;
            }
            top.push(Function {
                name: words.collect::<Vec<_>>().join(" "),
                percent,
                in_kernel,
            });
        }
        if top.is_empty() {
            return None;
        }
        top.sort_by(|a, b| b.percent.total_cmp(&a.percent));
        top.truncate(TOP);
        Some(Profile { kernel, top })
    }
}

/// The profiles found in `dir` for the populations `names`: a population
/// without one (no perf, or a profile run that failed) is left out.
pub fn read_all<'a>(dir: &Path, names: impl Iterator<Item = &'a str>) -> BTreeMap<String, Profile> {
    names
        .filter_map(|name| {
            let text = std::fs::read_to_string(dir.join(format!("profile-{name}.txt"))).ok()?;
            Profile::parse(&text).map(|p| (name.to_string(), p))
        })
        .collect()
}

/// The Profile section, populations in the order of `names`; nothing
/// without profiles.
pub fn print<'a>(names: impl Iterator<Item = &'a str>, profiles: &BTreeMap<String, Profile>) {
    if profiles.is_empty() {
        return;
    }
    println!("\n## Profile\n");
    println!(
        "`perf record` of check_ephemeral alone, run over and over after the timed rounds \
         (`bench/run`, function `profile`): the share of its samples in the kernel and in \
         user space, and the four functions with the most samples (`[k]` in the kernel).\n"
    );
    println!("| population | kernel | user space | functions with the most samples |");
    println!("|---|---|---|---|");
    for name in names {
        let Some(p) = profiles.get(name) else {
            continue;
        };
        let top: Vec<String> = p
            .top
            .iter()
            .map(|f| {
                let space = if f.in_kernel { " [k]" } else { "" };
                format!("`{}`{space} {:.1}%", f.name, f.percent)
            })
            .collect();
        println!(
            "| {name} | {:.1}% | {:.1}% | {} |",
            p.kernel,
            100.0 - p.kernel,
            top.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines in the form `perf report -q --stdio --no-children --sort
    /// dso,sym` prints them: the kernel's shares are those of the 300k
    /// population in bench/RESULTS.md, the user-space line is made up.
    const REPORT: &str = "
    59.00%  [kernel.kallsyms]  [k] tcp_diag_dump
     5.80%  [kernel.kallsyms]  [k] inet_diag_msg_attrs_fill
     3.80%  [kernel.kallsyms]  [k] inet_sk_diag_fill
     2.80%  [kernel.kallsyms]  [k] tcp_diag_get_info
     2.10%  check_ephemeral    [.] check_ephemeral::read::diag::parse

# a comment line
";

    #[test]
    fn kernel_share_and_top_functions() {
        let p = Profile::parse(REPORT).unwrap();
        assert!((p.kernel - 71.4).abs() < 1e-9);
        let names: Vec<&str> = p.top.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tcp_diag_dump",
                "inet_diag_msg_attrs_fill",
                "inet_sk_diag_fill",
                "tcp_diag_get_info"
            ]
        );
    }

    #[test]
    fn user_space_functions_are_not_in_the_kernel() {
        let p = Profile::parse("  10.00%  check_ephemeral  [.] main\n").unwrap();
        assert_eq!(p.kernel, 0.0);
        assert!(!p.top[0].in_kernel);
    }

    #[test]
    fn no_samples_no_profile() {
        assert!(Profile::parse("").is_none());
        assert!(Profile::parse("# only a comment\n").is_none());
    }
}
