//! The integration tests: one binary, one module per area, the helpers
//! they share in `util` (the one way to run the plugin among them).
//!
//! Every test of every area runs in this one process, side by side on the
//! test threads: a test that changes something of the process or the host
//! says so in `util` and guards it (the host's network namespaces are the
//! one such thing). `cargo test --test tests AREA::` runs one area.

mod util;

mod bad_input;
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
mod resources;
mod sweep;
mod trend;
mod units_and_rules;
