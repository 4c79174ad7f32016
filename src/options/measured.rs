//! What a run measures, as one text: the options that decide which pools
//! are judged, and nothing else.

use super::Config;
use crate::judge::Selection;
use crate::scope::{Scope, Target};

impl Config {
    /// What decides which pools are measured, written out in a fixed order
    /// (kinds, sources and destinations sorted): the `--trend` state
    /// file's key, so that the same options in another order, or a change
    /// of how the tables are read (`--backend`), keep the same state, and
    /// only a change of what is measured starts afresh.
    pub fn measured(&self) -> String {
        canonical(&self.selection, &self.netns)
    }
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
