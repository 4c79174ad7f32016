//! The binary: run the check on a worker thread while this one keeps the
//! deadline (`-t`, counted from the start of the process), deliver the
//! answer (to stdout, or to `--output-file`, replaced atomically), exit.
//! The only place that turns an error into an exit code.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::exit;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use check_ephemeral::atomic_file;
use check_ephemeral::options::{self, Config, Format, Parsed};
use check_ephemeral::report;
use check_ephemeral::stage::{self, Stage};

const UNKNOWN: i32 = 3;

/// What the worker tells this thread, in this order.
enum Said {
    /// The options are read: the final `-t` and where failures go.
    Options { timeout: Duration, quiet: bool },
    /// The answer, or why there is none.
    Done(Result<Answer, String>),
}

/// An answer ready to deliver.
enum Answer {
    /// Text for stdout (the check's, or `--help`), and the exit code.
    Print(String, i32),
    /// The output file is in place; the exit code.
    Written(i32),
}

/// Where failures go and when time is up, as far as is known.
struct Watch {
    started: Instant,
    timeout: Duration,
    /// Failures go to stderr, and stdout stays untouched (Prometheus
    /// output, an output file): whoever reads the metrics must never read
    /// a reason instead.
    quiet: bool,
}

fn main() {
    // `-t` counts from here; the check is told so.
    let started = Instant::now();
    let args: Vec<OsString> = std::env::args_os().collect();
    // Reading the options may read an --extra-opts file, which can stall
    // too: until they are read, the command line's `-t` applies.
    let early = options::early(&args);
    let mut watch = Watch {
        started,
        timeout: early.timeout,
        quiet: early.quiet,
    };
    let (tell, heard) = mpsc::channel();
    report_panics(tell.clone());
    let worker = std::thread::Builder::new()
        .name("check".into())
        .spawn(move || {
            let done = work(args, started, &tell);
            let _ = tell.send(Said::Done(done));
        });
    if let Err(e) = worker {
        fail(&watch, &format!("cannot start the check: {e}"));
    }
    loop {
        let left = (watch.started + watch.timeout).saturating_duration_since(Instant::now());
        match heard.recv_timeout(left) {
            Ok(Said::Options { timeout, quiet }) => {
                watch.timeout = timeout;
                watch.quiet = quiet;
            }
            Ok(Said::Done(Ok(answer))) => deliver(answer),
            Ok(Said::Done(Err(reason))) => fail(&watch, &reason),
            Err(RecvTimeoutError::Timeout) => {
                let reason = format!(
                    "timed out after {} s while {}",
                    watch.timeout.as_secs(),
                    stage::current().describe()
                );
                atomic_file::abandon();
                fail(&watch, &reason);
            }
            Err(RecvTimeoutError::Disconnected) => {
                fail(&watch, "internal error: the check ended without an answer")
            }
        }
    }
}

/// The worker: reads the options, runs the check and, for
/// `--output-file`, writes the file (a write that hangs, on a stalled NFS
/// server, is then ended by the deadline like any other stage).
fn work(args: Vec<OsString>, started: Instant, tell: &Sender<Said>) -> Result<Answer, String> {
    stage::enter(Stage::ReadingOptions);
    let config: Box<Config> = match options::parse(args).map_err(|e| e.to_string())? {
        Parsed::Run(config) => config,
        Parsed::Print(text) => return Ok(Answer::Print(text, 0)),
    };
    let _ = tell.send(Said::Options {
        timeout: config.timeout,
        quiet: config.quiet_failures(),
    });
    let outcome = check_ephemeral::check_from(&config, started).map_err(|e| e.to_string())?;
    // Prometheus reads the state from ephemeral_check_state; the exit
    // code says only whether the metrics were made.
    let code = match config.format {
        Format::Nagios => outcome.state.exit_code(),
        Format::Prometheus => 0,
    };
    let Some(path) = config.output_file.as_deref() else {
        return Ok(Answer::Print(outcome.text, code));
    };
    stage::enter(Stage::WritingOutput);
    atomic_file::replace(path, &outcome.text).map_err(|e| {
        format!(
            "cannot write the output to {}: {e}",
            check_ephemeral::error::shown(path)
        )
    })?;
    Ok(Answer::Written(code))
}

/// A panic is a bug, but even then the caller gets one UNKNOWN line and
/// exit 3, never a backtrace or exit 101: the panicking thread hands the
/// message to the main thread, which answers, and waits to be ended.
fn report_panics(tell: Sender<Said>) {
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let reason = format!("internal error: {message}");
        if std::thread::current().name() == Some("main") {
            // Nothing is left to answer for it: the reason goes to stderr.
            let _ = io::stderr().write_all(report::unknown(&reason).as_bytes());
            exit(UNKNOWN);
        }
        let _ = tell.send(Said::Done(Err(reason)));
        loop {
            std::thread::park();
        }
    }));
}

/// UNKNOWN with its reason: on stdout, or on stderr when stdout (or the
/// output file) is for metrics only.
fn fail(watch: &Watch, reason: &str) -> ! {
    let text = report::unknown(reason);
    if watch.quiet {
        let _ = write_all(&mut io::stderr().lock(), &text);
        exit(UNKNOWN)
    }
    deliver(Answer::Print(text, UNKNOWN))
}

fn deliver(answer: Answer) -> ! {
    match answer {
        Answer::Written(code) => exit(code),
        Answer::Print(text, code) => {
            if let Err(e) = write_all(&mut io::stdout().lock(), &text) {
                // The caller cannot read the answer (a reader gone): the
                // state alone would be a verdict without its reason, so the
                // exit says UNKNOWN and stderr says why.
                let reason = format!("cannot write the output to stdout: {e}");
                let _ = io::stderr().write_all(report::unknown(&reason).as_bytes());
                exit(UNKNOWN);
            }
            exit(code)
        }
    }
}

fn write_all(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}
