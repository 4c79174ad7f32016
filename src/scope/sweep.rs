//! Visiting network namespaces (`--netns`, `--all-netns`): finding them,
//! checking the privileges first, and running the caller's measurement in
//! each from a thread inside it, one after another, handing each result on
//! as it comes so that the caller keeps only what it needs.

use std::path::Path;

use super::Scope;
use super::access::{self, Access};
use super::netns::{self, Found, Namespace};
use crate::error::{Error, Result};
use crate::stage::{self, Stage};

/// The namespaces to visit and how they may be entered.
pub struct Sweep {
    access: Access,
    found: Found,
}

/// What visiting one namespace gave.
pub enum Visit<T> {
    Measured(T),
    /// It no longer exists (its last process exited, its name was deleted).
    Gone,
    Failed(Error),
}

impl Sweep {
    /// Refuses early when a capability every run needs is missing, then
    /// finds the namespaces `scope` names.
    pub fn find(scope: &Scope) -> Result<Sweep> {
        let access = Access::of(scope);
        access::require_privileges(access)?;
        stage::enter(Stage::FindingNamespaces);
        let found = match scope {
            Scope::One(target) => Found {
                namespaces: vec![netns::resolve(target)?],
                hidden: 0,
            },
            _ => netns::discover()?,
        };
        Ok(Sweep { access, found })
    }

    /// Runs `measure` inside every namespace, in the order found, and hands
    /// each result to `take`; stops at the first error `take` returns.
    pub fn visit<T: Send>(
        &self,
        measure: impl Fn(&Path) -> Result<T> + Sync,
        mut take: impl FnMut(Namespace, Visit<T>) -> Result<()>,
    ) -> Result<()> {
        for ns in &self.found.namespaces {
            let visit = match netns::run_in(ns, self.access, &measure) {
                Ok(Some(t)) => Visit::Measured(t),
                Ok(None) => Visit::Gone,
                Err(e) => Visit::Failed(e),
            };
            take(ns.clone(), visit)?;
        }
        Ok(())
    }

    /// Runs `f` once more inside `ns`; `Ok(None)` if it is gone.
    pub fn run_in<T: Send>(
        &self,
        ns: &Namespace,
        f: impl FnOnce(&Path) -> Result<T> + Send,
    ) -> Result<Option<T>> {
        netns::run_in(ns, self.access, f)
    }

    /// Processes whose namespace could not be looked at.
    pub fn hidden(&self) -> usize {
        self.found.hidden
    }
}
