//! The report's section on where the time goes, with this run's numbers:
//! the kernel's walks, what the walks that exactness costs come to, why
//! the targets missed are missed. Each claim about a target is made only
//! as far as its judgement (`targets`) and this run's estimates bear it
//! out, so the prose stays true whatever the numbers.

use std::collections::BTreeMap;

use crate::fmt::{bound, most, ms, value};
use crate::profile::{self, Profile};
use crate::results::{CHECK, KERNEL_CONNECTED, KERNEL_WALK, PIPELINE, Population, START};
use crate::targets::{self, Judged, Kind, Target};

/// The section, populations from `pops`, targets from `judged`.
pub fn print(pops: &[Population], judged: &[Judged], profiles: &BTreeMap<String, Profile>) {
    let find = |name: &str| pops.iter().find(|p| p.name == name);
    println!("\n## Where the time goes\n");
    println!(
        "check_ephemeral asks the kernel only for sockets with the local port in the range \
         (filtered in the kernel), parses the records in place and keeps per-tuple and \
         per-address state in bit sets: its own work (process start, parsing, the model, \
         the text) is the \"its own work\" column above, and its peak RSS does not grow with \
         the number of sockets (these runs also held a buffer of at most 64k records, \
         3.5 MiB, while the two TCP walks could run side by side). What is left is the kernel's share:\n"
    );
    println!(
        "- Every sock_diag dump walks the kernel's hash tables whole: every socket of the \
         host, in the range or not, in this network namespace or any other, costs the walk \
         a visit, whether it is returned or not."
    );
    println!(
        "- Both TCP requests walk the established table. Sent side by side for one \
         namespace (as `--threads 2` or more once did), on two sockets read by two \
         threads, the kernel walks a dump's tables as its reader asks for more, so the pair \
         takes about the time of the longer request (\"side by side\" in the kernel's \
         share) rather than their sum (\"in turn\"). Two walks of the same table at once \
         cost more CPU time than the same walks in turn (they take the same bucket locks), \
         and the check's parsing of the connected walk cannot overlap it, so the check \
         sends them in turn: the light choice for a check that runs every minute on busy \
         hosts."
    );
    if let (Some(p), Some(prof)) = (find("300k"), profiles.get("300k")) {
        print_profile_note(p, prof);
    }
    if let Some(p) = find("web") {
        print_web(p, judged);
    }
    if let (Some(p), Some(j)) = (find("300k"), targets::find(judged, "300k", Kind::Pipeline))
        && !j.met
    {
        print_pipeline(p, j);
    }
    if let (Some(p), Some(j)) = (find("1k"), targets::find(judged, "1k", Kind::Wall)) {
        print_empty_tables(p, j);
    }
    print_own_floor(pops, judged);
    println!(
        "\nThe tables are sized at boot from the memory (here {} established-table \
         buckets, `net.ipv4.tcp_ehash_entries`) and shared by all namespaces; a namespace \
         made from one where `net.ipv4.tcp_child_ehash_entries` is set gets an established \
         table of its own, which shrinks both the empty-table cost and the cost of other \
         namespaces' sockets (the bind table stays shared): the node populations above \
         measure it.",
        ehash_entries()
    );
}

/// Each population whose time is more than its target above the kernel's
/// own cost of the answer: how much is the check's own work, and how much
/// of that is starting and ending a process at all.
fn print_own_floor(pops: &[Population], judged: &[Judged]) {
    for j in judged
        .iter()
        .filter(|j| j.target.kind == Kind::Kernel && !j.met)
    {
        let Some(p) = pops.iter().find(|p| p.name == j.target.population) else {
            continue;
        };
        let own = p.median(CHECK) - p.kernel_check();
        let start = p.median(START);
        println!(
            "- {}: check_ephemeral takes {} its requests drained, above the target of {}: \
             its own work comes to {} ms, of which starting and ending a process that does \
             nothing (`check_ephemeral --version`) takes {} ms. The probe times the \
             requests on sockets the harness already has, in a process already running.",
            p.name,
            value(j.target, j.measured),
            most(j.target),
            ms(own),
            ms(start),
        );
    }
}

/// What perf says of the largest mix population.
fn print_profile_note(p: &Population, prof: &Profile) {
    let Some(first) = prof.top.first() else {
        return;
    };
    let share = format!(
        "at {} sockets in the range {:.0}% of check_ephemeral's samples are in the kernel",
        p.tcp_after, prof.kernel
    );
    if first.in_kernel && first.name == profile::TABLE_WALK {
        println!(
            "- The profile says the same: {share}, {:.0}% in `{}` alone, the function that \
             walks the tables.",
            first.percent, first.name
        );
    } else {
        println!(
            "- In the profile, {share}; the function with the most samples is `{}`{} with \
             {:.0}%.",
            first.name,
            if first.in_kernel { "" } else { " (user space)" },
            first.percent
        );
    }
}

/// The walks that exactness costs, on the web population, and what
/// leaving them out would come to against the web targets missed.
fn print_web(p: &Population, judged: &[Judged]) {
    let walk = p.median(KERNEL_WALK);
    let bind = p.bind_walk();
    let c = p.median(CHECK);
    print!(
        "- To know which ports `bind()` holds, check_ephemeral needs the bound-only \
         sockets (the bind table, which neither /proc nor ss 6.1 ever shows) and the \
         explicitly bound connected ones (a second pass over the established table with \
         the `INET_DIAG_BC_AUTO` filter, since no reply attribute tells an explicit port \
         from a chosen one): listener + bind + 2 × established table walks, against \
         2 × (listener + established) for `ss` 6.1. To find the bound-only sockets the \
         kernel visits every socket of the namespace that holds a port, whatever the port, \
         so every population pays for the bind-table walk (its column above). On the web \
         population one walk of the established table costs {} ms with nothing handed \
         over, and the walk of the bind table {} ms: its namespace holds {} TCP sockets \
         (the accepted connections, all owners of port 80's bind bucket, the clients bound \
         to explicit ports below the range, the backend connections and the two \
         listeners), and the kernel visits each of them to see whether it is bound-only.",
        ms(walk),
        ms(bind),
        p.tcp_total,
    );
    // The walks take time, not memory: the web targets on time against
    // other commands (leaving a walk out would change the kernel's own
    // floor too).
    let web: Vec<&Judged> = judged
        .iter()
        .filter(|j| {
            j.target.population == p.name && !matches!(j.target.kind, Kind::Rss | Kind::Kernel)
        })
        .collect();
    let missed: Vec<&Target> = web.iter().filter(|j| !j.met).map(|j| j.target).collect();
    if missed.is_empty() {
        if !web.is_empty() {
            println!(
                " check_ephemeral meets {} with both walks.",
                the_targets(&web.iter().map(|j| j.target).collect::<Vec<_>>())
            );
        } else {
            println!();
        }
        return;
    }
    // The estimates: check_ephemeral's time less the walks it would save.
    let without_bind = c - bind.max(0.0);
    let without_both = without_bind - walk.max(0.0);
    let against = |ts: &[&Target], estimate: f64| -> Vec<String> {
        ts.iter()
            .map(|t| {
                let v = t.of_ms(p, estimate).unwrap_or(f64::NAN);
                let verdict = if t.meets(v) { "within" } else { "still above" };
                format!("{}, {verdict} the target of {}", ratio_to(t, v), most(t))
            })
            .collect()
    };
    let meets = |t: &Target, estimate: f64| t.of_ms(p, estimate).is_some_and(|v| t.meets(v));
    print!(
        " Without the bind-table walk check_ephemeral ({} ms) would come to about {} ms: {}",
        ms(c),
        ms(without_bind),
        against(&missed, without_bind).join(", and ")
    );
    let still: Vec<&Target> = missed
        .iter()
        .copied()
        .filter(|t| !meets(t, without_bind))
        .collect();
    if !still.is_empty() {
        print!(
            ". Without the second walk of the established table as well it would come to \
             about {} ms: {}",
            ms(without_both),
            against(&still, without_both).join(", and ")
        );
    }
    print!(".");
    let by_bind: Vec<&Target> = missed
        .iter()
        .copied()
        .filter(|t| meets(t, without_bind))
        .collect();
    let by_both: Vec<&Target> = still
        .iter()
        .copied()
        .filter(|t| meets(t, without_both))
        .collect();
    let never: Vec<&Target> = still
        .iter()
        .copied()
        .filter(|t| !meets(t, without_both))
        .collect();
    let mut ways = Vec::new();
    if !by_bind.is_empty() {
        ways.push(format!(
            "meeting {} that way means leaving bound-only sockets out of the model",
            the_targets(&by_bind)
        ));
    }
    if !by_both.is_empty() {
        ways.push(format!(
            "meeting {} means leaving bound-only sockets and explicit binds out of the model",
            the_targets(&by_both)
        ));
    }
    if !ways.is_empty() {
        print!(
            " {}, that is predicting free ports that `bind()` and `connect()` would refuse. \
             check_ephemeral keeps them.",
            capitalized(&ways.join(", and "))
        );
    }
    if !never.is_empty() {
        print!(
            " Even without both walks check_ephemeral would miss {}.",
            the_targets(&never)
        );
    }
    println!();
}

/// Why the 300k population misses its target against ss + awk, apart
/// from what exactness costs.
fn print_pipeline(p: &Population, j: &Judged) {
    let t = j.target;
    let n = p.tcp_after;
    let pipeline = p.median(PIPELINE);
    let k = p.kernel_check();
    let once = p.median(KERNEL_CONNECTED);
    let c = p.median(CHECK);
    let budget = t.most * pipeline;
    print!(
        "- At {n} sockets in the range the kernel's share alone is {} ms, {:.2}× the \
         ss + awk pipeline ({} ms), against a target of {}.",
        ms(k),
        k / pipeline,
        ms(pipeline),
        bound(t),
    );
    let handing = format!(
        "the connected request alone, the kernel handing over the {n} sockets once with \
         no marks, takes {} ms, {:.2}× the pipeline",
        ms(once),
        once / pipeline,
    );
    if once > budget {
        print!(" Even {handing}: more than {} by itself.", most(t));
    } else {
        print!(
            " {}: {} leaves {} ms for the listeners, bound-only sockets, explicit binds, \
             process start, parsing and the model together, which take {} ms here.",
            capitalized(&handing),
            most(t),
            ms(budget - once),
            ms(c - once),
        );
    }
    let least = c - p.bind_walk().max(0.0) - p.median(KERNEL_WALK).max(0.0);
    let r = least / pipeline;
    if t.meets(r) {
        println!(
            " Without the bind-table walk and the second walk of the established table \
             check_ephemeral would come to about {} ms, {r:.2}× the pipeline, within the \
             target.",
            ms(least),
        );
    } else {
        println!(
            " Even without the bind-table walk and the second walk of the established table \
             check_ephemeral would come to about {} ms, {r:.2}× the pipeline: still above \
             {}.",
            ms(least),
            most(t),
        );
    }
}

/// What even the nearly empty tables cost, against the 1k wall target.
fn print_empty_tables(p: &Population, j: &Judged) {
    let t = j.target;
    let k = p.kernel_check();
    let start = p.median(START);
    let c = p.sample(CHECK);
    print!(
        "- At {} sockets the walks of the nearly empty tables ({} established-table \
         buckets twice, the bind and listener tables once) take {} ms, and starting \
         and ending check_ephemeral with nothing to do (`--version`) {} ms: {} ms \
         before any work of its own, against a target of {} ({} ms measured, from {} \
         ms in the fastest run to {} ms in the slowest).",
        p.tcp_after,
        ehash_entries(),
        ms(k),
        ms(start),
        ms(k + start),
        most(t),
        ms(c.median_ms),
        ms(c.min_ms),
        ms(c.max_ms),
    );
    if !t.meets(c.min_ms) {
        println!(" Even the fastest run misses it: the target is missed in every run.");
    } else if t.meets(c.max_ms) {
        println!(" Even the slowest run meets it: the target is met in every run.");
    } else {
        println!(
            " So close to the target, the load of the machine decides from run to run \
             whether it is met."
        );
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn ehash_entries() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map_or_else(|| "?".into(), |n| n.abs().to_string())
}

/// A ratio target's value with what it divides by, as in "0.44× ss + awk".
fn ratio_to(t: &Target, v: f64) -> String {
    match t.kind {
        Kind::Kernel => format!("{v:.2}× its requests drained"),
        Kind::Floor => format!("{v:.2}× the ss floor"),
        Kind::Pipeline => format!("{v:.2}× the ss + awk pipeline"),
        Kind::Wall | Kind::Rss => value(t, v),
    }
}

/// "the target of ≤ 0.2× /proc/net/tcp", "the targets of ≤ 1.0× the ss
/// floor and ≤ 0.2× /proc/net/tcp".
fn the_targets(ts: &[&Target]) -> String {
    let bounds: Vec<String> = ts.iter().map(|t| bound(t)).collect();
    match bounds.as_slice() {
        [one] => format!("the target of {one}"),
        [rest @ .., last] => format!("the targets of {} and {last}", rest.join(", ")),
        [] => String::new(),
    }
}
