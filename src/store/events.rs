//! Events: one row per occurrence of an alert; at most one open per (source, fingerprint).

use super::{json_column, ListQuery, StoreResult};

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub source: String,
    pub fingerprint: String,
    pub rule: String,
    pub status: String,
    pub severity: String,
    pub summary: String,
    pub description: Option<String>,
    pub labels: String,
    pub annotations: String,
    pub ci_candidates: String,
    pub alert_count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub previous_event_id: Option<String>,
    pub last_raw_alert_id: String,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    pub incident_id: Option<String>,
}

/// Every column of `events` plus its current incident, for `SELECT … FROM events t`.
const COLUMNS: &str = "t.id, t.source, t.fingerprint, t.rule, t.status, t.severity, t.summary, \
    t.description, t.labels, t.annotations, t.ci_candidates, t.alert_count, t.first_seen, \
    t.last_seen, t.starts_at, t.ends_at, t.resolved_at, t.previous_event_id, \
    t.last_raw_alert_id, t.acked_at, t.acked_by, \
    (SELECT ie.incident_id FROM incident_events ie WHERE ie.event_id = t.id \
     ORDER BY ie.linked_at DESC LIMIT 1) AS incident_id";

impl EventRow {
    pub fn labels(&self) -> StoreResult<std::collections::BTreeMap<String, String>> {
        json_column(&self.labels, "labels")
    }
    pub fn annotations(&self) -> StoreResult<std::collections::BTreeMap<String, String>> {
        json_column(&self.annotations, "annotations")
    }
    pub fn ci_candidates(&self) -> StoreResult<Vec<String>> {
        json_column(&self.ci_candidates, "ci_candidates")
    }
}

/// Newest first.
pub async fn list(pool: &sqlx::AnyPool, q: &ListQuery) -> StoreResult<Vec<EventRow>> {
    let (sql, filter) = q.select(COLUMNS, "events", "last_seen");
    Ok(filter
        .bind(sqlx::query_as(&sql))
        .bind(q.limit)
        .fetch_all(pool)
        .await?)
}

pub async fn get(pool: &sqlx::AnyPool, id: &str) -> StoreResult<Option<EventRow>> {
    let sql = format!("SELECT {COLUMNS} FROM events t WHERE t.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

/// The events of an incident, newest first.
pub async fn for_incident(pool: &sqlx::AnyPool, incident_id: &str) -> StoreResult<Vec<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events t JOIN incident_events l ON l.event_id = t.id \
         WHERE l.incident_id = $1 ORDER BY t.id DESC"
    );
    Ok(sqlx::query_as(&sql)
        .bind(incident_id)
        .fetch_all(pool)
        .await?)
}

/// Records the first acknowledgement; later ones change nothing. False if no such event.
pub async fn ack(pool: &sqlx::AnyPool, id: &str, by: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE events SET acked_at = COALESCE(acked_at, $2), acked_by = COALESCE(acked_by, $3) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn count_open(pool: &sqlx::AnyPool) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events WHERE status = 'open'")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
