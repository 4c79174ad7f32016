//! The integration tests: one binary, one module per area, the helpers
//! they share in `util` (the one way to run the plugin among them).
//!
//! Every test of every area runs in this one process, side by side on the
//! test threads: a test that changes something of the process or the host
//! says so in `util` and guards it (the host's network namespaces are the
//! one such thing). `cargo test --test tests AREA::` runs one area.

mod util;

mod bad_input;
mod bound;
mod docs;
mod faults;
mod forecast_agrees;
mod forecast_properties;
mod generated;
mod integrations;
mod kernel_agrees;
mod model;
mod namespaces;
mod nat;
mod nat_check;
mod nat_forecast;
mod output_file;
mod packaging;
mod prometheus;
mod properties;
mod quiet;
mod resources;
mod sweep;
mod trend;
mod units_and_rules;
mod upstream;
mod whatif;

/// With `autotests = false` cargo builds no file of tests/ on its own: an
/// area (`tests/AREA.rs` or `tests/AREA/mod.rs`) not declared above would
/// never run, so each one must be.
#[test]
fn every_area_is_a_module_of_this_crate() {
    let declared = include_str!("tests.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for entry in std::fs::read_dir(&dir).expect("list tests/") {
        let path = entry.expect("a file of tests/").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let area = match name.strip_suffix(".rs") {
            Some(area) => area,
            None if path.is_dir() => &name,
            None => continue,
        };
        // tests/scratch: the unit tests in src/ include it by path.
        if path.is_dir() && !path.join("mod.rs").exists() && !path.join("main.rs").exists() {
            continue;
        }
        if area != "tests" && area != "util" && area != "scratch" {
            assert!(
                declared.lines().any(|l| l == format!("mod {area};")),
                "tests/{name} is not a module of tests/tests.rs: declare `mod {area};` there"
            );
        }
    }
}
