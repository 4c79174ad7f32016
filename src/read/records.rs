//! The records of one read, kept, so that the same snapshot can be
//! modelled again under other settings: the remedies are the pools of
//! these records re-modelled and re-judged, one changed setting at a time.

use super::socket::{Protocol, Sink, Socket, TcpState};

/// Every record a reader handed on, in the order the [`Sink`] contract
/// needs: the marks, then the sockets.
#[derive(Debug, Default)]
pub struct Records {
    marked: Vec<Socket>,
    sockets: Vec<Socket>,
}

impl Records {
    /// Hands every record to `sink`, marks first, as a reader would.
    pub fn replay(&self, sink: &mut impl Sink) {
        self.replay_with(sink, |s| Some(*s));
    }

    /// The same, each socket (not the marks) first passed through `change`:
    /// `None` leaves it out.
    pub fn replay_with(
        &self,
        sink: &mut impl Sink,
        mut change: impl FnMut(&Socket) -> Option<Socket>,
    ) {
        for s in &self.marked {
            sink.marked(s);
        }
        for s in &self.sockets {
            if let Some(s) = change(s) {
                sink.socket(&s);
            }
        }
    }

    /// The ports services wait on: TCP listeners, and UDP sockets bound
    /// without a peer.
    pub fn listening_ports(&self) -> impl Iterator<Item = u16> + '_ {
        let tcp = (self.marked.iter()).filter(|s| s.state == TcpState::LISTEN);
        let udp =
            (self.sockets.iter()).filter(|s| s.protocol == Protocol::Udp && s.remote_port == 0);
        tcp.chain(udp).map(|s| s.local_port)
    }
}

impl Sink for Records {
    fn marked(&mut self, socket: &Socket) {
        self.marked.push(*socket);
    }

    fn socket(&mut self, socket: &Socket) {
        self.sockets.push(*socket);
    }

    fn discard(&mut self, protocol: Protocol) {
        self.marked.retain(|s| s.protocol != protocol);
        self.sockets.retain(|s| s.protocol != protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn replays_marks_first_and_forgets_a_discarded_protocol() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let tcp = |state, port| Socket::new(Protocol::Tcp, state, (a, port), (a, 5000));
        let mut records = Records::default();
        records.socket(&tcp(TcpState::ESTABLISHED, 40001));
        records.marked(&tcp(TcpState::LISTEN, 40002));
        records.socket(&Socket::new(
            Protocol::Udp,
            TcpState::CLOSE,
            (a, 40003),
            (a, 0),
        ));
        let mut seen = super::super::socket::Collect::default();
        records.replay(&mut seen);
        assert_eq!(seen.marked.len(), 1);
        assert_eq!(seen.sockets.len(), 2);
        let mut ports: Vec<u16> = records.listening_ports().collect();
        ports.sort();
        assert_eq!(ports, [40002, 40003]);
        records.discard(Protocol::Udp);
        assert_eq!(records.listening_ports().count(), 1);
    }
}
