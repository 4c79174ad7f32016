//! How bad a judged result is, for ordering namespaces, and the worst few
//! of many kept in a stable order.

use std::cmp::Reverse;

use super::{Report, State};

/// How bad a judged result is, for ordering namespaces: the worst state,
/// then the fullest worst pool, then the fewest free ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank(State, u32, Reverse<u32>);

impl Rank {
    /// A namespace that could not be read: UNKNOWN, below every judged one
    /// of that state.
    pub fn unreadable() -> Rank {
        Rank(State::Unknown, 0, Reverse(u32::MAX))
    }

    /// A namespace judged OK by bound: below every one walked, whose
    /// figures are measured, not bounds.
    pub fn bounded() -> Rank {
        Rank(State::Ok, 0, Reverse(u32::MAX))
    }

    pub fn state(self) -> State {
        self.0
    }
}

/// Sorts worst first and keeps `n`. Equals go by `tie` (the namespace's
/// label), not by the order the threads happened to judge them in: many
/// namespaces tie (all OK, all empty), and the ones kept must be the same
/// from one run to the next, or the series a collector sees come and go.
pub fn worst_first<K: Ord, T>(ranked: &mut Vec<(Rank, K, T)>, n: usize) {
    ranked.sort_by(|(ra, ka, _), (rb, kb, _)| rb.cmp(ra).then_with(|| ka.cmp(kb)));
    ranked.truncate(n);
}

pub fn rank(report: &Report) -> Rank {
    let (pool, state) = &report.worst;
    let hundredths = (pool.used_pct() * 100.0).round() as u32;
    Rank(*state, hundredths, Reverse(pool.free))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_are_kept_and_equals_go_by_their_label() {
        let ok = Rank(State::Ok, 10, Reverse(90));
        let bad = Rank(State::Critical, 95, Reverse(1));
        let found = [(ok, "web2"), (bad, "db"), (ok, "inode 7"), (ok, "web1")];
        let kept = |order: &[usize]| {
            let mut ranked: Vec<(Rank, &str, usize)> =
                order.iter().map(|&i| (found[i].0, found[i].1, i)).collect();
            worst_first(&mut ranked, 3);
            ranked.into_iter().map(|(_, l, _)| l).collect::<Vec<_>>()
        };
        // Whatever order the namespaces were judged in.
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            assert_eq!(kept(&order), ["db", "inode 7", "web1"], "{order:?}");
        }
    }
}
