//! The kernel's share: the sock_diag requests check_ephemeral and ss send,
//! timed with the replies only drained (message headers walked, nothing
//! parsed or printed). What is left of a command's time beyond these is
//! its own work: process start, parsing, the model, formatting.
//!
//! The requests copy those of `src/read/diag` (states, filter bytecode, the
//! both-families `TCPDIAG_GETSOCK`) and of ss 6.1 (`SOCK_DIAG_BY_FAMILY`
//! per family, states 0-11, the same port filter). check_ephemeral's are
//! timed twice: in turn on one socket, and with the two TCP requests side
//! by side on two sockets in two threads, as the check once sent them for
//! one namespace with `--threads 2` (it now sends them in turn).

use std::time::Instant;

const NETLINK_SOCK_DIAG: i32 = 4;
const TCPDIAG_GETSOCK: u16 = 18;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST_DUMP: u16 = 0x301;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

// TCP states and state bits, as in src/diag/mod.rs.
const TCP_CLOSE: u32 = 7;
const TCP_BOUND_INACTIVE: u32 = 13;
const ALL_STATES: u32 = (1 << 14) - 1;
const MARKS_STATES: u32 = ALL_STATES & !(1 << 6) & !(1 << 3) & !(1 << 12);
const CONNECTED_STATES: u32 = (1 << 1)
    | (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 8)
    | (1 << 9)
    | (1 << 11);
/// What `ss state all` asks for (iproute2 6.1): no NEW_SYN_RECV, no
/// BOUND_INACTIVE, so no walk of the bind table.
const SS_ALL_STATES: u32 = (1 << 12) - 1;

/// Requests and a name for them.
pub struct Probe {
    pub name: &'static str,
    requests: Vec<Vec<u8>>,
    /// A request drained on a second socket by a second thread while the
    /// first of `requests` is drained.
    beside: Option<Vec<u8>>,
}

pub fn probes(lo: u16, hi: u16) -> Vec<Probe> {
    let range = range_filter(lo, hi);
    let marks = marks_filter(lo, hi);
    let tcp_both = |states, bc: &[u8]| tcpdiag_getsock(states, bc);
    let by_family = |family, protocol, states, bc: &[u8]| sock_diag(family, protocol, states, bc);
    vec![
        Probe {
            name: "kernel: check_ephemeral's requests",
            requests: vec![
                tcp_both(MARKS_STATES, &marks),
                tcp_both(CONNECTED_STATES, &range),
                by_family(AF_INET, IPPROTO_UDP, ALL_STATES, &range),
                by_family(AF_INET6, IPPROTO_UDP, ALL_STATES, &range),
            ],
            beside: None,
        },
        Probe {
            name: "kernel: check_ephemeral's requests, side by side",
            requests: vec![
                tcp_both(CONNECTED_STATES, &range),
                by_family(AF_INET, IPPROTO_UDP, ALL_STATES, &range),
                by_family(AF_INET6, IPPROTO_UDP, ALL_STATES, &range),
            ],
            beside: Some(tcp_both(MARKS_STATES, &marks)),
        },
        Probe {
            name: "kernel: marks request",
            requests: vec![tcp_both(MARKS_STATES, &marks)],
            beside: None,
        },
        Probe {
            name: "kernel: connected request",
            requests: vec![tcp_both(CONNECTED_STATES, &range)],
            beside: None,
        },
        // Two requests that return nothing, to split a walk's cost: one
        // for TCP_CLOSE sockets alone (only the established table is
        // walked, and nothing there is closed), one for bound-only
        // sockets alone (the bind table and the established table).
        Probe {
            name: "kernel: established-table walk",
            requests: vec![tcp_both(1 << TCP_CLOSE, &range)],
            beside: None,
        },
        Probe {
            name: "kernel: bound-only request",
            requests: vec![tcp_both(1 << TCP_BOUND_INACTIVE, &range)],
            beside: None,
        },
        Probe {
            name: "kernel: ss's requests",
            requests: vec![
                by_family(AF_INET, IPPROTO_TCP, SS_ALL_STATES, &range),
                by_family(AF_INET6, IPPROTO_TCP, SS_ALL_STATES, &range),
            ],
            beside: None,
        },
    ]
}

/// Sends the probe's requests in turn on one socket, drains each reply
/// (and its `beside` request on a second socket, in a second thread, at
/// the same time as the first): wall milliseconds.
pub fn run(probe: &Probe) -> Result<f64, String> {
    let fd = open()?;
    // Both sockets are opened here, as the check opens both in the thread
    // that entered the namespace.
    let other = match probe.beside.as_ref().map(|_| open()).transpose() {
        Ok(other) => other,
        Err(e) => {
            close(fd);
            return Err(e);
        }
    };
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let beside = match (other, &probe.beside) {
            (Some(other), Some(request)) => Some(scope.spawn(move || drain(other, request))),
            _ => None,
        };
        let first = probe.requests.iter().try_for_each(|r| drain(fd, r));
        let beside = beside.map_or(Ok(()), |t| {
            t.join()
                .unwrap_or_else(|_| Err("the second thread failed".into()))
        });
        first.and(beside)
    });
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    close(fd);
    if let Some(other) = other {
        close(other);
    }
    result.map(|()| ms)
}

/// A sock_diag socket with a large receive buffer.
fn open() -> Result<i32, String> {
    // SAFETY: plain socket creation; the caller closes the descriptor.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(format!(
            "netlink socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    let rcvbuf: i32 = 1 << 20;
    // SAFETY: valid descriptor and option value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&rcvbuf as *const i32).cast(),
            4,
        )
    };
    Ok(fd)
}

fn close(fd: i32) {
    // SAFETY: a descriptor of ours, closed once.
    unsafe { libc::close(fd) };
}

/// Sends `request` on `fd` and reads the reply to its end, walking only
/// the message headers.
pub fn drain(fd: i32, request: &[u8]) -> Result<(), String> {
    // SAFETY: a zeroed sockaddr_nl addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: valid buffer and address.
    let sent = unsafe {
        libc::sendto(
            fd,
            request.as_ptr().cast(),
            request.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(format!("sendto: {}", std::io::Error::last_os_error()));
    }
    let mut buf = vec![0u8; 64 * 1024];
    // A reply ends within a bounded number of reads: 64k reads of 32 KiB
    // would be 2 GiB of records.
    for _ in 0..65536 {
        // SAFETY: valid buffer.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return Err(format!("recv: {}", std::io::Error::last_os_error()));
        }
        let mut at = 0;
        let n = n as usize;
        while at + 16 <= n {
            let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            if kind == NLMSG_DONE {
                return Ok(());
            }
            if kind == NLMSG_ERROR {
                return Err("the kernel refused a request".into());
            }
            if len < 16 {
                return Err("malformed reply".into());
            }
            at += (len + 3) & !3;
        }
    }
    Err("a reply did not end".into())
}

fn header(len: usize, kind: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(&(len as u32).to_ne_bytes());
    h.extend_from_slice(&kind.to_ne_bytes());
    h.extend_from_slice(&NLM_F_REQUEST_DUMP.to_ne_bytes());
    h.extend_from_slice(&1u32.to_ne_bytes());
    h.extend_from_slice(&0u32.to_ne_bytes());
    h
}

fn with_filter(mut msg: Vec<u8>, bc: &[u8]) -> Vec<u8> {
    msg.extend_from_slice(&((4 + bc.len()) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u16.to_ne_bytes()); // INET_DIAG_REQ_BYTECODE
    msg.extend_from_slice(bc);
    msg
}

fn tcpdiag_getsock(states: u32, bc: &[u8]) -> Vec<u8> {
    let mut msg = header(16 + 60 + 4 + bc.len(), TCPDIAG_GETSOCK);
    let mut req = [0u8; 60];
    req[52..56].copy_from_slice(&states.to_ne_bytes());
    msg.extend_from_slice(&req);
    with_filter(msg, bc)
}

fn sock_diag(family: u8, protocol: u8, states: u32, bc: &[u8]) -> Vec<u8> {
    let mut msg = header(16 + 56 + 4 + bc.len(), SOCK_DIAG_BY_FAMILY);
    let mut req = [0u8; 56];
    req[0] = family;
    req[1] = protocol;
    req[4..8].copy_from_slice(&states.to_ne_bytes());
    msg.extend_from_slice(&req);
    with_filter(msg, bc)
}

fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
    let n = no.to_ne_bytes();
    [code, yes, n[0], n[1]]
}

/// sport >= lo and sport <= hi, as `src/diag/wire.rs` builds it.
fn range_filter(lo: u16, hi: u16) -> Vec<u8> {
    [op(2, 8, 20), op(0, 0, lo), op(3, 8, 12), op(0, 0, hi)].concat()
}

/// In the range and (no peer or bound to an explicit port).
fn marks_filter(lo: u16, hi: u16) -> Vec<u8> {
    [
        op(2, 8, 36),
        op(0, 0, lo),
        op(3, 8, 28),
        op(0, 0, hi),
        op(4, 8, 16),
        op(0, 0, 1),
        op(6, 4, 8),
        op(1, 4, 8),
    ]
    .concat()
}
