//! The benchmark's helper, run by `bench/run` inside a network namespace
//! that script made:
//!
//! - `populate mix N` / `populate web INBOUND OUTBOUND`: builds a socket
//!   population on loopback, prints `ready ...` and holds it until killed
//!   (or until `--hold` seconds have passed);
//! - `measure NAME CHECK RUNS WARMUP`: times the four commands and
//!   `check_ephemeral --processes`, and the sock_diag requests of two of
//!   them alone, in interleaved rounds and prints one TSV line for each;
//! - `report FILE DATE`: turns the collected TSV lines (and perf's
//!   `profile-NAME.txt` files next to them, if any) into the Markdown
//!   report;
//! - `conntrack fill N FIRST` / `conntrack measure NAME CHECK ROUNDS`:
//!   conntrack populations and the NAT judgement against `conntrack -L`
//!   (see `conntrack.rs`, run by `bench/conntrack`);
//! - `node NAME CHECK ROUNDS PREFIX COUNT TABLES`: times `--all-netns`
//!   against judging namespaces PREFIX-1 ... PREFIX-COUNT one by one, run
//!   from the host's namespace;
//! - `churn RATE`: short connections at RATE a second, each leaving a
//!   TIME_WAIT (see `churn.rs`);
//! - `pods NAME CHECK ROUNDS PREFIX COUNT two|busy`: a node where two pods
//!   matter (or every one is busy), `--all-netns` against `--exact` and
//!   `ss -tan` in each pod; `pods-report DIR` writes its section (`pods.rs`).

mod churn;
mod conntrack;
mod fmt;
mod kernel;
mod measure;
mod node;
mod pods;
mod populate;
mod profile;
mod report;
mod results;
mod targets;
mod where_time_goes;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["populate", rest @ ..] => populate::main(rest),
        ["conntrack", rest @ ..] => conntrack::main(rest),
        ["measure", rest @ ..] => measure::main(rest),
        ["node", rest @ ..] => node::main(rest),
        ["pods", rest @ ..] => pods::main(rest),
        ["pods-report", dir] => pods::print(std::path::Path::new(dir)),
        ["churn", rest @ ..] => churn::main(rest),
        ["report", rest @ ..] => report::main(rest),
        _ => Err(
            "usage: bench-harness populate mix N | populate web INBOUND OUTBOUND | \
             measure NAME CHECK RUNS WARMUP | conntrack fill N FIRST | \
             conntrack measure NAME CHECK ROUNDS | node NAME CHECK ROUNDS PREFIX COUNT TABLES | \
             pods NAME CHECK ROUNDS PREFIX COUNT two|busy | pods-report DIR | churn RATE | \
             report FILE DATE"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-harness: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses a count argument.
fn number(s: &str, what: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| format!("{what}: not a number: {s:?}"))
}

/// `net.ipv4.ip_local_port_range` of this namespace.
fn port_range() -> Result<(u16, u16), String> {
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) => Ok((lo, hi)),
        _ => Err(format!("{path}: cannot parse {text:?}")),
    }
}
