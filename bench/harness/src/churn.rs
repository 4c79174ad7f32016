//! `churn RATE [--hold SECS]`: short connections on loopback at RATE a
//! second, each closed by the client first, so every one leaves a
//! TIME_WAIT on a port of the range (run where `tcp_tw_reuse` is 0, so
//! none is taken over): a pool filling at a steady pace. Prints `ready`
//! once the pace has begun and goes on until killed or `--hold` seconds
//! (900 by default) have passed; a connect the full range refuses is
//! counted and the pace goes on.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const SERVER: &str = "127.0.0.1:6000";

pub fn main(args: &[&str]) -> Result<(), String> {
    let (rate, hold) = match args {
        [rate] => (crate::number(rate, "RATE")?, 900),
        [rate, "--hold", secs] => (
            crate::number(rate, "RATE")?,
            crate::number(secs, "--hold")? as u64,
        ),
        _ => return Err("usage: churn RATE [--hold SECS]".into()),
    };
    let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let server: SocketAddr = SERVER.parse().map_err(|e| format!("{SERVER}: {e}"))?;
    let listener = TcpListener::bind(server).map_err(|e| format!("listen {SERVER}: {e}"))?;
    let started = Instant::now();
    let mut next = started;
    let mut refused = 0u64;
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(hold) {
        match TcpStream::connect_timeout(&server, Duration::from_secs(1)) {
            Ok(client) => {
                let accepted = listener.accept().map_err(|e| format!("accept: {e}"))?;
                // The client closes first: the TIME_WAIT is its own.
                drop(client);
                drop(accepted);
            }
            Err(_) => refused += 1,
        }
        n += 1;
        if n == 1 {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready: {rate} connections a second").map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
        }
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    eprintln!("churn: {n} connections, {refused} refused");
    Ok(())
}
