//! The forecast module's own tests, built on their own until the model
//! wires the module in.
#[path = "../src/model/forecast/mod.rs"]
#[allow(dead_code)]
mod forecast;
