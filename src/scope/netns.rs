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

use super::Target;
use super::access::{Access, denied_in_proc, refused, through_proc};
use super::procfs;
use super::procfs::{CAP_SYS_ADMIN, CAP_SYS_PTRACE, Capabilities};
use crate::error::{Error, Result};

/// Where `ip netns add` keeps named namespaces (and CNI plugins their
/// `cni-…` ones).
pub const NAMED_DIR: &str = "/run/netns";
/// Where Docker keeps the namespaces of its containers, by sandbox id.
pub const DOCKER_DIR: &str = "/run/docker/netns";
/// What the host's own namespace is called.
pub const HOST: &str = "host";
/// The socket tables of the namespace the calling thread is in.
pub const THREAD_NET: &str = "/proc/thread-self/net";
const OWN_NAMESPACE: &str = "/proc/thread-self/ns/net";

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
    /// Its name: `host` for the host's own, else its name under
    /// `/run/netns` or `/run/docker/netns`, if it has one.
    pub name: Option<String>,
    /// A process living in it (the lowest pid): pid and command.
    pub process: Option<(u32, String)>,
}

/// Every distinct namespace found, and how many processes hid theirs.
#[derive(Debug, Default)]
pub struct Found {
    /// Ordered by inode.
    pub namespaces: Vec<Namespace>,
    /// Processes whose `/proc/PID/ns/net` could not be looked at.
    pub hidden: procfs::Pids,
}

/// Finds every network namespace named under `/run/netns` or held by a
/// process, each once.
pub fn discover() -> Result<Found> {
    let nsfs = fs::metadata(OWN_NAMESPACE)
        .map_err(|source| Error::read(OWN_NAMESPACE, source))?
        .dev();
    let mut found: HashMap<NsId, Namespace> = HashMap::new();
    let mut names = named(NAMED_DIR)?;
    // Docker's own names come after those of `ip netns`.
    names.extend(named(DOCKER_DIR).unwrap_or_default());
    for (name, path) in names {
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
    let mut hidden = procfs::Pids::default();
    for (pid, dir) in procfs::processes()? {
        let path = dir.join("ns/net");
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                hidden.add(pid);
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
    name_host(&mut namespaces);
    namespaces.sort_by_key(|ns| ns.id);
    Ok(Found { namespaces, hidden })
}

/// The host's namespace is called `host`, whatever else it is called.
fn name_host(namespaces: &mut [Namespace]) {
    let Some(host) = host_namespace() else {
        return;
    };
    if let Some(ns) = namespaces.iter_mut().find(|ns| ns.id == host) {
        ns.name = Some(HOST.to_string());
    }
}

/// The host's own namespace: that of the kernel's threads, whose parent
/// `kthreadd` is pid 2 where this process sees the host's pids (it is
/// readable where pid 1's namespace may not be: pid 1 can be in another
/// user namespace); else that of pid 1.
fn host_namespace() -> Option<NsId> {
    let kthreadd = command_of(2) == "kthreadd";
    let pids: &[u32] = if kthreadd { &[2, 1] } else { &[1] };
    pids.iter().find_map(|pid| {
        let meta = fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
        Some(NsId::of(&meta))
    })
}

/// The names under `dir` (`/run/netns`, `/run/docker/netns`), sorted,
/// with their paths.
fn named(dir_path: &str) -> Result<Vec<(String, PathBuf)>> {
    let dir = match fs::read_dir(dir_path) {
        Ok(dir) => dir,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::read(dir_path, source)),
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
    let is_host = host_namespace() == Some(id);
    let name = match target {
        _ if is_host => Some(HOST.to_string()),
        Target::Name(name) => Some(name.clone()),
        Target::Path(_) => {
            let mut names = named(NAMED_DIR)?;
            names.extend(named(DOCKER_DIR).unwrap_or_default());
            names.into_iter().find_map(|(name, p)| {
                let m = fs::metadata(p).ok()?;
                (NsId::of(&m) == id).then_some(name)
            })
        }
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
        Ok(text) => text.trim_end_matches('\n').to_string(),
        Err(_) => "?".to_string(),
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
/// now leads to another namespace (a pid reused). A thread may move from
/// one namespace to the next: the sweep's threads do.
pub(super) fn enter(ns: &Namespace, access: Access) -> Result<bool> {
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
                &ns.path,
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
            refused(
                access,
                &ns.path,
                CAP_SYS_ADMIN,
                &error,
                Capabilities::effective(),
            )
        }
        Errno::EINVAL => failed("not a network namespace".into()),
        e => failed(format!("setns: {e} ({})", e.desc())),
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_namespace_is_skipped_not_an_error() {
        let ns = Namespace {
            id: NsId { dev: 4, ino: 1 },
            path: "/proc/4294967295/ns/net".into(),
            name: None,
            process: Some((4294967295, "gone".into())),
        };
        let got = run_in(&ns, Access::of(&super::super::Scope::All), |_| Ok(())).unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn a_missing_name_says_so() {
        let e = resolve(&Target::Name("no-such-namespace-here".into())).unwrap_err();
        assert!(e.to_string().contains("no such namespace"), "{e}");
    }
}
