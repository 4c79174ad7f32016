//! The `--trend` state file: any bytes parse or are refused with a reason
//! (never a panic), an accepted state writes back to a text that parses to
//! the same state, and the growth it gives for any of its pools is finite
//! whenever the runs are apart.

#![no_main]

use check_ephemeral::forecast::trend;
use check_ephemeral::forecast::trend::state::{MAX_BYTES, MAX_POOLS, TrendState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The key the file names, so that the parser goes past the header.
    let key = text
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("key "))
        .and_then(|k| u64::from_str_radix(k, 16).ok())
        .unwrap_or(0);
    let Ok(state) = TrendState::parse(&text, key) else {
        return;
    };
    assert!(state.pools.len() <= MAX_POOLS);
    let written = state.to_text();
    assert!(written.len() <= MAX_BYTES);
    let again = TrendState::parse(&written, key).expect("written state parses");
    // Written again, addresses may take more characters (the canonical
    // form); past the byte cap the last lines are left out.
    assert!(state.pools.starts_with(&again.pools));
    assert!(state.bound.starts_with(&again.bound));
    let (previous, _, _) = trend::recall_text(Some(&text), key, state.at_ms.saturating_add(10_000));
    if let Some(p) = previous {
        for k in &p.state.pools {
            let g = p.growth(k.kind, &k.name, 0).expect("a kept pool has a growth");
            assert!(g.is_finite(), "{g}");
        }
    }
});
