use super::*;

/// The command line of the binary run with `args`.
fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("check_ephemeral")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

fn run(args: &[&str]) -> Result<Config> {
    match parse(argv(args))? {
        Parsed::Run(c) => Ok(*c),
        Parsed::Print(_) => panic!("printed instead of running"),
    }
}

#[test]
fn format_and_output_file() {
    let c = run(&[]).unwrap();
    assert_eq!((c.format, c.output_file), (Format::Nagios, None));
    assert!(!run(&[]).unwrap().quiet_failures());
    let c = run(&["--format", "prometheus", "--output-file", "/a/b.prom"]).unwrap();
    assert_eq!(c.format, Format::Prometheus);
    assert_eq!(c.output_file, Some(PathBuf::from("/a/b.prom")));
    assert!(c.quiet_failures());
    for bad in [
        &["--output-file", ""][..],
        &["--output-file", "/a/"],
        &["--output-file", "/a/.."],
        &["--format", "json"],
        &["--format", "prometheus", "--processes"],
        &["--pools", "connect,bind", "--nat-ports", "40000-40999"],
    ] {
        assert!(matches!(run(bad), Err(Error::Usage(_))), "{bad:?}");
    }
}

#[test]
fn defaults() {
    let c = run(&[]).unwrap();
    assert_eq!(c.thresholds.used_warning.unwrap().to_string(), "70");
    assert_eq!(c.thresholds.used_critical.unwrap().to_string(), "90");
    assert_eq!(c.selection.kinds, Kind::DEFAULT.to_vec());
    assert!(c.upstream.is_none());
    assert_eq!(
        (c.top, c.timeout.as_secs(), c.backend),
        (5, 10, Backend::Auto)
    );
}

#[test]
fn free_thresholds_keep_the_level_thresholds() {
    let c = run(&["--free-critical", "100"]).unwrap();
    let t = &c.thresholds;
    assert_eq!(t.used_warning.as_ref().unwrap().to_string(), "70");
    assert_eq!(t.used_critical.as_ref().unwrap().to_string(), "90");
    // A plain number is a count of free ports to stay above.
    assert_eq!(t.free_critical.as_ref().unwrap().to_string(), "100:");
    let c = run(&["--free-critical", "100:", "-w", "50"]).unwrap();
    assert_eq!(c.thresholds.used_critical.unwrap().to_string(), "90");
    // A range that never alerts turns a level threshold off on purpose.
    let c = run(&["--free-critical", "100", "-w", "~:", "-c", "~:"]).unwrap();
    assert_eq!(c.thresholds.used_warning.unwrap().to_string(), "~:");
}

#[test]
fn destinations_in_every_form() {
    let c = run(&[
        "--destination",
        "10.0.0.9:5432",
        "--destination",
        "10.0.0.9",
        "--destination",
        "::1",
        "--destination",
        "[::1]:443",
        "--destination",
        "[::ffff:127.0.0.1]:80",
    ])
    .unwrap();
    let d: Vec<String> = c
        .selection
        .destinations
        .iter()
        .map(|d| format!("{} {:?}", d.addr, d.port))
        .collect();
    assert_eq!(
        d,
        [
            "10.0.0.9 Some(5432)",
            "10.0.0.9 None",
            "::1 None",
            "::1 Some(443)",
            "127.0.0.1 Some(80)"
        ]
    );
}

#[test]
fn usage_errors_are_one_line() {
    for args in [
        &["-w", "abc"][..],
        &["-c", "10:5"],
        &["--free-warning", ""],
        &["--free-warning", "many"],
        &["--free-critical", "1e3"],
        &["--pools", "tcp"],
        &["--pools", ""],
        &["--source", "10.0.0"],
        &["--destination", "10.0.0.9:0"],
        &["--destination", "10.0.0.9:70000"],
        &["--destination", "[::1"],
        &["--top", "-1"],
        &["--top", "1000"],
        &["-t", "0"],
        &["-t", "99999999999"],
        &["--backend", "magic"],
        &["--threads", "0"],
        &["--threads", "1025"],
        &["--exact"],
        &["--netns", "web1", "--exact"],
        &["-w", "1", "-w", "2"],
        &["--nonsense"],
        &["extra"],
    ] {
        match run(args) {
            Err(Error::Usage(m)) => {
                assert!(!m.contains('\n') && !m.is_empty(), "{args:?}: {m}")
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

#[test]
fn what_if_is_repeatable_and_refused_where_its_answer_would_be_kept() {
    let c = run(&[
        "--what-if",
        "net.ipv4.tcp_tw_reuse=1",
        "--what-if",
        "net/ipv4/ip_local_port_range=1024 65535",
    ])
    .unwrap();
    assert_eq!(
        c.what_if.to_string(),
        "what if net.ipv4.tcp_tw_reuse=1, net.ipv4.ip_local_port_range=1024 65535"
    );
    for bad in [
        &["--what-if", "net.ipv4.tcp_tw_reuse=1", "--trend"][..],
        &[
            "--what-if",
            "net.ipv4.tcp_tw_reuse=1",
            "--format",
            "prometheus",
        ],
        &[
            "--what-if",
            "net.ipv4.tcp_tw_reuse=1",
            "--what-if",
            "net.ipv4.tcp_tw_reuse=0",
        ],
        &["--what-if", "net.ipv4.tcp_fin_timeout=30"],
        &["--what-if", "net.ipv4.tcp_tw_reuse=9"],
    ] {
        match run(bad) {
            Err(Error::Usage(m)) => assert!(!m.contains('\n'), "{bad:?}: {m}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn options_choose_the_scope() {
    let scope = |args: &[&str]| match parse(argv(args)) {
        Ok(Parsed::Run(c)) => Ok((c.netns, c.processes)),
        Ok(Parsed::Print(_)) => Err("printed".to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(scope(&[]), Ok((crate::scope::Scope::Here, false)));
    assert_eq!(
        scope(&["--netns", "web1", "--processes"]),
        Ok((
            crate::scope::Scope::One(crate::scope::Target::Name("web1".into())),
            true
        ))
    );
    assert_eq!(
        scope(&["--all-netns"]),
        Ok((crate::scope::Scope::All, false))
    );
    for bad in [
        &["--netns", ""][..],
        &["--netns", ".."],
        &["--netns", "web1", "--all-netns"],
    ] {
        let e = scope(bad).unwrap_err();
        assert!(!e.contains('\n'), "{bad:?}: {e}");
    }
}
