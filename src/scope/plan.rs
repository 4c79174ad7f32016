//! Which namespaces a sweep walks, and in which order. A namespace whose
//! counters prove that no threshold can be crossed (`judge::bound`) is
//! judged OK by bound and not walked; the others are walked likeliest
//! first, by the highest use their bound allows (one without a bound
//! before any), equals in the order found. So when `-t` runs short, those
//! left unjudged are the ones least able to matter, and their highest
//! bound says how little that is.
//!
//! At least one namespace is always walked, the highest: the answer names
//! a measured pool, never a bound.

use crate::judge::bound::Bound;

/// What the counters of one namespace gave, by its position found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Counted {
    /// It disappeared before its counters were read.
    Gone,
    /// No bound: the counters could not be read, or prove nothing of a
    /// kind of pool that is judged.
    Unbounded,
    Bounded(Bound),
}

/// The sweep's plan.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Judged OK by bound: position found, and the bound.
    pub bounded: Vec<(usize, Bound)>,
    /// The positions found to walk, in the order to walk them.
    pub order: Vec<usize>,
    /// The bound's used percentage of each one in `order`; `None`: none.
    reach: Vec<Option<f64>>,
}

/// The namespaces of a plan that were never walked: out of time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Left {
    pub count: usize,
    /// The highest used percentage any of their pools can reach; `None`
    /// when one of them has no bound (or none is left).
    pub reach: Option<f64>,
}

impl Plan {
    /// Walks every namespace of `count`, in the order found (`--exact`,
    /// `--netns`).
    pub fn exact(count: usize) -> Plan {
        Plan {
            bounded: Vec::new(),
            order: (0..count).collect(),
            reach: vec![None; count],
        }
    }

    /// The plan for what the counters of each namespace gave.
    pub fn new(counted: &[Counted]) -> Plan {
        let mut bounded = Vec::new();
        let mut walk: Vec<(usize, Option<f64>)> = Vec::new();
        for (index, c) in counted.iter().enumerate() {
            match c {
                Counted::Gone => {}
                Counted::Unbounded => walk.push((index, None)),
                Counted::Bounded(b) if b.proven => bounded.push((index, *b)),
                Counted::Bounded(b) => walk.push((index, Some(b.used_pct))),
            }
        }
        if walk.is_empty() {
            // Every one proven: walk the highest all the same.
            let highest = bounded
                .iter()
                .enumerate()
                .max_by(|(_, (ia, a)), (_, (ib, b))| {
                    a.used_pct.total_cmp(&b.used_pct).then(ib.cmp(ia))
                })
                .map(|(i, _)| i);
            if let Some(i) = highest {
                let (index, b) = bounded.remove(i);
                walk.push((index, Some(b.used_pct)));
            }
        }
        // No bound first, then the highest; equals in the order found.
        walk.sort_by(|(ia, a), (ib, b)| {
            let key = |r: &Option<f64>| r.map_or(f64::INFINITY, |p| p);
            key(b).total_cmp(&key(a)).then(ia.cmp(ib))
        });
        Plan {
            bounded,
            order: walk.iter().map(|(i, _)| *i).collect(),
            reach: walk.iter().map(|(_, r)| *r).collect(),
        }
    }

    /// Those of `order` left after the first `started`.
    pub fn left(&self, started: usize) -> Left {
        let rest = self.reach.get(started..).unwrap_or(&[]);
        let reach = rest
            .iter()
            .try_fold(None::<f64>, |most, r| {
                r.map(|p| Some(most.map_or(p, |m: f64| m.max(p))))
            })
            .flatten();
        Left {
            count: rest.len(),
            reach,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(used_pct: f64, proven: bool) -> Counted {
        Counted::Bounded(Bound {
            ports: 0,
            used_pct,
            cannot_fill: true,
            proven,
        })
    }

    #[test]
    fn the_likeliest_are_walked_first_and_the_proven_not_at_all() {
        let counted = [
            bound(5.0, true),
            bound(41.0, false),
            Counted::Gone,
            bound(85.0, false),
            Counted::Unbounded,
            bound(41.0, false),
            bound(3.0, true),
        ];
        let plan = Plan::new(&counted);
        assert_eq!(plan.order, [4, 3, 1, 5]);
        let bounded: Vec<usize> = plan.bounded.iter().map(|(i, _)| *i).collect();
        assert_eq!(bounded, [0, 6]);
        assert_eq!(
            plan.left(2),
            Left {
                count: 2,
                reach: Some(41.0)
            }
        );
        assert_eq!(
            plan.left(0),
            Left {
                count: 4,
                reach: None
            }
        );
        assert_eq!(
            plan.left(4),
            Left {
                count: 0,
                reach: None
            }
        );
    }

    #[test]
    fn one_is_walked_when_every_one_is_proven() {
        let plan = Plan::new(&[bound(2.0, true), bound(7.0, true), bound(7.0, true)]);
        assert_eq!(plan.order, [1]);
        assert_eq!(plan.bounded.len(), 2);
        assert_eq!(Plan::new(&[Counted::Gone]).order, Vec::<usize>::new());
        assert_eq!(Plan::exact(3).order, [0, 1, 2]);
    }
}
