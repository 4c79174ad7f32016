//! The ages of a tuple's TIME_WAIT entries, gathered as the records pass:
//! the history of closes the forecast reads its pace from.

use super::TIME_WAIT_MS;

/// The seconds a TIME_WAIT lasts: the span the ages cover.
const MINUTE_S: usize = (TIME_WAIT_MS / 1000) as usize;
/// Whole seconds kept one by one: the window the recent pace is read over.
const FINE_S: usize = 10;
/// Older ages, in buckets of this many seconds.
const COARSE_S: usize = 10;
const COARSE: usize = (MINUTE_S - FINE_S) / COARSE_S;

/// A tuple's TIME_WAIT entries by age: 1 s buckets over the last 10 s,
/// 10 s buckets over the rest of the minute, each of those with the
/// youngest and oldest second it holds. A pace that began 10-20 s ago is
/// read from where its oldest close lies: spread over the whole 10 s it
/// would come out too slow, spread over the seconds that really hold
/// entries it is what 1 s buckets give for any even pace. Inline and small
/// (35 bytes), because every tuple carries one; a tuple holds at most one
/// entry per port, so 16 bits are enough.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwAges {
    fine: [u16; FINE_S],
    coarse: [u16; COARSE],
    /// Per coarse bucket: the youngest second in it (low 4 bits) and the
    /// oldest (high 4 bits), counted from the bucket's start.
    spans: [u8; COARSE],
}

impl TwAges {
    pub fn add(&mut self, age_ms: u32) {
        let s = (age_ms / 1000) as usize;
        if s < FINE_S {
            self.fine[s] = self.fine[s].saturating_add(1);
            return;
        }
        let c = ((s - FINE_S) / COARSE_S).min(COARSE - 1);
        let k = (s - FINE_S - c * COARSE_S).min(COARSE_S - 1) as u8;
        let (lo, hi) = if self.coarse[c] == 0 {
            (k, k)
        } else {
            let (lo, hi) = (self.spans[c] & 0x0f, self.spans[c] >> 4);
            (lo.min(k), hi.max(k))
        };
        self.spans[c] = lo | (hi << 4);
        self.coarse[c] = self.coarse[c].saturating_add(1);
    }

    pub fn is_empty(&self) -> bool {
        *self == TwAges::default()
    }

    /// Adds the entries younger than `below_s` to `per_second` (entries by
    /// age in whole seconds), a coarse bucket spread evenly over the
    /// seconds between its youngest and oldest entry.
    pub fn add_to(&self, per_second: &mut [u32], below_s: usize) {
        let mut add = |i: usize, n: u32| {
            if i < below_s
                && let Some(b) = per_second.get_mut(i)
            {
                *b = b.saturating_add(n);
            }
        };
        for (i, n) in self.fine.iter().enumerate() {
            add(i, u32::from(*n));
        }
        for (c, n) in self.coarse.iter().enumerate() {
            let n = u32::from(*n);
            if n == 0 {
                continue;
            }
            let lo = usize::from(self.spans[c] & 0x0f);
            let hi = usize::from(self.spans[c] >> 4).max(lo);
            let width = (hi - lo + 1) as u32;
            let (each, extra) = (n / width, n % width);
            for k in lo..=hi {
                let more = u32::from(((k - lo) as u32) < extra);
                add(FINE_S + c * COARSE_S + k, each + more);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(tw: &TwAges, below_s: usize) -> [u32; MINUTE_S] {
        let mut per_second = [0; MINUTE_S];
        tw.add_to(&mut per_second, below_s);
        per_second
    }

    #[test]
    fn a_coarse_bucket_is_spread_over_the_seconds_it_holds() {
        let mut tw = TwAges::default();
        for age_ms in [12_100, 12_900, 13_500, 14_200] {
            tw.add(age_ms);
        }
        assert_eq!(&spread(&tw, MINUTE_S)[10..16], &[0, 0, 2, 1, 1, 0]);
    }

    #[test]
    fn only_entries_younger_than_the_delay_are_added() {
        let mut tw = TwAges::default();
        tw.add(500);
        tw.add(1_500);
        tw.add(59_999);
        tw.add(90_000);
        assert_eq!(spread(&tw, 1).iter().sum::<u32>(), 1);
        assert_eq!(spread(&tw, MINUTE_S)[MINUTE_S - 1], 2);
    }
}
