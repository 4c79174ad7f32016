//! The TSV lines `measure` prints, read back into one record per
//! population: what it held and, per command or request, the sample.

use std::collections::BTreeMap;

pub const CHECK: &str = "check_ephemeral";
pub const PROCESSES: &str = "check+processes";
/// check_ephemeral judging the level alone: what the forecast costs.
pub const NO_FORECAST: &str = "check --no-forecast";
/// check_ephemeral with the provider NAT's pools too: what they cost.
pub const UPSTREAM: &str = "check --upstream-nat gcp";
/// check_ephemeral with nothing to do: process start and exit.
pub const START: &str = "check --version";
pub const SS: &str = "ss";
pub const PIPELINE: &str = "ss+awk";
pub const PROC: &str = "proc";
/// The four commands compared, in the tables' order.
pub const TOOLS: [&str; 4] = [CHECK, SS, PIPELINE, PROC];

pub const KERNEL_CHECK: &str = "kernel: check_ephemeral's requests";
/// The same with the two TCP requests side by side on two sockets in two
/// threads, as the check sends them for one namespace with `--threads 2`.
pub const KERNEL_CHECK_SIDE: &str = "kernel: check_ephemeral's requests, side by side";
pub const KERNEL_MARKS: &str = "kernel: marks request";
pub const KERNEL_CONNECTED: &str = "kernel: connected request";
pub const KERNEL_SS: &str = "kernel: ss's requests";
pub const KERNEL_WALK: &str = "kernel: established-table walk";
pub const KERNEL_BOUND: &str = "kernel: bound-only request";

/// Fields of a line: population, range (2), TCP in range before and
/// after, UDP in range, TCP in the namespace, tool, median, fastest,
/// slowest, peak RSS, runs, CPU median, load before and after, TCP on the
/// host, open files.
const FIELDS: usize = 18;

/// One command's (or request's) timed runs.
#[derive(Clone, Copy, Default)]
pub struct Sample {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub rss_kib: u64,
    pub runs: usize,
    pub cpu_ms: f64,
}

impl Sample {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

#[derive(Default)]
pub struct Population {
    pub name: String,
    pub range: (u16, u16),
    pub tcp_before: usize,
    pub tcp_after: usize,
    pub udp: usize,
    pub tcp_total: usize,
    pub load: (String, String),
    /// TCP sockets of all namespaces (TIME_WAIT included) at the start.
    pub host_tcp: String,
    /// Open files of the host at the start (/proc/sys/fs/file-nr).
    pub open_files: String,
    tools: BTreeMap<String, Sample>,
}

impl Population {
    /// The sample of `tool`; all zero if this run did not measure it.
    pub fn sample(&self, tool: &str) -> Sample {
        self.tools.get(tool).copied().unwrap_or_default()
    }

    /// The median wall ms of `tool`.
    pub fn median(&self, tool: &str) -> f64 {
        self.sample(tool).median_ms
    }

    /// check_ephemeral's requests drained as the check sends them by
    /// default: in turn, on one socket.
    pub fn kernel_check(&self) -> f64 {
        self.median(KERNEL_CHECK)
    }

    /// The time of the bind-table walk: the bound-only request (the bind
    /// table and the established table) less an established-table walk.
    pub fn bind_walk(&self) -> f64 {
        self.median(KERNEL_BOUND) - self.median(KERNEL_WALK)
    }
}

/// Reads the results file: the populations in the order first met.
pub fn read(file: &str) -> Result<Vec<Population>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    parse(&text).map_err(|e| format!("{file}: {e}"))
}

pub fn parse(text: &str) -> Result<Vec<Population>, String> {
    let mut pops: Vec<Population> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != FIELDS {
            return Err(format!("bad line {line:?}"));
        }
        let num = |i: usize| {
            f[i].parse::<f64>()
                .map_err(|_| format!("bad number {:?} in {line:?}", f[i]))
        };
        let at = match pops.iter().position(|p| p.name == f[0]) {
            Some(at) => at,
            None => {
                pops.push(Population {
                    name: f[0].to_string(),
                    ..Population::default()
                });
                pops.len() - 1
            }
        };
        let p = &mut pops[at];
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
    Ok(pops)
}
