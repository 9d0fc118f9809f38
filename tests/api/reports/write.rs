//! Writes a generated month straight into the app's tables, as the desk and the SLA
//! engine would have left them.

use super::month::{self, Generated};
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

/// The month's seed: every run generates the same tickets.
const SEED: u64 = 20_261_101;

/// The desk's timers must leave the generated tickets as written: nothing is `new`,
/// nothing is rescheduled, and unconfirmed solutions never close themselves here.
pub async fn app_with_month(backend: Backend, sink: Option<&SmtpSink>) -> (TestApp, Generated) {
    let url = sink.map(SmtpSink::url);
    let app = spawn_app_with(backend, |c| {
        c.desk.confirm_days = 100_000;
        c.sla.reports_enabled = false;
        if let Some(url) = url {
            c.notify.smtp_url = url;
            c.notify.poll_interval_ms = 100;
        }
    })
    .await;
    app.import_ministry().await;
    let generated = month::generate(SEED);
    insert(app.pool(), &generated).await;
    (app, generated)
}

/// Writes the month into the app's database, as the desk and the SLA engine would have.
pub async fn insert(pool: &sqlx::AnyPool, month: &Generated) {
    let mut tx = pool.begin().await.expect("transaction");
    for t in &month.tickets {
        sqlx::query(
            "INSERT INTO incidents (id, source, fingerprint, status, severity, summary, opened_at, \
               updated_at, last_seen, event_count, alert_count, unit, kind, hold_reason, channel, \
               priority, category, tier, assignee, acked_at, resolved_at, closed_at, \
               reassignments, reopens, problem_id, cancel_reason, merged_into, sla_breached) \
             VALUES ($1, 'desk', $1, $2, 'info', $3, $4, $4, $4, 0, 0, $5, $6, $7, $8, $9, $10, \
               $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(&t.id)
        .bind(t.status)
        .bind(&t.summary)
        .bind(t.opened_at)
        .bind(&t.unit)
        .bind(t.kind)
        .bind(t.hold_reason)
        .bind(t.channel)
        .bind(t.priority)
        .bind(t.category)
        .bind(t.tier)
        .bind(t.assignee)
        .bind(t.acked_at)
        .bind(t.resolved_at)
        .bind(t.closed_at)
        .bind(t.reassignments)
        .bind(t.reopens)
        .bind(&t.problem_id)
        .bind(t.cancel_reason)
        .bind(&t.merged_into)
        .bind(i64::from(t.sla_breached))
        .execute(&mut *tx)
        .await
        .expect("ticket inserted");
    }
    for c in &month.clocks {
        sqlx::query(
            "INSERT INTO sla_clocks (ticket_id, metric, kind, priority, policy, target_ms, \
               started_at, running, elapsed_ms, counted_to, original_due_at, due_at, stopped_at, \
               warned, breached_at, breach_notified, next_check_at) \
             VALUES ($1, $2, $3, $4, '{}', $5, $6, $7, $8, $9, $10, $10, $11, 0, $12, 1, NULL)",
        )
        .bind(&c.ticket)
        .bind(c.metric)
        .bind(c.kind)
        .bind(c.priority)
        .bind(c.target)
        .bind(c.started_at)
        .bind(i64::from(c.stopped_at.is_none()))
        .bind(c.elapsed)
        .bind(c.stopped_at.unwrap_or(c.started_at + c.elapsed))
        .bind(c.started_at + c.target)
        .bind(c.stopped_at)
        .bind(c.breached_at)
        .execute(&mut *tx)
        .await
        .expect("clock inserted");
    }
    tx.commit().await.expect("committed");
}
