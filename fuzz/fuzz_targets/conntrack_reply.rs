//! A `recv()` buffer of ctnetlink replies, garbled or truncated: the entry,
//! CPU-counter and table-count parsers must take any bytes without
//! panicking, and what they accept must be what the bytes say.

#![no_main]

use check_ephemeral::read::conntrack::{text, wire};
use check_ephemeral::read::netlink::{Messages, NLMSG_HDRLEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut messages = 0usize;
    let mut payload_bytes = 0usize;
    for message in Messages::new(data) {
        let Ok(message) = message else { break };
        messages += 1;
        payload_bytes += message.payload.len();
        let _ = wire::ctnetlink_message(message.kind);
        if let Ok(entry) = wire::parse_entry(message.payload) {
            // Both tuples were present and agreed on the protocol.
            let _ = (entry.is_source_nat(), entry.time_wait_left_s());
        }
        let _ = wire::parse_cpu_stats(message.payload);
        let _ = wire::parse_table_stats(message.payload);
    }
    assert!(messages * NLMSG_HDRLEN + payload_bytes <= data.len());
    // The buffer read as one entry's payload, and every nested walk ends.
    let _ = wire::parse_entry(data);
    let walked: usize = wire::Attrs::new(data)
        .map_while(Result::ok)
        .map(|(_, v)| v.len() + 4)
        .sum();
    assert!(walked <= data.len());
    // The text form of the same table.
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = text::parse_line(line);
    }
});
