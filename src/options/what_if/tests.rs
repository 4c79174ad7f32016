use super::*;

fn parse(text: &str) -> Result<Setting, String> {
    text.parse::<WhatIf>().map(|w| w.setting)
}

#[test]
fn takes_every_key_in_sysctl_form() {
    assert_eq!(
        parse("net.ipv4.ip_local_port_range=40000 40999"),
        Ok(Setting::PortRange(PortRange::new(40000, 40999).unwrap()))
    );
    assert_eq!(
        parse("net/ipv4/ip_local_port_range=1024\t65535\n"),
        Ok(Setting::PortRange(PortRange::new(1024, 65535).unwrap()))
    );
    assert_eq!(
        parse("net.ipv4.ip_local_reserved_ports=8080,40000-40009,"),
        Ok(Setting::ReservedPorts("8080,40000-40009".parse().unwrap()))
    );
    assert_eq!(
        parse("net.ipv4.ip_local_reserved_ports="),
        Ok(Setting::ReservedPorts(ReservedPorts::default()))
    );
    assert_eq!(
        parse("net.ipv4.tcp_tw_reuse=1"),
        Ok(Setting::TwReuse(TwReuse::Always))
    );
    assert_eq!(
        parse("net.ipv4.tcp_tw_reuse= 2"),
        Ok(Setting::TwReuse(TwReuse::LoopbackOnly))
    );
    assert_eq!(
        parse("net.ipv4.tcp_tw_reuse_delay=60000"),
        Ok(Setting::TwReuseDelayMs(60000))
    );
    assert_eq!(
        parse("net.ipv4.tcp_max_tw_buckets=0"),
        Ok(Setting::MaxTwBuckets(0))
    );
    assert_eq!(
        parse("net.netfilter.nf_conntrack_max=262144"),
        Ok(Setting::ConntrackMax(262144))
    );
    let w: WhatIf = "net/ipv4/tcp_tw_reuse=1".parse().unwrap();
    assert_eq!(w.to_string(), "net.ipv4.tcp_tw_reuse=1");
}

/// Each of these the kernel refused when written in a namespace.
#[test]
fn refuses_what_the_kernel_refuses() {
    for bad in [
        "net.ipv4.ip_local_port_range=2000 1999",
        "net.ipv4.ip_local_port_range=0 100",
        "net.ipv4.ip_local_port_range=2000 65536",
        "net.ipv4.ip_local_port_range=+2000 3000",
        "net.ipv4.ip_local_reserved_ports=1, 2",
        "net.ipv4.ip_local_reserved_ports= 1",
        "net.ipv4.ip_local_reserved_ports=65536",
        "net.ipv4.ip_local_reserved_ports=5-3",
        "net.ipv4.ip_local_reserved_ports=1,,2",
        "net.ipv4.ip_local_reserved_ports=1 - 3",
        "net.ipv4.ip_local_reserved_ports=a",
        "net.ipv4.ip_local_reserved_ports= ",
        "net.ipv4.tcp_tw_reuse=3",
        "net.ipv4.tcp_tw_reuse=-1",
        "net.ipv4.tcp_tw_reuse_delay=0",
        "net.ipv4.tcp_tw_reuse_delay=60001",
        "net.ipv4.tcp_max_tw_buckets=2147483648",
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.starts_with(bad.split('=').next().unwrap()), "{bad}: {e}");
        assert!(!e.contains('\n'), "{bad}: {e}");
    }
}

/// Forms the kernel takes but reads in a way the text does not say.
#[test]
fn refuses_what_the_kernel_would_read_otherwise() {
    for bad in [
        "net.ipv4.ip_local_port_range=2000",
        "net.ipv4.ip_local_port_range=2000 3000 4000",
        "net.ipv4.ip_local_port_range=0x800 3000",
        "net.ipv4.tcp_max_tw_buckets=-1",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn unknown_keys_and_shapes_are_named() {
    let e = parse("net.ipv4.tcp_fin_timeout=30").unwrap_err();
    assert!(
        e.contains("\"net.ipv4.tcp_fin_timeout\" is not a setting"),
        "{e}"
    );
    assert!(parse("tcp_tw_reuse=1").is_err());
    let e = parse("net.ipv4.tcp_tw_reuse").unwrap_err();
    assert!(e.contains("not KEY=VALUE"), "{e}");
}

#[test]
fn a_hypothesis_applies_its_changes_and_says_which() {
    let changes = [
        "net.ipv4.tcp_tw_reuse=1",
        "net.ipv4.ip_local_port_range=2000 3999",
    ]
    .map(|t| t.parse().unwrap());
    let h = Hypothesis::new(changes.to_vec()).unwrap();
    let mut s = KernelSettings {
        range: PortRange::new(40000, 40019).unwrap(),
        reserved: "40001".parse().unwrap(),
        tw_reuse: TwReuse::Never,
        timestamps: true,
        tw_reuse_delay_ms: None,
    };
    h.apply(&mut s, 1024).unwrap();
    assert_eq!(
        (s.range.lo, s.range.hi, s.tw_reuse),
        (2000, 3999, TwReuse::Always)
    );
    assert_eq!(s.reserved, "40001".parse().unwrap());
    assert_eq!(
        h.to_string(),
        "what if net.ipv4.tcp_tw_reuse=1, net.ipv4.ip_local_port_range=2000 3999"
    );
    let e = h.apply(&mut s, 3000).unwrap_err();
    assert!(e.contains("ip_unprivileged_port_start (3000)"), "{e}");
    let delay = Hypothesis::new(vec!["net.ipv4.tcp_tw_reuse_delay=10".parse().unwrap()]);
    assert!(
        delay.unwrap().apply(&mut s, 1024).is_err(),
        "no such setting"
    );
    let twice = Hypothesis::new(vec![changes[0].clone(), changes[0].clone()]);
    assert!(twice.is_err());
}

#[test]
fn the_provider_nat_rule_changes_as_its_spec_reads() {
    let w = |t: &str| t.parse::<WhatIf>();
    assert_eq!(
        w("upstream.ports=128").unwrap().setting,
        Setting::UpstreamPorts(128)
    );
    assert_eq!(
        w("upstream.hold=30").unwrap().setting,
        Setting::UpstreamHoldS(30)
    );
    for bad in [
        "upstream.ports=0",
        "upstream.ports=1000001",
        "upstream.hold=3601",
    ] {
        assert!(w(bad).is_err(), "{bad}");
    }
    let h = Hypothesis::new(vec![w("upstream.hold=30").unwrap()]).unwrap();
    assert!(h.upstream_key().is_some());
    assert!(Hypothesis::default().upstream_key().is_none());
}

#[test]
fn caps_come_from_the_hypothesis_when_it_names_them() {
    let h = Hypothesis::new(vec!["net.ipv4.tcp_max_tw_buckets=5".parse().unwrap()]).unwrap();
    assert_eq!(h.max_tw_buckets(Some(4096)), Some(5));
    assert_eq!(Hypothesis::default().max_tw_buckets(Some(4096)), Some(4096));
    assert_eq!(h.conntrack_max(), None);
}
