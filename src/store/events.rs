//! Events: one row per occurrence of an alert; at most one open per (source, fingerprint).

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use super::batch::{execute_chunked, expect_all, values, MAX_PARAMS};
use super::{json_column, Arg, ListQuery, StoreError, StoreResult};
use crate::domain::{to_millis, Signal};

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
    pub ci_id: Option<String>,
    pub unit: Option<String>,
    pub held_by: Option<String>,
    pub flapping: i64,
    pub resolved_by: Option<String>,
    pub incident_id: Option<String>,
}

/// Every column of `events` plus its current incident, for `SELECT … FROM events t`.
const COLUMNS: &str = "t.id, t.source, t.fingerprint, t.rule, t.status, t.severity, t.summary, \
    t.description, t.labels, t.annotations, t.ci_candidates, t.alert_count, t.first_seen, \
    t.last_seen, t.starts_at, t.ends_at, t.resolved_at, t.previous_event_id, \
    t.last_raw_alert_id, t.acked_at, t.acked_by, t.ci_id, t.unit, t.held_by, t.flapping, \
    t.resolved_by, \
    (SELECT ie.incident_id FROM incident_events ie JOIN incidents i ON i.id = ie.incident_id \
     WHERE ie.event_id = t.id AND i.merged_into IS NULL \
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

// Writes of the group-commit writer (see `batch`).

/// A new event, already folded with the batch's later repeats and resolution of it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub latest: Signal,
    pub open: bool,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub previous_event_id: Option<String>,
    pub raw_id: String,
    pub binding: Binding,
    pub held_by: Option<String>,
    pub marks: Option<String>,
    pub flapping: bool,
    pub resolved_by: Option<String>,
}

/// The CI an alert was bound to and the unit that owns it; both empty: unbound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub ci_id: Option<String>,
    pub unit: Option<String>,
}

/// Changes to an event stored before the batch. `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct EventChange {
    pub add_count: i64,
    pub last_seen: i64,
    pub latest: Option<Signal>,
    pub resolved_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub raw_id: String,
    pub binding: Option<Binding>,
    pub held_by: Option<Option<String>>,
    pub marks: Option<Option<String>>,
    pub flapping: Option<bool>,
    pub resolved_by: Option<String>,
}

/// Inserts new events. Fails with [`StoreError::Raced`] if another writer opened one of
/// them first, so the caller can redo the batch one alert at a time.
pub async fn insert_new(conn: &mut AnyConnection, rows: &[&NewEvent]) -> StoreResult<()> {
    const COLS: usize = 25;
    for chunk in rows.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO events (id, source, fingerprint, rule, status, severity, summary, \
               description, labels, annotations, ci_candidates, alert_count, first_seen, \
               last_seen, starts_at, ends_at, resolved_at, previous_event_id, last_raw_alert_id, \
               ci_id, unit, held_by, marks, flapping, resolved_by) \
             VALUES {} ON CONFLICT (source, fingerprint) WHERE status = 'open' DO NOTHING \
             RETURNING id",
            values(conn, chunk.len(), COLS)
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for row in chunk {
            for arg in event_args(row) {
                query = arg.bind_to_as(query);
            }
        }
        let inserted: BTreeSet<String> = query
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        if inserted.len() != chunk.len() {
            return Err(StoreError::Raced);
        }
    }
    Ok(())
}

fn event_args(row: &NewEvent) -> Vec<Arg> {
    let s = &row.latest;
    vec![
        Arg::text(&row.id),
        Arg::text(&s.source),
        Arg::text(s.fingerprint.as_str()),
        Arg::text(&s.rule),
        Arg::text(if row.open { "open" } else { "resolved" }),
        Arg::text(s.severity.as_str()),
        Arg::text(&s.summary),
        Arg::OptText(s.description.clone()),
        Arg::Text(to_json(&s.labels)),
        Arg::Text(to_json(&s.annotations)),
        Arg::Text(to_json(&s.ci_candidates)),
        Arg::Int(row.count),
        Arg::Int(row.first_seen),
        Arg::Int(row.last_seen),
        Arg::OptInt(s.starts_at.map(to_millis)),
        Arg::OptInt(row.ends_at),
        Arg::OptInt(row.resolved_at),
        Arg::OptText(row.previous_event_id.clone()),
        Arg::text(&row.raw_id),
        Arg::OptText(row.binding.ci_id.clone()),
        Arg::OptText(row.binding.unit.clone()),
        Arg::OptText(row.held_by.clone()),
        Arg::OptText(row.marks.clone()),
        Arg::Int(i64::from(row.flapping)),
        Arg::OptText(row.resolved_by.clone()),
    ]
}

/// Applies repeats and resolutions to events stored before the batch. Only open events
/// change; another writer's resolution in between shows as a row not updated. (The
/// status test is an expression so SQLite finds rows by id: through the status index,
/// which the update rewrites, it is ten times slower.)
pub async fn apply_changes(
    conn: &mut AnyConnection,
    changes: &[(&String, &EventChange)],
) -> StoreResult<()> {
    const COLS: usize = 21;
    let sql = |conn: &AnyConnection, n| {
        format!(
            "UPDATE events SET alert_count = events.alert_count + v.column2, \
               last_seen = CASE WHEN v.column3 > events.last_seen THEN v.column3 \
                 ELSE events.last_seen END, \
               severity = COALESCE(v.column4, events.severity), \
               summary = COALESCE(v.column5, events.summary), \
               description = COALESCE(v.column6, events.description), \
               labels = COALESCE(v.column7, events.labels), \
               annotations = COALESCE(v.column8, events.annotations), \
               ci_candidates = COALESCE(v.column9, events.ci_candidates), \
               status = CASE WHEN v.column10 IS NULL THEN events.status ELSE 'resolved' END, \
               resolved_at = COALESCE(v.column10, events.resolved_at), \
               ends_at = COALESCE(v.column11, events.ends_at), \
               last_raw_alert_id = v.column12, \
               ci_id = CASE WHEN v.column13 = 1 THEN v.column14 ELSE events.ci_id END, \
               unit = CASE WHEN v.column13 = 1 THEN v.column15 ELSE events.unit END, \
               held_by = CASE WHEN v.column16 = 1 THEN v.column17 ELSE events.held_by END, \
               marks = CASE WHEN v.column18 = 1 THEN v.column19 ELSE events.marks END, \
               flapping = COALESCE(v.column20, events.flapping), \
               resolved_by = COALESCE(v.column21, events.resolved_by) \
             FROM (VALUES {}) AS v \
             WHERE events.id = v.column1 AND (events.status || '') = 'open'",
            values(conn, n, COLS)
        )
    };
    let affected = execute_chunked(conn, changes, COLS, sql, |(id, c)| {
        let latest = c.latest.as_ref();
        let binding = c.binding.clone();
        vec![
            Arg::text(id),
            Arg::Int(c.add_count),
            Arg::Int(c.last_seen),
            Arg::OptText(latest.map(|s| s.severity.as_str().to_owned())),
            Arg::OptText(latest.map(|s| s.summary.clone())),
            Arg::OptText(latest.and_then(|s| s.description.clone())),
            Arg::OptText(latest.map(|s| to_json(&s.labels))),
            Arg::OptText(latest.map(|s| to_json(&s.annotations))),
            Arg::OptText(latest.map(|s| to_json(&s.ci_candidates))),
            Arg::OptInt(c.resolved_at),
            Arg::OptInt(c.ends_at),
            Arg::text(&c.raw_id),
            Arg::Int(i64::from(binding.is_some())),
            Arg::OptText(binding.as_ref().and_then(|b| b.ci_id.clone())),
            Arg::OptText(binding.and_then(|b| b.unit)),
            Arg::Int(i64::from(c.held_by.is_some())),
            Arg::OptText(c.held_by.clone().flatten()),
            Arg::Int(i64::from(c.marks.is_some())),
            Arg::OptText(c.marks.clone().flatten()),
            Arg::OptInt(c.flapping.map(i64::from)),
            Arg::OptText(c.resolved_by.clone()),
        ]
    })
    .await?;
    expect_all(affected, changes.len())
}

/// Open events of `source` with no update since `before`, or whose lease (`ends_at`)
/// is over by `now`: at most `limit`, oldest first.
pub async fn expired(
    conn: &mut AnyConnection,
    source: &str,
    before: Option<i64>,
    now: i64,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events t WHERE t.status = 'open' AND t.source = $1 \
         AND ((t.ends_at IS NOT NULL AND t.ends_at < $2) OR t.last_seen < $3) \
         ORDER BY t.id LIMIT {limit}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(source)
        .bind(now)
        .bind(before.unwrap_or(i64::MIN))
        .fetch_all(&mut *conn)
        .await?)
}

/// Open events held by this window or silence (`maintenance:<id>`, `silence:<id>`).
pub async fn held_by(
    conn: &mut AnyConnection,
    tag: &str,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events t WHERE t.status = 'open' AND t.held_by = $1 \
         ORDER BY t.id LIMIT {limit}"
    );
    Ok(sqlx::query_as(&sql).bind(tag).fetch_all(&mut *conn).await?)
}

/// Acknowledges the open event of an alert, if it has one; false if none is open.
pub async fn ack_open(
    pool: &sqlx::AnyPool,
    source: &str,
    fingerprint: &str,
    by: &str,
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE events SET acked_at = COALESCE(acked_at, $3), acked_by = COALESCE(acked_by, $4) \
         WHERE source = $1 AND fingerprint = $2 AND status = 'open'",
    )
    .bind(source)
    .bind(fingerprint)
    .bind(now)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
