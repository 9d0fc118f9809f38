//! Incidents opened from events, and the event↔incident links.

use super::{ListQuery, StoreResult, INCIDENT_TERMINAL};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: String,
    pub source: String,
    pub fingerprint: String,
    pub status: String,
    pub severity: String,
    pub summary: String,
    pub description: Option<String>,
    pub opened_at: i64,
    pub updated_at: i64,
    pub last_seen: i64,
    pub event_count: i64,
    pub alert_count: i64,
    pub alerts_cleared_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
}

const COLUMNS: &str = "id, source, fingerprint, status, severity, summary, description, \
    opened_at, updated_at, last_seen, event_count, alert_count, alerts_cleared_at, \
    resolved_at, resolution, acked_at, acked_by";

/// Newest first.
pub async fn list(pool: &sqlx::AnyPool, q: &ListQuery) -> StoreResult<Vec<IncidentRow>> {
    let (sql, filter) = q.select(COLUMNS, "incidents", "updated_at");
    Ok(filter
        .bind(sqlx::query_as(&sql))
        .bind(q.limit)
        .fetch_all(pool)
        .await?)
}

pub async fn get(pool: &sqlx::AnyPool, id: &str) -> StoreResult<Option<IncidentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

pub async fn ack(pool: &sqlx::AnyPool, id: &str, by: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET acked_at = COALESCE(acked_at, $2), \
           acked_by = COALESCE(acked_by, $3), updated_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn count_open(pool: &sqlx::AnyPool) -> StoreResult<i64> {
    let sql = format!("SELECT COUNT(*) FROM incidents WHERE status NOT IN {INCIDENT_TERMINAL}");
    let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(pool).await?;
    Ok(n)
}
