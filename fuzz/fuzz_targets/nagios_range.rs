//! Nagios threshold ranges from the command line: any text parses or is
//! rejected, and an accepted range prints back as given and can judge
//! every value.

#![no_main]

use check_ephemeral::range::Range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(range) = text.parse::<Range>() else {
        return;
    };
    assert_eq!(range.to_string(), text);
    for value in [0.0, -1.0, 1.0, 100.0, 65535.0, f64::MAX, f64::MIN, 1e-9] {
        let _ = range.alerts(value);
    }
});
