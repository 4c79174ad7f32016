//! The Markdown report of one benchmark run: the tables of times, peak
//! RSS, ratios of check_ephemeral to each other command, the kernel's
//! share, the cost of `--processes` and the targets met and missed, each
//! with the prose that says how it was measured, and the formatting of
//! values the other sections share. The numbers come from `results`, the
//! targets and their judgements from `targets`, perf's samples and their
//! section from `profile`, the section on where the time goes from
//! `where_time_goes`.

use std::path::Path;

use crate::fmt::{bound, ms, value};
use crate::profile;
use crate::results::{
    self, CHECK, KERNEL_CHECK, KERNEL_CHECK_SIDE, KERNEL_CONNECTED, KERNEL_MARKS, KERNEL_SS,
    KERNEL_WALK, NO_FORECAST, PIPELINE, PROC, PROCESSES, Population, SS, Sample, TOOLS, UPSTREAM,
};
use crate::targets::{self, Judged};
use crate::where_time_goes;

pub fn main(args: &[&str]) -> Result<(), String> {
    let [file, when] = args else {
        return Err("usage: report FILE DATE".into());
    };
    let pops = results::read(file)?;
    let names = || pops.iter().map(|p| p.name.as_str());
    print_intro(&pops, when);
    print_wall(&pops);
    print_cpu(&pops);
    print_kernel(&pops);
    print_rss(&pops);
    print_processes(&pops);
    print_costs(&pops);
    let dir = Path::new(file).parent().unwrap_or(Path::new("."));
    let profiles = profile::read_all(dir, names());
    profile::print(names(), &profiles);
    crate::node::print(dir, nproc())?;
    let judged = targets::judge(&pops);
    println!("\n## Targets\n");
    if judged.is_empty() {
        println!("(set for the full run only)");
        return Ok(());
    }
    print_targets(&judged);
    where_time_goes::print(&pops, &judged, &profiles);
    Ok(())
}

fn print_intro(pops: &[Population], when: &str) {
    println!("# Benchmark results\n");
    println!(
        "Machine: {} CPUs (`nproc`), {}, Linux {}. Run {when}.\n",
        nproc(),
        cpu_model(),
        kernel()
    );
    let range = pops.first().map_or((0, 0), |p| p.range);
    println!(
        "Each population lives in a private network namespace on loopback, port range \
         {}-{} and `tcp_tw_reuse` 0 (so that building a population never takes over its own \
         TIME_WAIT entries), made and deleted by `bench/run` (see \
         `bench/harness/src/populate.rs` for the populations). Every command runs once per round, rounds interleaved and the order \
         rotating from round to round, after \
         one warm-up round (the kernel-share probes below run in the same rounds); times are medians of wall time from spawn to exit, CPU is \
         user + system time, peak RSS the largest `ru_maxrss` over the rounds (for the \
         pipeline, ss's and awk's added; every figure includes the ~2 MiB a freshly \
         spawned process starts with). The machine is shared: the first table gives the \
         1-minute load average before and after each population, and the TCP sockets of \
         all namespaces of the host (TIME_WAIT included, from /proc/slabinfo), which every \
         walk of the kernel's tables visits.\n",
        range.0, range.1
    );
    println!("Commands:\n");
    println!("1. `check_ephemeral` (release build, default options)");
    println!("2. `ss -tan state all '( sport >= :LO and sport <= :HI )' > /dev/null` — the floor");
    println!(
        "3. `ss --numeric --tcp state connected '( sport >= :LO and sport <= :HI )' | awk ...` \
         grouping by (local address, peer)"
    );
    println!("4. `cat /proc/net/tcp /proc/net/tcp6 > /dev/null`");
    println!("5. `check_ephemeral --processes` (only in \"Cost of --processes\")\n");
}

fn print_wall(pops: &[Population]) {
    println!("## Wall time (median, ms) and ratios of check_ephemeral to each\n");
    println!(
        "| population | TCP in range (before/after) | UDP in range | TCP in namespace | TCP on host | \
         runs | check_ephemeral | ss (floor) | ss + awk | /proc/net/tcp* | ÷ floor | ÷ ss+awk | ÷ /proc | load |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in pops {
        let c = p.sample(CHECK);
        let cell = |s: Sample| format!("{} ({}-{})", ms(s.median_ms), ms(s.min_ms), ms(s.max_ms));
        let ratio = |t: &str| format!("{:.2}×", c.median_ms / p.median(t));
        println!(
            "| {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} → {} |",
            p.name,
            p.tcp_before,
            p.tcp_after,
            p.udp,
            p.tcp_total,
            p.host_tcp,
            c.runs,
            cell(c),
            cell(p.sample(SS)),
            cell(p.sample(PIPELINE)),
            cell(p.sample(PROC)),
            ratio(SS),
            ratio(PIPELINE),
            ratio(PROC),
            p.load.0,
            p.load.1,
        );
    }
    println!("\nIn parentheses: fastest and slowest timed run.\n");
}

fn print_cpu(pops: &[Population]) {
    println!("## CPU time (median, ms, user + system) and ratios\n");
    println!(
        "| population | check_ephemeral | ss (floor) | ss + awk | /proc/net/tcp* | ÷ floor | ÷ ss+awk | ÷ /proc |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in pops {
        let cpu = |t: &str| p.sample(t).cpu_ms;
        let c = cpu(CHECK);
        let ratio = |t: &str| format!("{:.2}×", c / cpu(t));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            ms(c),
            ms(cpu(SS)),
            ms(cpu(PIPELINE)),
            ms(cpu(PROC)),
            ratio(SS),
            ratio(PIPELINE),
            ratio(PROC),
        );
    }
}

fn print_kernel(pops: &[Population]) {
    println!("\n## The kernel's share (median wall ms)\n");
    println!(
        "The same sock_diag requests each command sends, with the replies only drained \
         (`bench/harness/src/kernel.rs`). check_ephemeral sends one request for the sockets \
         that mark their port (the kernel walks the listener table, the bind table for \
         bound-only sockets and the established table) and one for the connected and \
         TIME_WAIT sockets (the established table again), both covering IPv4 and IPv6, plus \
         one small UDP request per family. They are timed twice: \"in turn\" on one socket, \
         and \"side by side\" with the two TCP requests on two sockets drained by two threads \
         at once, as the check once sent them when it judged one namespace with `--threads 2` \
         or more (it now always sends them in turn, and the targets judge against that). ss 6.1 sends one request per family, each \
         walking the listener and established tables; it never asks for bound-only \
         sockets, so it never walks the bind table. Every walk visits every socket of \
         the host's shared tables, whatever its port or namespace. Two more requests \
         split a walk's cost: one for closed sockets alone, which walks only the \
         established table and finds nothing there (\"established-table walk\": the cost \
         of visiting the sockets, none handed over), and one for bound-only sockets alone \
         (the bind table and the established table; \"bind-table walk\" is its time minus \
         the first's).\n",
    );
    println!(
        "| population | check_ephemeral's requests in turn | side by side | marks | \
         connected | established-table walk | bind-table walk | ss's requests | \
         check_ephemeral | its own work | ss | its own work |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in pops {
        let k = p.kernel_check();
        let kss = p.median(KERNEL_SS);
        let c = p.median(CHECK);
        let s = p.median(SS);
        let side = p.median(KERNEL_CHECK_SIDE);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            ms(p.median(KERNEL_CHECK)),
            if side > 0.0 { ms(side) } else { "-".into() },
            ms(p.median(KERNEL_MARKS)),
            ms(p.median(KERNEL_CONNECTED)),
            ms(p.median(KERNEL_WALK)),
            ms(p.bind_walk()),
            ms(kss),
            ms(c),
            ms(c - k),
            ms(s),
            ms(s - kss),
        );
    }
    println!(
        "\n\"Its own work\" is the command's median minus its requests' median (for \
         check_ephemeral, in turn, as it sends them by default), both taken on a shared \
         machine: a few ms either way is noise, and a negative value means no work of its \
         own that this run could measure."
    );
}

fn print_rss(pops: &[Population]) {
    println!("\n## Peak RSS (MiB)\n");
    println!("| population | check_ephemeral | ss (floor) | ss + awk | cat /proc/net/tcp* |");
    println!("|---|---|---|---|---|");
    for p in pops {
        let cells: Vec<String> = TOOLS
            .iter()
            .map(|t| format!("{:.1}", p.sample(t).rss_mib()))
            .collect();
        println!("| {} | {} |", p.name, cells.join(" | "));
    }
}

fn print_processes(pops: &[Population]) {
    println!("\n## Cost of --processes\n");
    println!(
        "`check_ephemeral --processes` timed in the same rounds as the commands above, on \
         the same population: it reads the socket table once more for the inodes of the \
         listed pools and then the link of every open file on the host.\n"
    );
    println!(
        "| population | open files on host | check_ephemeral (ms) | --processes (ms) | ÷ | \
         check_ephemeral RSS (MiB) | --processes RSS (MiB) | ÷ |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in pops {
        let c = p.sample(CHECK);
        let x = p.sample(PROCESSES);
        println!(
            "| {} | {} | {} | {} | {:.2}× | {:.1} | {:.1} | {:.2}× |",
            p.name,
            p.open_files,
            ms(c.median_ms),
            ms(x.median_ms),
            x.median_ms / c.median_ms,
            c.rss_mib(),
            x.rss_mib(),
            x.rss_mib() / c.rss_mib(),
        );
    }
    println!(
        "\nOpen files: the first field of `/proc/sys/fs/file-nr` when the population was \
         measured. Every connection of a population is held open by a forked worker \
         process of the harness, so the pools listed have many sockets to attribute and \
         each of them is an open file whose link the walk reads: the realistic worst case, \
         a host whose sockets in the range all belong to live processes."
    );
}

/// The forecast, and the upstream pools, may each add at most this share
/// to the check's time at 300k.
const COST_MOST: f64 = 0.05;

/// One option's cost: the check with it against the check without, timed
/// in the same rounds on the same population.
struct Cost {
    title: &'static str,
    without: &'static str,
    with: &'static str,
    what: &'static str,
}

const COSTS: [Cost; 2] = [
    Cost {
        title: "Cost of the forecast",
        without: NO_FORECAST,
        with: CHECK,
        what: "`check_ephemeral` (which forecasts every connect and bind pool) against \
               `check_ephemeral --no-forecast` (the level alone)",
    },
    Cost {
        title: "Cost of the upstream pools",
        without: CHECK,
        with: UPSTREAM,
        what: "`check_ephemeral --upstream-nat gcp` (every connection also counted in the \
               provider NAT's pool of its destination) against `check_ephemeral`",
    },
];

fn print_costs(pops: &[Population]) {
    for cost in &COSTS {
        print_cost(pops, cost);
    }
}

fn print_cost(pops: &[Population], cost: &Cost) {
    let measured: Vec<&Population> = pops
        .iter()
        .filter(|p| p.sample(cost.without).runs > 0 && p.sample(cost.with).runs > 0)
        .collect();
    if measured.is_empty() {
        return;
    }
    println!("\n## {}\n", cost.title);
    println!(
        "{}, timed in the same rounds on the same population. Target: at most {:.0} % \
         more at 300k sockets.\n",
        cost.what,
        COST_MOST * 100.0
    );
    println!(
        "| population | without (ms) | with (ms) | wall added | without CPU (ms) | \
         with CPU (ms) | CPU added |"
    );
    println!("|---|---|---|---|---|---|---|");
    let added = |with: f64, without: f64| (with - without) / without;
    for p in &measured {
        let (c, n) = (p.sample(cost.with), p.sample(cost.without));
        println!(
            "| {} | {} | {} | {:+.1} % | {} | {} | {:+.1} % |",
            p.name,
            ms(n.median_ms),
            ms(c.median_ms),
            100.0 * added(c.median_ms, n.median_ms),
            ms(n.cpu_ms),
            ms(c.cpu_ms),
            100.0 * added(c.cpu_ms, n.cpu_ms),
        );
    }
    if let Some(p) = measured.iter().find(|p| p.name == "300k") {
        let cpu = added(p.sample(cost.with).cpu_ms, p.sample(cost.without).cpu_ms);
        let verdict = if cpu <= COST_MOST { "met" } else { "missed" };
        let what = if cpu <= 0.0 {
            format!(
                "{:+.1} % of CPU time, no cost this run could measure",
                100.0 * cpu
            )
        } else {
            format!("{:+.1} % of CPU time", 100.0 * cpu)
        };
        println!(
            "\nAt 300k it adds {what}: target {verdict}. CPU time is the figure judged: the \
             wall times of two commands a few ms apart move by as much from round to round \
             on a shared machine."
        );
    }
}

fn print_targets(judged: &[Judged]) {
    println!(
        "\"Kernel alone\" is the same ratio with check_ephemeral's time replaced by the time \
         of its sock_diag requests alone (previous table): what it would reach with no \
         work of its own at all. \"Handed over once\" replaces it with the time of the \
         connected request alone: the kernel handing over the sockets in the range in one \
         walk, the least any reading of the connect pools needs, with no marks (no \
         listeners, no bound-only sockets, no explicit binds) and no work of its own. \
         Targets against the requests drained judge against them sent in turn, as the \
         check sends them by default.\n"
    );
    println!("| target | measured | kernel alone | handed over once | met |");
    println!("|---|---|---|---|---|");
    for j in judged {
        let t = j.target;
        let or_dash = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| value(t, v));
        println!(
            "| {}: {} | {} | {} | {} | {} |",
            t.population,
            bound(t),
            value(t, j.measured),
            or_dash(j.kernel_alone),
            or_dash(j.handed_over_once),
            if j.met { "yes" } else { "**no**" }
        );
    }
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
