//! Where the check looks beyond its own tables: other network namespaces
//! (`--netns`, `--all-netns`) and the processes behind the sockets
//! (`--processes`). It finds namespaces and runs a caller's closure inside
//! each; what to read, model and judge there is the pipeline's business
//! (`lib.rs`), and what to say of it is the report's. It keeps the tally of
//! a sweep (`tally`): the worst namespace, the rank of every other, and
//! when a partial sweep is UNKNOWN.

use std::path::PathBuf;

pub mod access;
pub mod culprits;
pub mod netns;
pub mod plan;
pub mod procfs;
pub mod sweep;
pub mod tally;

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
}
