//! The binary: parse options, run the check under a watchdog, print, exit.
//! The only place that turns an error into an exit code.

use std::io::Write;
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use check_ephemeral::cli::{self, Parsed};
use check_ephemeral::output;
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
            &output::unknown(&format!("internal error: {message}")),
            UNKNOWN,
        );
    }));

    let config = match cli::parse(std::env::args_os()) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Print(text)) => print_and_exit(&text, 0),
        Err(e) => print_and_exit(&output::unknown(&e.to_string()), UNKNOWN),
    };
    start_watchdog(config.timeout);
    match check_ephemeral::check(&config) {
        Ok(outcome) => print_and_exit(&outcome.text, outcome.state.exit_code()),
        Err(e) => print_and_exit(&output::unknown(&e.to_string()), UNKNOWN),
    }
}

/// After `timeout`, report UNKNOWN naming the stage that ran out of time.
fn start_watchdog(timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        let reason = format!(
            "timed out after {} s while {}",
            timeout.as_secs(),
            stage::current().describe()
        );
        print_and_exit(&output::unknown(&reason), UNKNOWN);
    });
}

fn print_and_exit(text: &str, code: i32) -> ! {
    if !ANSWERED.swap(true, Ordering::SeqCst) {
        let mut stdout = std::io::stdout().lock();
        // Nothing useful is left to do if stdout is gone.
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
        exit(code);
    }
    // Another thread is already answering; it exits the process.
    loop {
        std::thread::park();
    }
}
