//! Conntrack populations and their timing, run by `bench/conntrack` inside
//! network namespaces that script made:
//!
//! - `conntrack fill N FIRST`: inserts N TCP entries into this namespace's
//!   conntrack table, as `conntrack -I` would (one IPCTNL_MSG_CT_NEW each,
//!   same attributes), but batched on one netlink socket: `conntrack -I`
//!   starts a process per entry (about 4.5 ms each here), which would take
//!   longer than the measurement itself. Each entry looks masqueraded: pod
//!   10.1.x.y:port -> server:443, answered to 10.0.0.1:P. Servers are
//!   10.2.0.1 ... 10.2.3.232 (1000 of them, so 1000 NAT pools); P counts up
//!   from 1024 per server, starting at FIRST / 1000 (so several namespaces
//!   can hold different ports of the same pools).
//! - `conntrack measure NAME CHECK ROUNDS`: times `CHECK --pools nat`
//!   against `conntrack -L > /dev/null` and a `conntrack -L | awk` grouping
//!   into the same pools, and the check's ctnetlink requests with their
//!   replies only drained (the kernel's share), in rotated rounds after one
//!   warm-up; prints one Markdown table row (medians) and one line saying
//!   what the figures mean.
//! - `conntrack drain`: sends the check's requests once, drains the
//!   replies and prints the wall milliseconds (the kernel's share alone,
//!   for comparisons outside `measure`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::kernel;
use crate::measure::{Tool, median, rotated, run};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IPCTNL_MSG_CT_NEW: u16 = 1 << 8;
const IPCTNL_MSG_CT_GET: u16 = (1 << 8) | 1;
const IPCTNL_MSG_CT_GET_STATS_CPU: u16 = (1 << 8) | 4;
const NLM_F_DUMP: u16 = 0x300;
const NETLINK_NETFILTER: i32 = 12;
const SERVERS: usize = 1000;

pub fn main(args: &[&str]) -> Result<(), String> {
    match args {
        ["fill", n, first] => fill(crate::number(n, "N")?, crate::number(first, "FIRST")?),
        ["measure", name, check, rounds] => measure(name, check, crate::number(rounds, "ROUNDS")?),
        ["drain"] => {
            println!("{:.3}", drain_check_requests()?);
            Ok(())
        }
        _ => Err(
            "usage: conntrack fill N FIRST | conntrack measure NAME CHECK ROUNDS | conntrack drain"
                .into(),
        ),
    }
}

/// A ctnetlink dump request with no attributes: netlink header and
/// `nfgenmsg` (family, version 0, res_id 0).
fn dump_request(kind: u16, family: u8) -> [u8; 20] {
    let mut r = [0u8; 20];
    r[0..4].copy_from_slice(&20u32.to_ne_bytes());
    r[4..6].copy_from_slice(&kind.to_ne_bytes());
    r[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    r[8..12].copy_from_slice(&1u32.to_ne_bytes());
    r[16] = family;
    r
}

/// The requests `check_ephemeral --pools nat` sends (src/read/conntrack):
/// every entry of both families (AF_UNSPEC, no filter), then the per-CPU
/// counters. Sent on a socket with the check's receive buffer (1 MiB) and
/// read into a buffer of the check's size (64 KiB: the kernel then fills
/// each reply skb to its cap of 32 KiB), the replies' headers only walked.
/// Wall milliseconds, socket made and closed outside the timing.
pub fn drain_check_requests() -> Result<f64, String> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(format!(
            "netlink socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let rcvbuf: i32 = 1 << 20;
    // SAFETY: valid descriptor and option value.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&rcvbuf as *const i32).cast(),
            4,
        )
    };
    let started = std::time::Instant::now();
    kernel::drain(fd.as_raw_fd(), &dump_request(IPCTNL_MSG_CT_GET, 0))?;
    kernel::drain(
        fd.as_raw_fd(),
        &dump_request(IPCTNL_MSG_CT_GET_STATS_CPU, 0),
    )?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Appends one netlink attribute; `nested` sets NLA_F_NESTED.
fn attr(buf: &mut Vec<u8>, kind: u16, nested: bool, value: &[u8]) {
    let len = (4 + value.len()) as u16;
    let kind = kind | if nested { 0x8000 } else { 0 };
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut ip = Vec::new();
    attr(&mut ip, 1, false, &src); // CTA_IP_V4_SRC
    attr(&mut ip, 2, false, &dst); // CTA_IP_V4_DST
    let mut proto = Vec::new();
    attr(&mut proto, 1, false, &[6]); // CTA_PROTO_NUM: TCP
    attr(&mut proto, 2, false, &sport.to_be_bytes()); // CTA_PROTO_SRC_PORT
    attr(&mut proto, 3, false, &dport.to_be_bytes()); // CTA_PROTO_DST_PORT
    let mut t = Vec::new();
    attr(&mut t, 1, true, &ip); // CTA_TUPLE_IP
    attr(&mut t, 2, true, &proto); // CTA_TUPLE_PROTO
    t
}

/// One IPCTNL_MSG_CT_NEW message for entry `i`.
fn entry(i: usize, seq: u32, flags: u16) -> Vec<u8> {
    let server = i % SERVERS;
    let nth = i / SERVERS;
    let server_addr = [10, 2, (server / 250) as u8, (server % 250 + 1) as u8];
    let pod = [10, 1, (nth / 250 % 250) as u8, (nth % 250 + 1) as u8];
    let pod_port = 20000 + (i % 40000) as u16;
    let nat_port = 1024 + (nth % 64512) as u16;
    let mut body = vec![2, 0, 0, 0]; // nfgenmsg: AF_INET
    attr(&mut body, 1, true, &tuple(pod, server_addr, pod_port, 443));
    attr(
        &mut body,
        2,
        true,
        &tuple(server_addr, [10, 0, 0, 1], 443, nat_port),
    );
    // CTA_STATUS: SEEN_REPLY | ASSURED | CONFIRMED, as conntrack -I sends
    // (without CONFIRMED this kernel refuses the entry with EBUSY).
    attr(&mut body, 3, false, &0xeu32.to_be_bytes());
    attr(&mut body, 7, false, &3600u32.to_be_bytes()); // CTA_TIMEOUT
    let mut tcp = Vec::new();
    attr(&mut tcp, 1, false, &[3]); // CTA_PROTOINFO_TCP_STATE: ESTABLISHED
    let mut info = Vec::new();
    attr(&mut info, 1, true, &tcp); // CTA_PROTOINFO_TCP
    attr(&mut body, 4, true, &info); // CTA_PROTOINFO
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&IPCTNL_MSG_CT_NEW.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | flags).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

fn fill(n: usize, first: usize) -> Result<(), String> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 12) };
    if fd < 0 {
        return Err(format!(
            "netlink socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut batch = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut seq = 0u32;
    for i in first..first + n {
        seq = seq.wrapping_add(1);
        // Every 256th asks for an answer, so errors and progress are read
        // back before the socket's buffer could overflow.
        let last = i + 1 == first + n;
        let ack = (i - first) % 256 == 255 || last;
        batch.extend_from_slice(&entry(i, seq, if ack { NLM_F_ACK } else { 0 }));
        if ack {
            send(&fd, &batch)?;
            batch.clear();
            read_until_ack(&fd, &mut buf, seq)?;
        }
    }
    println!("ready: {n} entries");
    Ok(())
}

fn send(fd: &OwnedFd, bytes: &[u8]) -> Result<(), String> {
    // SAFETY: an all-zero sockaddr_nl addresses the kernel.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: valid buffer and address of the given sizes.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if rc < 0 {
        return Err(format!("sendto: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Reads answers until the ACK of `seq`; any error answer fails the fill.
fn read_until_ack(fd: &OwnedFd, buf: &mut [u8], seq: u32) -> Result<(), String> {
    loop {
        // SAFETY: a valid buffer of its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(format!("recv: {}", std::io::Error::last_os_error()));
        }
        let mut at = 0;
        let n = n as usize;
        while at + 20 <= n {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            let got = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap_or([0; 4]));
            if kind == 2 {
                let code = i32::from_ne_bytes(buf[at + 16..at + 20].try_into().unwrap_or([0; 4]));
                if code != 0 {
                    let e = std::io::Error::from_raw_os_error(-code);
                    return Err(format!("inserting entry (seq {got}): {e}"));
                }
                if got == seq {
                    return Ok(());
                }
            }
            if len < 16 {
                break;
            }
            at += (len + 3) & !3;
        }
    }
}

fn measure(name: &str, check: &str, rounds: usize) -> Result<(), String> {
    let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The same pools as the check: (protocol, NAT address, destination,
    // destination port) from the reply tuple, counted per pool.
    let awk = "{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^src=/) { n++; if (n == 2) { s = $i; d = $(i+1); p = $(i+2) } } \
               c[$1 \" \" d \" \" s \" \" p]++ } END { for (k in c) if (c[k] > m) m = c[k]; print m }";
    let tools = [
        Tool {
            name: "check_ephemeral",
            stages: vec![argv(&[check, "--pools", "nat"])],
        },
        Tool {
            name: "conntrack -L",
            stages: vec![argv(&["conntrack", "-L"])],
        },
        Tool {
            name: "conntrack -L | awk",
            stages: vec![argv(&["conntrack", "-L"]), argv(&["awk", awk])],
        },
    ];
    // The tools, then the check's requests drained in this process: all in
    // the same rounds, so that they meet the same load.
    let n = tools.len() + 1;
    let mut samples: Vec<Vec<(f64, f64, u64)>> = vec![Vec::new(); n];
    for round in 0..=rounds {
        for k in rotated(round, n) {
            let s = match tools.get(k) {
                Some(tool) => {
                    let s = run(tool)?;
                    (s.ms, s.cpu_ms, s.rss_kib)
                }
                None => (drain_check_requests()?, 0.0, 0),
            };
            if round > 0 {
                samples[k].push(s);
            }
        }
    }
    let med = |k: usize, f: fn(&(f64, f64, u64)) -> f64| {
        let mut v: Vec<f64> = samples[k].iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        median(&v)
    };
    let wall: Vec<f64> = (0..n).map(|k| med(k, |s| s.0)).collect();
    let cpu: Vec<f64> = (0..tools.len()).map(|k| med(k, |s| s.1)).collect();
    let rss: Vec<f64> = (0..tools.len())
        .map(|k| med(k, |s| s.2 as f64 / 1024.0))
        .collect();
    let (check, list, drained) = (wall[0], wall[1], wall[3]);
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x | {:.2}x | {:.2}x | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        check,
        drained,
        list,
        wall[2],
        check / list,
        check / drained,
        drained / list,
        cpu[0],
        cpu[1],
        cpu[2],
        rss[0],
        rss[1],
        rss[2]
    );
    println!("{}", verdict(name, check, drained, list));
    Ok(())
}

/// One line on what the figures mean: against the target of 0.5x
/// `conntrack -L`, and how much of the check is the kernel's share.
fn verdict(name: &str, check: f64, drained: f64, list: f64) -> String {
    let target = 0.5;
    let met = if check / list <= target {
        "meets the target"
    } else {
        "misses the target"
    };
    // Below the drained figure the difference is the spread of the
    // medians, not work of the check's own.
    let own = if check > drained {
        format!(
            "{:.1} ms of its own: process start, parsing, the pools, the output",
            check - drained
        )
    } else {
        "no time of its own that the medians can tell apart".to_string()
    };
    let mut line = format!(
        "- {name}: the check takes {:.2}x `conntrack -L` and {met} of {target:.1}x; \
         its requests drained alone take {:.2}x `conntrack -L`, and the check {:.2}x them \
         ({own}).",
        check / list,
        drained / list,
        check / drained,
    );
    if check / list > target && drained / list > 0.9 * target {
        line.push_str(&format!(
            " The kernel's share alone is {:.0}% of the target: no reader of this \
             table over ctnetlink could come much below {:.2}x here.",
            100.0 * drained / list / target,
            drained / list
        ));
    }
    line
}
