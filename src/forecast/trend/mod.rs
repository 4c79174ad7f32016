//! Growth across runs (`--trend`): the state file read once before the
//! tables are read (the previous run's pools for the growth, its
//! explicitly bound connections for the marked ports, and what became of
//! it for the note), and this run's pools kept after the judgement. The
//! state's text form is `state`'s, the file on disk `file`'s.

pub mod file;
pub mod state;

use crate::model::upstream::Opens;
use crate::model::{FourTuple, Kind, Pool, PoolName};
use state::{Kept, MAX_BYTES, MAX_POOLS, Refused, TrendState};

use super::Forecast;

/// A previous run older than this says nothing about the pace of growth now.
pub const MAX_AGE_MS: u64 = 3600 * 1000;

/// What `--trend` brings to one measurement.
pub struct Recalled {
    /// The state file's key.
    pub key: u64,
    /// The previous run, if it tells a growth.
    pub previous: Option<Previous>,
    /// The connections the previous run saw bound explicitly.
    pub bound: Vec<FourTuple>,
    pub last_run: LastRun,
}

/// Reads the previous run's state of the check whose measuring options
/// hash to `key`, once.
pub fn recall(key: u64) -> Recalled {
    let (previous, bound, last_run) = match file::load(&file::path(key), MAX_BYTES) {
        Ok(text) => recall_text(text.as_deref(), key, file::now_ms()),
        Err(why) => (None, Vec::new(), LastRun::Unreadable(why)),
    };
    Recalled {
        key,
        previous,
        bound,
        last_run,
    }
}

/// Keeps the pools with a forecast (the listed ones, then the worst of
/// each kind) and the explicitly bound connections for the next run; the
/// reason if the state file could not be written.
pub fn keep<'a>(
    recalled: &Recalled,
    forecasts: impl Iterator<Item = (&'a Pool, &'a Forecast)>,
    bound: &[FourTuple],
    opens: Option<Opens>,
) -> Result<(), String> {
    let mut pools: Vec<Kept> = Vec::new();
    for (pool, forecast) in forecasts {
        let kept = Kept {
            kind: pool.kind,
            name: pool.name,
            held: forecast.holders,
        };
        let named = matches!(kept.name, PoolName::Tuple(_) | PoolName::Address(_));
        if named && pools.len() < MAX_POOLS && !pools.contains(&kept) {
            pools.push(kept);
        }
    }
    let state = TrendState {
        key: recalled.key,
        at_ms: file::now_ms(),
        pools,
        bound: bound.to_vec(),
        opens,
    };
    file::store(&file::path(recalled.key), &state.to_text())
}

/// What became of the previous run's state, for the note `--trend` adds.
#[derive(Clone, Debug, PartialEq)]
pub enum LastRun {
    /// No state file yet.
    Fresh,
    /// The previous run, this many seconds ago.
    Seen {
        seconds: f64,
    },
    Refused(Refused),
    /// The previous run is too old (or from the future) to tell a growth.
    TooOld {
        seconds: f64,
    },
    /// The previous run was less than a second ago.
    TooSoon,
    Unreadable(String),
}

/// The previous run from the text of a state file read at `now_ms`, parsed
/// once: the previous state if it tells a growth, the connections it saw
/// bound explicitly (if it is this version's, for these options and not
/// too old), and what became of it.
pub fn recall_text(
    text: Option<&str>,
    key: u64,
    now_ms: u64,
) -> (Option<Previous>, Vec<FourTuple>, LastRun) {
    let Some(text) = text else {
        return (None, Vec::new(), LastRun::Fresh);
    };
    let mut state = match TrendState::parse(text, key) {
        Ok(s) => s,
        Err(why) => return (None, Vec::new(), LastRun::Refused(why)),
    };
    let seconds = (now_ms as f64 - state.at_ms as f64) / 1000.0;
    if !(0.0..=MAX_AGE_MS as f64 / 1000.0).contains(&seconds) {
        return (None, Vec::new(), LastRun::TooOld { seconds });
    }
    let bound = std::mem::take(&mut state.bound);
    if seconds < 1.0 {
        return (None, bound, LastRun::TooSoon);
    }
    (
        Some(Previous { state, seconds }),
        bound,
        LastRun::Seen { seconds },
    )
}

/// The previous run, as the forecast uses it.
#[derive(Clone, Debug)]
pub struct Previous {
    pub state: TrendState,
    /// Seconds between the previous run and this one.
    pub seconds: f64,
}

impl Previous {
    /// The growth of a pool's held ports per second since the previous run,
    /// if that run kept the pool.
    pub fn growth(&self, kind: Kind, name: &PoolName, held_now: u32) -> Option<f64> {
        let before = self.state.held(kind, name)?;
        Some((f64::from(held_now) - f64::from(before)) / self.seconds)
    }
}

/// FNV-1a over the options that decide what is measured: two service
/// checks with different options never share a state file.
pub fn key(measuring_options: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in measuring_options.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::state::tests::state as sample;
    use super::*;

    #[test]
    fn one_parse_gives_the_growth_the_bound_connections_and_the_history() {
        let s = sample();
        let text = s.to_text();
        let (previous, bound, history) = recall_text(Some(&text), 42, s.at_ms + 10_000);
        assert_eq!(history, LastRun::Seen { seconds: 10.0 });
        assert_eq!(bound, s.bound);
        assert_eq!(previous.expect("seen").state.pools, s.pools);
        // Too soon for a growth, but the bound connections still count.
        let (previous, bound, history) = recall_text(Some(&text), 42, s.at_ms + 500);
        assert!(previous.is_none());
        assert_eq!(history, LastRun::TooSoon);
        assert_eq!(bound, s.bound);
        // Too old, other options, or none: nothing.
        let (_, bound, history) = recall_text(Some(&text), 42, s.at_ms + MAX_AGE_MS + 1);
        assert!(bound.is_empty() && matches!(history, LastRun::TooOld { .. }));
        let (_, bound, _) = recall_text(Some(&text), 43, s.at_ms + 10_000);
        assert!(bound.is_empty());
        assert_eq!(recall_text(None, 42, 0).2, LastRun::Fresh);
    }

    #[test]
    fn growth_is_per_second_since_the_previous_run() {
        let p = Previous {
            state: sample(),
            seconds: 10.0,
        };
        let k = &p.state.pools[0];
        assert_eq!(p.growth(k.kind, &k.name, 200), Some(10.0));
        let other = PoolName::Address("10.0.0.5".parse().unwrap());
        assert_eq!(p.growth(Kind::Bind, &other, 5), None);
    }
}
