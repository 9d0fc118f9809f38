//! SLA clocks: their log, and the copy of what the log computes that listings, timers,
//! metrics and reports read.

use sqlx::AnyConnection;

use super::{Backend, StoreResult};
use crate::sla::clock::{Event, EventKind};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClockRow {
    pub ticket_id: String,
    pub metric: String,
    pub kind: String,
    pub priority: String,
    pub policy: String,
    pub target_ms: i64,
    pub started_at: i64,
    pub running: i64,
    pub elapsed_ms: i64,
    pub counted_to: i64,
    pub original_due_at: i64,
    pub due_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub warned: i64,
    pub breached_at: Option<i64>,
    pub breach_notified: i64,
    pub next_check_at: Option<i64>,
}

const COLUMNS: &str = "ticket_id, metric, kind, priority, policy, target_ms, started_at, \
    running, elapsed_ms, counted_to, original_due_at, due_at, stopped_at, warned, \
    breached_at, breach_notified, next_check_at";

pub async fn clocks(conn: &mut AnyConnection, ticket: &str) -> StoreResult<Vec<ClockRow>> {
    let sql = format!("SELECT {COLUMNS} FROM sla_clocks WHERE ticket_id = $1 ORDER BY metric");
    Ok(sqlx::query_as(&sql).bind(ticket).fetch_all(conn).await?)
}

pub async fn save(conn: &mut AnyConnection, c: &ClockRow) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO sla_clocks ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (ticket_id, metric) DO UPDATE SET kind = excluded.kind, \
           priority = excluded.priority, policy = excluded.policy, \
           target_ms = excluded.target_ms, started_at = excluded.started_at, \
           running = excluded.running, elapsed_ms = excluded.elapsed_ms, \
           counted_to = excluded.counted_to, original_due_at = excluded.original_due_at, \
           due_at = excluded.due_at, stopped_at = excluded.stopped_at, \
           warned = excluded.warned, breached_at = excluded.breached_at, \
           breach_notified = excluded.breach_notified, \
           next_check_at = excluded.next_check_at"
    );
    sqlx::query(&sql)
        .bind(&c.ticket_id)
        .bind(&c.metric)
        .bind(&c.kind)
        .bind(&c.priority)
        .bind(&c.policy)
        .bind(c.target_ms)
        .bind(c.started_at)
        .bind(c.running)
        .bind(c.elapsed_ms)
        .bind(c.counted_to)
        .bind(c.original_due_at)
        .bind(c.due_at)
        .bind(c.stopped_at)
        .bind(c.warned)
        .bind(c.breached_at)
        .bind(c.breach_notified)
        .bind(c.next_check_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn events(
    conn: &mut AnyConnection,
    ticket: &str,
    metric: &str,
) -> StoreResult<Vec<Event>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT at, kind FROM sla_clock_events WHERE ticket_id = $1 AND metric = $2 \
         ORDER BY at, id",
    )
    .bind(ticket)
    .bind(metric)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(at, kind)| {
            Some(Event {
                at,
                kind: EventKind::parse(&kind)?,
            })
        })
        .collect())
}

pub async fn add_event(
    conn: &mut AnyConnection,
    ticket: &str,
    metric: &str,
    event: Event,
    reason: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sla_clock_events (id, ticket_id, metric, at, kind, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crate::domain::ids::new("clk"))
    .bind(ticket)
    .bind(metric)
    .bind(event.at)
    .bind(event.kind.as_str())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// The next ticket with a clock the timers must look at now, locked for this
/// transaction. The ticket row is locked (before its clocks, in the order every desk
/// change takes), and on PostgreSQL other replicas skip it while this one holds it, so
/// each check happens once.
pub async fn claim_next(
    conn: &mut AnyConnection,
    backend: Backend,
    now: i64,
) -> StoreResult<Option<String>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT i.id FROM incidents i WHERE i.id IN \
           (SELECT ticket_id FROM sla_clocks WHERE next_check_at <= $1) \
         ORDER BY i.id LIMIT 1{lock}"
    );
    let row: Option<(String,)> = sqlx::query_as(&sql).bind(now).fetch_optional(conn).await?;
    Ok(row.map(|(id,)| id))
}

/// Tickets whose running clocks no longer match them: their kind or priority changed
/// (the target is chosen again), or monitoring ended them (merged, resolved).
pub async fn drifted(conn: &mut AnyConnection, limit: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT c.ticket_id FROM sla_clocks c JOIN incidents i ON i.id = c.ticket_id \
         WHERE c.stopped_at IS NULL AND (i.kind <> c.kind OR COALESCE(i.priority, 'P3') <> c.priority \
           OR i.status IN ('resolved', 'closed', 'canceled')) \
         ORDER BY c.ticket_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub async fn flag_breached(conn: &mut AnyConnection, ticket: &str) -> StoreResult<()> {
    sqlx::query("UPDATE incidents SET sla_breached = 1 WHERE id = $1")
        .bind(ticket)
        .execute(conn)
        .await?;
    Ok(())
}
