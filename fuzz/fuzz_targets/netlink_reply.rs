//! A `recv()` buffer of sock_diag replies: the message walk and the record
//! parser must take any bytes without panicking and never read past them.

#![no_main]

use check_ephemeral::read::diag::wire;
use check_ephemeral::read::netlink::{Messages, NLMSG_HDRLEN};
use check_ephemeral::read::socket::Protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut messages = 0usize;
    let mut payload_bytes = 0usize;
    for message in Messages::new(data) {
        let Ok(message) = message else { break };
        messages += 1;
        payload_bytes += message.payload.len();
        let _ = message.error_code();
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            if let Ok(socket) = wire::parse_record(message.payload, protocol) {
                assert_eq!(socket.protocol, protocol);
            }
        }
    }
    // Every message takes a header of its own: the walk ends, in bounds.
    assert!(messages * NLMSG_HDRLEN + payload_bytes <= data.len());
    // The buffer read as one record, attributes included.
    if let Ok(socket) = wire::parse_record(data, Protocol::Tcp) {
        assert_eq!(socket.local_port, u16::from_be_bytes([data[4], data[5]]));
    }
});
