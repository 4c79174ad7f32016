//! The one way the tests run the plugin: [`Plugin`] builds the command
//! (arguments, environment, another network namespace, user nobody, what
//! the child does to itself before exec), runs it with a time bound and
//! hands back what it printed as a [`Run`]. [`BIN`] is the one path to the
//! binary under test.
//!
//! Every run starts from `/`, without the default options files of the
//! environment and with stdin closed, so nothing of the machine running
//! the tests leaks in. A child still running after its bound is killed and
//! the test fails; one the test leaves before reaping is killed too.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test, as cargo built it.
pub const BIN: &str = env!("CARGO_BIN_EXE_check_ephemeral");

/// No run takes more than a few seconds; a child still running after this
/// is killed and the test fails.
pub const BOUND: Duration = Duration::from_secs(60);

/// User and group `nobody`.
pub const NOBODY: u32 = 65534;

/// The binary copied into `dir` as `check_ephemeral`, runnable by every
/// user: nobody or a daemon's user may not reach the one cargo built.
pub fn copy_into(dir: &Path) -> PathBuf {
    let bin = dir.join("check_ephemeral");
    fs::copy(BIN, &bin).expect("copy the binary");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod the copy");
    bin
}

/// A run of the plugin being set up.
pub struct Plugin {
    cmd: Command,
    bound: Duration,
    netns: Option<File>,
    steps: Vec<Step>,
    nobody: bool,
    /// Where stdout goes instead of the [`Run`].
    stdout: Option<Stdio>,
}

/// Something the child does to itself between fork and exec.
type Step = Box<dyn FnMut() -> io::Result<()> + Send + Sync>;

impl Default for Plugin {
    fn default() -> Self {
        Plugin::new()
    }
}

impl Plugin {
    /// The binary under test.
    pub fn new() -> Plugin {
        Plugin::at(BIN)
    }

    /// Another copy of the plugin (one a package installed, one user nobody
    /// may run), or a program that runs it.
    pub fn at(program: impl AsRef<OsStr>) -> Plugin {
        let mut cmd = Command::new(program);
        cmd.current_dir("/")
            .env_remove("MP_CONFIG_FILE")
            .env_remove("NAGIOS_CONFIG_PATH")
            .stdin(Stdio::null());
        Plugin {
            cmd,
            bound: BOUND,
            netns: None,
            steps: Vec::new(),
            nobody: false,
            stdout: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Plugin {
        self.cmd.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Plugin {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Plugin {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Plugin {
        self.cmd.envs(vars);
        self
    }

    /// The working directory instead of `/`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Plugin {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs as user and group nobody, without supplementary groups: the
    /// last step before exec, after [`Plugin::netns`] and
    /// [`Plugin::pre_exec`], which may need root.
    pub fn nobody(mut self) -> Plugin {
        self.nobody = true;
        self
    }

    /// Runs in the network namespace of `path` (`/run/netns/NAME`,
    /// `/proc/PID/ns/net`) instead of the calling thread's: the first step
    /// after fork.
    pub fn netns(mut self, path: impl AsRef<Path>) -> Plugin {
        let path = path.as_ref();
        let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        self.netns = Some(file);
        self
    }

    /// What the child does to itself between fork and exec (mounts,
    /// namespaces, seccomp), after what was asked before.
    ///
    /// # Safety
    /// `f` runs in the forked child: system calls only, no allocation, no
    /// locks (see [`CommandExt::pre_exec`]).
    pub unsafe fn pre_exec(
        mut self,
        f: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
    ) -> Plugin {
        self.steps.push(Box::new(f));
        self
    }

    /// Its stdout goes to `to` (a file) instead of the [`Run`].
    pub fn stdout(mut self, to: impl Into<Stdio>) -> Plugin {
        self.stdout = Some(to.into());
        self
    }

    /// Another time bound than [`BOUND`].
    pub fn bound(mut self, bound: Duration) -> Plugin {
        self.bound = bound;
        self
    }

    /// Runs it to the end (bounded): what it printed and how it exited.
    pub fn output(self) -> Output {
        let what = format!("{:?}", self.cmd);
        self.try_output()
            .unwrap_or_else(|e| panic!("start {what}: {e}"))
    }

    /// [`Plugin::output`], or why it could not start (a step before exec
    /// that failed, a program that is not there).
    pub fn try_output(mut self) -> io::Result<Output> {
        let stdout = self.stdout.take().unwrap_or_else(Stdio::piped);
        self.cmd.stdout(stdout).stderr(Stdio::piped());
        if let Some(file) = self.netns.take() {
            // SAFETY: setns is a plain system call on a descriptor the
            // closure owns, open until the child execs.
            unsafe {
                self.cmd
                    .pre_exec(move || os_check(libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET)))
            };
        }
        for step in self.steps.drain(..) {
            // SAFETY: each step came with the promise of `Plugin::pre_exec`.
            unsafe { self.cmd.pre_exec(step) };
        }
        if self.nobody {
            // SAFETY: plain system calls, in the child.
            unsafe { self.cmd.pre_exec(drop_to_nobody) };
        }
        let what = format!("{:?}", self.cmd);
        let child = spawn(&mut self.cmd)?;
        let mut reaper = Reaper(Some(child.id() as libc::pid_t));
        let (done, result) = mpsc::channel::<io::Result<Output>>();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        match result.recv_timeout(self.bound) {
            Ok(out) => {
                reaper.0 = None;
                Ok(out.unwrap_or_else(|e| panic!("wait for {what}: {e}")))
            }
            Err(_) => {
                drop(reaper);
                panic!("{what}: still running after {:?}; killed", self.bound);
            }
        }
    }

    /// Runs it to the end (bounded), whatever it wrote to stderr.
    pub fn run(self) -> Run {
        Run::from(self.output())
    }

    /// Runs it to the end (bounded); it must write nothing to stderr.
    pub fn check(self) -> Run {
        let run = self.run();
        assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
        run
    }
}

/// Starts `cmd`. A copy of the binary another thread of this process is
/// still writing is held open for writing by every child forked meanwhile,
/// until it execs: exec then fails with "Text file busy" for a moment, and
/// is tried again (bounded).
fn spawn(cmd: &mut Command) -> io::Result<Child> {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20));
            }
            started => return started,
        }
    }
    cmd.spawn()
}

/// setgroups, setgid, setuid to nobody: in the child, system calls only.
fn drop_to_nobody() -> io::Result<()> {
    // SAFETY: plain system calls without pointers to memory of ours.
    unsafe {
        os_check(libc::setgroups(0, std::ptr::null()))?;
        os_check(libc::setgid(NOBODY))?;
        os_check(libc::setuid(NOBODY))
    }
}

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

/// What one run of the plugin printed.
#[derive(Debug)]
pub struct Run {
    /// The exit code, -1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The perfdata, label to value.
    pub perf: HashMap<String, f64>,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Run {
            code: out.status.code().unwrap_or(-1),
            perf: parse_perfdata(&stdout),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The free count of one pool in the long output, e.g. `0.0.0.0` under
    /// `udp pools`.
    pub fn pool_free(&self, section: &str, name: &str) -> u32 {
        let prefix = format!("  {name}: ");
        self.stdout
            .lines()
            .skip_while(|l| !l.starts_with(section))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .find_map(|l| l.strip_prefix(&prefix)?.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no pool {name} under {section} in:\n{}", self.stdout))
    }

    pub fn perf_f64(&self, label: &str) -> f64 {
        match self.perf.get(label) {
            Some(v) => *v,
            None => panic!("no perfdata {label} in:\n{}", self.stdout),
        }
    }

    pub fn perf(&self, label: &str) -> u32 {
        self.perf_f64(label) as u32
    }

    pub fn status_line(&self) -> &str {
        self.stdout.lines().next().unwrap_or("")
    }

    pub fn line_starting(&self, prefix: &str) -> &str {
        match self.stdout.lines().find(|l| l.starts_with(prefix)) {
            Some(line) => line,
            None => panic!("no line starting {prefix:?} in:\n{}", self.stdout),
        }
    }
}

/// Perfdata the way Sensu reads it: split the whole output once on `|`,
/// metrics on white space, no quote stripping.
pub fn parse_perfdata(output: &str) -> HashMap<String, f64> {
    let Some((_, perf)) = output.split_once('|') else {
        return HashMap::new();
    };
    perf.split_whitespace()
        .filter_map(|m| {
            let (label, rest) = m.split_once('=')?;
            let value = rest
                .split(';')
                .next()?
                .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            Some((label.to_string(), value.parse().ok()?))
        })
        .collect()
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
