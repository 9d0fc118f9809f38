//! What the monthly reports read (a unit's tickets attended in a month, their SLA clocks,
//! the tickets linked to its problems, who receives the reports) and the snapshots of the
//! reports sent, each with the SHA-256 of its body.

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use super::{Backend, Store, StoreResult};

/// A read-only transaction in which every read sees the same data, so a report's figures
/// agree with each other and with its annex even while tickets change.
pub async fn snapshot_read(store: &Store) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
    let begin = match store.backend() {
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        // WAL: a read transaction sees the database as of its first read.
        Backend::Sqlite => "BEGIN",
    };
    Ok(store.pool().begin_with(begin).await?)
}

/// A ticket as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportTicket {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub hold_reason: Option<String>,
    pub summary: String,
    /// NULL: opened by monitoring.
    pub channel: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub tier: Option<i64>,
    pub assignee: Option<String>,
    pub opened_at: i64,
    pub acked_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reassignments: i64,
    pub reopens: i64,
    pub problem_id: Option<String>,
    pub cancel_reason: Option<String>,
    pub merged_into: Option<String>,
    pub sla_breached: i64,
}

/// An SLA clock as the report reads it. Durations are business milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportClock {
    pub ticket_id: String,
    /// `acknowledge` or `resolve`.
    pub metric: String,
    pub target_ms: i64,
    pub elapsed_ms: i64,
    pub stopped_at: Option<i64>,
    pub breached_at: Option<i64>,
}

/// The unit's tickets attended in `[start, end)`: opened before the end, and open at
/// some moment of it or resolved or closed in it (see the report's definitions).
pub async fn attended(
    conn: &mut AnyConnection,
    unit: &str,
    start: i64,
    end: i64,
) -> StoreResult<Vec<ReportTicket>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, status, hold_reason, summary, channel, priority, category, tier, \
           assignee, opened_at, acked_at, resolved_at, closed_at, reassignments, reopens, \
           problem_id, cancel_reason, merged_into, sla_breached \
         FROM incidents \
         WHERE unit = $1 AND opened_at < $3 \
           AND (opened_at >= $2 OR (resolved_at IS NULL AND closed_at IS NULL) \
                OR resolved_at >= $2 OR closed_at >= $2) \
         ORDER BY opened_at, id",
    )
    .bind(unit)
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?)
}

/// The clocks of the unit's tickets that the month's SLA figures may count: stopped in
/// `[start, end)`, or breached before `end` and still running then.
pub async fn clocks(
    conn: &mut AnyConnection,
    unit: &str,
    start: i64,
    end: i64,
) -> StoreResult<Vec<ReportClock>> {
    Ok(sqlx::query_as(
        "SELECT c.ticket_id, c.metric, c.target_ms, c.elapsed_ms, c.stopped_at, c.breached_at \
         FROM sla_clocks c JOIN incidents i ON i.id = c.ticket_id \
         WHERE i.unit = $1 \
           AND ((c.stopped_at >= $2 AND c.stopped_at < $3) \
                OR (c.breached_at < $3 AND (c.stopped_at IS NULL OR c.stopped_at >= $3))) \
         ORDER BY c.ticket_id, c.metric",
    )
    .bind(unit)
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?)
}

/// Problems of the unit opened in `[start, end)` → how many tickets are linked to each.
pub async fn linked_to_problems(
    conn: &mut AnyConnection,
    unit: &str,
    start: i64,
    end: i64,
) -> StoreResult<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT problem_id, COUNT(*) FROM incidents \
         WHERE problem_id IN (SELECT id FROM incidents WHERE unit = $1 AND kind = 'problem' \
                                AND opened_at >= $2 AND opened_at < $3) \
         GROUP BY problem_id",
    )
    .bind(unit)
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The unit's name, if the unit exists.
pub async fn unit_name(conn: &mut AnyConnection, unit: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM units WHERE code = $1")
        .bind(unit)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(name,)| name))
}

/// Who receives a report: a unit's head, or an administrator.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reader {
    /// The unit they head (an administrator's own unit).
    pub unit: String,
    pub login: String,
    pub name: String,
    pub email: String,
    pub language: String,
}

/// The head of every unit that names one in the registry, by unit.
pub async fn unit_heads(conn: &mut AnyConnection) -> StoreResult<Vec<Reader>> {
    Ok(sqlx::query_as(
        "SELECT u.code AS unit, p.login, p.name, p.email, p.language \
         FROM units u JOIN people p ON p.login = u.head ORDER BY u.code",
    )
    .fetch_all(conn)
    .await?)
}

/// The desk's administrators (role `admin`), by login.
pub async fn admins(conn: &mut AnyConnection) -> StoreResult<Vec<Reader>> {
    Ok(sqlx::query_as(
        "SELECT unit, login, name, email, language FROM people WHERE role = 'admin' ORDER BY login",
    )
    .fetch_all(conn)
    .await?)
}

/// A report as it was sent (or stored, when there was nothing to send).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Snapshot {
    pub id: String,
    pub unit: String,
    pub month: String,
    pub generated_at: i64,
    /// The report's JSON, exactly as hashed.
    pub body: String,
    /// SHA-256 of `body`, lowercase hex.
    pub hash: String,
    /// When its emails were queued; None when none were (email off, nothing attended).
    pub sent_at: Option<i64>,
    /// JSON array of the addresses written to the outbox.
    pub recipients: Option<String>,
}

const SNAPSHOT: &str =
    "SELECT id, unit, month, generated_at, body, hash, sent_at, recipients FROM report_snapshots";

/// Stores a snapshot unless the unit's month has one: true if this call stored it. Of
/// several replicas that try at once, exactly one gets true.
pub async fn insert_snapshot(conn: &mut AnyConnection, s: &Snapshot) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO report_snapshots (id, unit, month, generated_at, body, hash, sent_at, \
           recipients) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (unit, month) DO NOTHING",
    )
    .bind(&s.id)
    .bind(&s.unit)
    .bind(&s.month)
    .bind(s.generated_at)
    .bind(&s.body)
    .bind(&s.hash)
    .bind(s.sent_at)
    .bind(&s.recipients)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_sent(
    conn: &mut AnyConnection,
    id: &str,
    recipients: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE report_snapshots SET sent_at = $2, recipients = $3 WHERE id = $1")
        .bind(id)
        .bind(now)
        .bind(recipients)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn snapshot_exists(
    conn: &mut AnyConnection,
    unit: &str,
    month: &str,
) -> StoreResult<bool> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM report_snapshots WHERE unit = $1 AND month = $2")
            .bind(unit)
            .bind(month)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// Snapshots, newest month first (then by unit); only one unit's when given.
pub async fn snapshots(conn: &mut AnyConnection, unit: Option<&str>) -> StoreResult<Vec<Snapshot>> {
    Ok(sqlx::query_as(&format!(
        "{SNAPSHOT} WHERE ($1 IS NULL OR unit = $1) ORDER BY month DESC, unit"
    ))
    .bind(unit)
    .fetch_all(conn)
    .await?)
}

pub async fn snapshot(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<Snapshot>> {
    Ok(sqlx::query_as(&format!("{SNAPSHOT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}
