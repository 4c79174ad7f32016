//! What an option asks of the kernel to look into other namespaces, and
//! the error that names the capability a refusal calls for.

use std::path::Path;

use super::procfs::{self, CAP_SYS_ADMIN, CAP_SYS_PTRACE, Capabilities, Capability, Refusal};
use super::{Scope, Target};
use crate::error::{Error, Result};

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
    pub(super) fn required(self) -> Vec<Capability> {
        let mut caps = vec![CAP_SYS_ADMIN];
        if self.all {
            caps.push(CAP_SYS_PTRACE);
        }
        caps
    }

    /// What a run may need: what to grant with setcap.
    pub(super) fn grant(self) -> Vec<Capability> {
        let mut caps = vec![CAP_SYS_ADMIN];
        if self.through_proc {
            caps.push(CAP_SYS_PTRACE);
        }
        caps
    }
}

/// A path into a process's /proc directory, which the kernel shows only to
/// whoever may ptrace the process; this process's own are always open.
pub fn through_proc(path: &Path) -> bool {
    path.starts_with("/proc")
        && !path.starts_with("/proc/self")
        && !path.starts_with("/proc/thread-self")
}

/// The error for a refusal that `needed` overcomes: the way out if this
/// process lacks it, else the kernel's word and that it did not help.
pub fn refused(
    access: Access,
    path: &Path,
    needed: Capability,
    error: &str,
    effective: Option<Capabilities>,
) -> Error {
    match Refusal::of(&[needed], effective) {
        Refusal::Lacking(caps) => privilege(access, &caps),
        Refusal::Despite(caps) => Error::Namespace {
            path: path.to_path_buf(),
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
    let grant: Vec<String> = access
        .grant()
        .iter()
        .map(|c| c.name.to_ascii_lowercase())
        .collect();
    Error::privilege(access.option, procfs::names(missing), grant.join(","))
}

/// Says why looking into a process's /proc directory was refused.
pub fn denied_in_proc(error: &str, effective: Option<Capabilities>) -> String {
    match Refusal::of(&[CAP_SYS_PTRACE], effective) {
        Refusal::Lacking(_) => format!(
            "{error}; looking into a process of another user (or with more capabilities) needs CAP_SYS_PTRACE"
        ),
        Refusal::Despite(caps) => format!("{error}; {}", procfs::despite(&caps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ns = std::path::PathBuf::from("/proc/1/ns/net");
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
}
