//! Reads the conntrack table over ctnetlink: every entry of the calling
//! thread's namespace, its per-CPU failure counters and its size.

pub mod text;
pub mod wire;
