//! Network namespaces: which ones the host has, what to call them, and
//! running a reading stage inside one.
//!
//! `setns(2)` moves only the calling thread, so each namespace is read from
//! a thread of its own that enters it first. From that thread the sysctl
//! files under `/proc/sys/net`, a newly opened netlink socket and
//! `/proc/thread-self/net` all belong to the namespace; `/proc/net` does
//! not, as it follows the thread-group leader.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};

use crate::error::{Error, Result};
use crate::procfs::{self, CAP_SYS_ADMIN, CAP_SYS_PTRACE, Capabilities, Capability, Refusal};

/// Where `ip netns add` keeps named namespaces.
pub const NAMED_DIR: &str = "/run/netns";
/// The socket tables of the namespace the calling thread is in.
pub const THREAD_NET: &str = "/proc/thread-self/net";
const OWN_NAMESPACE: &str = "/proc/thread-self/ns/net";

/// Which network namespaces the check judges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// The one the check runs in.
    #[default]
    Here,
    /// `--netns`: a name under `/run/netns`, or a path.
    One(Target),
    /// `--all-netns`.
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Path(PathBuf),
}

impl Target {
    /// A value with a `/` is a path; anything else a name under `/run/netns`.
    pub fn parse(value: &str) -> std::result::Result<Target, String> {
        if value.contains('/') {
            Ok(Target::Path(PathBuf::from(value)))
        } else if value.is_empty() || value == "." || value == ".." {
            Err(format!("{value:?} is neither a namespace name nor a path"))
        } else {
            Ok(Target::Name(value.to_string()))
        }
    }
}

/// What an option asks of the kernel: CAP_SYS_ADMIN to enter a namespace
/// (`setns`), and CAP_SYS_PTRACE to look into another user's process
/// through `/proc/PID/ns/net`, which `--all-netns` does for every process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub option: &'static str,
    /// Every process's `/proc/PID/ns/net` is looked at.
    all: bool,
    /// Some process's `/proc/PID/ns/net` may be entered.
    through_proc: bool,
}

impl Access {
    pub fn of(scope: &Scope) -> Access {
        match scope {
            Scope::All => Access {
                option: "--all-netns",
                all: true,
                through_proc: true,
            },
            Scope::One(Target::Path(path)) => Access {
                option: "--netns",
                all: false,
                through_proc: through_proc(path),
            },
            Scope::One(Target::Name(_)) | Scope::Here => Access {
                option: "--netns",
                all: false,
                through_proc: false,
            },
        }
    }

    /// What every run needs, checked before anything is read.
    fn required(self) -> Vec<Capability> {
        let mut caps = vec![CAP_SYS_ADMIN];
        if self.all {
            caps.push(CAP_SYS_PTRACE);
        }
        caps
    }

    /// What a run may need: what to grant with setcap.
    fn grant(self) -> Vec<Capability> {
        let mut caps = vec![CAP_SYS_ADMIN];
        if self.through_proc {
            caps.push(CAP_SYS_PTRACE);
        }
        caps
    }
}

/// A path into a process's /proc directory, which the kernel shows only to
/// whoever may ptrace the process; this process's own are always open.
fn through_proc(path: &Path) -> bool {
    path.starts_with("/proc")
        && !path.starts_with("/proc/self")
        && !path.starts_with("/proc/thread-self")
}

/// A namespace as the kernel identifies it: the nsfs device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    pub dev: u64,
    pub ino: u64,
}

impl NsId {
    fn of(meta: &Metadata) -> NsId {
        NsId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// One network namespace and what to call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub id: NsId,
    /// The file to open to enter it.
    pub path: PathBuf,
    /// Its name under `/run/netns`, if it has one.
    pub name: Option<String>,
    /// A process living in it (the lowest pid): pid and command.
    pub process: Option<(u32, String)>,
}

impl Namespace {
    /// `web1`, `inode 4026532301 (pid 812 nginx)` or `inode 4026532301 (/path)`.
    pub fn label(&self) -> String {
        let text = match (&self.name, &self.process) {
            (Some(name), _) => name.clone(),
            (None, Some((pid, command))) => {
                format!("inode {} (pid {pid} {command})", self.id.ino)
            }
            (None, None) => format!(
                "inode {} ({})",
                self.id.ino,
                crate::error::shown(&self.path)
            ),
        };
        crate::output::clean(&text)
    }

    /// What `--netns` says of the namespace it judged, each fact once:
    /// `web1: inode 4026532301, entered through /run/netns/web1`.
    pub fn entered(&self) -> String {
        let ino = self.id.ino;
        let what = match (&self.name, &self.process) {
            (Some(name), _) => format!("{name}: inode {ino}"),
            (None, Some((pid, command))) => format!("inode {ino} (pid {pid} {command})"),
            (None, None) => format!("inode {ino}"),
        };
        crate::output::clean(&format!(
            "network namespace {what}, entered through {}",
            self.path.display()
        ))
    }
}

/// Every distinct namespace found, and how many processes hid theirs.
#[derive(Debug, Default)]
pub struct Found {
    /// Ordered by inode.
    pub namespaces: Vec<Namespace>,
    /// Processes whose `/proc/PID/ns/net` could not be looked at.
    pub hidden: usize,
}

/// Finds every network namespace named under `/run/netns` or held by a
/// process, each once.
pub fn discover() -> Result<Found> {
    let nsfs = fs::metadata(OWN_NAMESPACE)
        .map_err(|source| Error::read(OWN_NAMESPACE, source))?
        .dev();
    let mut found: HashMap<NsId, Namespace> = HashMap::new();
    for (name, path) in named()? {
        // A file that is not a namespace (left by a failed `ip netns add`).
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        let id = NsId::of(&meta);
        if id.dev != nsfs {
            continue;
        }
        found.entry(id).or_insert(Namespace {
            id,
            path,
            name: Some(name),
            process: None,
        });
    }
    let mut hidden = 0;
    for (pid, dir) in procfs::processes()? {
        let path = dir.join("ns/net");
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                hidden += 1;
                continue;
            }
            // Gone already, or a kernel thread without one.
            Err(_) => continue,
        };
        let id = NsId::of(&meta);
        let ns = found.entry(id).or_insert(Namespace {
            id,
            path,
            name: None,
            process: None,
        });
        if ns.process.as_ref().is_none_or(|(p, _)| pid < *p) {
            ns.process = Some((pid, String::new()));
        }
    }
    let mut namespaces: Vec<Namespace> = found.into_values().collect();
    for ns in &mut namespaces {
        if let Some((pid, command)) = ns.process.as_mut() {
            *command = command_of(*pid);
            if ns.name.is_none() {
                ns.path = PathBuf::from(format!("/proc/{pid}/ns/net"));
            }
        }
    }
    namespaces.sort_by_key(|ns| ns.id);
    Ok(Found { namespaces, hidden })
}

/// The names under `/run/netns`, sorted, with their paths.
fn named() -> Result<Vec<(String, PathBuf)>> {
    let dir = match fs::read_dir(NAMED_DIR) {
        Ok(dir) => dir,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::read(NAMED_DIR, source)),
    };
    let mut names: Vec<(String, PathBuf)> = dir
        .flatten()
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    names.sort();
    Ok(names)
}

/// The namespace `--netns` names, with what to call it.
pub fn resolve(target: &Target) -> Result<Namespace> {
    let path = match target {
        Target::Name(name) => Path::new(NAMED_DIR).join(name),
        Target::Path(path) => path.clone(),
    };
    let meta = fs::metadata(&path).map_err(|e| {
        let reason = match (e.kind(), target) {
            (ErrorKind::NotFound, Target::Name(_)) => "no such namespace".to_string(),
            (ErrorKind::PermissionDenied, _) if through_proc(&path) => {
                denied_in_proc(&e.to_string(), Capabilities::effective())
            }
            _ => e.to_string(),
        };
        Error::Namespace {
            path: path.clone(),
            reason,
        }
    })?;
    let id = NsId::of(&meta);
    let name = match target {
        Target::Name(name) => Some(name.clone()),
        Target::Path(_) => named()?.into_iter().find_map(|(name, p)| {
            let m = fs::metadata(p).ok()?;
            (NsId::of(&m) == id).then_some(name)
        }),
    };
    let process = path
        .strip_prefix("/proc")
        .ok()
        .and_then(|rest| rest.iter().next())
        .and_then(|pid| pid.to_str()?.parse::<u32>().ok())
        .map(|pid| (pid, command_of(pid)));
    Ok(Namespace {
        id,
        path,
        name,
        process,
    })
}

/// `/proc/PID/comm`, or `?` when it cannot be read.
pub fn command_of(pid: u32) -> String {
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(text) => crate::output::clean(text.trim_end_matches('\n')),
        Err(_) => "?".to_string(),
    }
}

/// Says why looking into a process's /proc directory was refused.
fn denied_in_proc(error: &str, effective: Option<Capabilities>) -> String {
    match Refusal::of(&[CAP_SYS_PTRACE], effective) {
        Refusal::Lacking(_) => format!(
            "{error}; looking into a process of another user (or with more capabilities) needs CAP_SYS_PTRACE"
        ),
        Refusal::Despite(caps) => format!("{error}; {}", procfs::despite(&caps)),
    }
}

/// Runs `read` on a thread that has entered `ns`, handing it the directory
/// of that namespace's socket tables. `Ok(None)` when the namespace no
/// longer exists (its last process exited, its name was deleted).
pub fn run_in<T: Send>(
    ns: &Namespace,
    access: Access,
    read: impl FnOnce(&Path) -> Result<T> + Send,
) -> Result<Option<T>> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(format!("netns {}", ns.id.ino))
            .spawn_scoped(scope, || {
                if !enter(ns, access)? {
                    return Ok(None);
                }
                read(Path::new(THREAD_NET)).map(Some)
            })
            .map_err(|e| Error::Namespace {
                path: ns.path.clone(),
                reason: format!("cannot start a thread to enter it: {e}"),
            })?;
        thread.join().unwrap_or_else(|_| {
            Err(Error::Namespace {
                path: ns.path.clone(),
                reason: "the thread reading it failed".into(),
            })
        })
    })
}

/// Moves the calling thread into `ns`; false if it is gone, or if its path
/// now leads to another namespace (a pid reused).
fn enter(ns: &Namespace, access: Access) -> Result<bool> {
    let failed = |reason: String| Error::Namespace {
        path: ns.path.clone(),
        reason,
    };
    let file = match File::open(&ns.path) {
        Ok(file) => file,
        Err(e)
            if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(Errno::ESRCH as i32) =>
        {
            return Ok(false);
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied && through_proc(&ns.path) => {
            let effective = Capabilities::effective();
            return Err(refused(
                access,
                ns,
                CAP_SYS_PTRACE,
                &e.to_string(),
                effective,
            ));
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let meta = file.metadata().map_err(|e| failed(e.to_string()))?;
    if NsId::of(&meta) != ns.id {
        return Ok(false);
    }
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| match errno {
        Errno::EPERM => {
            let error = format!("setns: {errno} ({})", errno.desc());
            refused(access, ns, CAP_SYS_ADMIN, &error, Capabilities::effective())
        }
        Errno::EINVAL => failed("not a network namespace".into()),
        e => failed(format!("setns: {e} ({})", e.desc())),
    })?;
    Ok(true)
}

/// The error for a refusal that `needed` overcomes: the way out if this
/// process lacks it, else the kernel's word and that it did not help.
fn refused(
    access: Access,
    ns: &Namespace,
    needed: Capability,
    error: &str,
    effective: Option<Capabilities>,
) -> Error {
    match Refusal::of(&[needed], effective) {
        Refusal::Lacking(caps) => privilege(access, &caps),
        Refusal::Despite(caps) => Error::Namespace {
            path: ns.path.clone(),
            reason: format!("{error}; {}", procfs::despite(&caps)),
        },
    }
}

/// Refuses early, with the way out, when the check lacks a capability
/// every run of the option needs.
pub fn require_privileges(access: Access) -> Result<()> {
    match Capabilities::effective() {
        // No way to tell: the kernel's answer to setns() will say.
        None => Ok(()),
        Some(effective) => require(access, effective),
    }
}

fn require(access: Access, effective: Capabilities) -> Result<()> {
    match Refusal::of(&access.required(), Some(effective)) {
        Refusal::Lacking(caps) => Err(privilege(access, &caps)),
        Refusal::Despite(_) => Ok(()),
    }
}

fn privilege(access: Access, missing: &[Capability]) -> Error {
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "check_ephemeral".into());
    let grant: Vec<String> = access
        .grant()
        .iter()
        .map(|c| c.name.to_ascii_lowercase())
        .collect();
    Error::Privilege {
        option: access.option,
        missing: procfs::names(missing),
        grant: grant.join(","),
        program,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_names_or_paths() {
        assert_eq!(Target::parse("web1"), Ok(Target::Name("web1".into())));
        assert_eq!(
            Target::parse("/proc/1/ns/net"),
            Ok(Target::Path("/proc/1/ns/net".into()))
        );
        assert_eq!(Target::parse("./x"), Ok(Target::Path("./x".into())));
        for bad in ["", ".", ".."] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn options_choose_the_scope() {
        use crate::cli::{Parsed, parse};
        let scope = |args: &[&str]| {
            let argv = std::iter::once("check_ephemeral")
                .chain(args.iter().copied())
                .map(std::ffi::OsString::from);
            match parse(argv) {
                Ok(Parsed::Run(c)) => Ok((c.netns, c.processes)),
                Ok(Parsed::Print(_)) => Err("printed".to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(scope(&[]), Ok((Scope::Here, false)));
        assert_eq!(
            scope(&["--netns", "web1", "--processes"]),
            Ok((Scope::One(Target::Name("web1".into())), true))
        );
        assert_eq!(scope(&["--all-netns"]), Ok((Scope::All, false)));
        for bad in [
            &["--netns", ""][..],
            &["--netns", ".."],
            &["--netns", "web1", "--all-netns"],
        ] {
            let e = scope(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
    }

    fn namespace(path: &str) -> Namespace {
        Namespace {
            id: NsId { dev: 4, ino: 1 },
            path: path.into(),
            name: None,
            process: None,
        }
    }

    #[test]
    fn setcap_grants_what_the_option_may_need() {
        let nobody = Capabilities::default();
        let grant = |scope: Scope| match require(Access::of(&scope), nobody) {
            Err(Error::Privilege { missing, grant, .. }) => (missing, grant),
            other => panic!("{other:?}"),
        };
        let name = Scope::One(Target::Name("web1".into()));
        assert_eq!(
            grant(name),
            ("CAP_SYS_ADMIN".into(), "cap_sys_admin".into())
        );
        let proc_path = Scope::One(Target::Path("/proc/1/ns/net".into()));
        assert_eq!(
            grant(proc_path),
            (
                "CAP_SYS_ADMIN".into(),
                "cap_sys_admin,cap_sys_ptrace".into()
            )
        );
        let bind_mount = Scope::One(Target::Path("/var/run/ns/web1".into()));
        assert_eq!(grant(bind_mount).1, "cap_sys_admin");
        let own = Scope::One(Target::Path("/proc/self/ns/net".into()));
        assert_eq!(grant(own).1, "cap_sys_admin");
        assert_eq!(
            grant(Scope::All),
            (
                "CAP_SYS_ADMIN and CAP_SYS_PTRACE".into(),
                "cap_sys_admin,cap_sys_ptrace".into()
            )
        );
        // Only what is lacking is named as missing.
        let admin = Capabilities::of(&[CAP_SYS_ADMIN]);
        match require(Access::of(&Scope::All), admin) {
            Err(Error::Privilege { missing, .. }) => assert_eq!(missing, "CAP_SYS_PTRACE"),
            other => panic!("{other:?}"),
        }
        let both = Capabilities::of(&[CAP_SYS_ADMIN, CAP_SYS_PTRACE]);
        assert!(require(Access::of(&Scope::All), both).is_ok());
    }

    #[test]
    fn a_refusal_despite_the_capabilities_suggests_none() {
        let access = Access::of(&Scope::One(Target::Path("/proc/1/ns/net".into())));
        let ns = namespace("/proc/1/ns/net");
        let denied = "Permission denied (os error 13)";
        let ptrace = Some(Capabilities::of(&[CAP_SYS_PTRACE]));
        let e = refused(access, &ns, CAP_SYS_PTRACE, denied, ptrace).to_string();
        assert!(
            e.contains(
                "Permission denied (os error 13); the kernel refused even with CAP_SYS_PTRACE"
            ),
            "{e}"
        );
        assert!(!e.contains("setcap") && !e.contains("needs"), "{e}");
        let e = refused(
            access,
            &ns,
            CAP_SYS_PTRACE,
            denied,
            Some(Capabilities::default()),
        );
        assert!(
            e.to_string()
                .starts_with("--netns needs CAP_SYS_PTRACE, which"),
            "{e}"
        );
        let setns = "setns: EPERM (Operation not permitted)";
        let admin = Some(Capabilities::of(&[CAP_SYS_ADMIN]));
        let e = refused(access, &ns, CAP_SYS_ADMIN, setns, admin).to_string();
        assert!(e.contains("refused even with CAP_SYS_ADMIN"), "{e}");

        let stat = denied_in_proc(denied, Some(Capabilities::default()));
        assert!(stat.ends_with("needs CAP_SYS_PTRACE"), "{stat}");
        let stat = denied_in_proc(denied, ptrace);
        assert!(
            stat.contains("refused even with CAP_SYS_PTRACE") && !stat.contains("needs"),
            "{stat}"
        );
    }

    #[test]
    fn entered_says_each_fact_once() {
        let mut ns = namespace("/proc/self/ns/net");
        ns.id.ino = 4026531833;
        assert_eq!(
            ns.entered(),
            "network namespace inode 4026531833, entered through /proc/self/ns/net"
        );
        ns.path = "/proc/812/ns/net".into();
        ns.process = Some((812, "nginx".into()));
        assert_eq!(
            ns.entered(),
            "network namespace inode 4026531833 (pid 812 nginx), entered through /proc/812/ns/net"
        );
        ns.name = Some("web1".into());
        ns.path = "/run/netns/web1".into();
        assert_eq!(
            ns.entered(),
            "network namespace web1: inode 4026531833, entered through /run/netns/web1"
        );
    }

    #[test]
    fn labels_say_name_or_inode_and_process() {
        let mut ns = Namespace {
            id: NsId {
                dev: 4,
                ino: 4026532301,
            },
            path: "/proc/812/ns/net".into(),
            name: None,
            process: Some((812, "nginx".into())),
        };
        assert_eq!(ns.label(), "inode 4026532301 (pid 812 nginx)");
        ns.process = None;
        assert_eq!(ns.label(), "inode 4026532301 (/proc/812/ns/net)");
        ns.name = Some("web|1".into());
        assert_eq!(ns.label(), "web 1");
    }

    #[test]
    fn a_vanished_namespace_is_skipped_not_an_error() {
        let ns = Namespace {
            id: NsId { dev: 4, ino: 1 },
            path: "/proc/4294967295/ns/net".into(),
            name: None,
            process: Some((4294967295, "gone".into())),
        };
        let got = run_in(&ns, Access::of(&Scope::All), |_| Ok(())).unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn a_missing_name_says_so() {
        let e = resolve(&Target::Name("no-such-namespace-here".into())).unwrap_err();
        assert!(e.to_string().contains("no such namespace"), "{e}");
    }
}
