//! `--format prometheus` checked by the real tools: `promtool check metrics`
//! lints the output of a loaded and of an idle namespace, and the real
//! `prometheus-node-exporter`, started inside a lab namespace with only its
//! textfile collector, serves what `--output-file` wrote, agreeing with
//! the Nagios perfdata of the same moment; NAT pools and the conntrack
//! table come from a pod behind a masquerading node (`natlab`). Outside CI
//! a missing tool, or missing root for the namespace, skips with a printed
//! reason; under `CI=true` it fails.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::lab::{self, Lab, Settings};
use crate::util::{Plugin, namespaces_alone, natlab, scratch};

pub(crate) const PROMTOOL: &str = "promtool";
const NODE_EXPORTER: &str = "prometheus-node-exporter";
/// Where the exporter listens inside the lab's own namespace, whose
/// loopback nothing else uses; outside the lab's port range, so scraping it
/// takes no port from the pool it listens on.
const EXPORTER: &str = "127.0.0.1:9100";
/// The longest any wait here may take.
const BOUND: Duration = Duration::from_secs(20);

/// Whether `tool` can run; outside CI a missing one skips the test.
pub(crate) fn have(test: &str, tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let why = format!("needs `{tool}` (apt: prometheus, prometheus-node-exporter)");
    crate::util::ready(test, (!found).then_some(why))
}

/// Runs the binary in the calling thread's namespace.
fn check(args: &[&str]) -> Output {
    Plugin::new().args(args).output()
}

/// `promtool check metrics` on `text`: its complaints, empty when clean.
pub(crate) fn promtool_complaints(text: &str) -> String {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    let mut stdin = child.stdin.take().expect("promtool stdin");
    stdin.write_all(text.as_bytes()).expect("feed promtool");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        String::new()
    } else {
        format!("exit {:?}: {said}", out.status.code())
    }
}

/// A sample's identity: its name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// The samples of an exposition (no escapes needed by what is parsed here:
/// the labels are addresses, kinds and ports). A label with an empty value
/// is no label, as Prometheus has it: the textfile collector gives every
/// sample of a family the same label names, filling in empty values.
fn samples(text: &str) -> BTreeMap<Series, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            ((name.to_string(), labels), value)
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Sockets in every state the model knows, in a lab of 20 ports: 12
/// connections to one listener (3 of them closed into TIME_WAIT), 2 to
/// another, a bound-only socket and a UDP one.
fn load(lab: &mut Lab) {
    let db = lab.listen("127.0.0.1:5432");
    let web = lab.listen("[::1]:8080");
    lab.connect(Some("127.0.0.1"), db, 9);
    lab.time_wait(Some("127.0.0.1"), db, 3);
    lab.connect(None, web, 2);
    lab.bind("127.0.0.1:0");
    lab.udp_bind("0.0.0.0:0");
}

#[test]
fn promtool_finds_the_metrics_clean_loaded_and_idle() {
    if !have("promtool_clean", PROMTOOL) {
        return;
    }
    let Some((loaded, idle, connect_only)) =
        lab::run("promtool_clean", Settings::default(), |lab| {
            let idle = check(&["--format", "prometheus"]);
            load(lab);
            (
                check(&["--format", "prometheus", "-w", "40", "-c", "60"]),
                idle,
                check(&["--format", "prometheus", "--pools", "connect"]),
            )
        })
    else {
        return;
    };
    // Kinds that --pools leaves out are not listed, so that no alerting
    // rule fires on a pool the check does not judge; the host figures stay.
    let metrics = text(&connect_only.stdout);
    assert_eq!(promtool_complaints(&metrics), "", "{metrics}");
    let kinds: Vec<String> = samples(&metrics)
        .into_keys()
        .filter_map(|(_, labels)| labels.get("kind").cloned())
        .collect();
    assert!(!kinds.is_empty(), "{metrics}");
    assert!(kinds.iter().all(|k| *k == "connect"), "{metrics}");
    assert!(
        metrics.contains("\nephemeral_bind_marked_ports "),
        "{metrics}"
    );
    for (what, out, state) in [("loaded", &loaded, 2.0), ("idle", &idle, 0.0)] {
        let metrics = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        assert!(out.stderr.is_empty(), "{what}: {out:?}");
        assert_eq!(promtool_complaints(&metrics), "", "{what}:\n{metrics}");
        let s = samples(&metrics);
        let state_series = ("ephemeral_check_state".to_string(), BTreeMap::new());
        assert_eq!(s.get(&state_series), Some(&state), "{what}:\n{metrics}");
        for kind in ["connect", "bind", "udp"] {
            let listed = s.keys().filter(|(name, labels)| {
                name == "ephemeral_pool_free_ports"
                    && labels.get("kind").map(String::as_str) == Some(kind)
            });
            assert!(listed.count() >= 1, "{what}: no {kind} pool:\n{metrics}");
        }
    }
    // The loaded lab's fullest pool: of 20 ports, 12 held towards the
    // database (9 established, 3 in TIME_WAIT, which tcp_tw_reuse=0 keeps)
    // and one marked by the bound-only socket: 7 free, 0.65 used.
    let s = samples(&text(&loaded.stdout));
    let db_pool = |name: &str| {
        let labels: BTreeMap<String, String> = [
            ("kind", "connect"),
            ("source", "127.0.0.1"),
            ("destination", "127.0.0.1"),
            ("port", "5432"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        s.get(&(name.to_string(), labels)).copied()
    };
    assert_eq!(db_pool("ephemeral_pool_capacity_ports"), Some(20.0));
    assert_eq!(db_pool("ephemeral_pool_free_ports"), Some(7.0));
    assert_eq!(db_pool("ephemeral_pool_used_ratio"), Some(0.65));
    // The forecast's figures are there for a listed pool (its numbers are
    // tests/forecast_agrees.rs's business); the seconds until full only
    // for a pool that fills.
    let pace = db_pool("ephemeral_pool_new_connections_per_second");
    assert!(pace.is_some_and(|p| p >= 0.0), "{pace:?}");
    let projected = db_pool("ephemeral_pool_projected_used_ratio");
    assert!(
        projected.is_some_and(|r| (0.65..=1.0).contains(&r)),
        "{projected:?}"
    );
    let full_in = db_pool("ephemeral_pool_full_in_seconds");
    if let Some(s) = full_in {
        assert!(
            s >= 0.0 && projected == Some(1.0),
            "{full_in:?} {projected:?}"
        );
    }
}

/// The exporter, killed and reaped when the test ends, however it ends.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Exporter {
    /// Started in the calling thread's namespace with only the textfile
    /// collector, reading `dir`; returns once it answers (bounded).
    fn start(dir: &Path) -> Exporter {
        let child = Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address={EXPORTER}"))
            .args(["--collector.disable-defaults", "--collector.textfile"])
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter");
        let mut exporter = Exporter(child);
        let started = Instant::now();
        let addr: SocketAddr = EXPORTER.parse().expect("address");
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = exporter.0.try_wait() {
                panic!("prometheus-node-exporter exited with {status}");
            }
            assert!(started.elapsed() < BOUND, "the exporter never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        exporter
    }

    /// GET /metrics over loopback: the body.
    fn scrape(&self) -> String {
        let addr: SocketAddr = EXPORTER.parse().expect("address");
        let mut stream = TcpStream::connect_timeout(&addr, BOUND).expect("connect to the exporter");
        stream.set_read_timeout(Some(BOUND)).expect("timeout");
        stream.set_write_timeout(Some(BOUND)).expect("timeout");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("send the request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("read the response");
        let response = text(&response);
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP head and body");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        body.to_string()
    }
}

#[test]
fn node_exporter_serves_the_file_and_agrees_with_the_perfdata() {
    if !have("node_exporter", NODE_EXPORTER) {
        return;
    }
    let scratch = scratch("textfile");
    let dir = scratch.path().to_path_buf();
    let settings = Settings {
        range: (40000, 40039),
        ..Settings::default()
    };
    let Some((nagios, written, scraped)) = lab::run("node_exporter", settings, move |lab| {
        load(lab);
        let exporter = Exporter::start(&dir);
        // The two runs of the same moment: nothing changes between them.
        // The level alone, so that the worst pool is the fullest (the
        // TIME_WAITs just made look like a pace to the forecast).
        let file = dir.join("check_ephemeral.prom");
        let nagios = lab.check(&["--no-forecast"]);
        let out = check(&[
            "--no-forecast",
            "--format",
            "prometheus",
            "--output-file",
            file.to_str().expect("UTF-8 path"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
        let written = std::fs::read_to_string(&file).expect("the file was written");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("list the directory")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| n != "check_ephemeral.prom")
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        (nagios, written, exporter.scrape())
    }) else {
        return;
    };
    let file = samples(&written);
    let served = samples(&scraped);
    for (series, value) in &file {
        assert_eq!(
            served.get(series),
            Some(value),
            "{series:?} as the file holds it is not served:\n{scraped}"
        );
    }
    let scrape_error = ("node_textfile_scrape_error".to_string(), BTreeMap::new());
    assert_eq!(served.get(&scrape_error), Some(&0.0), "{scraped}");
    assert!(
        served
            .keys()
            .any(|(name, labels)| name == "node_textfile_mtime_seconds"
                && labels
                    .get("file")
                    .is_some_and(|f| f.ends_with("check_ephemeral.prom"))),
        "{scraped}"
    );
    // The worst connect pool is the one with the fewest free ports.
    let worst_connect = served
        .iter()
        .filter(|((name, labels), _)| {
            name == "ephemeral_pool_free_ports"
                && labels.get("kind").map(String::as_str) == Some("connect")
        })
        .map(|(_, v)| *v)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        worst_connect,
        f64::from(nagios.perf("connect_free")),
        "{}\n{scraped}",
        nagios.stdout
    );
}

#[test]
fn an_output_file_that_cannot_be_replaced_stays_and_stderr_says_why() {
    let scratch = scratch("blocked");
    // A directory where the file should be: the rename over it fails.
    let target = scratch.path().join("check_ephemeral.prom");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("keep"), "x").expect("write");
    let out = check(&[
        "--format",
        "prometheus",
        "--output-file",
        target.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("EPHEMERAL UNKNOWN - cannot write the output to ")
            && stderr.contains("check_ephemeral.prom")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(target.join("keep").exists());
    let entries = std::fs::read_dir(scratch.path()).expect("list").count();
    assert_eq!(entries, 1, "the temporary file was left behind");
    // A usage error in prometheus mode: stderr too, stdout empty.
    let out = check(&["--format", "prometheus", "-w", "nonsense"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("EPHEMERAL UNKNOWN - "),
        "{out:?}"
    );
}

#[test]
fn namespaces_are_labelled_and_promtool_finds_them_clean() {
    if !have("namespaces_labelled", PROMTOOL) {
        return;
    }
    // Every namespace of the host judged OK: none of other tests' may be
    // there, full or filling.
    let _alone = namespaces_alone();
    let Some((one, all)) = lab::run("namespaces_labelled", Settings::default(), |lab| {
        load(lab);
        (
            check(&["--format", "prometheus", "--netns", "/proc/self/ns/net"]),
            check(&["--format", "prometheus", "--all-netns", "--top", "3"]),
        )
    }) else {
        return;
    };
    for (what, out) in [("--netns", &one), ("--all-netns", &all)] {
        let metrics = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        assert_eq!(promtool_complaints(&metrics), "", "{what}:\n{metrics}");
        let s = samples(&metrics);
        for (name, labels) in s.keys() {
            let per_namespace = name.starts_with("ephemeral_pool")
                || name == "ephemeral_sockets"
                || name == "ephemeral_range_capacity_ports";
            assert!(
                !per_namespace || labels.get("netns").is_some_and(|n| !n.is_empty()),
                "{what}: {name} {labels:?} has no netns label:\n{metrics}"
            );
        }
    }
    let s = samples(&text(&one.stdout));
    assert!(
        s.keys()
            .any(|(name, labels)| name == "ephemeral_pool_free_ports"
                && labels.get("port").map(String::as_str) == Some("5432")
                && labels.get("netns").is_some_and(|n| n.starts_with("inode "))),
        "{s:?}"
    );
    let s = samples(&text(&all.stdout));
    let judged = ("ephemeral_netns_judged".to_string(), BTreeMap::new());
    assert!(s.get(&judged).is_some_and(|n| *n >= 2.0), "{s:?}");
    // Measured figures for the walked namespaces, bounds under their own
    // name for the others: no namespace has both.
    let bound = "ephemeral_netns_bound_used_ratio";
    let labelled = |bounds: bool| -> std::collections::BTreeSet<&String> {
        s.keys()
            .filter(|(name, _)| (name == bound) == bounds)
            .filter_map(|(_, labels)| labels.get("netns"))
            .collect()
    };
    let (measured, bounded) = (labelled(false), labelled(true));
    assert!((1..=3).contains(&measured.len()), "{measured:?}");
    assert!(bounded.len() <= 3, "{bounded:?}");
    assert!(measured.is_disjoint(&bounded), "{measured:?} {bounded:?}");
}

#[test]
fn nat_pools_and_the_conntrack_table_agree_with_the_perfdata() {
    if !have("prometheus_nat", PROMTOOL) {
        return;
    }
    let Some(mut topo) =
        natlab::Topology::new("prometheus_nat", &[natlab::Rule::tcp(40000, 40009)])
    else {
        return;
    };
    let to = topo.listen(natlab::SERVER, 443);
    let timeout = Duration::from_millis(250);
    topo.pod_fill(to, 10, timeout);
    // One more connect finds the pool full: conntrack counts the failure.
    assert_eq!(topo.pod_connects_until_timeout(to, timeout, 1), 0);
    let args = ["--nat-ports", "40000-40009", "--pools", "nat"];
    let nagios = topo.check(&args);
    let mut prometheus_args = args.to_vec();
    prometheus_args.extend(["--format", "prometheus"]);
    let run = topo.check(&prometheus_args);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(promtool_complaints(&run.stdout), "", "{}", run.stdout);
    let s = samples(&run.stdout);
    let nat_pool = nat_pool_labels();
    let get = |name: &str, labels: &BTreeMap<String, String>| {
        s.get(&(name.to_string(), labels.clone())).copied()
    };
    let none = BTreeMap::new();
    assert_eq!(
        get("ephemeral_pool_free_ports", &nat_pool),
        Some(0.0),
        "{}",
        run.stdout
    );
    assert_eq!(get("ephemeral_pool_capacity_ports", &nat_pool), Some(10.0));
    assert_eq!(get("ephemeral_pool_used_ratio", &nat_pool), Some(1.0));
    assert_eq!(get("ephemeral_check_state", &none), Some(2.0));
    for (metric, perf) in [
        ("ephemeral_conntrack_entries", "conntrack_entries"),
        (
            "ephemeral_conntrack_insert_failed_total",
            "conntrack_insert_failed",
        ),
    ] {
        assert_eq!(
            get(metric, &none),
            Some(f64::from(nagios.perf(perf))),
            "{metric}:\n{}\n{}",
            run.stdout,
            nagios.stdout
        );
    }
    assert!(get("ephemeral_conntrack_insert_failed_total", &none).is_some_and(|n| n >= 1.0));
    assert!(get("ephemeral_conntrack_max", &none).is_some_and(|n| n >= 10.0));
    // `--pools nat` reads no socket table: its figures are left out, as in
    // the perfdata, rather than written as zeros. The port range was read.
    for metric in [
        "ephemeral_bind_marked_ports",
        "ephemeral_connect_tuples",
        "ephemeral_sockets",
        "ephemeral_time_wait_sockets",
        "ephemeral_time_wait_reusable_sockets",
    ] {
        assert!(!run.stdout.contains(metric), "{metric}:\n{}", run.stdout);
    }
    for label in ["sockets", "time_wait", "tuples"] {
        assert!(!nagios.perf.contains_key(label), "{}", nagios.stdout);
    }
    assert!(get("ephemeral_range_capacity_ports", &none).is_some());
}

/// Where the rule names no range, each of the kernel's port classes is a
/// pool: the low ones carry a `port_class` label, promtool finds it clean.
#[test]
fn nat_port_classes_are_labelled_and_clean() {
    if !have("prometheus_nat_classes", PROMTOOL) {
        return;
    }
    let Some(mut topo) =
        natlab::Topology::new("prometheus_classes", &[natlab::Rule::tcp_classes()])
    else {
        return;
    };
    let to = topo.listen(natlab::SERVER, 443);
    let timeout = Duration::from_millis(250);
    for port in [1, 2, 3, 700] {
        topo.pod_connect_from(natlab::POD, port, to, timeout)
            .expect("pod connect from a low port");
    }
    topo.pod_connect(to, timeout).expect("pod connect");
    let run = topo.check(&["--pools", "nat", "--top", "5", "--format", "prometheus"]);
    assert_eq!(promtool_complaints(&run.stdout), "", "{}", run.stdout);
    let s = samples(&run.stdout);
    let free = |class: Option<&str>| {
        let mut labels = nat_pool_labels();
        if let Some(class) = class {
            labels.insert("port_class".into(), class.into());
        }
        s.get(&("ephemeral_pool_free_ports".to_string(), labels))
            .copied()
    };
    assert_eq!(free(Some("below-512")), Some(508.0), "{}", run.stdout);
    assert_eq!(free(Some("512-1023")), Some(423.0), "{}", run.stdout);
    assert_eq!(free(None), Some(64511.0), "{}", run.stdout);
}

/// The labels of the NAT pool the topology's pod fills: TCP from the
/// node's address to the server's port 443.
fn nat_pool_labels() -> BTreeMap<String, String> {
    [
        ("kind", "nat"),
        ("protocol", "tcp"),
        ("source", "10.200.2.1"),
        ("destination", "10.200.2.2"),
        ("port", "443"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
