//! Every test runs in this one process, side by side on the test threads.
//! Two things they share cannot be shared by every pair of tests, so such
//! tests take turns:
//!
//! - The host's network namespaces. A namespace a test makes, or a child
//!   it runs inside one, is seen by `--all-netns` run at the same time, so
//!   the few tests whose assertions speak of every namespace of the host
//!   (the worst of them, the overall state, all judged in time) hold them
//!   alone, and whatever makes a namespace shares them.
//! - The processor, for the real-time suites. They drive paces of new
//!   connections for minutes and compare with what the check forecast, so
//!   the release build of the package tests (minutes of both cores) waits
//!   until none of them runs.
//!
//! A shared hold never waits for a test that wants to be alone: that test
//! waits until no one shares, and meanwhile the others go on.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::{Condvar, Mutex, PoisonError};

/// A lock held shared by many or alone by one; shared holds go first.
pub struct Turns {
    /// How many share it, and whether one has it alone.
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Turns {
    const fn new() -> Turns {
        Turns {
            state: Mutex::new((0, false)),
            changed: Condvar::new(),
        }
    }

    fn share(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while s.1 {
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.0 += 1;
    }

    fn unshare(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 -= 1;
        self.changed.notify_all();
    }

    fn take_alone(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while s.1 || s.0 > 0 {
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.1 = true;
    }

    fn give_back(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.1 = false;
        self.changed.notify_all();
    }
}

static NAMESPACES: Turns = Turns::new();
static CPU: Turns = Turns::new();

thread_local! {
    /// Whether this thread holds [`NAMESPACES`] alone: the namespaces it
    /// makes itself need no shared hold then (which would wait forever).
    static ALONE: Cell<bool> = const { Cell::new(false) };
    /// How many [`Shared`] of this thread use its one shared hold.
    static SHARES: RefCell<usize> = const { RefCell::new(0) };
}

/// A shared hold on the host's namespaces: for as long as it lives, no
/// test that needs them alone runs. Dropped on the thread that took it.
pub struct Shared {
    /// Whether it counts in this thread's hold (not when alone).
    counted: bool,
    _thread: PhantomData<*const ()>,
}

/// Taken by whatever makes a network namespace or runs a child in one.
pub fn namespaces_shared() -> Shared {
    let counted = !ALONE.with(Cell::get);
    if counted {
        SHARES.with_borrow_mut(|n| {
            if *n == 0 {
                NAMESPACES.share();
            }
            *n += 1;
        });
    }
    Shared {
        counted,
        _thread: PhantomData,
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.counted {
            SHARES.with_borrow_mut(|n| {
                *n -= 1;
                if *n == 0 {
                    NAMESPACES.unshare();
                }
            });
        }
    }
}

/// The host's namespaces to this test alone, for as long as it lives.
pub struct Alone(PhantomData<*const ()>);

/// Taken by a test that sweeps every namespace and judges them all; the
/// namespaces it makes itself, on this thread, are still allowed.
pub fn namespaces_alone() -> Alone {
    NAMESPACES.take_alone();
    ALONE.with(|a| a.set(true));
    Alone(PhantomData)
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
        NAMESPACES.give_back();
    }
}

/// A real-time suite runs: no build takes both cores meanwhile.
pub struct RealTime(());

pub fn real_time() -> RealTime {
    CPU.share();
    RealTime(())
}

impl Drop for RealTime {
    fn drop(&mut self) {
        CPU.unshare();
    }
}

/// A build that takes both cores, once no real-time suite runs.
pub struct BusyCpu(());

pub fn busy_cpu() -> BusyCpu {
    CPU.take_alone();
    BusyCpu(())
}

impl Drop for BusyCpu {
    fn drop(&mut self) {
        CPU.give_back();
    }
}
