//! Set-based statements for the group-commit writer: each reads or writes many rows at
//! once (multi-row `VALUES`), so a batch costs a handful of round trips to the database
//! whatever its size. Both stores accept this SQL (`UPDATE … FROM`, CTEs with `VALUES`).
//! The writes themselves live with their aggregate (`events`, `incidents`, `raw_alerts`);
//! this module holds what they share and the read of a batch's stored state.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::{Arg, StoreError, StoreResult, INCIDENT_TERMINAL};
use crate::domain::from_millis;
use crate::pipeline::dedup::LatestEvent;
use crate::pipeline::noise::Marks;

/// (source, fingerprint): the identity of an alert.
pub type Key = (String, String);

/// Bound parameters per statement, under SQLite's limit (32766) and PostgreSQL's (65535).
pub(crate) const MAX_PARAMS: usize = 32_000;

/// Payload bytes per raw-alert insert statement.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` columns on PostgreSQL; `(?, ?), (?, ?)`
/// on SQLite, whose parser looks every `$n` name up in a list (quadratic in the number of
/// parameters: 100 ms for a 5 000-parameter insert) while anonymous `?` cost nothing.
pub(crate) fn values(conn: &AnyConnection, rows: usize, cols: usize) -> String {
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
pub(crate) async fn execute_chunked<T>(
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
pub(crate) fn expect_all(affected: u64, planned: usize) -> StoreResult<()> {
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
    marks: Option<String>,
    resolved_by: Option<String>,
    incident_id: Option<String>,
    open_incident: Option<String>,
}

/// What is stored for each key, in one round trip: its newest event (with the incident
/// that event belongs to) and its open incident.
pub async fn known_state(conn: &mut AnyConnection, keys: &[Key]) -> StoreResult<KnownKeys> {
    let mut latest = HashMap::with_capacity(keys.len());
    let mut open_incidents = HashMap::new();
    let mut marks = HashMap::new();
    for chunk in keys.chunks(MAX_PARAMS / 2) {
        let sql = format!(
            "WITH k (src, fp) AS (VALUES {}) \
             SELECT k.src AS source, k.fp AS fingerprint, t.id, t.status, t.starts_at, \
               t.ends_at, t.marks, t.resolved_by, \
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
            // The alert's own open incident, else the open one its latest event is in
            // (it joined another's by correlation, or its own was merged into one).
            if let Some(incident) = row.open_incident.or_else(|| row.incident_id.clone()) {
                open_incidents.insert(key.clone(), incident);
            }
            if let Some(stored) = row
                .marks
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
            {
                marks.insert(key.clone(), stored);
            }
            if let (Some(id), Some(status)) = (row.id, row.status) {
                let event = LatestEvent {
                    open: status == "open",
                    id,
                    starts_at: row.starts_at.map(from_millis),
                    ends_at: row.ends_at.map(from_millis),
                    incident_id: row.incident_id,
                    timed_out: row.resolved_by.as_deref() == Some("timeout"),
                };
                latest.insert(key, event);
            }
        }
    }
    Ok(KnownKeys {
        latest,
        open_incidents,
        marks,
    })
}

/// What the store holds for a batch's alert identities.
#[derive(Debug, Default)]
pub struct KnownKeys {
    pub latest: HashMap<Key, LatestEvent>,
    pub open_incidents: HashMap<Key, String>,
    pub marks: HashMap<Key, Marks>,
}
