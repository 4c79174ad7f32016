//! Node populations: many namespaces, each with its own sockets, as on a
//! container host. `node NAME CHECK ROUNDS PREFIX COUNT TABLES` times, in
//! interleaved rounds after one warm-up round, `check_ephemeral
//! --all-netns --exact` (every namespace walked: what these populations
//! measure) with its default threads and with `--threads 1`, and the
//! same namespaces judged one by one (`--netns PREFIX-1` ... `PREFIX-COUNT`,
//! the sum of the runs), and prints one TSV line for each. `print` turns
//! those lines (`node.tsv` next to the main results) into the report's
//! section on node populations.
//!
//! `--all-netns` judges every namespace of the host, the benchmark's and
//! any other; the line says how many it judged.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

pub const ALL: &str = "--all-netns";
pub const ONE_THREAD: &str = "--all-netns --threads 1";
pub const ONE_BY_ONE: &str = "--netns, one by one";

/// Fields of a line: population, namespaces, sockets per namespace,
/// tables (shared or own), TCP on the host, namespaces judged, what, wall
/// median, fastest, slowest, peak RSS (KiB), CPU median, runs, load before
/// and after.
const FIELDS: usize = 15;

#[derive(Clone, Copy, Default)]
pub(crate) struct Run {
    pub(crate) ms: f64,
    pub(crate) cpu_ms: f64,
    pub(crate) rss_kib: u64,
    pub(crate) judged: u64,
    pub(crate) unjudged: u64,
}

pub fn main(args: &[&str]) -> Result<(), String> {
    let [name, check, rounds, prefix, count, tables] = args else {
        return Err("usage: node NAME CHECK ROUNDS PREFIX COUNT TABLES".into());
    };
    let rounds = crate::number(rounds, "ROUNDS")?.max(1);
    let count = crate::number(count, "COUNT")?;
    let per = sockets_per_namespace(prefix)?;
    let load_before = crate::measure::load_average();
    let host_tcp = crate::measure::host_tcp_sockets();
    // --exact: the walks are what these populations measure, and most of
    // their namespaces would be judged by bound without it.
    let all = [check, ALL, "--exact", "--top", "0", "-t", "3600"];
    let single = [
        check,
        ALL,
        "--exact",
        "--threads",
        "1",
        "--top",
        "0",
        "-t",
        "3600",
    ];
    let mut samples: [Vec<Run>; 3] = Default::default();
    for round in 0..=rounds {
        for k in 0..3 {
            // The order rotates from round to round.
            let which = (round + k) % 3;
            let run = match which {
                0 => once(&all)?,
                1 => once(&single)?,
                _ => one_by_one(check, prefix, count)?,
            };
            if run.unjudged > 0 {
                return Err(format!("{name}: {} namespaces not judged", run.unjudged));
            }
            if round > 0 {
                samples[which].push(run);
            }
        }
    }
    let load_after = crate::measure::load_average();
    for (what, runs) in [ALL, ONE_THREAD, ONE_BY_ONE].iter().zip(samples) {
        let mut ms: Vec<f64> = runs.iter().map(|r| r.ms).collect();
        ms.sort_by(f64::total_cmp);
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.cpu_ms).collect();
        cpu.sort_by(f64::total_cmp);
        let rss = runs.iter().map(|r| r.rss_kib).max().unwrap_or(0);
        let judged = runs.iter().map(|r| r.judged).max().unwrap_or(0);
        println!(
            "{name}\t{count}\t{per}\t{tables}\t{host_tcp}\t{judged}\t{what}\t{:.3}\t{:.3}\t{:.3}\t{rss}\t{:.3}\t{}\t{load_before}\t{load_after}",
            median(&ms),
            ms[0],
            ms[ms.len() - 1],
            median(&cpu),
            ms.len(),
        );
    }
    Ok(())
}

/// TCP sockets in the first namespace of the population (all alike).
fn sockets_per_namespace(prefix: &str) -> Result<usize, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{prefix}-1"), "ss", "-Htan"])
        .output()
        .map_err(|e| format!("ss: {e}"))?;
    Ok(out.stdout.iter().filter(|&&b| b == b'\n').count())
}

/// Every namespace of the population judged by a run of its own; the
/// times and CPU add up, the RSS is the largest.
fn one_by_one(check: &str, prefix: &str, count: usize) -> Result<Run, String> {
    let mut total = Run::default();
    for i in 1..=count {
        let name = format!("{prefix}-{i}");
        let run = once(&[check, "--netns", &name, "--top", "0", "-t", "3600"])?;
        total.ms += run.ms;
        total.cpu_ms += run.cpu_ms;
        total.rss_kib = total.rss_kib.max(run.rss_kib);
        total.judged += 1;
    }
    Ok(total)
}

/// Runs the check once: wall and CPU time, peak RSS, and the namespaces
/// judged and not judged as its perfdata says.
fn once(argv: &[&str]) -> Result<Run, String> {
    once_text(argv).map(|(run, _)| run)
}

/// [`once`], with what the check printed.
pub(crate) fn once_text(argv: &[&str]) -> Result<(Run, String), String> {
    let started = Instant::now();
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", argv[0]))?;
    }
    let (status, rss_kib, cpu_ms) = crate::measure::wait4(child.id())?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) > 2 {
        let first = text.lines().next().unwrap_or("");
        return Err(format!("{argv:?} ended with status {status:#x}: {first}"));
    }
    let perf = |label: &str| -> u64 {
        text.split('|')
            .nth(1)
            .and_then(|p| {
                p.split_whitespace()
                    .find_map(|m| m.strip_prefix(label)?.strip_prefix('='))
            })
            .and_then(|v| v.split(';').next()?.parse().ok())
            .unwrap_or(0)
    };
    let run = Run {
        ms,
        cpu_ms,
        rss_kib,
        judged: perf("netns"),
        unjudged: perf("netns_unjudged"),
    };
    Ok((run, text))
}

/// The value of the perfdata `label` in a check's output.
pub(crate) fn perf(text: &str, label: &str) -> Option<f64> {
    text.split('|')
        .nth(1)?
        .split_whitespace()
        .find_map(|m| m.strip_prefix(label)?.strip_prefix('='))?
        .split(';')
        .next()?
        .parse()
        .ok()
}

pub(crate) fn median_of(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    median(values)
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// One population's three lines.
struct Node {
    name: String,
    count: usize,
    per: usize,
    tables: String,
    host_tcp: String,
    judged: u64,
    load: (String, String),
    /// Median ms, fastest, slowest, RSS KiB, CPU ms, runs.
    runs: Vec<(String, [f64; 6])>,
}

impl Node {
    fn get(&self, what: &str) -> [f64; 6] {
        self.runs
            .iter()
            .find(|(w, _)| w == what)
            .map_or([f64::NAN; 6], |(_, v)| *v)
    }
}

fn read(file: &Path) -> Result<Vec<Node>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut nodes: Vec<Node> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != FIELDS {
            return Err(format!("{}: not {FIELDS} fields: {line:?}", file.display()));
        }
        let num = |s: &str| s.parse::<f64>().map_err(|_| format!("not a number: {s:?}"));
        let values = [
            num(f[7])?,
            num(f[8])?,
            num(f[9])?,
            num(f[10])?,
            num(f[11])?,
            num(f[12])?,
        ];
        let judged = f[5].parse().unwrap_or(0);
        match nodes.iter_mut().find(|n| n.name == f[0]) {
            Some(n) => {
                n.judged = n.judged.max(judged);
                n.runs.push((f[6].to_string(), values));
            }
            None => nodes.push(Node {
                name: f[0].to_string(),
                count: crate::number(f[1], "count")?,
                per: crate::number(f[2], "sockets")?,
                tables: f[3].to_string(),
                host_tcp: f[4].to_string(),
                judged,
                load: (f[13].to_string(), f[14].to_string()),
                runs: vec![(f[6].to_string(), values)],
            }),
        }
    }
    Ok(nodes)
}

/// The report's section on node populations, if `node.tsv` is there.
pub fn print(dir: &Path, cpus: usize) -> Result<(), String> {
    let file = dir.join("node.tsv");
    if !file.exists() {
        return Ok(());
    }
    let nodes = read(&file)?;
    println!("\n## Node populations: `--all-netns` against one run per namespace\n");
    println!(
        "Many namespaces on one host, as on a container host or Kubernetes node: each holds \
         established connections on loopback (half of its TCP sockets have their local port in \
         the range; `populate web 0 N`). *shared* tables: the namespaces were made the usual \
         way and share the host's TCP established hash table, so every namespace's walk visits \
         every socket of the host; *own*: made from a namespace with \
         `net.ipv4.tcp_child_ehash_entries` set, so each has a table of its own (the bind \
         table stays the host's). `--all-netns` (with `--exact`: every namespace walked; \
         without it most of these would be judged by bound, see the pods below) judges every \
         namespace of the host (the \
         benchmark's, the host's own and any other present), one by one judges only the \
         benchmark's (the sum of one run of `--netns NAME` for each, process start included). \
         Medians of the rounds; per namespace is `--threads 1` divided by the namespaces \
         judged; the projection for more CPUs divides the one-thread time by them, which \
         assumes the walks scale as the measured {cpus} do (the ÷ 1 thread column).\n"
    );
    println!(
        "| population | namespaces × TCP sockets | tables | TCP on host | judged | rounds | \
         `--all-netns` ({cpus} threads) | `--threads 1` | one by one (sum) | ÷ one by one | \
         ÷ 1 thread | per namespace | 4 CPUs (projected) | 8 CPUs (projected) | peak RSS | load |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for n in &nodes {
        let all = n.get(ALL);
        let one = n.get(ONE_THREAD);
        let each = n.get(ONE_BY_ONE);
        let per = one[0] / n.judged.max(1) as f64;
        println!(
            "| {} | {} × {} | {} | {} | {} | {} | {} | {} | {} | {:.2}× | {:.2}× | {} | {} | {} | {:.1} MiB | {} → {} |",
            n.name,
            n.count,
            n.per,
            n.tables,
            n.host_tcp,
            n.judged,
            all[5],
            crate::fmt::ms(all[0]),
            crate::fmt::ms(one[0]),
            crate::fmt::ms(each[0]),
            all[0] / each[0],
            all[0] / one[0],
            crate::fmt::ms(per),
            crate::fmt::ms(one[0] / 4.0),
            crate::fmt::ms(one[0] / 8.0),
            all[3] / 1024.0,
            n.load.0,
            n.load.1,
        );
    }
    // The targets are set for the full run's populations.
    let full: Vec<&Node> = nodes.iter().filter(|n| n.count >= 100).collect();
    if full.is_empty() {
        return Ok(());
    }
    println!("\nTargets for node populations ({cpus} CPUs):\n");
    println!("| population | target | measured | met |");
    println!("|---|---|---|---|");
    for n in full {
        let all = n.get(ALL);
        let each = n.get(ONE_BY_ONE);
        let ratio = all[0] / each[0];
        // The benchmark's namespaces are most of what --all-netns judges;
        // the others add to its time only.
        println!(
            "| {} | `--all-netns` ≤ 0.6× one by one | {ratio:.2}× | {} |",
            n.name,
            yes(ratio <= 0.6)
        );
        if n.count * n.per >= 300_000 {
            let mib = all[3] / 1024.0;
            println!(
                "| {} | peak RSS ≤ 16 MiB | {mib:.1} MiB | {} |",
                n.name,
                yes(mib <= 16.0)
            );
        }
    }
    Ok(())
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}
