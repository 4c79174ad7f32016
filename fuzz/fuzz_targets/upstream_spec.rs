//! `--upstream-nat SPEC` and `--upstream-nat-exclude CIDR`: any text parses
//! or is refused with one line; an accepted budget is within its bounds,
//! and an accepted block prints in a form that parses back to itself.

#![no_main]

use check_ephemeral::model::upstream::{Budget, Cidr};
use check_ephemeral::options::upstream::{MAX_HOLD_S, MAX_PORTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Budget>() {
        Ok(b) => {
            assert!((1..=MAX_PORTS).contains(&b.ports), "{text:?}: {b:?}");
            assert!(b.hold_s <= MAX_HOLD_S, "{text:?}: {b:?}");
        }
        Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{text:?}: {e:?}"),
    }
    match text.parse::<Cidr>() {
        Ok(c) => {
            let again: Cidr = c.to_string().parse().expect("prints back");
            assert_eq!(again, c, "{text:?}");
        }
        Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{text:?}: {e:?}"),
    }
});
