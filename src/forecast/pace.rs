//! The pace of new closes a pool's entries tell: every entry that holds a
//! port for a fixed time after a close (a TCP TIME_WAIT, a NAT table's
//! closing entry) was a close that many seconds ago, so one snapshot of
//! their ages is a history of the last minute. Pure arithmetic on a
//! fixed-size histogram: no allocation per entry.

/// Ages are kept in 1 s buckets over one minute; older entries fall in the
/// last bucket.
pub const BUCKETS: usize = 60;

/// The window the recent pace is read over, in seconds.
const RECENT_S: usize = 10;
/// A pace is "sustained" when the recent and the older rates differ by at
/// most this share of the larger one.
const SUSTAINED_SPREAD: f64 = 0.25;
/// A pace counts as ended when the youngest entry is at least this old and
/// older than this many of the recent mean gaps between closes. One second
/// is enough: the gaps test keeps a slow pace going, and a burst checked
/// a second or two after it ended must not be taken for a pace that goes
/// on (250 closes in 1 s would read as 83/s and fill 600 ports "in 5 s").
const ENDED_MIN_S: usize = 1;
/// A pace is read over at least this many seconds: closes all made in the
/// last second are as likely a burst as the start of a pace, so they are
/// spread over this span rather than taken as their own rate.
const MIN_SPAN_S: f64 = 3.0;
/// Fewer closes than this in the recent window tell no pace: one or two
/// closes are noise (a pace that slow holds a handful of ports anyway).
const MIN_RECENT: u32 = 3;
const ENDED_GAPS: f64 = 3.0;

/// The entries that hold ports of one pool, by age in whole seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ages {
    /// How long a new entry will hold its port, in ms: 60 000 for a TCP
    /// TIME_WAIT, the reuse delay where `connect()` takes entries over.
    pub hold_ms: u32,
    /// Entries older than this (ms) may have been taken over by a new
    /// connection and so are missing from the history; `None` if none are.
    pub censored_after_ms: Option<u32>,
    pub buckets: [u32; BUCKETS],
}

impl Ages {
    pub fn new(hold_ms: u32) -> Ages {
        Ages {
            hold_ms,
            censored_after_ms: None,
            buckets: [0; BUCKETS],
        }
    }

    /// Adds an entry whose hold on its port ends in `remaining_ms` (for a
    /// TIME_WAIT: `idiag_expires`, less what the reuse delay takes off).
    pub fn add_remaining(&mut self, remaining_ms: u32) {
        let age_ms = self.hold_ms.saturating_sub(remaining_ms);
        self.add_age(age_ms);
    }

    pub fn add_age(&mut self, age_ms: u32) {
        let i = ((age_ms / 1000) as usize).min(BUCKETS - 1);
        self.buckets[i] = self.buckets[i].saturating_add(1);
    }

    pub fn merge(&mut self, other: &Ages) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn total(&self) -> u32 {
        self.buckets.iter().fold(0u32, |a, b| a.saturating_add(*b))
    }

    /// The hold in whole seconds, at least 1 and at most one minute.
    fn hold_s(&self) -> usize {
        (self.hold_ms.div_ceil(1000) as usize).clamp(1, BUCKETS)
    }

    /// Seconds of history the ages can be read over.
    fn history_s(&self) -> usize {
        let censor = self
            .censored_after_ms
            .map_or(BUCKETS, |ms| (ms.div_ceil(1000) as usize).clamp(1, BUCKETS));
        self.hold_s().min(censor)
    }

    fn sum(&self, from: usize, to: usize) -> u32 {
        self.buckets[from.min(BUCKETS)..to.min(BUCKETS)]
            .iter()
            .fold(0u32, |a, b| a.saturating_add(*b))
    }

    /// Entries still holding a port `t` seconds from now: an entry of age
    /// bucket `a` (age in [a, a+1) s) is taken to end at hold − a − 0.5 s.
    pub(super) fn remaining_at(&self, t: f64) -> f64 {
        let hold = f64::from(self.hold_ms) / 1000.0;
        let mut left = 0u64;
        for (a, n) in self.buckets.iter().enumerate() {
            let ends = (hold - a as f64 - 0.5).max(0.0);
            if ends > t {
                left += u64::from(*n);
            }
        }
        left as f64
    }
}

/// What the estimator saw in the ages; the report puts it in words.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seen {
    /// No entry holds a port of the pool.
    Nothing,
    /// Closes, but none for `quiet_s` seconds: a burst of `count` that ended.
    Ended { count: u32, quiet_s: u32 },
    /// About the same rate over the whole history of `span_s` seconds.
    Sustained { span_s: u32 },
    /// A pace that started about `ago_s` seconds ago (nothing older).
    Started { ago_s: u32 },
    /// The recent rate is above (`rising`) or below the older one.
    Changed {
        recent: f64,
        older: f64,
        rising: bool,
    },
    /// Only a short history (the hold is short): the rate over it.
    Short { span_s: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// New closes per second the forecast assumes from now on.
    pub per_second: f64,
    pub seen: Seen,
}

/// The fastest pace [`pace`] can read from `entries` entries, whatever
/// their ages: fewer than [`MIN_RECENT`] tell none, and every rate it
/// reads is a count of entries over a window of at least one second (the
/// recent window is at least one bucket, a pace that began is spread over
/// at least [`MIN_SPAN_S`], a sustained one over its whole history). The
/// bound of a namespace's pools (`judge::bound`) rests on this: change it
/// with the branches below.
pub fn max_per_second(entries: u64) -> f64 {
    if entries < u64::from(MIN_RECENT) {
        return 0.0;
    }
    entries as f64
}

/// Reads the pace of new closes from the ages: the rate of the most recent
/// window, compared with the older part of the history so a finished burst
/// is not taken for a pace that goes on.
pub fn pace(ages: &Ages) -> Pace {
    let history = ages.history_s();
    let recent_s = RECENT_S.min(history);
    let recent = ages.sum(0, recent_s);
    let all = ages.sum(0, history);
    if ages.total() == 0 {
        return Pace {
            per_second: 0.0,
            seen: Seen::Nothing,
        };
    }
    let youngest = ages.buckets.iter().position(|n| *n > 0).unwrap_or(BUCKETS);
    let recent_rate = f64::from(recent) / recent_s as f64;
    let mean_gap = if recent > 0 {
        recent_s as f64 / f64::from(recent)
    } else {
        f64::INFINITY
    };
    if recent < MIN_RECENT || (youngest >= ENDED_MIN_S && youngest as f64 >= ENDED_GAPS * mean_gap)
    {
        return Pace {
            per_second: 0.0,
            seen: Seen::Ended {
                count: ages.total(),
                quiet_s: youngest as u32,
            },
        };
    }
    let older_s = history - recent_s;
    if older_s < RECENT_S {
        return Pace {
            per_second: recent_rate,
            seen: Seen::Short {
                span_s: recent_s as u32,
            },
        };
    }
    let older = all - recent;
    let older_rate = f64::from(older) / older_s as f64;
    let spread = (recent_rate - older_rate).abs();
    if spread <= SUSTAINED_SPREAD * recent_rate.max(older_rate) {
        return Pace {
            per_second: f64::from(all) / history as f64,
            seen: Seen::Sustained {
                span_s: history as u32,
            },
        };
    }
    // Where the pace began: the age below which all but a few stray
    // entries lie (a 2 % margin), so one old close does not stretch it.
    let strays = all / 50;
    let mut younger = 0;
    let mut oldest = 0;
    for (i, n) in ages.buckets[..history].iter().enumerate() {
        younger += *n;
        if younger >= all - strays {
            oldest = i;
            break;
        }
    }
    if recent_rate > older_rate && oldest + 2 < history {
        // Nothing (but strays) older than `oldest`: the pace began then, so
        // its rate is what it made since. The oldest second is only partly
        // covered when the pace began within it: count the part its
        // entries fill.
        let since = younger;
        let before = since - ages.buckets[oldest];
        let per_bucket = if oldest > 0 {
            f64::from(before) / oldest as f64
        } else {
            f64::from(since)
        };
        let part = (f64::from(ages.buckets[oldest]) / per_bucket.max(1.0)).clamp(0.1, 1.0);
        let span = oldest as f64 + part;
        return Pace {
            per_second: f64::from(since) / span.max(MIN_SPAN_S),
            seen: Seen::Started {
                ago_s: (span.round() as u32).max(1),
            },
        };
    }
    Pace {
        per_second: recent_rate,
        seen: Seen::Changed {
            recent: recent_rate,
            older: older_rate,
            rising: recent_rate > older_rate,
        },
    }
}
