//! The targets of the full run, set once here, and each judged against a
//! run: the Targets table and the prose on where the time goes both read
//! this list, so that no sentence can claim what the table denies.

use crate::results::{CHECK, KERNEL_CONNECTED, PIPELINE, Population, SS};

/// What a target bounds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// check_ephemeral's median wall time ÷ that of its own sock_diag
    /// requests with the replies only drained, sent as the check sends
    /// them (in turn): its own floor.
    Kernel,
    /// check_ephemeral's median wall time ÷ the ss floor's.
    Floor,
    /// check_ephemeral's median wall time ÷ the ss + awk pipeline's.
    Pipeline,
    /// check_ephemeral's median wall time, ms.
    Wall,
    /// check_ephemeral's peak RSS, MiB.
    Rss,
}

pub struct Target {
    pub population: &'static str,
    pub kind: Kind,
    /// The most allowed, in the kind's unit: a ratio, ms or MiB.
    pub most: f64,
}

const fn target(population: &'static str, kind: Kind, most: f64) -> Target {
    Target {
        population,
        kind,
        most,
    }
}

/// Every target, in the order of the Targets table. Speed is judged
/// against the kernel's own cost of an exact answer (its requests
/// drained), and against `ss` where there are many sockets in the range;
/// the targets that only giving up exactness could reach are withdrawn.
pub static TARGETS: [Target; 9] = [
    target("1k", Kind::Kernel, 1.10),
    target("10k", Kind::Kernel, 1.10),
    target("10k", Kind::Floor, 0.5),
    target("100k", Kind::Kernel, 1.10),
    target("100k", Kind::Floor, 0.5),
    target("300k", Kind::Kernel, 1.10),
    target("300k", Kind::Floor, 0.5),
    target("300k", Kind::Rss, 16.0),
    target("web", Kind::Kernel, 1.10),
];

impl Target {
    /// What check_ephemeral's wall time of `ms` comes to in this target's
    /// unit: the ratio to the other command, or ms; None for a bound on
    /// memory.
    pub fn of_ms(&self, p: &Population, ms: f64) -> Option<f64> {
        match self.kind {
            Kind::Kernel => Some(ms / p.kernel_check()),
            Kind::Floor => Some(ms / p.median(SS)),
            Kind::Pipeline => Some(ms / p.median(PIPELINE)),
            Kind::Wall => Some(ms),
            Kind::Rss => None,
        }
    }

    pub fn meets(&self, value: f64) -> bool {
        value <= self.most
    }
}

/// One target against one run.
pub struct Judged {
    pub target: &'static Target,
    /// check_ephemeral's value, in the target's unit.
    pub measured: f64,
    /// The same with check_ephemeral's time replaced by that of its
    /// sock_diag requests alone: what no work of its own would reach.
    pub kernel_alone: Option<f64>,
    /// The same with the time of the connected request alone: the sockets
    /// in the range handed over once, the least any reading needs.
    pub handed_over_once: Option<f64>,
    pub met: bool,
}

/// The targets of the populations in `pops`: none for a run without the
/// full run's populations.
pub fn judge(pops: &[Population]) -> Vec<Judged> {
    TARGETS
        .iter()
        .filter_map(|target| {
            let p = pops.iter().find(|p| p.name == target.population)?;
            let check = p.sample(CHECK);
            let measured = match target.kind {
                Kind::Rss => check.rss_mib(),
                _ => target.of_ms(p, check.median_ms)?,
            };
            Some(Judged {
                target,
                measured,
                kernel_alone: target.of_ms(p, p.kernel_check()),
                handed_over_once: target.of_ms(p, p.median(KERNEL_CONNECTED)),
                met: target.meets(measured),
            })
        })
        .collect()
}

/// The judgement of `population`'s target of `kind`, if the run has it.
pub fn find<'a>(judged: &'a [Judged], population: &str, kind: Kind) -> Option<&'a Judged> {
    judged
        .iter()
        .find(|j| j.target.population == population && j.target.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{self, KERNEL_CHECK};

    /// A results line of `measure`: only the tool and its median matter here.
    fn line(population: &str, tool: &str, median: f64) -> String {
        format!(
            "{population}\t32768\t60999\t1000\t1000\t0\t402002\t{tool}\t{median}\t{median}\t\
             {median}\t3072\t7\t{median}\t0.77\t0.86\t402337\t402124"
        )
    }

    #[test]
    fn only_the_populations_run_are_judged() {
        // The web population of bench/RESULTS.md (2026-11-22).
        let text = [
            line("web", CHECK, 176.0),
            line("web", SS, 127.0),
            line("web", crate::results::PROC, 823.0),
            line("web", KERNEL_CHECK, 175.0),
            line("web", KERNEL_CONNECTED, 61.6),
        ]
        .join("\n");
        let pops = results::parse(&text).unwrap();
        let judged = judge(&pops);
        let kinds: Vec<(Kind, bool)> = judged.iter().map(|j| (j.target.kind, j.met)).collect();
        assert_eq!(kinds, [(Kind::Kernel, true)]);
        let kernel = find(&judged, "web", Kind::Kernel).unwrap();
        assert!((kernel.measured - 176.0 / 175.0).abs() < 1e-9);
        assert!(kernel.target.meets(1.10) && !kernel.target.meets(1.11));
        assert!(find(&judged, "1k", Kind::Kernel).is_none());
    }

    #[test]
    fn the_requests_are_judged_as_the_check_sends_them() {
        let text = [
            line("web", CHECK, 176.0),
            line("web", KERNEL_CHECK, 175.0),
            line("web", results::KERNEL_CHECK_SIDE, 110.0),
        ]
        .join("\n");
        let pops = results::parse(&text).unwrap();
        let judged = judge(&pops);
        let kernel = find(&judged, "web", Kind::Kernel).unwrap();
        assert!((kernel.measured - 176.0 / 175.0).abs() < 1e-9);
        assert!(kernel.met);
    }
}
