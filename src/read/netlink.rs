//! The netlink request and reply loop that sock_diag and ctnetlink share:
//! send one dump request, read the replies into a buffer the caller owns,
//! hand each message of this request's sequence number on in place (no
//! allocation per record) until `NLMSG_DONE`, and say how it ended.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, NetlinkAddr, recv, sendto};

use super::diag::wire::{Messages, NLMSG_DONE, NLMSG_ERROR};

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
