//! The one runner of the property tests, for the unit tests here and the
//! integration tests (which include this file): cases drawn by proptest's
//! runner from its deterministic generator, so every machine runs the same
//! cases, and a failure is shrunk to the smallest failing value.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestRng, TestRunner};

/// Runs `property` on `cases` values of `strategy`, and fails with the
/// smallest failing value it finds.
pub fn random_cases<S: Strategy>(cases: u32, strategy: S, property: impl Fn(S::Value)) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let result = TestRunner::new_with_rng(config, rng).run(&strategy, |value| {
        property(value);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
