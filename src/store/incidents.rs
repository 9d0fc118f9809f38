//! Incidents opened from events, and the event↔incident links.

use sqlx::AnyConnection;

use super::{ListQuery, StoreResult, INCIDENT_TERMINAL};
use crate::domain::Signal;

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

/// The open incident of this alert identity, if any.
pub async fn open_for(
    conn: &mut AnyConnection,
    source: &str,
    fingerprint: &str,
) -> StoreResult<Option<String>> {
    let sql = format!(
        "SELECT id FROM incidents WHERE source = $1 AND fingerprint = $2 \
         AND status NOT IN {INCIDENT_TERMINAL}"
    );
    let row: Option<(String,)> = sqlx::query_as(&sql)
        .bind(source)
        .bind(fingerprint)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|(id,)| id))
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: &str,
    signal: &Signal,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO incidents (id, source, fingerprint, status, severity, summary, description, \
           opened_at, updated_at, last_seen, event_count, alert_count) \
         VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $7, $7, 0, 0)",
    )
    .bind(id)
    .bind(&signal.source)
    .bind(signal.fingerprint.as_str())
    .bind(signal.severity.as_str())
    .bind(&signal.summary)
    .bind(signal.description.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Links a new occurrence to the incident; its alerts are no longer all cleared.
pub async fn link_event(
    conn: &mut AnyConnection,
    incident_id: &str,
    event_id: &str,
    signal: &Signal,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, event_id, linked_at) VALUES ($1, $2, $3) \
         ON CONFLICT (incident_id, event_id) DO NOTHING",
    )
    .bind(incident_id)
    .bind(event_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE incidents SET event_count = event_count + 1, alert_count = alert_count + 1, \
           last_seen = $2, updated_at = $2, severity = $3, summary = $4, alerts_cleared_at = NULL \
         WHERE id = $1",
    )
    .bind(incident_id)
    .bind(now)
    .bind(signal.severity.as_str())
    .bind(&signal.summary)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Counts a repeat of one of the incident's alerts.
pub async fn touch(conn: &mut AnyConnection, incident_id: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE incidents SET alert_count = alert_count + 1, last_seen = $2, updated_at = $2 \
         WHERE id = $1",
    )
    .bind(incident_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every alert of the incident has ended: record it, and resolve the incident if its
/// rule says so. Returns whether the incident was resolved.
pub async fn alerts_cleared(
    conn: &mut AnyConnection,
    incident_id: &str,
    auto_resolve: bool,
    now: i64,
) -> StoreResult<bool> {
    let sql = if auto_resolve {
        format!(
            "UPDATE incidents SET alerts_cleared_at = $2, updated_at = $2, status = 'resolved', \
               resolved_at = $2, resolution = 'alerts cleared' \
             WHERE id = $1 AND status NOT IN {INCIDENT_TERMINAL}"
        )
    } else {
        format!(
            "UPDATE incidents SET alerts_cleared_at = COALESCE(alerts_cleared_at, $2), updated_at = $2 \
             WHERE id = $1 AND status NOT IN {INCIDENT_TERMINAL}"
        )
    };
    let done = sqlx::query(&sql)
        .bind(incident_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(auto_resolve && done.rows_affected() > 0)
}

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
