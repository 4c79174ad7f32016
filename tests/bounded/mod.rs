//! The check run as a child with a time bound, for the tests that set the
//! child up themselves (namespaces, mounts, seccomp in `pre_exec`): a child
//! still running after [`BOUND`] is killed and the test fails, and one the
//! test leaves before reaping is killed too. Also the mount namespace such
//! a child starts from.

#![allow(dead_code)]

use std::io;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// No case takes more than a few seconds; a child still running after this
/// is killed and the case fails.
pub const BOUND: Duration = Duration::from_secs(60);

/// Kills the child if the test leaves before it is reaped.
struct Reaper(Option<libc::pid_t>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: the child is ours and not yet reaped, so the pid is still its.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Runs `cmd` with `args` from `/`, without the default options files of
/// the environment, its output captured, bounded by [`BOUND`].
pub fn run_bounded(mut cmd: Command, args: &[&str]) -> Output {
    cmd.args(args)
        .current_dir("/")
        .env_remove("MP_CONFIG_FILE")
        .env_remove("NAGIOS_CONFIG_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
    let mut reaper = Reaper(Some(child.id() as libc::pid_t));
    let (done, result) = mpsc::channel::<io::Result<Output>>();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match result.recv_timeout(BOUND) {
        Ok(out) => {
            reaper.0 = None;
            out.expect("wait for the check")
        }
        Err(_) => {
            drop(reaper);
            panic!("{args:?}: still running after {BOUND:?}; killed");
        }
    }
}

/// Moves the calling child (in `pre_exec`: system calls only) into a mount
/// namespace of its own, and the namespaces in `more`, with every mount
/// private: nothing it mounts reaches the host.
pub fn own_mounts(more: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system calls on a NUL-terminated string literal.
    unsafe {
        os_check(libc::unshare(libc::CLONE_NEWNS | more))?;
        os_check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))
    }
}

/// A system call's -1 as the error it set.
pub fn os_check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
