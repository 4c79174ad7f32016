//! One row of /proc/net/{tcp,tcp6,udp,udp6}, any bytes at all.

#![no_main]

use check_ephemeral::read::procnet;
use check_ephemeral::read::socket::Protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for ticks in [100, 0, u32::MAX] {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let _ = procnet::parse_line(data, protocol, ticks);
        }
    }
});
