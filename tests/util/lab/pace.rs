//! A bounded pace generator: new TCP connections to a loopback server at a
//! set number per second, in phases, on a thread of its own inside the
//! lab's namespace (a thread started from the lab thread shares its
//! namespace), so the lab thread can run the check while the pace goes on.
//!
//! Each connection either closes at once with the client closing first
//! (the client's port then sits in TIME_WAIT for 60 s), or stays open (a
//! leak). Every loop is bounded by the phases' total time and by a count;
//! the generator stops early when asked, and a refused `connect()` is
//! recorded with the moment it happened, never retried in a tight loop.

#![allow(dead_code)]

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// At most this many connections per generator, whatever the phases ask.
const MAX_CONNECTIONS: u32 = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The client closes first, then the server: client-side TIME_WAIT.
    ClientFirst,
    /// Both ends stay open until the generator's sockets are dropped.
    KeepOpen,
}

/// `per_second` new connections for `seconds`; a rate of 0 is a pause.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub per_second: f64,
    pub seconds: f64,
    pub close: Close,
}

impl Phase {
    pub fn new(per_second: f64, seconds: f64, close: Close) -> Phase {
        Phase {
            per_second,
            seconds,
            close,
        }
    }
}

/// What the generator did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Connections made.
    pub made: u32,
    /// `connect()` calls refused, and the errno of the first.
    pub refused: u32,
    pub first_errno: Option<i32>,
    /// Seconds from the start to the first refusal.
    pub first_refusal_s: Option<f64>,
    /// Seconds from the start to the last refusal.
    pub last_refusal_s: Option<f64>,
    /// Seconds the generator ran.
    pub ran_s: f64,
    /// The sockets of kept-open connections (both ends), alive until the
    /// outcome is dropped.
    pub kept: Vec<TcpStream>,
}

/// A running generator.
pub struct Pace {
    pub to: SocketAddr,
    pub started: Instant,
    stop: Arc<AtomicBool>,
    made: Arc<AtomicU32>,
    refused: Arc<AtomicU32>,
    thread: Option<JoinHandle<Outcome>>,
}

impl Pace {
    /// Listens on `server` (a loopback address with a port) and starts the
    /// phases at once. Must be called on the lab's thread.
    pub fn start(server: &str, phases: Vec<Phase>) -> Pace {
        let addr: SocketAddr = server.parse().expect("server address");
        let listener = listen(addr);
        let to = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let made = Arc::new(AtomicU32::new(0));
        let refused = Arc::new(AtomicU32::new(0));
        let started = Instant::now();
        let thread = {
            let (stop, made, refused) = (stop.clone(), made.clone(), refused.clone());
            std::thread::Builder::new()
                .name(format!("pace {to}"))
                .spawn(move || generate(listener, to, &phases, started, &stop, &made, &refused))
                .expect("spawn pace thread")
        };
        Pace {
            to,
            started,
            stop,
            made,
            refused,
            thread: Some(thread),
        }
    }

    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn made(&self) -> u32 {
        self.made.load(Ordering::Relaxed)
    }

    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Sleeps until `seconds` after the start (at once if already past).
    pub fn sleep_until(&self, seconds: f64) {
        let at = self.started + Duration::from_secs_f64(seconds);
        if let Some(left) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
    }

    /// Waits for the phases to end.
    pub fn join(mut self) -> Outcome {
        self.wait()
    }

    /// Ends the phases now.
    pub fn stop(mut self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        self.wait()
    }

    fn wait(&mut self) -> Outcome {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(outcome)) => outcome,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Outcome::default(),
        }
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listen(addr: SocketAddr) -> TcpListener {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.bind(&addr.into()).expect("bind pace server");
    s.listen(4096).expect("listen");
    s.into()
}

fn generate(
    listener: TcpListener,
    to: SocketAddr,
    phases: &[Phase],
    started: Instant,
    stop: &AtomicBool,
    made: &AtomicU32,
    refused: &AtomicU32,
) -> Outcome {
    let mut out = Outcome::default();
    let mut phase_start = 0.0;
    let mut attempts: u32 = 0;
    for phase in phases {
        let phase_end = phase_start + phase.seconds;
        let mut n: u64 = 0;
        loop {
            if stop.load(Ordering::Relaxed) || attempts >= MAX_CONNECTIONS {
                out.ran_s = started.elapsed().as_secs_f64();
                return out;
            }
            // The n-th connection of the phase is due at n / rate.
            let due = if phase.per_second > 0.0 {
                phase_start + n as f64 / phase.per_second
            } else {
                phase_end
            };
            if due >= phase_end {
                break;
            }
            let now = started.elapsed().as_secs_f64();
            if due > now {
                std::thread::sleep(Duration::from_secs_f64((due - now).min(0.05)));
                continue;
            }
            n += 1;
            attempts += 1;
            match one(&listener, to, phase.close, &mut out.kept) {
                Ok(()) => {
                    out.made += 1;
                    made.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    let at = started.elapsed().as_secs_f64();
                    out.refused += 1;
                    refused.fetch_add(1, Ordering::Relaxed);
                    out.first_errno.get_or_insert(e.raw_os_error().unwrap_or(0));
                    out.first_refusal_s.get_or_insert(at);
                    out.last_refusal_s = Some(at);
                }
            }
        }
        // Wait out the rest of the phase (a pause, or a rate that ended early).
        while !stop.load(Ordering::Relaxed) {
            let now = started.elapsed().as_secs_f64();
            if now >= phase_end {
                break;
            }
            std::thread::sleep(Duration::from_secs_f64((phase_end - now).min(0.05)));
        }
        phase_start = phase_end;
    }
    out.ran_s = started.elapsed().as_secs_f64();
    out
}

/// One connection: connect, accept, then close (client first) or keep.
fn one(
    listener: &TcpListener,
    to: SocketAddr,
    close: Close,
    kept: &mut Vec<TcpStream>,
) -> io::Result<()> {
    let client = TcpStream::connect(to)?;
    // On loopback a completed connect() is already in the accept queue.
    let (server, _) = listener.accept()?;
    match close {
        Close::KeepOpen => {
            kept.push(client);
            kept.push(server);
        }
        Close::ClientFirst => {
            client.shutdown(Shutdown::Both).ok();
            drop(client);
            // The server closes once it has read the client's FIN (bounded),
            // so the client's side ends in TIME_WAIT, not FIN_WAIT2.
            server.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = [0u8; 16];
            let _ = (&server).read(&mut buf);
            drop(server);
        }
    }
    Ok(())
}
