//! The monthly report's figures: pure functions over the rows the store loaded, so every
//! rule below is tested without a database. The rules are the report's printed
//! definitions (`text/*.json`); keep the two in step.

use std::collections::BTreeMap;

use super::model::*;
use super::period::{Month, UnitCalendar};
use super::text::Text;
use crate::store::reports::{ReportClock, ReportTicket};

const DAY_MS: i64 = 86_400_000;
pub const KINDS: [&str; 4] = ["incident", "service_request", "event", "problem"];
pub const PRIORITIES: [&str; 5] = ["P1", "P2", "P3", "P4", "P5"];
pub const METRICS: [&str; 2] = ["acknowledge", "resolve"];
pub const AGING: [&str; 4] = ["lt_1d", "1d_3d", "3d_7d", "gt_7d"];
/// A missing channel, priority, category or tier.
pub const NONE: &str = "none";

/// Everything one report is computed from.
pub struct Inputs<'a> {
    pub unit: &'a str,
    pub unit_name: &'a str,
    pub month: Month,
    pub calendar: &'a UnitCalendar,
    /// The month's first instant and the next month's (ms since the epoch).
    pub start: i64,
    pub end: i64,
    pub tickets: &'a [ReportTicket],
    pub clocks: &'a [ReportClock],
    /// Problem id → tickets linked to it.
    pub linked: &'a BTreeMap<String, i64>,
    pub generated_at: i64,
    pub text: &'a Text,
}

/// When a ticket stopped being open: the earlier of its resolution and its closure
/// (cancellation and merging set `closed_at`). A reopened ticket has no resolution time
/// until it is resolved again.
pub fn ended_at(t: &ReportTicket) -> Option<i64> {
    match (t.resolved_at, t.closed_at) {
        (Some(r), Some(c)) => Some(r.min(c)),
        (r, c) => r.or(c),
    }
}

/// Open at the boundary `at`: opened before it and not ended before it.
pub fn open_at(t: &ReportTicket, at: i64) -> bool {
    t.opened_at < at && ended_at(t).is_none_or(|e| e >= at)
}

fn within(time: Option<i64>, start: i64, end: i64) -> bool {
    time.is_some_and(|t| t >= start && t < end)
}

/// Opened in the month, open at some moment of it, or resolved or closed in it.
pub fn attended(t: &ReportTicket, start: i64, end: i64) -> bool {
    t.opened_at < end
        && (t.opened_at >= start
            || open_at(t, start)
            || within(t.resolved_at, start, end)
            || within(t.closed_at, start, end))
}

/// Neither canceled nor merged into another: its clocks measure a service given.
fn measured(t: &ReportTicket) -> bool {
    t.status != "canceled" && t.merged_into.is_none()
}

pub fn compute(input: &Inputs) -> MonthlyReport {
    let (start, end) = (input.start, input.end);
    let tickets: Vec<&ReportTicket> = input
        .tickets
        .iter()
        .filter(|t| attended(t, start, end))
        .collect();
    let opened: Vec<&ReportTicket> = tickets
        .iter()
        .copied()
        .filter(|t| t.opened_at >= start)
        .collect();
    let resolved: Vec<&ReportTicket> = tickets
        .iter()
        .copied()
        .filter(|t| within(t.resolved_at, start, end))
        .collect();
    let closed_with = |status: &str| {
        tickets
            .iter()
            .filter(|t| t.status == status && within(t.closed_at, start, end))
            .count()
    };
    let stamp = |ms: i64| stamp(input.calendar, ms);
    let (sla, mtta, mttr) = sla_figures(input, &tickets);
    MonthlyReport {
        unit: input.unit.to_owned(),
        unit_name: input.unit_name.to_owned(),
        month: input.month.to_string(),
        calendar: input.calendar.name.clone(),
        time_zone: input.calendar.time_zone.clone(),
        from: stamp(start),
        to: stamp(end),
        generated_at: stamp(input.generated_at),
        lang: input.text.lang.clone(),
        totals: Totals {
            attended: count(tickets.len()),
            opened: count(opened.len()),
            resolved: count(resolved.len()),
            closed: count(closed_with("closed")),
            canceled: count(closed_with("canceled")),
        },
        volume: volume(&opened),
        backlog: Backlog {
            start: backlog_at(&tickets, start, stamp(start)),
            end: backlog_at(&tickets, end, stamp(end)),
        },
        sla,
        mtta,
        mttr,
        quality: quality(&resolved),
        problems: problems(&opened, input.linked),
        annex: tickets.iter().map(|t| annex_row(t, input)).collect(),
        definitions: input.text.definitions.clone(),
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    // Counts of tickets are far below 2^53: the conversions are exact.
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// RFC 3339 in the unit's time zone, to the millisecond.
pub fn stamp(calendar: &UnitCalendar, ms: i64) -> String {
    calendar
        .local(ms)
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

fn tally(keys: impl Iterator<Item = String>, always: &[&str]) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = always.iter().map(|k| (k.to_string(), 0)).collect();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn or_none(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| NONE.to_owned())
}

fn volume(opened: &[&ReportTicket]) -> Volume {
    Volume {
        by_kind: tally(opened.iter().map(|t| t.kind.clone()), &KINDS),
        by_channel: tally(opened.iter().map(|t| channel(t)), &[]),
        by_priority: tally(opened.iter().map(|t| or_none(&t.priority)), &PRIORITIES),
        by_category: tally(opened.iter().map(|t| or_none(&t.category)), &[]),
    }
}

fn channel(t: &ReportTicket) -> String {
    t.channel.clone().unwrap_or_else(|| "monitoring".to_owned())
}

/// `lt_1d`, `1d_3d`, `3d_7d` or `gt_7d` (7 days or more).
pub fn aging_bucket(age_ms: i64) -> &'static str {
    match age_ms {
        a if a < DAY_MS => AGING[0],
        a if a < 3 * DAY_MS => AGING[1],
        a if a < 7 * DAY_MS => AGING[2],
        _ => AGING[3],
    }
}

fn backlog_at(tickets: &[&ReportTicket], at: i64, stamp: String) -> BacklogAt {
    let open: Vec<&&ReportTicket> = tickets.iter().filter(|t| open_at(t, at)).collect();
    BacklogAt {
        at: stamp,
        total: count(open.len()),
        aging: tally(
            open.iter()
                .map(|t| aging_bucket(at - t.opened_at).to_owned()),
            &AGING,
        ),
    }
}

/// Met: stopped within its target and never flagged breached.
pub fn met(c: &ReportClock) -> bool {
    c.stopped_at.is_some() && c.elapsed_ms <= c.target_ms && c.breached_at.is_none()
}

fn sla_figures(input: &Inputs, tickets: &[&ReportTicket]) -> (Sla, Durations, Durations) {
    let (start, end) = (input.start, input.end);
    let by_id: BTreeMap<&str, &ReportTicket> = tickets
        .iter()
        .filter(|t| measured(t))
        .map(|t| (t.id.as_str(), *t))
        .collect();
    let mut by_priority: BTreeMap<String, BTreeMap<String, Compliance>> = PRIORITIES
        .iter()
        .map(|p| (p.to_string(), empty_metrics()))
        .collect();
    let mut overall = empty_metrics();
    let mut elapsed: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut breaches = Vec::new();
    for clock in input.clocks {
        let Some(ticket) = by_id.get(clock.ticket_id.as_str()) else {
            continue;
        };
        let stopped_in_month = within(clock.stopped_at, start, end);
        let running_at_end = clock.stopped_at.is_none_or(|s| s >= end);
        let ok = met(clock);
        if stopped_in_month {
            let priority = or_none(&ticket.priority);
            let metrics = by_priority.entry(priority).or_insert_with(empty_metrics);
            for figures in [metrics, &mut overall] {
                let c = figures.entry(clock.metric.clone()).or_insert_with(zero);
                c.measured += 1;
                if ok {
                    c.met += 1;
                } else {
                    c.missed += 1;
                }
            }
            elapsed
                .entry(clock.metric.as_str())
                .or_default()
                .push(clock.elapsed_ms);
        }
        let breached_by_end = clock.breached_at.is_some_and(|b| b < end);
        if (stopped_in_month && !ok) || (running_at_end && breached_by_end) {
            breaches.push(Breach {
                ticket: ticket.id.clone(),
                summary: ticket.summary.clone(),
                priority: ticket.priority.clone(),
                metric: clock.metric.clone(),
                target_ms: clock.target_ms,
                elapsed_ms: clock.elapsed_ms,
                breached_at: clock.breached_at.map(|ms| stamp(input.calendar, ms)),
                stopped_at: clock.stopped_at.map(|ms| stamp(input.calendar, ms)),
                running_at_end,
            });
        }
    }
    for metrics in by_priority
        .values_mut()
        .chain(std::iter::once(&mut overall))
    {
        for c in metrics.values_mut() {
            c.rate = ratio(c.met, c.measured);
        }
    }
    let mtta = durations(elapsed.remove("acknowledge").unwrap_or_default());
    let mttr = durations(elapsed.remove("resolve").unwrap_or_default());
    let sla = Sla {
        by_priority,
        overall,
        breaches,
    };
    (sla, mtta, mttr)
}

fn zero() -> Compliance {
    Compliance {
        measured: 0,
        met: 0,
        missed: 0,
        rate: None,
    }
}

fn empty_metrics() -> BTreeMap<String, Compliance> {
    METRICS.iter().map(|m| (m.to_string(), zero())).collect()
}

/// Mean (rounded half up to the millisecond), median and 90th percentile by nearest rank:
/// the ⌈p·n/100⌉-th smallest value.
pub fn durations(mut values: Vec<i64>) -> Durations {
    values.sort_unstable();
    let n = values.len();
    let rank = |p: usize| values.get((p * n).div_ceil(100).saturating_sub(1)).copied();
    let mean = (n > 0).then(|| {
        let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
        let n = i128::try_from(n).unwrap_or(i128::MAX);
        i64::try_from((2 * sum + n).div_euclid(2 * n)).unwrap_or(i64::MAX)
    });
    Durations {
        count: count(n),
        mean_ms: mean,
        median_ms: rank(50),
        p90_ms: rank(90),
    }
}

/// First contact: resolved at tier 1 and never reassigned.
pub fn first_contact(t: &ReportTicket) -> bool {
    t.tier == Some(1) && t.reassignments == 0
}

fn tier_key(t: &ReportTicket) -> String {
    t.tier
        .map_or_else(|| NONE.to_owned(), |tier| tier.to_string())
}

fn quality(resolved: &[&ReportTicket]) -> Quality {
    let total = count(resolved.len());
    let first = count(resolved.iter().filter(|t| first_contact(t)).count());
    let reopened = count(resolved.iter().filter(|t| t.reopens > 0).count());
    let tiers = tally(resolved.iter().map(|t| tier_key(t)), &["1", "2", "3"]);
    Quality {
        resolved: total,
        first_contact: first,
        first_contact_rate: ratio(first, total),
        reassignments: resolved
            .iter()
            .map(|t| u64::try_from(t.reassignments).unwrap_or(0))
            .sum(),
        reassigned: count(resolved.iter().filter(|t| t.reassignments > 0).count()),
        reopened,
        reopen_rate: ratio(reopened, total),
        by_tier: tiers
            .into_iter()
            .map(|(tier, n)| {
                let share = TierShare {
                    resolved: n,
                    share: ratio(n, total),
                };
                (tier, share)
            })
            .collect(),
    }
}

fn problems(opened: &[&ReportTicket], linked: &BTreeMap<String, i64>) -> Problems {
    let list: Vec<ProblemRow> = opened
        .iter()
        .filter(|t| t.kind == "problem")
        .map(|t| ProblemRow {
            id: t.id.clone(),
            summary: t.summary.clone(),
            state: t.status.clone(),
            linked_tickets: linked
                .get(&t.id)
                .and_then(|n| u64::try_from(*n).ok())
                .unwrap_or(0),
        })
        .collect();
    Problems {
        raised: count(list.len()),
        linked_tickets: list.iter().map(|p| p.linked_tickets).sum(),
        list,
    }
}

fn annex_row(t: &ReportTicket, input: &Inputs) -> AnnexRow {
    let stamp = |ms: Option<i64>| ms.map(|ms| stamp(input.calendar, ms));
    AnnexRow {
        id: t.id.clone(),
        kind: t.kind.clone(),
        state: t.status.clone(),
        hold_reason: t.hold_reason.clone().filter(|_| t.status == "on_hold"),
        summary: t.summary.clone(),
        channel: channel(t),
        priority: t.priority.clone(),
        category: t.category.clone(),
        tier: t.tier,
        assignee: t.assignee.clone(),
        opened_at: stamp(Some(t.opened_at)).unwrap_or_default(),
        acked_at: stamp(t.acked_at),
        resolved_at: stamp(t.resolved_at),
        closed_at: stamp(t.closed_at),
        reassignments: t.reassignments,
        reopens: t.reopens,
        problem_id: t.problem_id.clone(),
        cancel_reason: t.cancel_reason.clone(),
        sla_breached: t.sla_breached != 0,
        open_at_end: open_at(t, input.end),
    }
}

#[cfg(test)]
#[path = "monthly_tests.rs"]
mod tests;
