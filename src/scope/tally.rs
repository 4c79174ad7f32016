//! The bookkeeping of a namespace sweep (`--netns`, `--all-netns`) and its
//! UNKNOWN policy: which namespace is the worst (the only one kept whole,
//! so memory stays that of a few namespaces however many the host has),
//! how every other one ranks, which disappeared or could not be read, and
//! when the sweep as a whole fails or is UNKNOWN.
//!
//! Ties go to the namespace found first, and lists are in the order found
//! within a rank, so the answer does not depend on which thread finished
//! first.

use std::cmp::Reverse;

use super::netns::{NAMED_DIR, Namespace};
use super::sweep::Visit;
use crate::error::{Error, Result};
use crate::judge::bound::Bound;
use crate::judge::{self, Rank, Report, State};
use crate::model::Pool;

/// What the tally needs of one namespace's measurement.
pub trait Judged {
    fn judged(&self) -> &Report;
}

/// The namespaces of a sweep as their visits come in.
pub struct Tally<T> {
    /// `--all-netns`: a namespace that disappeared or could not be read is
    /// reported, not the end of the sweep.
    all: bool,
    worst: Option<(usize, Namespace, T)>,
    book: Book,
}

/// Every namespace but the worst's measurement: a rank each, and those
/// that disappeared.
#[derive(Default)]
pub struct Book {
    /// Judged or unreadable, worst first once the sweep is over.
    pub ranked: Vec<Ranked>,
    /// Disappeared while the check ran, in the order found.
    pub skipped: Vec<(usize, Namespace)>,
}

/// One namespace's place in the sweep.
pub struct Ranked {
    pub rank: Rank,
    /// The order it was found in.
    pub index: usize,
    pub ns: Namespace,
    pub verdict: Verdict,
}

/// What became of one namespace.
pub enum Verdict {
    /// Walked: its worst pool and that pool's state.
    Judged(Pool, State),
    /// OK by bound: its counters prove no threshold can be crossed.
    Bounded(Bound),
    Failed(Error),
}

/// Why a sweep whose worst namespace is fine is UNKNOWN all the same: a
/// partial sweep is never an OK.
pub enum Partial<'a> {
    /// This many namespaces were found but not judged: out of time.
    Unjudged(usize),
    /// The first namespace that could not be read, and why.
    Unreadable(&'a Namespace, &'a Error),
}

impl<T: Judged> Tally<T> {
    pub fn new(all: bool) -> Tally<T> {
        Tally {
            all,
            worst: None,
            book: Book::default(),
        }
    }

    /// Takes the visit of the namespace found `index`th; an error ends the
    /// sweep (a missing privilege always does, anything else only for a
    /// namespace named by `--netns`).
    pub fn add(&mut self, index: usize, ns: Namespace, visit: Visit<T>) -> Result<()> {
        match visit {
            Visit::Measured(m) => {
                let (pool, state) = m.judged().worst;
                let rank = judge::rank(m.judged());
                let verdict = Verdict::Judged(pool, state);
                self.book.ranked.push(Ranked {
                    rank,
                    index,
                    ns: ns.clone(),
                    verdict,
                });
                let better = |(i, _, w): &(usize, Namespace, T)| {
                    let theirs = judge::rank(w.judged());
                    rank > theirs || (rank == theirs && index < *i)
                };
                if self.worst.as_ref().is_none_or(better) {
                    self.worst = Some((index, ns, m));
                }
            }
            Visit::Gone if self.all => self.book.skipped.push((index, ns)),
            Visit::Gone => {
                return Err(Error::Namespace {
                    path: ns.path,
                    reason: "it disappeared while the check ran".into(),
                });
            }
            Visit::Failed(e @ Error::Privilege { .. }) => return Err(e),
            Visit::Failed(e) if self.all => self.book.ranked.push(Ranked {
                rank: Rank::unreadable(),
                index,
                ns,
                verdict: Verdict::Failed(e),
            }),
            Visit::Failed(e) => return Err(e),
        }
        Ok(())
    }

    /// Takes a namespace its counters judged OK by bound, never walked.
    pub fn add_bounded(&mut self, index: usize, ns: Namespace, bound: Bound) {
        self.book.ranked.push(Ranked {
            rank: Rank::bounded(),
            index,
            ns,
            verdict: Verdict::Bounded(bound),
        });
    }

    /// The worst namespace with its measurement, and the book of the
    /// others, worst first; an error where no namespace could be judged
    /// (the first failure, if any).
    pub fn finish(self) -> Result<(Namespace, T, Book)> {
        let mut book = self.book;
        book.ranked.sort_by_key(|r| (Reverse(r.rank), r.index));
        book.skipped.sort_by_key(|(index, _)| *index);
        match self.worst {
            Some((_, ns, m)) => Ok((ns, m, book)),
            None => {
                let failed = book.ranked.into_iter().filter_map(|r| match r.verdict {
                    Verdict::Failed(e) => Some((r.index, e)),
                    Verdict::Judged(..) | Verdict::Bounded(_) => None,
                });
                Err(match failed.min_by_key(|(index, _)| *index) {
                    Some((_, e)) => e,
                    None => Error::Namespace {
                        path: NAMED_DIR.into(),
                        reason: "no network namespace could be read: every one disappeared \
                                 while the check ran"
                            .into(),
                    },
                })
            }
        }
    }
}

impl Book {
    /// How many namespaces are CRITICAL, WARNING, UNKNOWN and OK.
    pub fn states(&self) -> [usize; 4] {
        let count = |s: State| self.ranked.iter().filter(|r| r.rank.state() == s).count();
        [State::Critical, State::Warning, State::Unknown, State::Ok].map(count)
    }

    /// How many namespaces were judged by bound, and how many walked
    /// (those that could not be read included).
    pub fn bounded_walked(&self) -> (usize, usize) {
        let bounded = self.bounded().count();
        (bounded, self.ranked.len() - bounded)
    }

    /// The namespaces judged by bound, in the order found.
    pub fn bounded(&self) -> impl Iterator<Item = (&Namespace, &Bound)> {
        let mut bounded: Vec<_> = self
            .ranked
            .iter()
            .filter_map(|r| match &r.verdict {
                Verdict::Bounded(b) => Some((r.index, &r.ns, b)),
                _ => None,
            })
            .collect();
        bounded.sort_by_key(|(index, _, _)| *index);
        bounded.into_iter().map(|(_, ns, b)| (ns, b))
    }

    /// Why the answer is UNKNOWN although its worst namespace, in
    /// `worst`, is better than that: a namespace not judged, or one that
    /// could not be read, outranks one that is fine.
    pub fn partial(&self, worst: State, unjudged: usize) -> Option<Partial<'_>> {
        if worst >= State::Unknown {
            return None;
        }
        if unjudged > 0 {
            return Some(Partial::Unjudged(unjudged));
        }
        let failed = self.ranked.iter().filter_map(|r| match &r.verdict {
            Verdict::Failed(e) => Some((r.index, &r.ns, e)),
            Verdict::Judged(..) | Verdict::Bounded(_) => None,
        });
        let (_, ns, e) = failed.min_by_key(|(index, _, _)| *index)?;
        Some(Partial::Unreadable(ns, e))
    }
}
