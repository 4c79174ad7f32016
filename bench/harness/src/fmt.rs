//! How the report writes targets and times: "≤ 0.25× ss + awk", "4.85" ms.

use crate::targets::{Kind, Target};

/// The target's bound, as in "≤ 0.25× ss + awk".
pub fn bound(t: &Target) -> String {
    let most = most(t);
    match t.kind {
        Kind::Kernel => format!("≤ {most} its requests drained"),
        Kind::Floor => format!("≤ {most} the ss floor"),
        Kind::Pipeline => format!("≤ {most} ss + awk"),
        Kind::Wall => format!("≤ {most} wall"),
        Kind::Rss => format!("peak RSS ≤ {most}"),
    }
}

/// The most the target allows, as in "0.25×" or "5 ms".
pub fn most(t: &Target) -> String {
    match t.kind {
        Kind::Floor => format!("{:.1}×", t.most),
        Kind::Kernel | Kind::Pipeline => format!("{:.2}×", t.most),
        Kind::Wall => format!("{} ms", t.most),
        Kind::Rss => format!("{} MiB", t.most),
    }
}

/// A value in the target's unit, as in "0.44×".
pub fn value(t: &Target, v: f64) -> String {
    match t.kind {
        Kind::Kernel | Kind::Floor | Kind::Pipeline => format!("{v:.2}×"),
        Kind::Wall => format!("{} ms", ms(v)),
        Kind::Rss => format!("{v:.1} MiB"),
    }
}

pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}
