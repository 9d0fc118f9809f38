//! The SLA timers: warn the assignee as a target nears, tell the unit head and flag the
//! ticket when one is missed (optionally moving it up a tier), and bring clocks in step
//! with tickets monitoring changed. Each ticket due is claimed by locking its row in the
//! checking transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so with several
//! replicas each fires once.

use serde_json::json;
use sqlx::AnyConnection;

use super::change::{Caller, Change, Draft};
use super::error::DeskResult;
use super::service::{now, Desk};
use crate::notify::Topic;
use crate::sla::clock::Clock;
use crate::sla::engine::{definition, recompute};
use crate::sla::policy::Subject;
use crate::store::{sla, tickets};

/// Tickets checked per pass, at most.
const CHECK_PAGE: i64 = 500;

impl Desk {
    /// One pass of the SLA timers: each ticket due in its own transaction, so no pass
    /// holds the audit chain's head while it waits for another ticket.
    pub async fn check_sla(&self) -> DeskResult<()> {
        self.reconcile_clocks().await?;
        for _ in 0..CHECK_PAGE {
            let now = now();
            let mut tx = self.store.begin_write().await?;
            let Some(id) = sla::claim_next(&mut tx, self.store.backend(), now).await? else {
                return Ok(());
            };
            self.check_ticket(&mut tx, &id, now).await?;
            tx.commit().await?;
            self.notifier.wake();
        }
        Ok(())
    }

    async fn reconcile_clocks(&self) -> DeskResult<()> {
        let ids = {
            let mut conn = self.store.pool().acquire().await?;
            sla::drifted(&mut conn, 100).await?
        };
        for id in ids {
            let mut tx = self.store.begin_write().await?;
            if let Some(row) = tickets::lock(&mut tx, &id).await? {
                let change = Change::new(row.ticket()?, &Caller::system(), now());
                self.commit_change(&mut tx, &change).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn check_ticket(&self, conn: &mut AnyConnection, id: &str, now: i64) -> DeskResult<()> {
        let Some(row) = tickets::lock(conn, id).await? else {
            return Ok(());
        };
        let mut change = Change::new(row.ticket()?, &Caller::system(), now);
        let head = self.head_of(conn, &change.ticket).await?;
        for clock_row in sla::clocks(conn, id).await? {
            if clock_row.next_check_at.is_none_or(|at| at > now) {
                continue;
            }
            let def = definition(&clock_row)?;
            let cal = def.calendar();
            let events = sla::events(conn, id, def.metric.as_str()).await?;
            let clock = Clock::replay(&def, &cal, &events, now);
            let metric = def.metric.as_str().to_owned();
            let due = clock.due_at.unwrap_or(clock.original_due_at);
            let passed = def
                .warn_at
                .iter()
                .filter(|f| clock.reaches(&def, &cal, **f).is_some_and(|at| at <= now))
                .count();
            let passed = i64::try_from(passed).unwrap_or(0);
            let mut warned = clock_row.warned;
            if passed > warned && clock.breached_at.is_none() {
                let assignee = change.ticket.assignee.clone();
                if let Some(login) = assignee {
                    change
                        .notices
                        .push(draft(Topic::SlaWarning, &login, &metric, due));
                }
                let share = def.warn_at.get(usize::try_from(passed - 1).unwrap_or(0));
                change.record(
                    "sla_warning",
                    None,
                    None,
                    json!({ "metric": metric, "reached": share }),
                );
            }
            warned = warned.max(passed);
            let mut notified = clock_row.breach_notified;
            if clock.breached_at.is_some() && notified == 0 {
                notified = 1;
                if let Some(login) = &head {
                    change
                        .notices
                        .push(draft(Topic::SlaBreached, login, &metric, due));
                }
                let detail = json!({ "metric": metric, "due_at": crate::domain::from_millis(due).to_string() });
                change.record("sla_breached", None, None, detail);
                sla::flag_breached(conn, id).await?;
                if self.policies.escalate_on_breach() && change.ticket.tier == Some(1) {
                    self.escalate_on_breach(conn, &mut change).await?;
                }
            }
            let subject = Subject {
                kind: &clock_row.kind,
                priority: &clock_row.priority,
                unit: change.ticket.unit.as_deref(),
                ci_type: None,
            };
            let updated = recompute(conn, id, &def, subject, (warned, notified), now).await?;
            sla::save(conn, &updated).await?;
        }
        self.commit_change(conn, &change).await
    }

    /// A breached tier-1 ticket goes to tier 2 when the policy says so.
    async fn escalate_on_breach(
        &self,
        conn: &mut AnyConnection,
        change: &mut Change,
    ) -> DeskResult<()> {
        let from = Some(change.ticket.state_label());
        if self.hand_to_tier(conn, change, 2).await?.0.is_some() {
            let detail = super::change::assignment_detail(&change.ticket);
            change.record("escalated_on_breach", from, None, detail);
        }
        Ok(())
    }
}

fn draft(topic: Topic, login: &str, metric: &str, due: i64) -> Draft {
    Draft {
        topic,
        login: login.to_owned(),
        comment: None,
        sla: Some((metric.to_owned(), due)),
    }
}
