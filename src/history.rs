//! The `--trend` wiring of one measurement: the state file read once
//! before the tables are read (the previous run's pools for the growth, its
//! explicitly bound connections for the marked ports, and what became of
//! it for the note), and this run's pools kept after the judgement. The
//! text and the arithmetic are `model::trend`'s, the file `read::state_file`'s.

use crate::judge::{self, Selection};
use crate::model::{Model, PoolName, trend};
use crate::options::Config;
use crate::read::state_file;
use crate::scope::{Scope, Target};

/// What `--trend` brings to one measurement.
pub struct Recalled {
    /// The state file's key.
    pub key: u64,
    /// The previous run, if it tells a growth.
    pub previous: Option<trend::Previous>,
    /// The connections the previous run saw bound explicitly.
    pub bound: Vec<trend::FourTuple>,
    pub history: trend::History,
}

/// Reads the previous run's state, once; `None` without `--trend` or
/// across `--all-netns` (a sweep of all would share one state file).
pub fn recall(config: &Config) -> Option<Recalled> {
    if !config.trend || config.netns == Scope::All {
        return None;
    }
    let key = key(config);
    let (previous, bound, history) =
        match state_file::load(&state_file::path(key), trend::MAX_BYTES) {
            Ok(text) => trend::recall(text.as_deref(), key, state_file::now_ms()),
            Err(why) => (None, Vec::new(), trend::History::Unreadable(why)),
        };
    Some(Recalled {
        key,
        previous,
        bound,
        history,
    })
}

/// Keeps the pools the report lists (and the worst forecasts) for the next
/// run; the reason if the state file could not be written.
pub fn keep(
    recalled: &Recalled,
    report: &judge::Report,
    model: &Model,
) -> std::result::Result<(), String> {
    let foreseen = report.outlook.listed.iter();
    let worst = report.outlook.worst.iter().map(|(_, f)| f);
    let mut pools: Vec<trend::Kept> = Vec::new();
    for f in foreseen.chain(worst) {
        let kept = trend::Kept {
            kind: f.pool.kind,
            name: f.pool.name,
            held: f.forecast.holders,
        };
        let named = matches!(kept.name, PoolName::Tuple(_) | PoolName::Address(_));
        if named && pools.len() < trend::MAX_POOLS && !pools.contains(&kept) {
            pools.push(kept);
        }
    }
    let state = trend::TrendState {
        key: recalled.key,
        at_ms: state_file::now_ms(),
        pools,
        bound: model.explicitly_bound().to_vec(),
        opens: model.upstream.as_ref().and_then(|u| u.opens()),
    };
    state_file::store(&state_file::path(recalled.key), &state.to_text())
}

/// The state file's key: what decides which pools are measured, written
/// out in a fixed order (kinds, sources and destinations sorted) so that
/// the same options in another order, or a change of how the tables are
/// read (`--backend`), keep the same history, and only a change of what
/// is measured starts afresh.
fn key(config: &Config) -> u64 {
    trend::key(&canonical(&config.selection, &config.netns))
}

fn canonical(selection: &Selection, netns: &Scope) -> String {
    let mut kinds: Vec<&str> = selection.kinds.iter().map(|k| k.name()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut sources: Vec<String> = selection.sources.iter().map(|a| a.to_string()).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut destinations: Vec<String> = selection
        .destinations
        .iter()
        .map(|d| match d.port {
            Some(p) => format!("{}#{p}", d.addr),
            None => d.addr.to_string(),
        })
        .collect();
    destinations.sort_unstable();
    destinations.dedup();
    let scope = match netns {
        Scope::Here => "here".to_string(),
        Scope::One(Target::Name(n)) => format!("name:{n}"),
        Scope::One(Target::Path(p)) => format!("path:{}", p.display()),
        Scope::All => "all".to_string(),
    };
    format!(
        "kinds={}|sources={}|destinations={}|netns={scope}",
        kinds.join(","),
        sources.join(","),
        destinations.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Destination;
    use crate::model::Kind;

    fn selection(
        kinds: &[Kind],
        sources: &[&str],
        destinations: &[(&str, Option<u16>)],
    ) -> Selection {
        Selection {
            kinds: kinds.to_vec(),
            sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
            destinations: destinations
                .iter()
                .map(|(a, port)| Destination {
                    addr: a.parse().unwrap(),
                    port: *port,
                })
                .collect(),
        }
    }

    #[test]
    fn the_key_does_not_depend_on_the_order_of_the_options() {
        let a = selection(
            &[Kind::Connect, Kind::Bind],
            &["10.0.0.5", "::1"],
            &[("10.0.0.9", Some(5432)), ("10.0.0.8", None)],
        );
        let b = selection(
            &[Kind::Bind, Kind::Connect],
            &["::1", "10.0.0.5"],
            &[("10.0.0.8", None), ("10.0.0.9", Some(5432))],
        );
        assert_eq!(canonical(&a, &Scope::Here), canonical(&b, &Scope::Here));
        assert_eq!(
            canonical(&a, &Scope::Here),
            "kinds=bind,connect|sources=10.0.0.5,::1|destinations=10.0.0.8,10.0.0.9#5432|netns=here"
        );
    }

    #[test]
    fn what_is_measured_changes_the_key() {
        let a = selection(&[Kind::Connect], &[], &[("10.0.0.9", Some(5432))]);
        let b = selection(&[Kind::Connect], &[], &[("10.0.0.9", None)]);
        let c = selection(
            &[Kind::Connect, Kind::Bind],
            &[],
            &[("10.0.0.9", Some(5432))],
        );
        let here = canonical(&a, &Scope::Here);
        assert_ne!(here, canonical(&b, &Scope::Here));
        assert_ne!(here, canonical(&c, &Scope::Here));
        let named = Scope::One(Target::Name("blue".into()));
        assert_ne!(here, canonical(&a, &named));
    }
}
