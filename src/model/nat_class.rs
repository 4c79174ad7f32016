//! The kernel's NAT port classes: where a masquerade or SNAT rule names no
//! port range, the source port a translated connection gets depends on the
//! class of the port it came from (`nf_nat_l4proto_unique_tuple` in
//! `nf_nat_core.c`):
//!
//! - an original port below 512 searches 1-511,
//! - one from 512 to 1023 searches 600-1023,
//! - any other searches 1024-65535.
//!
//! Before any search the kernel keeps the original port when the translated
//! reply tuple is still unique (`get_unique_tuple`, step 3), and without a
//! rule range it does so whatever the port: an original port from 512 to
//! 599 may be kept although no search ever hands it out. A rule range
//! (`NF_NAT_RANGE_PROTO_SPECIFIED`) replaces all three classes, and then a
//! port is kept only inside that range.

use crate::read::ports::PortRange;

/// The class of ports a NAT pool hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortClass {
    /// Original ports below 512: the search range is 1-511.
    Low,
    /// Original ports 512-1023: the search range is 600-1023.
    Reserved,
    /// Original ports from 1024, or every port where the rule names its own
    /// range: the one range. The class no output names.
    Ordinary,
}

impl PortClass {
    /// The class of an original source port.
    pub fn of(port: u16) -> PortClass {
        match port {
            0..=511 => PortClass::Low,
            512..=1023 => PortClass::Reserved,
            _ => PortClass::Ordinary,
        }
    }

    /// The ports the kernel's search hands out for this class when the rule
    /// names no range.
    pub fn range(self) -> PortRange {
        match self {
            PortClass::Low => PortRange { lo: 1, hi: 511 },
            PortClass::Reserved => PortRange { lo: 600, hi: 1023 },
            PortClass::Ordinary => PortRange {
                lo: 1024,
                hi: 65535,
            },
        }
    }

    /// The class whose search range holds `port`: None for 0 and for
    /// 512-599, which no search hands out.
    pub fn holding(port: u16) -> Option<PortClass> {
        [PortClass::Low, PortClass::Reserved, PortClass::Ordinary]
            .into_iter()
            .find(|c| c.range().contains(port))
    }
}

/// Where an entry's NAT port counts, given the rule's range if known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The pool class whose range holds the port, if any.
    pub class: Option<PortClass>,
    /// A source-translated entry whose port the assumed range cannot
    /// explain: the range given is wrong, or the rule changed.
    pub stray: bool,
}

/// Places the NAT port `held` of an entry that came from `original`.
///
/// A pool is the set of ports one search can hand out, so an entry counts
/// in the pool whose range holds its port, whatever its original port: for
/// every entry the kernel makes without a rule range that is the class of
/// its original port, except a kept port from 512 to 599, which lies in no
/// search range and takes nothing a search could hand out.
///
/// Strays, judged for translated entries only (the node's own connections
/// keep their ports wherever they are): with a rule range, any port outside
/// it (the kernel keeps a port only inside the range); without, a port
/// that was changed and lies outside the original port's class range.
pub fn place(given: Option<PortRange>, original: u16, held: u16, translated: bool) -> Placed {
    match given {
        Some(range) => {
            let inside = range.contains(held);
            Placed {
                class: inside.then_some(PortClass::Ordinary),
                stray: translated && !inside,
            }
        }
        None => Placed {
            class: PortClass::holding(held),
            stray: translated
                && held != original
                && !PortClass::of(original).range().contains(held),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_original_port() {
        assert_eq!(PortClass::of(1), PortClass::Low);
        assert_eq!(PortClass::of(511), PortClass::Low);
        assert_eq!(PortClass::of(512), PortClass::Reserved);
        assert_eq!(PortClass::of(1023), PortClass::Reserved);
        assert_eq!(PortClass::of(1024), PortClass::Ordinary);
        assert_eq!(PortClass::Low.range().len(), 511);
        assert_eq!(PortClass::Reserved.range().len(), 424);
        assert_eq!(PortClass::Ordinary.range().len(), 64512);
    }

    #[test]
    fn no_search_hands_out_512_to_599() {
        assert_eq!(PortClass::holding(0), None);
        assert_eq!(PortClass::holding(511), Some(PortClass::Low));
        assert_eq!(PortClass::holding(550), None);
        assert_eq!(PortClass::holding(599), None);
        assert_eq!(PortClass::holding(600), Some(PortClass::Reserved));
        assert_eq!(PortClass::holding(40000), Some(PortClass::Ordinary));
    }

    #[test]
    fn without_a_rule_range_entries_count_where_their_port_lies() {
        // Kept as it came: low, reserved, ordinary.
        let kept = |p| place(None, p, p, true);
        assert_eq!(kept(80).class, Some(PortClass::Low));
        assert_eq!(kept(700).class, Some(PortClass::Reserved));
        assert_eq!(kept(40000).class, Some(PortClass::Ordinary));
        // 550 kept: in no pool, and the kernel explains it.
        assert_eq!(
            kept(550),
            Placed {
                class: None,
                stray: false
            }
        );
        // 550 moved: into its class's range.
        assert_eq!(place(None, 550, 700, true).class, Some(PortClass::Reserved));
        assert!(!place(None, 550, 700, true).stray);
        // Remapped into another class: a rule range the check does not know.
        let moved = place(None, 80, 40003, true);
        assert_eq!(
            (moved.class, moved.stray),
            (Some(PortClass::Ordinary), true)
        );
        // The node's own connections are never strays.
        assert!(!place(None, 80, 40003, false).stray);
    }

    #[test]
    fn with_a_rule_range_one_pool_and_everything_else_strays() {
        let r = PortRange {
            lo: 40000,
            hi: 40009,
        };
        assert_eq!(
            place(Some(r), 80, 40001, true).class,
            Some(PortClass::Ordinary)
        );
        let out = place(Some(r), 20000, 40010, true);
        assert_eq!((out.class, out.stray), (None, true));
        assert!(!place(Some(r), 50000, 50000, false).stray);
    }
}
