//! Incidents opened from events, and the event↔incident links.

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use super::batch::{execute_chunked, expect_all, values, MAX_PARAMS};
use super::{Arg, ListQuery, StoreResult, INCIDENT_TERMINAL};
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

// Writes of the group-commit writer (see `batch`).

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub id: String,
    pub first: Signal,
    pub severity: String,
    pub summary: String,
    pub opened_at: i64,
    pub last_seen: i64,
    pub event_count: i64,
    pub alert_count: i64,
}

/// Changes to an incident stored before the batch.
#[derive(Debug, Clone, Default)]
pub struct IncidentChange {
    pub add_events: i64,
    pub add_alerts: i64,
    pub last_seen: i64,
    /// Severity and summary of the newest linked occurrence.
    pub latest: Option<(String, String)>,
    /// A new occurrence was linked: its alerts are no longer all cleared.
    pub reopened: bool,
}

pub async fn insert_new(conn: &mut AnyConnection, rows: &[&NewIncident]) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO incidents (id, source, fingerprint, status, severity, summary, \
               description, opened_at, updated_at, last_seen, event_count, alert_count) \
             VALUES {}",
            values(conn, n, 12)
        )
    };
    execute_chunked(conn, rows, 12, sql, |r| {
        vec![
            Arg::text(&r.id),
            Arg::text(&r.first.source),
            Arg::text(r.first.fingerprint.as_str()),
            Arg::text("new"),
            Arg::text(&r.severity),
            Arg::text(&r.summary),
            Arg::OptText(r.first.description.clone()),
            Arg::Int(r.opened_at),
            Arg::Int(r.last_seen),
            Arg::Int(r.last_seen),
            Arg::Int(r.event_count),
            Arg::Int(r.alert_count),
        ]
    })
    .await
    .map(|_| ())
}

pub async fn apply_changes(
    conn: &mut AnyConnection,
    changes: &[(&String, &IncidentChange)],
) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "UPDATE incidents SET event_count = incidents.event_count + v.column2, \
               alert_count = incidents.alert_count + v.column3, \
               last_seen = CASE WHEN v.column4 > incidents.last_seen THEN v.column4 \
                 ELSE incidents.last_seen END, \
               updated_at = CASE WHEN v.column4 > incidents.updated_at THEN v.column4 \
                 ELSE incidents.updated_at END, \
               severity = COALESCE(v.column5, incidents.severity), \
               summary = COALESCE(v.column6, incidents.summary), \
               alerts_cleared_at = CASE WHEN v.column7 = 1 THEN NULL \
                 ELSE incidents.alerts_cleared_at END \
             FROM (VALUES {}) AS v \
             WHERE incidents.id = v.column1 AND incidents.status NOT IN {INCIDENT_TERMINAL}",
            values(conn, n, 7)
        )
    };
    let affected = execute_chunked(conn, changes, 7, sql, |(id, c)| {
        vec![
            Arg::text(id),
            Arg::Int(c.add_events),
            Arg::Int(c.add_alerts),
            Arg::Int(c.last_seen),
            Arg::OptText(c.latest.as_ref().map(|l| l.0.clone())),
            Arg::OptText(c.latest.as_ref().map(|l| l.1.clone())),
            Arg::Int(i64::from(c.reopened)),
        ]
    })
    .await?;
    expect_all(affected, changes.len())
}

pub async fn insert_links(
    conn: &mut AnyConnection,
    links: &[(String, String, i64)],
) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO incident_events (incident_id, event_id, linked_at) VALUES {} \
             ON CONFLICT (incident_id, event_id) DO NOTHING",
            values(conn, n, 3)
        )
    };
    execute_chunked(conn, links, 3, sql, |(incident, event, at)| {
        vec![Arg::text(incident), Arg::text(event), Arg::Int(*at)]
    })
    .await
    .map(|_| ())
}

/// Of these incidents, the ones that still have an open event.
pub async fn with_open_events(
    conn: &mut AnyConnection,
    incidents: &[&String],
) -> StoreResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for chunk in incidents.chunks(MAX_PARAMS) {
        let list = values(conn, 1, chunk.len());
        let sql = format!(
            "SELECT DISTINCT ie.incident_id FROM incident_events ie \
             JOIN events e ON e.id = ie.event_id \
             WHERE e.status = 'open' AND ie.incident_id IN {list}"
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        out.extend(
            query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id),
        );
    }
    Ok(out)
}

/// Records that every alert of these incidents ended; those whose rule says so are
/// resolved. Each entry: (incident, auto_resolve, when). (The status test is an
/// expression so SQLite finds rows by id, not through the status index it rewrites.)
pub async fn mark_cleared(
    conn: &mut AnyConnection,
    cleared: &[(&String, bool, i64)],
) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "UPDATE incidents SET \
               alerts_cleared_at = COALESCE(incidents.alerts_cleared_at, v.column2), \
               updated_at = v.column2, \
               status = CASE WHEN v.column3 = 1 THEN 'resolved' ELSE incidents.status END, \
               resolved_at = CASE WHEN v.column3 = 1 THEN v.column2 ELSE incidents.resolved_at END, \
               resolution = CASE WHEN v.column3 = 1 THEN 'alerts cleared' \
                 ELSE incidents.resolution END \
             FROM (VALUES {}) AS v \
             WHERE incidents.id = v.column1 \
               AND (incidents.status || '') NOT IN {INCIDENT_TERMINAL}",
            values(conn, n, 3)
        )
    };
    execute_chunked(conn, cleared, 3, sql, |(id, auto, at)| {
        vec![Arg::text(id), Arg::Int(*at), Arg::Int(i64::from(*auto))]
    })
    .await
    .map(|_| ())
}
