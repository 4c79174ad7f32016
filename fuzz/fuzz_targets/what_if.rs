//! `--what-if KEY=VALUE`: any text is a setting or one line saying why
//! not; an accepted one prints (on the status line) as text that parses
//! back to the same setting, and applying it to real settings never panics.

#![no_main]

use check_ephemeral::options::what_if::{Hypothesis, WhatIf};
use check_ephemeral::read::settings::{KernelSettings, TwReuse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let what_if = match text.parse::<WhatIf>() {
        Ok(w) => w,
        Err(why) => {
            assert!(!why.is_empty() && !why.contains('\n'), "{text:?}: {why:?}");
            return;
        }
    };
    let said = what_if.to_string();
    assert!(!said.contains('\n') && !said.contains('|'), "{text:?} said as {said:?}");
    let again: WhatIf = said
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} said as {said:?}, which does not parse: {e}"));
    assert_eq!(again, what_if, "{text:?}");
    let mut settings = KernelSettings {
        range: "32768 60999".parse().unwrap(),
        reserved: Default::default(),
        tw_reuse: TwReuse::LoopbackOnly,
        timestamps: true,
        tw_reuse_delay_ms: Some(1000),
    };
    let hypothesis = Hypothesis::new(vec![what_if]).unwrap();
    for unprivileged in [0, 1024, 65535] {
        let _ = hypothesis.apply(&mut settings, unprivileged);
    }
});
