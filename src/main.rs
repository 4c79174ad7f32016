//! The binary: parse options, run the check under a watchdog, print, exit.
//! The only place that turns an error into an exit code.

use std::ffi::OsString;
use std::io::Write;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

use check_ephemeral::options::{self, Parsed};
use check_ephemeral::report;
use check_ephemeral::stage;

const UNKNOWN: i32 = 3;

/// Set once the answer is being printed, so a late watchdog stays quiet.
static ANSWERED: AtomicBool = AtomicBool::new(false);

fn main() {
    // A panic is a bug, but even then the caller gets one UNKNOWN line and
    // exit 3, never a backtrace or exit 101.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        print_and_exit(
            &report::unknown(&format!("internal error: {message}")),
            UNKNOWN,
        );
    }));

    // Reading options may read an --extra-opts file, which can stall too:
    // the default timeout applies until the options say otherwise.
    let args: Vec<OsString> = std::env::args_os().collect();
    let watchdog =
        start_watchdog(options::early_timeout(&args).unwrap_or(options::DEFAULT_TIMEOUT));
    stage::enter(stage::Stage::ReadingOptions);
    let config = match options::parse(args) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Print(text)) => print_and_exit(&text, 0),
        Err(e) => print_and_exit(&report::unknown(&e.to_string()), UNKNOWN),
    };
    set_timeout(&watchdog, config.timeout);
    match check_ephemeral::check(&config) {
        Ok(outcome) => print_and_exit(&outcome.text, outcome.state.exit_code()),
        Err(e) => print_and_exit(&report::unknown(&e.to_string()), UNKNOWN),
    }
}

/// Milliseconds after `STARTED` at which the watchdog fires.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(u64::MAX);
static TIMEOUT_S: AtomicU64 = AtomicU64::new(0);

/// Reports UNKNOWN naming the stage that ran out of time, once the
/// deadline (counted from the start of the process) has passed.
fn start_watchdog(timeout: Duration) -> Thread {
    let started = Instant::now();
    let handle = std::thread::spawn(move || {
        loop {
            let deadline = Duration::from_millis(DEADLINE_MS.load(Ordering::SeqCst));
            match deadline.checked_sub(started.elapsed()) {
                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                _ => break,
            }
        }
        let reason = format!(
            "timed out after {} s while {}",
            TIMEOUT_S.load(Ordering::SeqCst),
            stage::current().describe()
        );
        print_and_exit(&report::unknown(&reason), UNKNOWN);
    });
    let thread = handle.thread().clone();
    set_timeout(&thread, timeout);
    thread
}

fn set_timeout(watchdog: &Thread, timeout: Duration) {
    TIMEOUT_S.store(timeout.as_secs(), Ordering::SeqCst);
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    DEADLINE_MS.store(ms, Ordering::SeqCst);
    watchdog.unpark();
}

fn print_and_exit(text: &str, code: i32) -> ! {
    if !ANSWERED.swap(true, Ordering::SeqCst) {
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
        if let Err(e) = written {
            // The caller cannot read the answer (a full disk, a reader
            // gone): the state alone would be a verdict without its reason,
            // so the exit says UNKNOWN and stderr says why.
            let reason = format!("cannot write the output to stdout: {e}");
            let _ = std::io::stderr().write_all(report::unknown(&reason).as_bytes());
            exit(UNKNOWN);
        }
        exit(code);
    }
    // Another thread is already answering; it exits the process.
    loop {
        std::thread::park();
    }
}
