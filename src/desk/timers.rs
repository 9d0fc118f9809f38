//! The desk's timers: assign the incidents monitoring opened, resume rescheduled tickets
//! whose time has come (telling the assignee), close resolved tickets the requester left
//! unconfirmed. Each ticket is locked and its state checked again before it changes, so
//! with several replicas each timer fires once per ticket.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::change::{Caller, Change};
use super::error::DeskResult;
use super::service::{now, Desk};
use super::ticket::{HoldReason, State, Ticket};
use crate::notify::Topic;
use crate::store::tickets::{self, Timer};

#[derive(Clone)]
pub struct DeskTimers {
    pub desk: Desk,
    pub interval: Duration,
}

impl DeskTimers {
    /// Runs until `stop`; a pass that panics is logged and the timers start again.
    pub async fn supervise(self, stop: CancellationToken) {
        let interval = self.interval;
        crate::periodic::every(
            "desk timers",
            interval,
            stop,
            self.desk,
            |desk: Desk| async move { desk.run_timers().await },
        )
        .await;
    }
}

impl Desk {
    /// One pass of every timer.
    pub async fn run_timers(&self) -> DeskResult<()> {
        self.assign_new().await?;
        let now = now();
        self.fire(Timer::Resume, now, resume).await?;
        let confirm_ms = i64::try_from(self.config.confirm_days)
            .unwrap_or(i64::MAX / 86_400_000)
            .saturating_mul(86_400_000);
        self.fire(
            Timer::Close,
            now.saturating_sub(confirm_ms),
            close_unconfirmed,
        )
        .await?;
        Ok(())
    }

    async fn fire(
        &self,
        timer: Timer,
        cutoff: i64,
        apply: impl Fn(&mut Change, i64) -> bool,
    ) -> DeskResult<()> {
        let ids = {
            let mut conn = self.store.pool().acquire().await?;
            tickets::due(&mut conn, timer, cutoff).await?
        };
        let mut fired = false;
        for id in ids {
            let mut tx = self.store.begin_write().await?;
            let Some(row) = tickets::lock(&mut tx, &id).await? else {
                continue;
            };
            let mut change = Change::new(row.ticket()?, &Caller::system(), now());
            if !apply(&mut change, cutoff) {
                continue;
            }
            self.commit_change(&mut tx, &change).await?;
            tx.commit().await?;
            fired = true;
        }
        if fired {
            self.notifier.wake();
        }
        Ok(())
    }
}

fn rescheduled_due(t: &Ticket, now: i64) -> bool {
    t.state == State::OnHold
        && t.hold_reason == Some(HoldReason::Rescheduled)
        && t.resume_at.is_some_and(|at| at <= now)
}

/// A rescheduled ticket whose time has come goes back to work; the assignee is told.
fn resume(change: &mut Change, now: i64) -> bool {
    if !rescheduled_due(&change.ticket, now) {
        return false;
    }
    let from = Some(change.ticket.state_label());
    let resume_at = change.ticket.resume_at;
    change.resume();
    let assignee = change.ticket.assignee.clone();
    change.notify(Topic::Resumed, assignee.as_deref(), None);
    let at = resume_at.map(|ms| crate::domain::from_millis(ms).to_string());
    change.record("resumed", from, None, json!({ "resume_at": at }));
    true
}

/// A solution nobody confirmed or rejected in time is taken as accepted.
fn close_unconfirmed(change: &mut Change, cutoff: i64) -> bool {
    let t = &mut change.ticket;
    if t.state != State::Resolved || t.resolved_at.is_none_or(|at| at > cutoff) {
        return false;
    }
    let from = Some(t.state_label());
    t.state = State::Closed;
    t.closed_at = Some(change.now);
    change.record("closed_unconfirmed", from, None, json!({}));
    true
}

/// The SLA timers (warnings, breaches, reconciling clocks), on their own interval.
#[derive(Clone)]
pub struct SlaTimers {
    pub desk: Desk,
    pub interval: Duration,
}

impl SlaTimers {
    pub async fn supervise(self, stop: CancellationToken) {
        let interval = self.interval;
        crate::periodic::every(
            "sla timers",
            interval,
            stop,
            self.desk,
            |desk: Desk| async move { desk.check_sla().await },
        )
        .await;
    }
}
