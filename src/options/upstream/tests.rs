//! The SPEC and CIDR parsers, and how the options fit together.

use super::*;
use crate::error::Error;
use crate::options::{Config, Parsed, parse};

fn run(args: &[&str]) -> Result<Config, Error> {
    let argv = std::iter::once("check_ephemeral").chain(args.iter().copied());
    match parse(argv.map(std::ffi::OsString::from))? {
        Parsed::Run(c) => Ok(*c),
        Parsed::Print(_) => panic!("printed instead of running"),
    }
}

fn budget(text: &str) -> Budget {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn profiles_and_their_numbers() {
    let gcp = budget("gcp");
    assert_eq!(
        (gcp.ports, gcp.hold_s, gcp.tcp_per),
        (64, 120, Per::Destination)
    );
    assert_eq!(gcp.profile, Some("gcp"));
    assert_eq!(budget("gcp:256").ports, 256);
    let lb = budget("azure-lb");
    assert_eq!((lb.ports, lb.hold_s), (1024, 240));
    assert_eq!((lb.tcp_per, lb.udp_per), (Per::Destination, Per::Address));
    assert_eq!(budget("azure-lb:32").ports, 32);
    assert_eq!(budget("azure-natgw").hold_s, 65);
    assert_eq!(budget("aws-natgw").ports, 55_000);
    assert!(!budget("aws-natgw").ipv6);
}

#[test]
fn the_general_form() {
    let b = budget("ports=64,hold=30");
    assert_eq!((b.ports, b.hold_s, b.profile), (64, 30, None));
    assert_eq!((b.tcp_per, b.udp_per), (Per::Destination, Per::Destination));
    let b = budget("per=address,hold=0,ports=1,ipv6=yes");
    assert_eq!(
        (b.ports, b.hold_s, b.udp_per, b.ipv6),
        (1, 0, Per::Address, true)
    );
}

#[test]
fn refusals_name_the_bad_part() {
    for (text, named) in [
        ("", "\"\""),
        ("gpc", "gpc"),
        ("gcp:", "gcp:"),
        ("gcp:0", "gcp:0"),
        ("gcp:65537", "65537"),
        ("gcp:-1", "-1"),
        ("azure-lb:x", "\"x\""),
        ("ports=64", "hold=SECONDS is missing"),
        ("hold=30", "ports=N is missing"),
        ("ports=0,hold=30", "ports=0"),
        ("ports=+5,hold=30", "ports=+5"),
        ("ports=64,hold=3601", "hold=3601"),
        ("ports=64,hold=30,per=port", "per=port"),
        ("ports=64,hold=30,ipv6=maybe", "ipv6=maybe"),
        ("ports=64,hold=30,ports=32", "ports is given twice"),
        ("ports=64,hold=30,", "\"\" is not KEY=VALUE"),
        ("ports=64,hold=30,size=3", "\"size\""),
        ("ports=99999999999,hold=1", "ports=99999999999"),
    ] {
        match text.parse::<Budget>() {
            Ok(b) => panic!("{text:?} accepted as {b:?}"),
            Err(e) => {
                assert!(e.contains(named), "{text:?}: {e}");
                assert!(!e.contains('\n'), "{text:?}: {e}");
            }
        }
    }
}

#[test]
fn blocks() {
    let c: Cidr = "203.0.113.0/24".parse().unwrap();
    assert!(c.contains("203.0.113.9".parse().unwrap()));
    let one: Cidr = "::ffff:198.51.100.9".parse().unwrap();
    assert_eq!(one.to_string(), "198.51.100.9/32");
    for bad in [
        "",
        "10.0.0.0/33",
        "10.0.0/8",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
    ] {
        assert!(bad.parse::<Cidr>().is_err(), "{bad}");
    }
}

/// Any text either parses or is refused on one line; an accepted one
/// is within the bounds.
#[test]
fn any_text_parses_or_is_refused_on_one_line() {
    let pieces = [
        "ports",
        "hold",
        "per",
        "ipv6",
        "=",
        ",",
        ":",
        "gcp",
        "azure-lb",
        "64",
        "0",
        "-",
        "address",
        "yes",
        "\n",
        "99999999999",
        "",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5000 {
        let mut text = String::new();
        for _ in 0..(seed % 7) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        match text.parse::<Budget>() {
            Ok(b) => assert!(b.ports >= 1 && b.ports <= MAX_PORTS && b.hold_s <= MAX_HOLD_S),
            Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{text:?}: {e}"),
        }
    }
}

#[test]
fn the_upstream_budget_joins_the_default_kinds() {
    let c = run(&["--upstream-nat", "gcp"]).unwrap();
    assert_eq!(c.selection.kinds, Kind::ALL.to_vec());
    let (budget, route) = c.upstream.unwrap();
    assert_eq!((budget.ports, budget.hold_s), (64, 120));
    assert!(!route.passes("10.0.0.9".parse().unwrap()));
    let c = run(&[
        "--pools",
        "upstream",
        "--upstream-nat",
        "ports=10,hold=5",
        "--upstream-nat-exclude",
        "198.51.100.0/24",
        "--upstream-nat-exclude",
        "203.0.113.7",
    ])
    .unwrap();
    assert_eq!(c.selection.kinds, [Kind::Upstream]);
    let (_, route) = c.upstream.unwrap();
    assert!(!route.passes("198.51.100.9".parse().unwrap()));
    assert!(!route.passes("203.0.113.7".parse().unwrap()));
    assert!(route.passes("203.0.113.8".parse().unwrap()));
    for bad in [
        &["--pools", "upstream"][..],
        &["--upstream-nat", "gcp", "--pools", "connect"],
        &["--upstream-nat-exclude", "203.0.113.0/24"],
        &[
            "--upstream-nat",
            "gcp",
            "--upstream-nat-exclude",
            "203.0.113.0/33",
        ],
        &["--upstream-nat", "ports=64"],
        &["--upstream-nat", "gcp", "--upstream-nat", "gcp"],
    ] {
        match run(bad) {
            Err(Error::Usage(m)) => assert!(!m.contains('\n'), "{bad:?}: {m}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}
