//! The VM's side: connections opened, held, closed and logged.

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Close, Conn, Provider};

impl Provider {
    /// `n` connections from VM `k` to `to`, held open.
    pub fn open(&mut self, vm: usize, to: SocketAddr, n: usize) {
        let name = self.vm(vm).to_string();
        let streams = Self::within(&name, || {
            (0..n)
                .map(|_| TcpStream::connect_timeout(&to, Duration::from_secs(2)).expect("connect"))
                .collect::<Vec<_>>()
        });
        let mut log = self.log.lock().unwrap();
        for s in streams {
            log.push(Conn {
                to,
                opened: Instant::now(),
                closed: None,
            });
            self.held.push((s, log.len() - 1));
        }
    }

    /// Closes `n` of the held connections to `to` from the client's side.
    pub fn close(&mut self, to: SocketAddr, n: usize) {
        let mut log = self.log.lock().unwrap();
        let mut closed = 0;
        self.held.retain(|(s, i)| {
            if closed < n && log[*i].to == to {
                let _ = s.shutdown(Shutdown::Both);
                log[*i].closed = Some(Instant::now());
                closed += 1;
                return false;
            }
            true
        });
    }

    /// `n` connected UDP sockets from VM `k`, to `to`.
    pub fn udp(&mut self, vm: usize, to: SocketAddr, n: usize) {
        let name = self.vm(vm).to_string();
        let sockets = Self::within(&name, || {
            (0..n)
                .map(|_| {
                    let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
                    s.connect(to).expect("connect");
                    s
                })
                .collect::<Vec<_>>()
        });
        let mut log = self.log.lock().unwrap();
        for s in sockets {
            log.push(Conn {
                to,
                opened: Instant::now(),
                closed: None,
            });
            self.udp.push(s);
        }
    }

    /// From VM `k`, `rate` connections a second to `to` for `seconds`,
    /// each closed as `close` says once made; logged. Returns when done.
    pub fn churn(&self, vm: usize, to: SocketAddr, rate: f64, seconds: f64, close: Close) {
        self.churner(vm).run(to, rate, seconds, close);
    }

    /// What churns from VM `k`, to hand to another thread (the provider
    /// itself stays on the thread that made its namespaces).
    pub fn churner(&self, vm: usize) -> Churner {
        Churner {
            name: self.vm(vm).to_string(),
            log: self.log.clone(),
        }
    }

    /// The log so far.
    pub fn log(&self) -> Vec<Conn> {
        self.log.lock().unwrap().clone()
    }
}

/// Opens and closes connections from one VM namespace at a pace, and logs
/// them in the provider's log.
pub struct Churner {
    name: String,
    log: Arc<Mutex<Vec<Conn>>>,
}

impl Churner {
    /// `rate` connections a second to `to` for `seconds` (bounded: at most
    /// `rate × seconds` of them), each closed as `close` says once made.
    pub fn run(&self, to: SocketAddr, rate: f64, seconds: f64, close: Close) {
        Provider::within(&self.name, || {
            let start = Instant::now();
            let total = (rate * seconds).round() as usize;
            for i in 0..total {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let opened = Instant::now();
                let mut s =
                    TcpStream::connect_timeout(&to, Duration::from_secs(2)).expect("connect");
                if close == Close::PeerFirst {
                    // Wait for the server's FIN, then close.
                    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                    let mut buf = [0u8; 16];
                    let _ = s.read(&mut buf);
                }
                drop(s);
                self.log.lock().unwrap().push(Conn {
                    to,
                    opened,
                    closed: Some(Instant::now()),
                });
            }
        });
    }
}
