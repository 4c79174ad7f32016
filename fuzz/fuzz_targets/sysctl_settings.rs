//! The sysctl files the check reads: ip_local_port_range,
//! ip_local_reserved_ports, tcp_tw_reuse, tcp_timestamps and
//! tcp_tw_reuse_delay, as any text. The input holds the five texts
//! separated by NUL bytes; each parser also gets the whole input.

#![no_main]

use check_ephemeral::model::PoolsBuilder;
use check_ephemeral::read::ports::{PortRange, ReservedPorts};
use check_ephemeral::read::settings::{KernelSettings, SettingsText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(range) = text.parse::<PortRange>() {
        assert!(range.lo >= 1 && range.lo <= range.hi);
        assert_eq!(range.len(), usize::from(range.hi - range.lo) + 1);
    }
    let _ = text.parse::<ReservedPorts>();

    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or("");
    let (port_range, reserved_ports, tw_reuse, timestamps) = (next(), next(), next(), next());
    let delay = parts.next();
    let files = SettingsText {
        port_range,
        reserved_ports,
        tw_reuse,
        timestamps,
        tw_reuse_delay: delay,
    };
    if let Ok(settings) = KernelSettings::parse(&files) {
        let reserved = settings.reserved.count_in(settings.range);
        assert!(reserved <= settings.range.len());
        let model = PoolsBuilder::new(&settings).finish();
        assert_eq!(model.candidate_count() as usize, settings.range.len() - reserved);
    }
});
