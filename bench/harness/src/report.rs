//! The Markdown table of one benchmark run: times, peak RSS, ratios of
//! check_ephemeral to each other command, the cost of `--processes`, the
//! machine, and which targets the run met.

use std::collections::BTreeMap;

const TOOLS: [&str; 4] = ["check_ephemeral", "ss", "ss+awk", "proc"];
const PROCESSES: &str = "check+processes";
const START: &str = "check --version";
const FULL_RUN: [&str; 5] = ["1k", "10k", "100k", "300k", "web"];

const KERNEL_CHECK: &str = "kernel: check_ephemeral's requests";
const KERNEL_MARKS: &str = "kernel: marks request";
const KERNEL_CONNECTED: &str = "kernel: connected request";
const KERNEL_SS: &str = "kernel: ss's requests";
const KERNEL_WALK: &str = "kernel: established-table walk";
const KERNEL_BOUND: &str = "kernel: bound-only request";

#[derive(Clone, Copy, Default)]
struct Sample {
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    rss_kib: u64,
    runs: usize,
    cpu_ms: f64,
}

#[derive(Default)]
struct Population {
    range: (u16, u16),
    tcp_before: usize,
    tcp_after: usize,
    udp: usize,
    tcp_total: usize,
    load: (String, String),
    /// TCP sockets of all namespaces (TIME_WAIT not counted) at the start.
    host_tcp: String,
    /// Open files of the host at the start (/proc/sys/fs/file-nr).
    open_files: String,
    tools: BTreeMap<String, Sample>,
}

pub fn main(args: &[&str]) -> Result<(), String> {
    let [file, when] = args else {
        return Err("usage: report FILE DATE".into());
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let mut order: Vec<String> = Vec::new();
    let mut pops: BTreeMap<String, Population> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 18 {
            return Err(format!("{file}: bad line {line:?}"));
        }
        let num = |i: usize| {
            f[i].parse::<f64>()
                .map_err(|_| format!("bad number {:?}", f[i]))
        };
        if !pops.contains_key(f[0]) {
            order.push(f[0].to_string());
        }
        let p = pops.entry(f[0].to_string()).or_default();
        p.range = (num(1)? as u16, num(2)? as u16);
        p.tcp_before = num(3)? as usize;
        p.tcp_after = num(4)? as usize;
        p.udp = num(5)? as usize;
        p.tcp_total = num(6)? as usize;
        p.load = (f[14].to_string(), f[15].to_string());
        p.host_tcp = f[16].to_string();
        p.open_files = f[17].to_string();
        p.tools.insert(
            f[7].to_string(),
            Sample {
                median_ms: num(8)?,
                min_ms: num(9)?,
                max_ms: num(10)?,
                rss_kib: num(11)? as u64,
                runs: num(12)? as usize,
                cpu_ms: num(13)?,
            },
        );
    }
    let get = |p: &Population, t: &str| p.tools.get(t).copied().unwrap_or_default();

    println!("# Benchmark results\n");
    println!(
        "Machine: {} CPUs (`nproc`), {}, Linux {}. Run {when}.\n",
        nproc(),
        cpu_model(),
        kernel()
    );
    let range = order.first().map_or((0, 0), |n| pops[n].range);
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

    println!("## Wall time (median, ms) and ratios of check_ephemeral to each\n");
    println!(
        "| population | TCP in range (before/after) | UDP in range | TCP in namespace | TCP on host | \
         runs | check_ephemeral | ss (floor) | ss + awk | /proc/net/tcp* | ÷ floor | ÷ ss+awk | ÷ /proc | load |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for name in &order {
        let p = &pops[name];
        let c = get(p, "check_ephemeral");
        let cell = |s: Sample| format!("{} ({}-{})", ms(s.median_ms), ms(s.min_ms), ms(s.max_ms));
        let ratio = |t: &str| format!("{:.2}×", c.median_ms / get(p, t).median_ms);
        println!(
            "| {name} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} → {} |",
            p.tcp_before,
            p.tcp_after,
            p.udp,
            p.tcp_total,
            p.host_tcp,
            c.runs,
            cell(c),
            cell(get(p, "ss")),
            cell(get(p, "ss+awk")),
            cell(get(p, "proc")),
            ratio("ss"),
            ratio("ss+awk"),
            ratio("proc"),
            p.load.0,
            p.load.1,
        );
    }
    println!("\nIn parentheses: fastest and slowest timed run.\n");

    println!("## CPU time (median, ms, user + system) and ratios\n");
    println!(
        "| population | check_ephemeral | ss (floor) | ss + awk | /proc/net/tcp* | ÷ floor | ÷ ss+awk | ÷ /proc |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for name in &order {
        let p = &pops[name];
        let c = get(p, "check_ephemeral").cpu_ms;
        let ratio = |t: &str| format!("{:.2}×", c / get(p, t).cpu_ms);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            ms(c),
            ms(get(p, "ss").cpu_ms),
            ms(get(p, "ss+awk").cpu_ms),
            ms(get(p, "proc").cpu_ms),
            ratio("ss"),
            ratio("ss+awk"),
            ratio("proc"),
        );
    }

    println!("\n## The kernel's share (median wall ms)\n");
    println!(
        "The same sock_diag requests each command sends, with the replies only drained \
         (`bench/harness/src/kernel.rs`). check_ephemeral sends one request for the sockets \
         that mark their port (the kernel walks the listener table, the bind table for \
         bound-only sockets and the established table) and one for the connected and \
         TIME_WAIT sockets (the established table again), both covering IPv4 and IPv6, plus \
         one small UDP request per family. ss 6.1 sends one request per family, each \
         walking the listener and established tables; it never asks for bound-only \
         sockets, so it never walks the bind table. Every walk visits every socket of \
         the host's shared tables, whatever its port or namespace. Two more requests \
         split a walk's cost: one for closed sockets alone, which walks only the \
         established table and finds nothing there (\"established-table walk\": the cost \
         of visiting the sockets, none handed over), and one for bound-only sockets alone \
         (the bind table and the established table; \"bind-table walk\" is its time minus \
         the first's).\n"
    );
    println!(
        "| population | check_ephemeral's requests | marks | connected | \
         established-table walk | bind-table walk | ss's requests | \
         check_ephemeral | its own work | ss | its own work |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for name in &order {
        let p = &pops[name];
        let k = get(p, KERNEL_CHECK).median_ms;
        let kss = get(p, KERNEL_SS).median_ms;
        let c = get(p, "check_ephemeral").median_ms;
        let s = get(p, "ss").median_ms;
        let walk = get(p, KERNEL_WALK).median_ms;
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ms(k),
            ms(get(p, KERNEL_MARKS).median_ms),
            ms(get(p, KERNEL_CONNECTED).median_ms),
            ms(walk),
            ms(get(p, KERNEL_BOUND).median_ms - walk),
            ms(kss),
            ms(c),
            ms(c - k),
            ms(s),
            ms(s - kss),
        );
    }
    println!(
        "\n\"Its own work\" is the command's median minus its requests' median, both taken \
         on a shared machine: a few ms either way is noise, and a negative value means no \
         work of its own that this run could measure."
    );

    println!("\n## Peak RSS (MiB)\n");
    println!("| population | check_ephemeral | ss (floor) | ss + awk | cat /proc/net/tcp* |");
    println!("|---|---|---|---|---|");
    for name in &order {
        let p = &pops[name];
        let cells: Vec<String> = TOOLS
            .iter()
            .map(|t| format!("{:.1}", get(p, t).rss_kib as f64 / 1024.0))
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }

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
    for name in &order {
        let p = &pops[name];
        let c = get(p, "check_ephemeral");
        let x = get(p, PROCESSES);
        let mib = |s: Sample| s.rss_kib as f64 / 1024.0;
        println!(
            "| {name} | {} | {} | {} | {:.2}× | {:.1} | {:.1} | {:.2}× |",
            p.open_files,
            ms(c.median_ms),
            ms(x.median_ms),
            x.median_ms / c.median_ms,
            mib(c),
            mib(x),
            mib(x) / mib(c),
        );
    }
    println!(
        "\nOpen files: the first field of `/proc/sys/fs/file-nr` when the population was \
         measured. Every connection of a population is held open by a forked worker \
         process of the harness, so the pools listed have many sockets to attribute and \
         each of them is an open file whose link the walk reads: the realistic worst case, \
         a host whose sockets in the range all belong to live processes."
    );

    let dir = std::path::Path::new(file)
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let profiles: BTreeMap<String, Profile> = order
        .iter()
        .filter_map(|n| {
            Profile::read(&dir.join(format!("profile-{n}.txt"))).map(|p| (n.clone(), p))
        })
        .collect();
    print_profiles(&order, &profiles);
    println!("\n## Targets\n");
    // (target, measured, kernel alone, sockets handed over once, met)
    let mut targets: Vec<(String, String, String, String, bool)> = Vec::new();
    // The targets are set for the full run's populations only.
    for name in order.iter().filter(|n| FULL_RUN.contains(&n.as_str())) {
        let p = &pops[name];
        let c = get(p, "check_ephemeral");
        let k = get(p, KERNEL_CHECK).median_ms;
        let once = get(p, KERNEL_CONNECTED).median_ms;
        let mut ratio = |t: &str, most: f64| {
            let other = get(p, t).median_ms;
            let what = match t {
                "ss" => format!("{name}: ≤ {most:.1}× the ss floor"),
                "ss+awk" => format!("{name}: ≤ {most:.2}× ss + awk"),
                _ => format!("{name}: ≤ {most:.1}× /proc/net/tcp"),
            };
            let r = c.median_ms / other;
            targets.push((
                what,
                format!("{r:.2}×"),
                format!("{:.2}×", k / other),
                format!("{:.2}×", once / other),
                r <= most,
            ));
        };
        ratio("ss", 1.0);
        if name == "100k" || name == "300k" {
            ratio("ss+awk", 0.25);
            ratio("proc", 0.5);
        }
        if name == "web" {
            ratio("proc", 0.2);
        }
        if name == "300k" {
            let mib = c.rss_kib as f64 / 1024.0;
            targets.push((
                format!("{name}: peak RSS ≤ 16 MiB"),
                format!("{mib:.1} MiB"),
                "-".into(),
                "-".into(),
                mib <= 16.0,
            ));
        }
        if name == "1k" {
            targets.push((
                format!("{name}: ≤ 5 ms wall"),
                format!("{} ms", ms(c.median_ms)),
                format!("{} ms", ms(k)),
                format!("{} ms", ms(once)),
                c.median_ms <= 5.0,
            ));
        }
    }
    if targets.is_empty() {
        println!("(set for the full run only)");
        return Ok(());
    }
    println!(
        "\"Kernel alone\" is the same ratio with check_ephemeral's time replaced by the time \
         of its sock_diag requests alone (previous table): what it would reach with no \
         work of its own at all. \"Handed over once\" replaces it with the time of the \
         connected request alone: the kernel handing over the sockets in the range in one \
         walk, the least any reading of the connect pools needs, with no marks (no \
         listeners, no bound-only sockets, no explicit binds) and no work of its own.\n"
    );
    println!("| target | measured | kernel alone | handed over once | met |");
    println!("|---|---|---|---|---|");
    for (what, got, floor, once, met) in targets {
        println!(
            "| {what} | {got} | {floor} | {once} | {} |",
            if met { "yes" } else { "**no**" }
        );
    }
    why(&order, &pops, &profiles);
    Ok(())
}

/// perf's samples of check_ephemeral runs, by function.
struct Profile {
    /// Share of the samples in the kernel, percent.
    kernel: f64,
    /// The functions with the most samples: name, percent, in the kernel.
    top: Vec<(String, f64, bool)>,
}

impl Profile {
    /// Reads `perf report -q --sort dso,sym` lines, such as
    /// `    75.15%  [kernel.kallsyms]  [k] tcp_diag_dump`.
    fn read(path: &std::path::Path) -> Option<Profile> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut kernel = 0.0;
        let mut top = Vec::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(pct), Some(_dso), Some(space)) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let Some(pct) = pct.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) else {
                continue;
            };
            let in_kernel = space == "[k]";
            if in_kernel {
                kernel += pct;
            }
            top.push((words.collect::<Vec<_>>().join(" "), pct, in_kernel));
        }
        if top.is_empty() {
            return None;
        }
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(4);
        Some(Profile { kernel, top })
    }
}

fn print_profiles(order: &[String], profiles: &BTreeMap<String, Profile>) {
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
    for name in order {
        let Some(p) = profiles.get(name) else {
            continue;
        };
        let top: Vec<String> = p
            .top
            .iter()
            .map(|(f, pct, k)| format!("`{f}`{} {pct:.1}%", if *k { " [k]" } else { "" }))
            .collect();
        println!(
            "| {name} | {:.1}% | {:.1}% | {} |",
            p.kernel,
            100.0 - p.kernel,
            top.join(", ")
        );
    }
}

/// Where the time of the missed targets goes, with this run's numbers.
fn why(
    order: &[String],
    pops: &BTreeMap<String, Population>,
    profiles: &BTreeMap<String, Profile>,
) {
    let find = |name: &str| order.iter().find(|n| *n == name).map(|n| &pops[n]);
    let get = |p: &Population, t: &str| p.tools.get(t).copied().unwrap_or_default().median_ms;
    println!("\n## Where the time goes\n");
    println!(
        "check_ephemeral asks the kernel only for sockets with the local port in the range \
         (filtered in the kernel), parses the records in place and keeps per-tuple and \
         per-address state in bit sets: its own work (process start, parsing, the model, \
         the text) is the \"its own work\" column above, and its peak RSS does not grow with \
         the number of sockets. What is left is the kernel's share:\n"
    );
    println!(
        "- Every sock_diag dump walks the kernel's hash tables whole: every socket of the \
         host, in the range or not, in this network namespace or any other, costs the walk \
         a visit, whether it is returned or not."
    );
    if let Some(p) = profiles.get("300k")
        && let Some((f, pct, true)) = p.top.first()
    {
        println!(
            "- The profile says the same: at 300k sockets {:.0}% of check_ephemeral's \
             samples are in the kernel, {pct:.0}% in `{f}` alone, the function that \
             walks the tables.",
            p.kernel
        );
    }
    if let Some(p) = find("web") {
        let walk = get(p, KERNEL_WALK);
        let bind = get(p, KERNEL_BOUND) - walk;
        let c = get(p, "check_ephemeral");
        print!(
            "- To know which ports `bind()` holds, check_ephemeral needs the bound-only \
             sockets (the bind table, which neither /proc nor ss 6.1 ever shows) and the \
             explicitly bound connected ones (a second pass over the established table with \
             the `INET_DIAG_BC_AUTO` filter, since no reply attribute tells an explicit port \
             from a chosen one): listener + bind + 2 × established table walks, against \
             2 × (listener + established) for `ss` 6.1. On the web population one walk of \
             the established table costs {} ms with nothing handed over, and the walk of the \
             bind table {} ms: the 200k accepted connections are owners of the server \
             port's bind bucket, and the kernel visits each of them to see whether it is \
             bound-only, whatever its port.",
            ms(walk),
            ms(bind),
        );
        let (without, both) = (c - bind, c - bind - walk);
        print!(
            " Without that walk check_ephemeral ({} ms) would take about {} ms, {:.2}× \
             /proc/net/tcp and {:.2}× the ss floor",
            ms(c),
            ms(without),
            without / get(p, "proc"),
            without / get(p, "ss"),
        );
        if without > get(p, "ss") {
            print!(
                "; without the second walk of the established table as well, about {} ms, \
                 {:.2}× the floor",
                ms(both),
                both / get(p, "ss"),
            );
        }
        println!(
            ". The web targets are met only by leaving bound-only sockets{} out of the \
             model, that is by predicting free ports that `bind()` and `connect()` would \
             refuse. check_ephemeral keeps them.",
            if without > get(p, "ss") {
                " (and, for the floor, explicit binds)"
            } else {
                ""
            }
        );
    }
    if let Some(p) = find("300k") {
        let once = get(p, KERNEL_CONNECTED);
        let pipeline = get(p, "ss+awk");
        println!(
            "- At 300k sockets in the range the kernel's share alone is {} ms, {:.2}× the \
             ss + awk pipeline ({} ms). Even the connected request alone, the kernel handing \
             over the 300k sockets once with no marks, takes {} ms, {:.2}× the pipeline: \
             0.25× leaves {} ms for the listeners, bound-only sockets, explicit binds, \
             process start, parsing and the model together, which take {} ms here.",
            ms(get(p, KERNEL_CHECK)),
            get(p, KERNEL_CHECK) / pipeline,
            ms(pipeline),
            ms(once),
            once / pipeline,
            ms(0.25 * pipeline - once),
            ms(get(p, "check_ephemeral") - once),
        );
    }
    if let Some(p) = find("1k") {
        let k = get(p, KERNEL_CHECK);
        let start = get(p, START);
        println!(
            "- At 1k sockets the walks of the nearly empty tables ({} established-table \
             buckets twice, the bind and listener tables once) take {} ms, and starting \
             and ending check_ephemeral with nothing to do (`--version`) {} ms: {} ms \
             before it reads a single socket, against a target of 5 ms ({} ms measured). So \
             close to the target, the load of the machine decides from run to run whether \
             it is met.",
            ehash_entries(),
            ms(k),
            ms(start),
            ms(k + start),
            ms(get(p, "check_ephemeral")),
        );
    }
    println!(
        "\nThe tables are sized at boot from the memory (here {} established-table \
         buckets, `net.ipv4.tcp_ehash_entries`) and shared by all namespaces; a namespace \
         made while `net.ipv4.tcp_child_ehash_entries` is set gets tables of its own, which \
         would shrink both the empty-table cost and the cost of other namespaces' sockets.",
        ehash_entries()
    );
}

fn ehash_entries() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map_or_else(|| "?".into(), |n| n.abs().to_string())
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
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
