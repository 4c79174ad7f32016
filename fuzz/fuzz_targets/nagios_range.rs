//! Nagios threshold ranges from the command line: any text parses or is
//! rejected, and an accepted range prints (for perfdata) in a plain form
//! that parses back to the same range, prints the same again, holds only
//! the characters a range needs, and can judge every value.

#![no_main]

use check_ephemeral::judge::range::Range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(range) = text.parse::<Range>() else {
        return;
    };
    let plain = range.to_string();
    assert!(
        plain.bytes().all(|b| b.is_ascii_digit() || b"@~:.-".contains(&b)),
        "{text:?} printed as {plain:?}"
    );
    let again: Range = plain
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} printed as {plain:?}, which does not parse: {e}"));
    assert_eq!(again.to_string(), plain, "{text:?}");
    for value in [0.0, -1.0, 1.0, 100.0, 65535.0, f64::MAX, f64::MIN, 1e-9, -1e-9] {
        assert_eq!(range.alerts(value), again.alerts(value), "{text:?} at {value}");
    }
});
