//! Times the commands (the four compared, and check_ephemeral with
//! `--processes`) against the population of this namespace, in
//! interleaved rounds (every command once per round, the order rotating) so
//! that all of them see the same population, and measures each run's CPU
//! time and peak RSS with wait4().
//! A pipeline's RSS is the sum of its stages' peaks: they run at once. A
//! child's peak starts from the RSS of the process that spawned it (the
//! kernel counts the pages it shared before exec), so this one stays small.

use std::io::Read;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Instant;

use crate::kernel;

/// Groups connections by (local address, peer) the way operators do.
const AWK: &str = r#"NR > 1 { n = split($4, a, ":"); ip = substr($4, 1, length($4) - length(a[n]) - 1); c[ip " " $5]++ } END { for (k in c) print c[k], k }"#;

pub(crate) struct Tool {
    pub(crate) name: &'static str,
    pub(crate) stages: Vec<Vec<String>>,
}

fn tools(check: &str, lo: u16, hi: u16) -> Vec<Tool> {
    let filter = format!("( sport >= :{lo} and sport <= :{hi} )");
    let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        Tool {
            name: "check_ephemeral",
            stages: vec![argv(&[check])],
        },
        Tool {
            name: "check+processes",
            stages: vec![argv(&[check, "--processes"])],
        },
        Tool {
            name: "check --no-forecast",
            stages: vec![argv(&[check, "--no-forecast"])],
        },
        Tool {
            name: "check --upstream-nat gcp",
            stages: vec![argv(&[check, "--upstream-nat", "gcp"])],
        },
        // Process start and exit with nothing measured: the part of the
        // check's time no reading of the tables can save.
        Tool {
            name: "check --version",
            stages: vec![argv(&[check, "--version"])],
        },
        Tool {
            name: "ss",
            stages: vec![argv(&["ss", "-tan", "state", "all", &filter])],
        },
        Tool {
            name: "ss+awk",
            stages: vec![
                argv(&["ss", "--numeric", "--tcp", "state", "connected", &filter]),
                argv(&["awk", AWK]),
            ],
        },
        Tool {
            name: "proc",
            stages: vec![argv(&["cat", "/proc/net/tcp", "/proc/net/tcp6"])],
        },
    ]
}

pub fn main(args: &[&str]) -> Result<(), String> {
    let [name, check, runs, warmup] = args else {
        return Err("usage: measure NAME CHECK RUNS WARMUP".into());
    };
    let runs = crate::number(runs, "RUNS")?.max(1);
    let warmup = crate::number(warmup, "WARMUP")?;
    let (lo, hi) = crate::port_range()?;
    let tools = tools(check, lo, hi);
    let before = Population::count(lo, hi)?;
    let load_before = load_average();
    let host_tcp = host_tcp_sockets();
    let open_files = open_files();
    // The commands and, for the kernel's share, their requests alone: all
    // in the same rounds, so that they meet the same load.
    let probes = kernel::probes(lo, hi);
    let n = tools.len() + probes.len();
    let mut samples: Vec<Vec<Sample>> = (0..n).map(|_| Vec::new()).collect();
    for round in 0..warmup + runs {
        for i in rotated(round, n) {
            let sample = match tools.get(i) {
                Some(tool) => run(tool)?,
                None => Sample {
                    ms: kernel::run(&probes[i - tools.len()])?,
                    ..Sample::default()
                },
            };
            if round >= warmup {
                samples[i].push(sample);
            }
        }
    }
    let load_after = load_average();
    let after = Population::count(lo, hi)?;
    let names = tools
        .iter()
        .map(|t| t.name)
        .chain(probes.iter().map(|p| p.name));
    for (tool, samples) in names.zip(samples) {
        let mut ms: Vec<f64> = samples.iter().map(|s| s.ms).collect();
        ms.sort_by(f64::total_cmp);
        let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu_ms).collect();
        cpu.sort_by(f64::total_cmp);
        let rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        println!(
            "{name}\t{lo}\t{hi}\t{}\t{}\t{}\t{}\t{tool}\t{:.3}\t{:.3}\t{:.3}\t{rss}\t{}\t{:.3}\t{load_before}\t{load_after}\t{host_tcp}\t{open_files}",
            before.tcp_in_range,
            after.tcp_in_range,
            before.udp_in_range,
            before.tcp_total,
            median(&ms),
            ms[0],
            ms[ms.len() - 1],
            ms.len(),
            median(&cpu),
        );
    }
    Ok(())
}

/// One run: wall and CPU (user + system) milliseconds, peak RSS in KiB.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sample {
    pub(crate) ms: f64,
    pub(crate) cpu_ms: f64,
    pub(crate) rss_kib: u64,
}

/// TCP sockets of every namespace of the host, TIME_WAIT included (the
/// kernel's slab counts): the kernel's walks visit all of them.
pub fn host_tcp_sockets() -> String {
    let slabs = ["TCP", "TCPv6", "tw_sock_TCP", "tw_sock_TCPv6"];
    std::fs::read_to_string("/proc/slabinfo")
        .ok()
        .map(|s| {
            s.lines()
                .filter_map(|l| {
                    let mut words = l.split_whitespace();
                    let name = words.next()?;
                    let active = words.next()?.parse::<u64>().ok()?;
                    slabs.contains(&name).then_some(active)
                })
                .sum::<u64>()
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// Open files of the whole host (the first field of /proc/sys/fs/file-nr):
/// `--processes` reads the link of every one of them.
fn open_files() -> String {
    std::fs::read_to_string("/proc/sys/fs/file-nr")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The machine's 1-minute load average: others' work skews wall times.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The order of the commands in round `round`: each starts a round in
/// turn, so none always runs right after the same other one (whose traces
/// in the caches would help or hurt it every time).
pub(crate) fn rotated(round: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (round + k) % n)
}

pub(crate) fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Runs a command or pipeline once.
pub(crate) fn run(tool: &Tool) -> Result<Sample, String> {
    let started = Instant::now();
    let mut pids = Vec::new();
    let mut input: Option<ChildStdout> = None;
    let last = tool.stages.len() - 1;
    for (i, argv) in tool.stages.iter().enumerate() {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.stdin(input.take().map_or(Stdio::null(), Stdio::from));
        cmd.stdout(if i == last {
            Stdio::null()
        } else {
            Stdio::piped()
        });
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: cannot run {}: {e}", tool.name, argv[0]))?;
        input = child.stdout.take();
        pids.push(child.id());
        // The child is reaped below with wait4(), which also gives its rusage.
    }
    let mut rss_kib = 0;
    let mut cpu_ms = 0.0;
    let mut failed = None;
    for (pid, argv) in pids.into_iter().zip(&tool.stages) {
        let (status, rss, cpu) = wait4(pid)?;
        rss_kib += rss;
        cpu_ms += cpu;
        let ok = libc::WIFEXITED(status)
            && match libc::WEXITSTATUS(status) {
                // The check's states; 3 (UNKNOWN) means it could not judge.
                0..=2 if tool.name.starts_with("check") => true,
                code => code == 0,
            };
        if !ok {
            failed = Some(format!(
                "{}: {} ended with status {status:#x}",
                tool.name, argv[0]
            ));
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match failed {
        Some(e) => Err(e),
        None => Ok(Sample {
            ms,
            cpu_ms,
            rss_kib,
        }),
    }
}

/// Reaps `pid`: its wait status, peak RSS (KiB) and CPU milliseconds.
pub fn wait4(pid: u32) -> Result<(i32, u64, f64), String> {
    let pid = pid as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; both pointers are valid.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            let cpu = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
            return Ok((
                status,
                usage.ru_maxrss.max(0) as u64,
                cpu(usage.ru_utime) + cpu(usage.ru_stime),
            ));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4({pid}): {err}"));
        }
    }
}

/// What the namespace holds, counted with ss (which is not timed here).
struct Population {
    tcp_in_range: usize,
    udp_in_range: usize,
    tcp_total: usize,
}

impl Population {
    fn count(lo: u16, hi: u16) -> Result<Population, String> {
        let filter = format!("( sport >= :{lo} and sport <= :{hi} )");
        Ok(Population {
            tcp_in_range: lines(&["-Htan", "state", "all", &filter])?,
            udp_in_range: lines(&["-Huan", "state", "all", &filter])?,
            tcp_total: lines(&["-Htan", "state", "all"])?,
        })
    }
}

/// Counts the lines ss prints, reading them in small pieces: this process
/// must stay small, since a child's peak RSS starts from it.
fn lines(ss_args: &[&str]) -> Result<usize, String> {
    let mut child = Command::new("ss")
        .args(ss_args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ss: {e}"))?;
    let mut count = 0;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => count += buf[..n].iter().filter(|&&b| b == b'\n').count(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("ss: {e}")),
            }
        }
    }
    let status = child.wait().map_err(|e| format!("ss: {e}"))?;
    if !status.success() {
        return Err(format!("ss {ss_args:?}: {status}"));
    }
    Ok(count)
}
