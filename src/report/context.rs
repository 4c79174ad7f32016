//! What goes with the pools in one namespace's report: the notes and the
//! verbose lines, in the order the output gives them, from what was read,
//! modelled, forecast and judged.

use super::{Context, forecast, verbose};
use crate::forecast::trend::LastRun;
use crate::judge::Report;
use crate::judge::forecast::ForecastRule;
use crate::model::{Kind, Model};
use crate::read::ReadInfo;
use crate::read::nat::NatRead;
use crate::read::settings::KernelSettings;

/// What the operator asked for that changes the notes and verbose lines.
pub struct Asked<'a> {
    pub verbose: u8,
    pub top: usize,
    pub kinds: &'a [Kind],
    pub forecast: &'a ForecastRule,
    /// `--trend`.
    pub trend: bool,
}

/// One namespace's measurement, as far as the notes and verbose lines go.
pub struct Measurement<'a> {
    pub settings: &'a KernelSettings,
    pub model: &'a Model,
    pub info: &'a ReadInfo,
    pub nat: &'a NatRead,
    pub judged: &'a Report,
    pub timings: verbose::Timings,
    /// With `--trend` (not across every namespace): what became of the
    /// previous run, and why this one could not be kept.
    pub trend: Option<(&'a LastRun, Option<String>)>,
}

/// The context of the report of `m`.
pub fn build(asked: &Asked, m: &Measurement) -> Context {
    let model = m.model;
    let mut verbose_lines = verbose::lines(m.settings, model, m.info, m.timings);
    verbose_lines.extend(forecast::lines(m.judged));
    let mut notes = verbose::notes(model, m.info, asked.kinds);
    notes.extend(forecast::bound_before_note(model.totals.bound_time_wait));
    if asked.forecast.enabled {
        notes.extend(forecast::bound_time_wait_note(
            model.bind_marked(),
            model.totals.time_wait,
        ));
    }
    match &m.trend {
        Some((last_run, not_kept)) => notes.push(forecast::trend_note(
            last_run,
            not_kept.clone(),
            asked.forecast.enabled,
        )),
        None if asked.trend => notes.push(forecast::trend_not_across_namespaces()),
        None => {}
    }
    notes.extend(m.nat.unread.as_ref().map(verbose::nat_note));
    notes.extend(model.nat.as_ref().and_then(verbose::stray_note));
    if let Some(up) = &model.upstream {
        notes.extend(super::upstream::notes(up, m.judged));
    }
    if let (Some(read), Some(nat)) = (&m.nat.read, &model.nat) {
        verbose_lines.push((1, verbose::conntrack(read, nat)));
    }
    Context {
        verbose: asked.verbose,
        top: asked.top,
        notes,
        verbose_lines,
        full_in: (
            asked.forecast.full_in_warning.clone(),
            asked.forecast.full_in_critical.clone(),
        ),
        ..Context::default()
    }
}
