//! A node where two pods matter among many that do not.
//! `pods NAME CHECK ROUNDS PREFIX COUNT two|busy` times, in interleaved rounds after
//! one warm-up round, `check_ephemeral --all-netns` as an operator runs it
//! (default options, `-t 10`), `--all-netns --exact` (every namespace
//! walked) and `ss -tan` run in each of the pods, and checks every default
//! run's answer: PREFIX-1, the pod churning into a small range, is named
//! CRITICAL, PREFIX-2, with a tuple at 85 % of its range, is listed
//! WARNING with its exact free count, and no namespace is left unjudged.
//! Prints one TSV line for each; `print` turns `pods.tsv` into the
//! report's section.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::node::{median_of, once_text, perf};

const ALL: &str = "--all-netns";
const EXACT: &str = "--all-netns --exact";
const SS: &str = "ss -tan in each pod";
/// Fields: population, pods, TCP sockets per quiet pod, what, wall
/// median, fastest, slowest, peak RSS (KiB), judged, by bound, walked, not
/// judged, runs, answer.
const FIELDS: usize = 14;

#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    rss_kib: u64,
    counts: [f64; 4],
    answer: Option<String>,
}

pub fn main(args: &[&str]) -> Result<(), String> {
    let [name, check, rounds, prefix, count, kind] = args else {
        return Err("usage: pods NAME CHECK ROUNDS PREFIX COUNT two|busy".into());
    };
    let two = match *kind {
        "two" => true,
        "busy" => false,
        _ => return Err(format!("not a kind of node: {kind:?}")),
    };
    let rounds = crate::number(rounds, "ROUNDS")?.max(1);
    let count = crate::number(count, "COUNT")?;
    let per = ss_lines(&format!("{prefix}-{}", count.min(3)))?.1;
    // A busy node compares the two sweeps' cost: the same time for both.
    let default: &[&str] = if two {
        &[check, ALL]
    } else {
        &[check, ALL, "--top", "0", "-t", "3600"]
    };
    let exact = [*check, ALL, "--exact", "--top", "0", "-t", "3600"];
    let mut samples: [Samples; 3] = Default::default();
    for round in 0..=rounds {
        for k in 0..3 {
            let which = (round + k) % 3;
            let (ms, rss, text) = match which {
                0 => run(default)?,
                1 => run(&exact)?,
                _ => (each_pod(prefix, count)?, 0, String::new()),
            };
            if round == 0 {
                continue;
            }
            let s = &mut samples[which];
            s.ms.push(ms);
            s.rss_kib = s.rss_kib.max(rss);
            if which < 2 {
                let labels = ["netns", "netns_bounded", "netns_walked", "netns_unjudged"];
                for (c, label) in s.counts.iter_mut().zip(labels) {
                    *c = c.max(perf(&text, label).unwrap_or(0.0));
                }
            }
            if which == 0 && s.answer.is_none() {
                s.answer = if two {
                    wrong(&text, prefix)
                } else {
                    not_every_one(&text, count)
                };
            }
        }
    }
    for (what, s) in [ALL, EXACT, SS].iter().zip(samples.iter_mut()) {
        let n = s.ms.len();
        let median = median_of(&mut s.ms);
        let [judged, bounded, walked, unjudged] = s.counts;
        let answer = match (&s.answer, *what) {
            (_, w) if w != ALL => "-".to_string(),
            (Some(wrong), _) => wrong.replace('\t', " "),
            (None, _) => "right".to_string(),
        };
        println!(
            "{name}\t{count}\t{per}\t{what}\t{median:.3}\t{:.3}\t{:.3}\t{}\t{judged}\t{bounded}\t{walked}\t{unjudged}\t{n}\t{answer}",
            s.ms[0],
            s.ms[n - 1],
            s.rss_kib,
        );
    }
    Ok(())
}

/// One run: wall ms, peak RSS (KiB) and what it printed.
fn run(argv: &[&str]) -> Result<(f64, u64, String), String> {
    let (r, text) = once_text(argv)?;
    Ok((r.ms, r.rss_kib, text))
}

/// What is wrong with a default run's answer, if anything.
fn wrong(text: &str, prefix: &str) -> Option<String> {
    let status = text.lines().next().unwrap_or("");
    let churn = format!("EPHEMERAL CRITICAL - netns {prefix}-1");
    if !status.starts_with(&churn) {
        return Some(format!("status line: {status}"));
    }
    let warn = format!("  {prefix}-2: WARNING - connect ");
    if !text
        .lines()
        .any(|l| l.starts_with(&warn) && l.contains(" free ("))
    {
        return Some(format!("no line {warn:?}"));
    }
    match perf(text, "netns_unjudged") {
        Some(0.0) => None,
        n => Some(format!("netns_unjudged {n:?}")),
    }
}

/// What is wrong with a default run on a node where no pod can be
/// cleared by bound: each of the `pods` must have been walked (others of
/// the host may be cleared), none left.
fn not_every_one(text: &str, pods: usize) -> Option<String> {
    match (perf(text, "netns_unjudged"), perf(text, "netns_walked")) {
        (Some(0.0), Some(w)) if w >= pods as f64 => None,
        (unjudged, walked) => Some(format!(
            "netns_unjudged {unjudged:?}, netns_walked {walked:?}"
        )),
    }
}

/// `ss -tan` in every pod, one after the other: the sum of the wall times.
fn each_pod(prefix: &str, count: usize) -> Result<f64, String> {
    let mut total = 0.0;
    for i in 1..=count {
        total += ss_lines(&format!("{prefix}-{i}"))?.0;
    }
    Ok(total)
}

/// `ss -tan` in one namespace: wall ms and the sockets it listed.
fn ss_lines(ns: &str) -> Result<(f64, usize), String> {
    let started = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-tan"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("ss in {ns}: {e}"))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
    Ok((ms, lines.saturating_sub(1)))
}

/// The report's section on this node, if `pods.tsv` is there.
pub fn print(dir: &Path) -> Result<(), String> {
    let file = dir.join("pods.tsv");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .collect();
    if let Some(bad) = rows.iter().find(|f| f.len() != FIELDS) {
        return Err(format!("{}: not {FIELDS} fields: {bad:?}", file.display()));
    }
    println!("<!-- pods:start -->");
    println!("\n## A node where two pods matter: judged by bound, likeliest first\n");
    println!(
        "Pods on loopback, each in its namespace with the host's shared tables: PREFIX-1 \
         opens 40 connections a second into a 2,000-port range with `tcp_tw_reuse` 0 (full \
         within a minute), PREFIX-2 holds a tuple at 85 % of a 2,000-port range, every other \
         pod holds established connections far from any threshold. `--all-netns` runs as an \
         operator runs it (default options and `-t 10`); `--exact` walks every namespace; \
         `ss -tan` is run in each pod (`ip netns exec`, the sum). *answer* says whether every \
         default run named PREFIX-1 CRITICAL, listed PREFIX-2 WARNING with its free count and \
         left no namespace unjudged. *busy*: every pod holds 75 % of a 2,000-port range, so \
         none can be cleared by bound and every one is walked (*answer*: all walked, none \
         left; both sweeps with `-t 3600`, so that they compare in cost). Medians of the rounds. Other namespaces of the host (other work's) are judged too, mostly by bound.\n"
    );
    println!(
        "| population | pods × TCP sockets | what | median | fastest | slowest | peak RSS | \
         judged | by bound | walked | not judged | runs | answer | ÷ ss |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &rows {
        let ms = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        let ss = rows
            .iter()
            .find(|g| g[0] == f[0] && g[3] == SS)
            .map_or(f64::NAN, |g| g[4].parse().unwrap_or(f64::NAN));
        let rss = match ms(7) {
            0.0 => "-".to_string(),
            kib => format!("{:.1} MiB", kib / 1024.0),
        };
        println!(
            "| {} | {} × {} | {} | {} | {} | {} | {rss} | {} | {} | {} | {} | {} | {} | {:.3}× |",
            f[0],
            f[1],
            f[2],
            f[3],
            crate::fmt::ms(ms(4)),
            crate::fmt::ms(ms(5)),
            crate::fmt::ms(ms(6)),
            f[8],
            f[9],
            f[10],
            f[11],
            f[12],
            f[13],
            ms(4) / ss,
        );
    }
    println!("\n<!-- pods:end -->");
    Ok(())
}
