//! The binary: parse options, run the check under a watchdog, deliver the
//! answer (to stdout, or to `--output-file`, replaced atomically), exit.
//! The only place that turns an error into an exit code.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

use check_ephemeral::options::{self, Format, Parsed};
use check_ephemeral::report;
use check_ephemeral::stage;

mod output_file;

const UNKNOWN: i32 = 3;

/// Set once the answer is being printed (or the output file is in place),
/// so a late watchdog stays quiet.
static ANSWERED: AtomicBool = AtomicBool::new(false);
/// Failures go to stderr, and stdout stays untouched (Prometheus output, an
/// output file): whoever reads the metrics must never read a reason instead.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Where an answer goes.
enum To<'a> {
    Stdout,
    Stderr,
    File(&'a Path),
}

fn main() {
    // `-t` counts from here; the check is told so.
    let started = Instant::now();
    // A panic is a bug, but even then the caller gets one UNKNOWN line and
    // exit 3, never a backtrace or exit 101.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        fail(&format!("internal error: {message}"));
    }));

    // Reading options may read an --extra-opts file, which can stall too:
    // the default timeout applies until the options say otherwise.
    let args: Vec<OsString> = std::env::args_os().collect();
    QUIET.store(options::early_quiet(&args), Ordering::SeqCst);
    let watchdog = start_watchdog(
        started,
        options::early_timeout(&args).unwrap_or(options::DEFAULT_TIMEOUT),
    );
    stage::enter(stage::Stage::ReadingOptions);
    let config = match options::parse(args) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Print(text)) => deliver(To::Stdout, &text, 0),
        Err(e) => fail(&e.to_string()),
    };
    QUIET.store(config.quiet_failures(), Ordering::SeqCst);
    set_timeout(&watchdog, config.timeout);
    match check_ephemeral::check_from(&config, started) {
        Ok(outcome) => {
            // Prometheus reads the state from ephemeral_check_state; the
            // exit code says only whether the metrics were made.
            let code = match config.format {
                Format::Nagios => outcome.state.exit_code(),
                Format::Prometheus => 0,
            };
            let to = config.output_file.as_deref().map_or(To::Stdout, To::File);
            deliver(to, &outcome.text, code)
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Milliseconds after `STARTED` at which the watchdog fires.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(u64::MAX);
static TIMEOUT_S: AtomicU64 = AtomicU64::new(0);

/// Reports UNKNOWN naming the stage that ran out of time, once the
/// deadline (counted from the start of the process) has passed.
fn start_watchdog(started: Instant, timeout: Duration) -> Thread {
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
        output_file::abandon();
        fail(&reason);
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

/// UNKNOWN with its reason: on stdout, or on stderr when stdout (or the
/// output file) is for metrics only.
fn fail(reason: &str) -> ! {
    let to = if QUIET.load(Ordering::SeqCst) {
        To::Stderr
    } else {
        To::Stdout
    };
    deliver(to, &report::unknown(reason), UNKNOWN)
}

fn deliver(to: To, text: &str, code: i32) -> ! {
    let written = match to {
        // The file is written before the answer is claimed, so the watchdog
        // can still end a write that hangs (a stalled NFS server); it then
        // removes the temporary file and the old file stays.
        To::File(path) => {
            stage::enter(stage::Stage::WritingOutput);
            let done = output_file::replace(path, text).map_err(|e| {
                format!(
                    "cannot write the output to {}: {e}",
                    check_ephemeral::error::shown(path)
                )
            });
            claim();
            done
        }
        To::Stdout => {
            claim();
            write_all(&mut io::stdout().lock(), text)
                .map_err(|e| format!("cannot write the output to stdout: {e}"))
        }
        To::Stderr => {
            claim();
            write_all(&mut io::stderr().lock(), text)
                .map_err(|e| format!("cannot write to stderr: {e}"))
        }
    };
    if let Err(reason) = written {
        // The caller cannot read the answer (a full disk, a reader
        // gone): the state alone would be a verdict without its reason,
        // so the exit says UNKNOWN and stderr says why.
        let _ = io::stderr().write_all(report::unknown(&reason).as_bytes());
        exit(UNKNOWN);
    }
    exit(code)
}

/// Makes this thread the one that answers; if another already is, waits
/// for it to end the process.
fn claim() {
    if ANSWERED.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

fn write_all(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}
