//! Events: one row per occurrence of an alert; at most one open per (source, fingerprint).

use sqlx::AnyConnection;

use super::{json_column, ListQuery, StoreResult};
use crate::domain::{from_millis, to_millis, Signal};
use crate::pipeline::dedup::LatestEvent;

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

#[derive(sqlx::FromRow)]
struct LatestRow {
    id: String,
    status: String,
    starts_at: Option<i64>,
    incident_id: Option<String>,
}

/// The newest event of this alert identity, with its incident if any.
pub async fn latest(
    conn: &mut AnyConnection,
    source: &str,
    fingerprint: &str,
) -> StoreResult<Option<LatestEvent>> {
    let row: Option<LatestRow> = sqlx::query_as(
        "SELECT e.id, e.status, e.starts_at, \
           (SELECT ie.incident_id FROM incident_events ie WHERE ie.event_id = e.id \
            ORDER BY ie.linked_at DESC LIMIT 1) AS incident_id \
         FROM events e WHERE e.source = $1 AND e.fingerprint = $2 ORDER BY e.id DESC LIMIT 1",
    )
    .bind(source)
    .bind(fingerprint)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| LatestEvent {
        open: r.status == "open",
        id: r.id,
        starts_at: r.starts_at.map(from_millis),
        incident_id: r.incident_id,
    }))
}

/// Inserts a new open event. If another writer opened one first (another replica), that
/// event is counted instead; the returned id says which event holds the alert.
pub async fn open(
    conn: &mut AnyConnection,
    id: &str,
    signal: &Signal,
    previous: Option<&str>,
    raw_id: &str,
    now: i64,
) -> StoreResult<String> {
    let (held_id,): (String,) = sqlx::query_as(
        "INSERT INTO events (id, source, fingerprint, rule, status, severity, summary, \
           description, labels, annotations, ci_candidates, alert_count, first_seen, last_seen, \
           starts_at, ends_at, previous_event_id, last_raw_alert_id) \
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10, 1, $11, $11, $12, $13, $14, $15) \
         ON CONFLICT (source, fingerprint) WHERE status = 'open' DO UPDATE SET \
           alert_count = events.alert_count + 1, last_seen = excluded.last_seen, \
           severity = excluded.severity, summary = excluded.summary, \
           description = excluded.description, labels = excluded.labels, \
           annotations = excluded.annotations, ci_candidates = excluded.ci_candidates, \
           last_raw_alert_id = excluded.last_raw_alert_id \
         RETURNING id",
    )
    .bind(id)
    .bind(&signal.source)
    .bind(signal.fingerprint.as_str())
    .bind(&signal.rule)
    .bind(signal.severity.as_str())
    .bind(&signal.summary)
    .bind(signal.description.as_deref())
    .bind(to_json(&signal.labels))
    .bind(to_json(&signal.annotations))
    .bind(to_json(&signal.ci_candidates))
    .bind(now)
    .bind(signal.starts_at.map(to_millis))
    .bind(signal.ends_at.map(to_millis))
    .bind(previous)
    .bind(raw_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(held_id)
}

/// Counts a repeat of the open event and refreshes what the tool says about it now
/// (severity, texts, labels, annotations, CI candidates).
pub async fn repeat(
    conn: &mut AnyConnection,
    id: &str,
    signal: &Signal,
    raw_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE events SET alert_count = alert_count + 1, last_seen = $2, severity = $3, \
           summary = $4, description = $5, labels = $6, annotations = $7, \
           ci_candidates = $8, last_raw_alert_id = $9 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(signal.severity.as_str())
    .bind(&signal.summary)
    .bind(signal.description.as_deref())
    .bind(to_json(&signal.labels))
    .bind(to_json(&signal.annotations))
    .bind(to_json(&signal.ci_candidates))
    .bind(raw_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn resolve(
    conn: &mut AnyConnection,
    id: &str,
    signal: &Signal,
    raw_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE events SET status = 'resolved', resolved_at = $2, last_seen = $2, \
           ends_at = COALESCE($3, ends_at), last_raw_alert_id = $4 \
         WHERE id = $1 AND status = 'open'",
    )
    .bind(id)
    .bind(now)
    .bind(signal.ends_at.map(to_millis))
    .bind(raw_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many events of this incident are still open.
pub async fn open_count_for_incident(
    conn: &mut AnyConnection,
    incident_id: &str,
) -> StoreResult<i64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM incident_events ie JOIN events e ON e.id = ie.event_id \
         WHERE ie.incident_id = $1 AND e.status = 'open'",
    )
    .bind(incident_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count)
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
