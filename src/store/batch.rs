//! Set-based statements for the group-commit writer: each reads or writes many rows at
//! once (multi-row `VALUES`), so a batch costs a handful of round trips to the database
//! whatever its size. Both stores accept this SQL (`UPDATE … FROM`, CTEs with `VALUES`).

use std::collections::{BTreeSet, HashMap};

use sqlx::AnyConnection;

use super::events::to_json;
use super::{Arg, StoreError, StoreResult, INCIDENT_TERMINAL};
use crate::domain::from_millis;
use crate::domain::Signal;
use crate::pipeline::dedup::LatestEvent;

// The write set a batch plan produces.

/// (source, fingerprint): the identity of an alert.
pub type Key = (String, String);

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
}

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

/// Bound parameters per statement, under SQLite's limit (32766) and PostgreSQL's (65535).
const MAX_PARAMS: usize = 32_000;

/// Payload bytes per raw-alert insert statement.
const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` columns on PostgreSQL; `(?, ?), (?, ?)`
/// on SQLite, whose parser looks every `$n` name up in a list (quadratic in the number of
/// parameters: 100 ms for a 5 000-parameter insert) while anonymous `?` cost nothing.
fn values(conn: &AnyConnection, rows: usize, cols: usize) -> String {
    let sqlite = conn.backend_name() == "SQLite";
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols)
                .map(|c| {
                    if sqlite {
                        "?".to_owned()
                    } else {
                        format!("${}", r * cols + c)
                    }
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `sql_for(rows)` over `rows` in chunks that fit the parameter limit; `args` gives
/// each row's cells, in column order.
async fn execute_chunked<T>(
    conn: &mut AnyConnection,
    rows: &[T],
    cols: usize,
    sql_for: impl Fn(&AnyConnection, usize) -> String,
    args: impl Fn(&T) -> Vec<Arg>,
) -> StoreResult<u64> {
    let mut affected = 0;
    for chunk in rows.chunks((MAX_PARAMS / cols).max(1)) {
        let sql = sql_for(conn, chunk.len());
        let mut query = sqlx::query(&sql);
        for row in chunk {
            for arg in args(row) {
                query = arg.bind_to(query);
            }
        }
        affected += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(affected)
}

/// Every planned change must find its row still as the plan saw it; otherwise another
/// replica changed it in between and the batch is redone from fresh state.
fn expect_all(affected: u64, planned: usize) -> StoreResult<()> {
    if affected == planned as u64 {
        Ok(())
    } else {
        Err(StoreError::Raced)
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    source: String,
    fingerprint: String,
    id: Option<String>,
    status: Option<String>,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    incident_id: Option<String>,
    open_incident: Option<String>,
}

/// What is stored for each key, in one round trip: its newest event (with the incident
/// that event belongs to) and its open incident.
pub async fn known_state(
    conn: &mut AnyConnection,
    keys: &[Key],
) -> StoreResult<(HashMap<Key, LatestEvent>, HashMap<Key, String>)> {
    let mut latest = HashMap::with_capacity(keys.len());
    let mut open_incidents = HashMap::new();
    for chunk in keys.chunks(MAX_PARAMS / 2) {
        let sql = format!(
            "WITH k (src, fp) AS (VALUES {}) \
             SELECT k.src AS source, k.fp AS fingerprint, t.id, t.status, t.starts_at, \
               t.ends_at, \
               (SELECT ie.incident_id FROM incident_events ie \
                JOIN incidents li ON li.id = ie.incident_id \
                WHERE ie.event_id = t.id AND li.status NOT IN {INCIDENT_TERMINAL} \
                ORDER BY ie.linked_at DESC LIMIT 1) AS incident_id, \
               (SELECT i.id FROM incidents i WHERE i.source = k.src AND i.fingerprint = k.fp \
                AND i.status NOT IN {INCIDENT_TERMINAL}) AS open_incident \
             FROM k LEFT JOIN events t ON t.source = k.src AND t.fingerprint = k.fp \
               AND t.id = (SELECT MAX(e2.id) FROM events e2 \
                           WHERE e2.source = k.src AND e2.fingerprint = k.fp)",
            values(conn, chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, KeyRow>(&sql);
        for (source, fingerprint) in chunk {
            query = query.bind(source.as_str()).bind(fingerprint.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key = (row.source, row.fingerprint);
            if let Some(incident) = row.open_incident {
                open_incidents.insert(key.clone(), incident);
            }
            if let (Some(id), Some(status)) = (row.id, row.status) {
                let event = LatestEvent {
                    open: status == "open",
                    id,
                    starts_at: row.starts_at.map(from_millis),
                    ends_at: row.ends_at.map(from_millis),
                    incident_id: row.incident_id,
                };
                latest.insert(key, event);
            }
        }
    }
    Ok((latest, open_incidents))
}

/// A payload as received, for the multi-row insert.
pub struct RawInsert<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub received_by: &'a str,
    pub rule: &'a str,
    pub alert_count: usize,
    pub payload: &'a str,
    pub received_at: i64,
}

pub async fn insert_raw_alerts(
    conn: &mut AnyConnection,
    rows: &[RawInsert<'_>],
) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO raw_alerts (id, source, received_at, received_by, rule, alert_count, payload) \
             VALUES {}",
            values(conn, n, 7)
        )
    };
    let args = |r: &RawInsert<'_>| {
        vec![
            Arg::text(r.id),
            Arg::text(r.source),
            Arg::Int(r.received_at),
            Arg::text(r.received_by),
            Arg::text(r.rule),
            Arg::Int(i64::try_from(r.alert_count).unwrap_or(i64::MAX)),
            Arg::text(r.payload),
        ]
    };
    // Payloads may be large: a statement carries at most `MAX_PAYLOAD_BYTES` of them
    // (PostgreSQL refuses messages over 1 GiB; memory stays bounded too).
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        let mut bytes = rows[start].payload.len();
        while end < rows.len() && bytes + rows[end].payload.len() <= MAX_PAYLOAD_BYTES {
            bytes += rows[end].payload.len();
            end += 1;
        }
        execute_chunked(conn, &rows[start..end], 7, sql, args).await?;
        start = end;
    }
    Ok(())
}

/// Inserts new events. Fails with [`StoreError::Raced`] if another writer opened one of
/// them first, so the caller can redo the batch one alert at a time.
pub async fn insert_events(conn: &mut AnyConnection, rows: &[&NewEvent]) -> StoreResult<()> {
    const COLS: usize = 19;
    for chunk in rows.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO events (id, source, fingerprint, rule, status, severity, summary, \
               description, labels, annotations, ci_candidates, alert_count, first_seen, \
               last_seen, starts_at, ends_at, resolved_at, previous_event_id, last_raw_alert_id) \
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
        Arg::OptInt(s.starts_at.map(crate::domain::to_millis)),
        Arg::OptInt(row.ends_at),
        Arg::OptInt(row.resolved_at),
        Arg::OptText(row.previous_event_id.clone()),
        Arg::text(&row.raw_id),
    ]
}

/// Applies repeats and resolutions to events stored before the batch.
pub async fn update_events(
    conn: &mut AnyConnection,
    changes: &[(&String, &EventChange)],
) -> StoreResult<()> {
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
               last_raw_alert_id = v.column12 \
             FROM (VALUES {}) AS v WHERE events.id = v.column1 AND events.status = 'open'",
            values(conn, n, 12)
        )
    };
    let affected = execute_chunked(conn, changes, 12, sql, |(id, c)| {
        let latest = c.latest.as_ref();
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
        ]
    })
    .await?;
    expect_all(affected, changes.len())
}

pub async fn insert_incidents(conn: &mut AnyConnection, rows: &[&NewIncident]) -> StoreResult<()> {
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

pub async fn update_incidents(
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
/// resolved. Each entry: (incident, auto_resolve, when).
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
             WHERE incidents.id = v.column1 AND incidents.status NOT IN {INCIDENT_TERMINAL}",
            values(conn, n, 3)
        )
    };
    execute_chunked(conn, cleared, 3, sql, |(id, auto, at)| {
        vec![Arg::text(id), Arg::Int(*at), Arg::Int(i64::from(*auto))]
    })
    .await
    .map(|_| ())
}
