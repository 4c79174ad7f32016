//! The kernel's bounded search for a free NAT port
//! (`nf_nat_l4proto_unique_tuple`): a range of at most 128 ports is searched
//! exhaustively, so the free count is exact. A larger one is searched from a
//! random start for 128 consecutive ports, then 64, 32, 16 and 8 from new
//! random starts, so a connection can fail while ports are free: the chance
//! of that at the present fill is given with the pool.

use crate::read::ports::PortRange;

/// `NF_NAT_MAX_ATTEMPTS`: the first round's length.
const MAX_ATTEMPTS: u32 = 128;

/// The lengths of the kernel's search rounds for a range of `n` ports: 128
/// (or all of a smaller range), halved with a new random start while the
/// round had at least 16: 128, 64, 32, 16, 8.
pub fn rounds(n: u32) -> impl Iterator<Item = u32> {
    let mut next = Some(n.min(MAX_ATTEMPTS));
    std::iter::from_fn(move || {
        let a = next?;
        next = (a < n && a >= 16).then_some(a / 2);
        Some(a)
    })
}

/// The chance, in parts per million, that the kernel's search finds no free
/// port in `range` when `held` (sorted, distinct, inside the range) are
/// taken. A round of `a` ports from a random start fails when all `a` are
/// held: the number of such starts is the sum over the runs of held ports
/// (the range wraps around) of `run - a + 1`.
pub fn fail_ppm(range: PortRange, held: &[u16]) -> u32 {
    let n = range.len() as u32;
    if n == 0 || held.len() as u32 >= n {
        return 1_000_000;
    }
    if held.is_empty() {
        return 0;
    }
    // Runs of consecutive held ports; the range wraps, so a run that ends
    // at the last port continues at the first.
    let mut runs: Vec<u32> = Vec::new();
    let mut prev: Option<u16> = None;
    for &p in held {
        match (prev, runs.last_mut()) {
            (Some(q), Some(run)) if p == q.wrapping_add(1) => *run += 1,
            _ => runs.push(1),
        }
        prev = Some(p);
    }
    if runs.len() > 1 && held[0] == range.lo && held[held.len() - 1] == range.hi {
        let first = runs.remove(0);
        if let Some(last) = runs.last_mut() {
            *last += first;
        }
    }
    let chance: f64 = rounds(n)
        .map(|a| {
            let starts: u64 = runs
                .iter()
                .map(|&r| u64::from(r.saturating_sub(a - 1)))
                .sum();
            starts as f64 / f64::from(n)
        })
        .product();
    (chance * 1e6).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lo: u16, hi: u16) -> PortRange {
        PortRange { lo, hi }
    }

    #[test]
    fn the_search_has_five_rounds_above_128_ports() {
        assert_eq!(rounds(300).collect::<Vec<_>>(), [128, 64, 32, 16, 8]);
        assert_eq!(rounds(128).collect::<Vec<_>>(), [128]);
        assert_eq!(rounds(10).collect::<Vec<_>>(), [10]);
    }

    #[test]
    fn small_ranges_fail_only_when_full() {
        let r = range(40000, 40009);
        let nine: Vec<u16> = (40000..40009).collect();
        assert_eq!(fail_ppm(r, &nine), 0);
        let ten: Vec<u16> = (40000..=40009).collect();
        assert_eq!(fail_ppm(r, &ten), 1_000_000);
    }

    #[test]
    fn one_free_port_in_300_fails_as_the_rounds_say() {
        let r = range(40000, 40299);
        for free in [40000, 40150, 40299] {
            let held: Vec<u16> = (40000..=40299).filter(|&p| p != free).collect();
            let expected: f64 = [128.0, 64.0, 32.0, 16.0, 8.0]
                .iter()
                .map(|a| (300.0 - a) / 300.0)
                .product();
            let got = f64::from(fail_ppm(r, &held)) / 1e6;
            assert!((got - expected).abs() < 1e-6, "free {free}: {got}");
        }
    }

    #[test]
    fn scattered_free_ports_make_failure_unlikely() {
        let r = range(1024, 65535);
        let held: Vec<u16> = (1024..=65535).filter(|p| p % 100 != 0).collect();
        assert_eq!(fail_ppm(r, &held), 0);
    }
}
