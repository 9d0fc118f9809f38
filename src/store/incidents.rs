//! Incidents opened from events, and the event↔incident links.

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use super::batch::{execute_chunked, expect_all, values, MAX_PARAMS};
use super::{Arg, ListQuery, StoreResult, INCIDENT_TERMINAL};
use crate::cmdb::graph::Registry;
use crate::domain::{Severity, Signal};
use crate::pipeline::correlate::{ActiveIncident, Reason};
use crate::pipeline::priority::{Level, Priority};

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
    pub ci_id: Option<String>,
    pub unit: Option<String>,
    pub triage: i64,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    pub priority: Option<String>,
    pub merged_into: Option<String>,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "id, source, fingerprint, status, severity, summary, description, \
    opened_at, updated_at, last_seen, event_count, alert_count, alerts_cleared_at, \
    resolved_at, resolution, acked_at, acked_by, ci_id, unit, triage, impact, urgency, \
    priority, merged_into, closed_at";

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
    pub ci_id: Option<String>,
    pub unit: String,
    /// Bound to no CI: the central desk sorts it out.
    pub triage: bool,
    pub rating: Rating,
}

/// Impact × urgency and the priority they give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    pub impact: Level,
    pub urgency: Level,
    pub priority: Priority,
}

/// Changes to an incident stored before the batch.
#[derive(Debug, Clone, Default)]
pub struct IncidentChange {
    pub add_events: i64,
    pub add_alerts: i64,
    pub last_seen: i64,
    /// The highest severity among its alerts, when a joining alert raised it.
    pub severity: Option<String>,
    pub rating: Option<Rating>,
    /// A new occurrence was linked: its alerts are no longer all cleared.
    pub reopened: bool,
}

/// An event's membership of an incident, and why.
#[derive(Debug, Clone)]
pub struct Link {
    pub incident: String,
    pub event: String,
    pub at: i64,
    pub relation: &'static str,
    pub reason: String,
}

impl Link {
    pub fn new(incident: &str, event: &str, at: i64, reason: &Reason) -> Link {
        let relation = match reason {
            Reason::Origin { .. } => "origin",
            Reason::Repeat => "repeat",
            Reason::SameCi { .. } => "same_ci",
            Reason::DependsOn { .. } => "related",
            Reason::Merged { .. } => "merged",
        };
        Link {
            incident: incident.to_owned(),
            event: event.to_owned(),
            at,
            relation,
            reason: Link::reason_json(reason),
        }
    }

    pub fn reason_json(reason: &Reason) -> String {
        super::events::to_json(reason)
    }
}

/// `from` shares the cause of `into`: closed as merged, its alerts linked to `into`.
#[derive(Debug, Clone)]
pub struct Merge {
    pub from: String,
    pub into: String,
    pub at: i64,
    pub reason: String,
}

/// One line of an incident's history.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub id: String,
    pub incident: String,
    pub at: i64,
    pub kind: &'static str,
    pub detail: String,
}

impl LogEntry {
    pub fn new(incident: &str, at: i64, kind: &'static str, detail: serde_json::Value) -> Self {
        LogEntry {
            id: crate::domain::ids::new(crate::domain::ids::LOG),
            incident: incident.to_owned(),
            at,
            kind,
            detail: detail.to_string(),
        }
    }
}

pub async fn insert_new(conn: &mut AnyConnection, rows: &[&NewIncident]) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO incidents (id, source, fingerprint, status, severity, summary, \
               description, opened_at, updated_at, last_seen, event_count, alert_count, \
               ci_id, unit, triage, impact, urgency, priority) \
             VALUES {}",
            values(conn, n, 18)
        )
    };
    execute_chunked(conn, rows, 18, sql, |r| {
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
            Arg::OptText(r.ci_id.clone()),
            Arg::text(&r.unit),
            Arg::Int(i64::from(r.triage)),
            Arg::text(r.rating.impact.as_str()),
            Arg::text(r.rating.urgency.as_str()),
            Arg::text(r.rating.priority.as_str()),
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
               alerts_cleared_at = CASE WHEN v.column6 = 1 THEN NULL \
                 ELSE incidents.alerts_cleared_at END, \
               impact = COALESCE(v.column7, incidents.impact), \
               urgency = COALESCE(v.column8, incidents.urgency), \
               priority = COALESCE(v.column9, incidents.priority) \
             FROM (VALUES {}) AS v \
             WHERE incidents.id = v.column1 AND incidents.status NOT IN {INCIDENT_TERMINAL}",
            values(conn, n, 9)
        )
    };
    let affected = execute_chunked(conn, changes, 9, sql, |(id, c)| {
        let rating = c.rating.as_ref();
        vec![
            Arg::text(id),
            Arg::Int(c.add_events),
            Arg::Int(c.add_alerts),
            Arg::Int(c.last_seen),
            Arg::OptText(c.severity.clone()),
            Arg::Int(i64::from(c.reopened)),
            Arg::OptText(rating.map(|r| r.impact.as_str().to_owned())),
            Arg::OptText(rating.map(|r| r.urgency.as_str().to_owned())),
            Arg::OptText(rating.map(|r| r.priority.as_str().to_owned())),
        ]
    })
    .await?;
    expect_all(affected, changes.len())
}

pub async fn insert_links(conn: &mut AnyConnection, links: &[Link]) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO incident_events (incident_id, event_id, linked_at, relation, reason) \
             VALUES {} ON CONFLICT (incident_id, event_id) DO NOTHING",
            values(conn, n, 5)
        )
    };
    execute_chunked(conn, links, 5, sql, |l| {
        vec![
            Arg::text(&l.incident),
            Arg::text(&l.event),
            Arg::Int(l.at),
            Arg::text(l.relation),
            Arg::text(&l.reason),
        ]
    })
    .await
    .map(|_| ())
}

pub async fn insert_log(conn: &mut AnyConnection, entries: &[LogEntry]) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO incident_log (id, incident_id, at, kind, detail) VALUES {}",
            values(conn, n, 5)
        )
    };
    execute_chunked(conn, entries, 5, sql, |e| {
        vec![
            Arg::text(&e.id),
            Arg::text(&e.incident),
            Arg::Int(e.at),
            Arg::text(e.kind),
            Arg::text(&e.detail),
        ]
    })
    .await
    .map(|_| ())
}

/// Moves each merged incident's alerts to the incident it merged into and closes it,
/// in order, so a chain of merges (a into b, then b into c) ends with c holding all.
pub async fn apply_merges(conn: &mut AnyConnection, merges: &[Merge]) -> StoreResult<()> {
    for merge in merges {
        sqlx::query(
            "INSERT INTO incident_events (incident_id, event_id, linked_at, relation, reason) \
             SELECT $1, event_id, $2, 'merged', $3 FROM incident_events WHERE incident_id = $4 \
             ON CONFLICT (incident_id, event_id) DO NOTHING",
        )
        .bind(&merge.into)
        .bind(merge.at)
        .bind(&merge.reason)
        .bind(&merge.from)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE incidents SET \
               alert_count = incidents.alert_count \
                 + (SELECT m.alert_count FROM incidents m WHERE m.id = $2), \
               event_count = (SELECT COUNT(*) FROM incident_events ie \
                 WHERE ie.incident_id = $1), \
               alerts_cleared_at = NULL, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(&merge.into)
        .bind(&merge.from)
        .bind(merge.at)
        .execute(&mut *conn)
        .await?;
        let closed = sqlx::query(&format!(
            "UPDATE incidents SET status = 'closed', resolution = 'merged', merged_into = $2, \
               closed_at = $3, updated_at = $3 \
             WHERE id = $1 AND status NOT IN {INCIDENT_TERMINAL}"
        ))
        .bind(&merge.from)
        .bind(&merge.into)
        .bind(merge.at)
        .execute(&mut *conn)
        .await?;
        expect_all(closed.rows_affected(), 1)?;
    }
    Ok(())
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

/// Which of these incidents `mark_cleared` resolved just now (resolution `alerts
/// cleared`), with when; one already resolved or closed by a person is not among them.
pub async fn resolved_when_cleared(
    conn: &mut AnyConnection,
    ids: &[&String],
) -> StoreResult<Vec<(String, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = (1..=ids.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT id, resolved_at FROM incidents WHERE id IN ({list}) AND status = 'resolved' \
         AND resolution = 'alerts cleared' AND resolved_at = updated_at"
    );
    let mut query = sqlx::query_as(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

#[derive(sqlx::FromRow)]
struct ActiveRow {
    id: String,
    ci_id: Option<String>,
    opened_at: i64,
    last_seen: i64,
    severity: String,
    impact: Option<String>,
    urgency: Option<String>,
    priority: Option<String>,
    cis: Option<String>,
}

const ACTIVE_COLUMNS: &str =
    "id, ci_id, opened_at, last_seen, severity, impact, urgency, priority, cis";

/// The open incidents correlation may join: those with an alert since `since`, plus
/// `also` (the incidents of the batch's own alerts), with the CIs of their alerts.
/// Tickets people registered (source `desk`) never take alerts: a request about a CI is
/// not the incident monitoring opens on it.
pub async fn active(
    conn: &mut AnyConnection,
    since: Option<i64>,
    also: &[&String],
    registry: &Registry,
) -> StoreResult<Vec<ActiveIncident>> {
    let mut rows: Vec<ActiveRow> = Vec::new();
    if let Some(since) = since {
        let sql = format!(
            "SELECT {ACTIVE_COLUMNS} FROM incidents \
             WHERE status NOT IN {INCIDENT_TERMINAL} AND last_seen >= $1 \
               AND ci_id IS NOT NULL AND source <> 'desk'"
        );
        rows = sqlx::query_as(&sql)
            .bind(since)
            .fetch_all(&mut *conn)
            .await?;
    }
    let loaded: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let missing: Vec<&String> = also
        .iter()
        .copied()
        .filter(|id| !loaded.contains(id.as_str()))
        .collect();
    for chunk in missing.chunks(MAX_PARAMS) {
        let sql = format!(
            "SELECT {ACTIVE_COLUMNS} FROM incidents \
             WHERE status NOT IN {INCIDENT_TERMINAL} AND id IN {}",
            values(conn, 1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, ActiveRow>(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows
        .into_iter()
        .map(|row| to_active(row, registry))
        .collect())
}

/// Stores the CIs of incidents whose CIs changed.
pub async fn set_members(
    conn: &mut AnyConnection,
    members: &[(String, Vec<String>)],
) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "UPDATE incidents SET cis = v.column2 FROM (VALUES {}) AS v \
             WHERE incidents.id = v.column1",
            values(conn, n, 2)
        )
    };
    execute_chunked(conn, members, 2, sql, |(id, cis)| {
        vec![Arg::text(id), Arg::Text(super::events::to_json(cis))]
    })
    .await
    .map(|_| ())
}

fn to_active(row: ActiveRow, registry: &Registry) -> ActiveIncident {
    let root = row.ci_id.as_deref().and_then(|ci| registry.find(ci));
    let cis: Vec<String> = row
        .cis
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut nodes: Vec<_> = cis
        .iter()
        .filter_map(|ci| registry.find(ci))
        .chain(root)
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let severity = row.severity.parse().unwrap_or(Severity::Warning);
    ActiveIncident {
        root,
        members: nodes,
        opened_at: row.opened_at,
        last_seen: row.last_seen,
        severity,
        impact: row
            .impact
            .as_deref()
            .and_then(Level::parse)
            .unwrap_or(Level::Medium),
        urgency: row
            .urgency
            .as_deref()
            .and_then(Level::parse)
            .unwrap_or(Level::Medium),
        priority: row
            .priority
            .as_deref()
            .and_then(Priority::parse)
            .unwrap_or(Priority::P3),
        id: row.id,
    }
}

/// Why each event of the incident is linked to it: (event, relation, reason JSON).
pub async fn links(
    pool: &sqlx::AnyPool,
    incident: &str,
) -> StoreResult<Vec<(String, String, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT event_id, relation, reason FROM incident_events WHERE incident_id = $1",
    )
    .bind(incident)
    .fetch_all(pool)
    .await?)
}

/// The incidents merged into this one.
pub async fn merged_into(pool: &sqlx::AnyPool, incident: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM incidents WHERE merged_into = $1 ORDER BY id")
            .bind(incident)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The incident's history, oldest first: (at, kind, detail JSON).
pub async fn history(
    pool: &sqlx::AnyPool,
    incident: &str,
) -> StoreResult<Vec<(i64, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT at, kind, detail FROM incident_log WHERE incident_id = $1 ORDER BY id",
    )
    .bind(incident)
    .fetch_all(pool)
    .await?)
}
