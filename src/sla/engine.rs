//! Keeping a ticket's clocks in step with its changes: created when the ticket is
//! registered, paused and resumed with its holds, stopped at acknowledgement and
//! resolution, restarted by a reopen, re-targeted when its kind or priority changes.
//! Every change goes to the clock's log; the stored clock is the log replayed.

use sqlx::AnyConnection;

use super::clock::{Clock, Definition, Event, EventKind, Metric};
use super::policy::{Policies, Subject};
use crate::desk::ticket::{State, Ticket};
use crate::store::sla::{self, ClockRow};
use crate::store::{StoreError, StoreResult};

/// What a change of the ticket means for its clocks; `None` applies to both.
pub fn transitions(
    policies: &Policies,
    before: &Ticket,
    after: &Ticket,
) -> Vec<(Option<Metric>, EventKind)> {
    let paused = |t: &Ticket| {
        t.state == State::OnHold && t.hold_reason.is_some_and(|r| policies.pauses(r.as_str()))
    };
    let mut out = Vec::new();
    if before.acked_at.is_none() && after.acked_at.is_some() {
        out.push((Some(Metric::Acknowledge), EventKind::Stop));
    }
    if before.state == State::Resolved && after.state.is_open() {
        out.push((Some(Metric::Resolve), EventKind::Restart));
    }
    match (paused(before), paused(after)) {
        (false, true) => out.push((None, EventKind::Pause)),
        (true, false) if after.state.is_open() => out.push((None, EventKind::Resume)),
        _ => {}
    }
    if before.state.is_open() && !after.state.is_open() {
        out.push((None, EventKind::Stop));
    }
    out
}

/// Brings the ticket's clocks in step with `after` (`before` is the ticket as it was;
/// the same ticket for one just registered). `ci_type` chooses CI-specific policies.
pub async fn sync(
    conn: &mut AnyConnection,
    policies: &Policies,
    before: &Ticket,
    after: &Ticket,
    ci_type: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let existing = sla::clocks(conn, &after.id).await?;
    let steps = transitions(policies, before, after);
    for metric in Metric::ALL {
        let row = existing.iter().find(|r| r.metric == metric.as_str());
        let subject = Subject {
            kind: after.kind.as_str(),
            priority: after.priority.as_deref().unwrap_or("P3"),
            unit: after.unit.as_deref(),
            ci_type,
        };
        let retarget =
            row.is_some_and(|r| r.kind != subject.kind || r.priority != subject.priority);
        let def = match row {
            Some(r) if !retarget => definition(r)?,
            _ => match policies.select(subject, metric) {
                Some(def) => def,
                None => continue,
            },
        };
        if row.is_none() {
            let start = Event {
                at: after.opened_at,
                kind: EventKind::Start,
            };
            sla::add_event(conn, &after.id, metric.as_str(), start, None).await?;
        }
        // Monitoring resolves and merges tickets without the desk: their clocks stop when
        // the timers reconcile them, at the time the ticket ended.
        // (Also when a reopen comes before the timers did: the time resolved must not count.)
        let ended_by = if after.state.is_open() { before } else { after };
        let unstopped = row.is_some_and(|r| r.stopped_at.is_none());
        if !ended_by.state.is_open() && unstopped {
            let ended = ended_by.resolved_at.or(ended_by.closed_at).unwrap_or(now);
            let stop = Event {
                at: ended.min(now),
                kind: EventKind::Stop,
            };
            sla::add_event(conn, &after.id, metric.as_str(), stop, None).await?;
        }
        for (_, kind) in steps.iter().filter(|(m, _)| m.is_none_or(|m| m == metric)) {
            let reason = after.hold_reason.map(|r| r.as_str());
            let event = Event {
                at: now,
                kind: *kind,
            };
            sla::add_event(conn, &after.id, metric.as_str(), event, reason).await?;
        }
        let notified = row.map_or((0, 0), |r| (r.warned, r.breach_notified));
        let clock = recompute(conn, &after.id, &def, subject, notified, now).await?;
        if clock.breached_at.is_some() {
            sla::flag_breached(conn, &after.id).await?;
        }
        if metric == Metric::Resolve {
            crate::store::tickets::set_due(conn, &after.id, clock.due_at).await?;
        }
        sla::save(conn, &clock).await?;
    }
    Ok(())
}

/// The clock replayed from its log, as a row with its next check.
pub async fn recompute(
    conn: &mut AnyConnection,
    ticket: &str,
    def: &Definition,
    subject: Subject<'_>,
    (warned, breach_notified): (i64, i64),
    now: i64,
) -> StoreResult<ClockRow> {
    let events = sla::events(conn, ticket, def.metric.as_str()).await?;
    let cal = def.calendar();
    let clock = Clock::replay(def, &cal, &events, now);
    let next_check = next_check(def, &cal, &clock, warned, breach_notified != 0);
    Ok(ClockRow {
        ticket_id: ticket.to_owned(),
        metric: def.metric.as_str().to_owned(),
        kind: subject.kind.to_owned(),
        priority: subject.priority.to_owned(),
        policy: serde_json::to_string(def).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        target_ms: def.target_ms,
        started_at: clock.started_at,
        running: i64::from(clock.running),
        elapsed_ms: clock.elapsed_ms,
        counted_to: clock.counted_to,
        original_due_at: clock.original_due_at,
        due_at: clock.due_at,
        stopped_at: clock.stopped_at,
        warned,
        breached_at: clock.breached_at,
        breach_notified,
        next_check_at: next_check,
    })
}

/// The next warning not yet given, or the breach not yet told, whichever comes first.
fn next_check(
    def: &Definition,
    cal: &super::Calendar,
    clock: &Clock,
    warned: i64,
    breach_notified: bool,
) -> Option<i64> {
    let warnings = def
        .warn_at
        .iter()
        .skip(usize::try_from(warned).unwrap_or(usize::MAX))
        .filter_map(|f| clock.reaches(def, cal, *f));
    let breach = clock.due_at.filter(|_| clock.running && !breach_notified);
    warnings.chain(breach).min()
}

pub fn definition(row: &ClockRow) -> StoreResult<Definition> {
    crate::store::json_column(&row.policy, "sla_clocks.policy")
}

/// A ticket's clock as it stands now.
pub struct Live {
    pub definition: Definition,
    pub clock: Clock,
    pub warned: i64,
}

/// The ticket's clocks replayed up to `now` (acknowledge first).
pub async fn live(conn: &mut AnyConnection, ticket: &str, now: i64) -> StoreResult<Vec<Live>> {
    let mut out = Vec::new();
    for row in sla::clocks(conn, ticket).await? {
        let definition = definition(&row)?;
        let events = sla::events(conn, ticket, &row.metric).await?;
        let clock = Clock::replay(&definition, &definition.calendar(), &events, now);
        out.push(Live {
            definition,
            clock,
            warned: row.warned,
        });
    }
    Ok(out)
}
