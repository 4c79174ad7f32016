//! Sensu Go's perfdata rules read every metric; the asset has its layout.

use super::*;

/// Sensu Go's nagios_perfdata rules: the whole output split once on `|`
/// into exactly two parts, the second split on spaces, each metric
/// `label=value[UOM][;...]`, no quote stripping.
fn sensu_metrics(output: &str) -> Result<Vec<(String, f64)>, String> {
    let parts: Vec<&str> = output.split('|').collect();
    if parts.len() != 2 {
        return Err(format!("{} parts around '|'", parts.len()));
    }
    parts[1]
        .trim()
        .split(' ')
        .map(|metric| {
            let kv: Vec<&str> = metric.split('=').collect();
            if kv.len() != 2 {
                return Err(format!("{metric:?}: not label=value"));
            }
            let value = kv[1].split(';').next().unwrap_or("");
            let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            let number: f64 = number
                .parse()
                .map_err(|_| format!("{metric:?}: {value:?} is not a number"))?;
            Ok((kv[0].to_string(), number))
        })
        .collect()
}

#[test]
fn sensu_reads_every_metric_from_real_output() {
    for args in [
        &[][..],
        &["-vvv"],
        &["--pools", "connect", "--destination", "127.0.0.1:9"],
        &[
            "--free-warning",
            "100:",
            "--free-critical",
            "10:",
            "--top",
            "0",
        ],
    ] {
        let out = Plugin::new().args(args).output();
        let stdout = text(&out.stdout);
        answer(&out);
        let metrics = sensu_metrics(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{stdout}"));
        let perfdata = stdout.split('|').nth(1).unwrap().trim();
        assert_eq!(metrics.len(), perfdata.split(' ').count());
        for (label, value) in &metrics {
            assert!(
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "{args:?}: label {label:?} would reach Sensu as is"
            );
            assert!(value.is_finite() && *value >= 0.0, "{label}={value}");
        }
        let names: Vec<&str> = metrics.iter().map(|(l, _)| l.as_str()).collect();
        assert!(names.contains(&"capacity"), "{args:?}: {names:?}");
    }
}

#[test]
fn sensu_asset_has_the_expected_layout_and_sum() {
    let test = "sensu_asset_has_the_expected_layout_and_sum";
    if !ready(
        test,
        &[
            have("tar", "Debian package tar"),
            have("sha512sum", "Debian package coreutils"),
            have("gzip", "Debian package gzip"),
        ],
    ) {
        return;
    }
    let dir = scratch("sensu");
    let out = run(Command::new(repo("packaging/sensu/build-asset"))
        .args(["--binary", BIN, "--out"])
        .arg(dir.path()));
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}{}", text(&out.stderr));
    let value = |key: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{printed}"))
            .trim()
            .to_string()
    };
    let tarball = PathBuf::from(value("tarball:"));
    let sha512 = value("sha512:");
    assert_eq!(sha512.len(), 128, "{sha512}");
    let sum = text(&run(Command::new("sha512sum").arg(&tarball)).stdout);
    assert_eq!(sum.split(' ').next(), Some(sha512.as_str()));

    let listing = text(&run(Command::new("tar").arg("-tvzf").arg(&tarball)).stdout);
    let entries: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap_or(""))
        .collect();
    assert_eq!(entries, ["bin/", "bin/check_ephemeral"], "{listing}");
    assert!(
        listing.lines().nth(1).unwrap().starts_with("-rwxr-xr-x"),
        "{listing}"
    );

    let unpacked = dir.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked));
    let out = Plugin::at(unpacked.join("bin/check_ephemeral")).output();
    answer(&out);

    let asset = std::fs::read_to_string(repo("packaging/sensu/asset.yml")).unwrap();
    let check = std::fs::read_to_string(repo("packaging/sensu/check.yml")).unwrap();
    for needle in [
        "type: Asset",
        "api_version: core/v2",
        "entity.system.os == 'linux'",
        "sha512:",
        "name: check-ephemeral",
    ] {
        assert!(asset.contains(needle), "asset.yml lacks {needle}");
    }
    for needle in [
        "type: CheckConfig",
        "api_version: core/v2",
        "output_metric_format: nagios_perfdata",
        "- check-ephemeral",
        "command: check_ephemeral ",
        "subscriptions:",
        "interval:",
        "timeout:",
    ] {
        assert!(check.contains(needle), "check.yml lacks {needle}");
    }
}
