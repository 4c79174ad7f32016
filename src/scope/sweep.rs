//! Visiting network namespaces (`--netns`, `--all-netns`): finding them,
//! checking the privileges first, and running the caller's measurement in
//! each from a bounded pool of threads, handing each result on as it comes
//! so that the caller keeps only what it needs.
//!
//! Each thread of the pool takes the next namespace in the order found,
//! enters it with `setns()` (which moves only that thread) and measures it,
//! then takes the next. A thread is as fast as the kernel's walks allow,
//! and those walks only read: threads beyond the CPUs the process may use
//! would only queue. Results come back in the order they finish; each
//! carries its position in the order found, so that the caller can merge
//! them into an answer that does not depend on the scheduling.
//!
//! No namespace is started after the deadline: the ones left are counted,
//! and the caller says so.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::Scope;
use super::access::{self, Access};
use super::netns::{self, Found, Namespace};
use crate::error::{Error, Result};
use crate::stage::{self, Stage};

/// The most threads `--threads` may ask for.
pub const MAX_THREADS: usize = 1024;

/// The share of `-t` a sweep may spend starting namespaces (3/4): those
/// under way when it runs out, and the report, need the rest.
pub const SWEEP_SHARE: (u32, u32) = (3, 4);

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

/// How a sweep runs.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Threads at most; `None`: the CPUs this process may use.
    pub threads: Option<usize>,
    /// No namespace but the first is started after this.
    pub until: Option<Instant>,
}

/// What a finished sweep did not do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Namespaces found but never started: the deadline had passed.
    pub unjudged: usize,
    /// How many of the order were started (the rest are `unjudged`).
    pub started: usize,
    /// Threads that ran.
    pub threads: usize,
}

/// The CPUs this process may run on (its affinity mask and cgroup quota),
/// at least one.
fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
                hidden: Default::default(),
            },
            _ => netns::discover()?,
        };
        Ok(Sweep { access, found })
    }

    /// How many namespaces were found.
    pub fn len(&self) -> usize {
        self.found.namespaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.namespaces.is_empty()
    }

    /// Runs `measure` inside every namespace on a pool of threads and hands
    /// each result to `take` with the namespace's position in the order
    /// found. When `take` returns an error, no further namespace is started
    /// and, once those under way are done, the error of the earliest
    /// namespace is returned: namespaces start in order, so that is the
    /// same error whatever the scheduling.
    pub fn visit<T: Send>(
        &self,
        pace: Pace,
        measure: impl Fn(&Path) -> Result<T> + Sync,
        take: impl FnMut(usize, Namespace, Visit<T>) -> Result<()>,
    ) -> Result<Swept> {
        let order: Vec<usize> = (0..self.len()).collect();
        self.visit_in(&order, pace, measure, take)
    }

    /// [`visit`](Self::visit) of the namespaces at the positions `order`
    /// gives (in the order found), started in that order; `take` still gets
    /// each one's position in the order found, and the earliest error is
    /// the one earliest in `order`.
    pub fn visit_in<T: Send>(
        &self,
        order: &[usize],
        pace: Pace,
        measure: impl Fn(&Path) -> Result<T> + Sync,
        mut take: impl FnMut(usize, Namespace, Visit<T>) -> Result<()>,
    ) -> Result<Swept> {
        let namespaces = &self.found.namespaces;
        let total = order.len();
        let wanted = pace
            .threads
            .unwrap_or_else(usable_cpus)
            .clamp(1, MAX_THREADS)
            .min(total.max(1));
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let access = self.access;
        let worker = |tx: mpsc::SyncSender<(usize, Visit<T>)>| {
            loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let late = pace.until.is_some_and(|until| Instant::now() >= until);
                // The first namespace is always judged: an answer needs one.
                let index = if late {
                    match next.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst) {
                        Ok(_) => 0,
                        Err(_) => break,
                    }
                } else {
                    next.fetch_add(1, Ordering::SeqCst)
                };
                let Some(ns) = order.get(index).and_then(|&i| namespaces.get(i)) else {
                    break;
                };
                let visit = match netns::enter(ns, access) {
                    Ok(true) => match measure(Path::new(netns::THREAD_NET)) {
                        Ok(t) => Visit::Measured(t),
                        Err(e) => Visit::Failed(e),
                    },
                    Ok(false) => Visit::Gone,
                    Err(e) => Visit::Failed(e),
                };
                if tx.send((index, visit)).is_err() {
                    break;
                }
            }
        };
        let mut first_error: Option<(usize, Error)> = None;
        let mut threads = 0;
        let mut spawn_error = None;
        std::thread::scope(|scope| {
            // A bounded queue: a thread waits rather than pile up results.
            let (tx, rx) = mpsc::sync_channel(wanted);
            for n in 0..wanted {
                let tx = tx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("netns sweep {n}"))
                    .spawn_scoped(scope, || worker(tx));
                match spawned {
                    Ok(_) => threads += 1,
                    // Fewer threads only make the sweep slower.
                    Err(_) if threads > 0 => break,
                    // Later threads may still start and do the whole sweep.
                    Err(e) => spawn_error = Some(e),
                }
            }
            drop(tx);
            first_error = no_thread(threads, spawn_error.take(), namespaces);
            for (index, visit) in rx {
                let Some((&found, ns)) = order
                    .get(index)
                    .and_then(|i| Some((i, namespaces.get(*i)?)))
                else {
                    continue;
                };
                if let Err(e) = take(found, ns.clone(), visit) {
                    stop.store(true, Ordering::SeqCst);
                    if first_error.as_ref().is_none_or(|(i, _)| index < *i) {
                        first_error = Some((index, e));
                    }
                }
            }
        });
        if let Some((_, e)) = first_error {
            return Err(e);
        }
        let started = next.load(Ordering::SeqCst).min(total);
        Ok(Swept {
            unjudged: total - started,
            started,
            threads,
        })
    }

    /// Runs `f` once more inside `ns`; `Ok(None)` if it is gone.
    pub fn run_in<T: Send>(
        &self,
        ns: &Namespace,
        f: impl FnOnce(&Path) -> Result<T> + Send,
    ) -> Result<Option<T>> {
        netns::run_in(ns, self.access, f)
    }

    /// The namespace found `index`th.
    pub fn namespace(&self, index: usize) -> Option<&Namespace> {
        self.found.namespaces.get(index)
    }

    /// Processes whose namespace could not be looked at.
    pub fn hidden(&self) -> &super::procfs::Pids {
        &self.found.hidden
    }
}

/// The sweep's error when not one thread could be started (and so no
/// namespace was looked at); `None` once any did.
fn no_thread(
    threads: usize,
    spawn_error: Option<std::io::Error>,
    namespaces: &[Namespace],
) -> Option<(usize, Error)> {
    let e = spawn_error.filter(|_| threads == 0)?;
    let path = namespaces.first().map(|ns| ns.path.clone());
    Some((
        0,
        Error::Namespace {
            path: path.unwrap_or_else(|| netns::NAMED_DIR.into()),
            reason: format!("cannot start a thread to enter it: {e}"),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_spawn_is_the_error_only_when_no_thread_started() {
        let failed = || Some(std::io::Error::other("no threads left"));
        assert!(no_thread(1, failed(), &[]).is_none());
        assert!(no_thread(3, failed(), &[]).is_none());
        assert!(no_thread(0, None, &[]).is_none());
        let (index, e) = no_thread(0, failed(), &[]).expect("no thread started");
        assert_eq!(index, 0);
        assert!(e.to_string().contains("no threads left"), "{e}");
    }
}
