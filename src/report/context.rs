//! What goes with the pools in one namespace's report: the notes and the
//! verbose lines, in the order the output gives them, from what was read,
//! modelled, forecast and judged.

use super::{ALWAYS, Context, SETTINGS, forecast, verbose};
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
    /// `--pools` names `nat`.
    pub nat_required: bool,
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
    // Notes on what user space cannot see are for -vv; a note is said at
    // every verbosity only when something the operator asked for could
    // not be done.
    let mut notes: Vec<(u8, String)> = Vec::new();
    let mut note = |level: u8, text: Option<String>| notes.extend(text.map(|t| (level, t)));
    for text in verbose::notes(model, m.info, asked.kinds) {
        note(SETTINGS, Some(text));
    }
    note(
        SETTINGS,
        forecast::bound_before_note(model.totals.bound_time_wait),
    );
    if asked.forecast.enabled {
        note(
            SETTINGS,
            forecast::bound_time_wait_note(model.bind_marked(), model.totals.time_wait),
        );
    }
    match &m.trend {
        Some((last_run, not_kept)) => {
            let level = if not_kept.is_some() { ALWAYS } else { SETTINGS };
            let text = forecast::trend_note(last_run, not_kept.clone(), asked.forecast.enabled);
            note(level, Some(text));
        }
        None if asked.trend => note(ALWAYS, Some(forecast::trend_not_across_namespaces())),
        None => {}
    }
    // NAT pools named in --pools must be read (a failure is an error); in
    // the default set whether they can be is no news below -vv, whether
    // or not the conntrack table happens to hold entries.
    let nat_level = if asked.nat_required { ALWAYS } else { SETTINGS };
    note(nat_level, m.nat.unread.as_ref().map(verbose::nat_note));
    note(nat_level, model.nat.as_ref().and_then(verbose::stray_note));
    if let Some(up) = &model.upstream {
        notes.extend(super::upstream::notes(up, m.judged));
    }
    if let (Some(read), Some(nat)) = (&m.nat.read, &model.nat) {
        verbose_lines.push((SETTINGS, verbose::conntrack(read, nat)));
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
