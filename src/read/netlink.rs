//! The netlink request and reply loop that sock_diag and ctnetlink share:
//! send one dump request, read the replies into a buffer the caller owns,
//! hand each message of this request's sequence number on in place (no
//! allocation per record) until `NLMSG_DONE`, and say how it ended; and
//! the message framing both read replies with (`include/uapi/linux/netlink.h`).

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, NetlinkAddr, recv, sendto};

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

/// How a dump failed; each reader turns it into its own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpError {
    /// `sendto` failed: nothing was asked.
    Send(Errno),
    /// `recv` failed part way.
    Recv(Errno),
    /// The reply did not have the layout netlink documents, or a record
    /// was refused by the caller's parser.
    Malformed(&'static str),
    /// The kernel answered with an error; `began` when records had come.
    Refused { errno: Errno, began: bool },
}

/// Sends `request` (whose sequence number is `seq`) on `fd` and hands the
/// payload of every reply message to `each`; the bytes received.
pub fn dump(
    fd: RawFd,
    buf: &mut [u8],
    request: &[u8],
    seq: u32,
    mut each: impl FnMut(&[u8]) -> Result<(), &'static str>,
) -> Result<u64, DumpError> {
    let kernel = NetlinkAddr::new(0, 0);
    retry_eintr(|| sendto(fd, request, &kernel, MsgFlags::empty())).map_err(DumpError::Send)?;
    let mut began = false;
    let mut bytes = 0u64;
    loop {
        let n = retry_eintr(|| recv(fd, buf, MsgFlags::MSG_TRUNC)).map_err(DumpError::Recv)?;
        if n > buf.len() {
            return Err(DumpError::Malformed(
                "a reply is larger than the receive buffer",
            ));
        }
        if n == 0 {
            return Err(DumpError::Malformed(
                "the kernel closed the reply without NLMSG_DONE",
            ));
        }
        bytes += n as u64;
        for message in Messages::new(&buf[..n]) {
            let message = message.map_err(DumpError::Malformed)?;
            if message.seq != seq {
                continue; // left over from an earlier request
            }
            match message.kind {
                NLMSG_DONE | NLMSG_ERROR => {
                    let code = message.error_code();
                    if code != 0 {
                        return Err(DumpError::Refused {
                            errno: Errno::from_raw(code),
                            began,
                        });
                    }
                    if message.kind == NLMSG_DONE {
                        return Ok(bytes);
                    }
                }
                _ => {
                    began = true;
                    each(message.payload).map_err(DumpError::Malformed)?;
                }
            }
        }
    }
}

/// Repeats a system call that a signal interrupted.
pub fn retry_eintr<T>(mut call: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// One netlink message of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// The error number of an NLMSG_ERROR or NLMSG_DONE message: 0 for
    /// success, else a positive errno. The kernel sends `-errno`; any other
    /// non-zero value (even `i32::MIN`) is still an error, never a panic.
    pub fn error_code(&self) -> i32 {
        self.payload.get(0..4).map_or(0, |b| {
            i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
                .saturating_neg()
                .saturating_abs()
        })
    }
}

/// Walks the messages of one `recv()`; stops at the first malformed one.
pub struct Messages<'a> {
    buf: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Messages { buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let Some(header) = self.buf.get(..NLMSG_HDRLEN) else {
            self.buf = &[];
            return Some(Err("a message header is cut short"));
        };
        let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len < NLMSG_HDRLEN || len > self.buf.len() {
            self.buf = &[];
            return Some(Err("a message length is out of bounds"));
        }
        let message = Message {
            kind: u16::from_ne_bytes([header[4], header[5]]),
            seq: u32::from_ne_bytes([header[8], header[9], header[10], header[11]]),
            payload: &self.buf[NLMSG_HDRLEN..len],
        };
        let next = align4(len).min(self.buf.len());
        self.buf = &self.buf[next..];
        Some(Ok(message))
    }
}

pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_carry_the_errno() {
        let payload = (-22i32).to_ne_bytes();
        let m = Message {
            kind: NLMSG_ERROR,
            seq: 1,
            payload: &payload,
        };
        assert_eq!(m.error_code(), 22);
    }

    /// Found by fuzzing: negating `i32::MIN` overflowed.
    #[test]
    fn error_codes_never_overflow() {
        for (raw, code) in [(i32::MIN, i32::MAX), (i32::MAX, i32::MAX), (5, 5), (0, 0)] {
            let payload = raw.to_ne_bytes();
            let m = Message {
                kind: NLMSG_DONE,
                seq: 1,
                payload: &payload,
            };
            assert_eq!(m.error_code(), code, "{raw}");
        }
    }
}
