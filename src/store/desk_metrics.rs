//! What the desk's metrics are read from (see `sla::metrics`): a handful of grouped
//! counts over `incidents` and `sla_clocks`, each one scan, whatever the number of
//! tickets. Labels come back as text, `''` where the column is NULL.

use sqlx::AnyPool;

use super::{StoreResult, INCIDENT_TERMINAL};

/// Tickets sharing every label the ticket metrics use.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketGroup {
    pub unit: String,
    pub kind: String,
    pub priority: String,
    pub tier: Option<i64>,
    pub status: String,
    pub hold_reason: String,
    /// 1 when the ticket's current resolution is recorded (`resolved_at`): resolved, or
    /// closed after a resolution. A reopen clears it.
    pub resolved: i64,
    /// For open tickets, how long ago they were registered: `lt_1d`, `1d_3d`, `3d_7d`,
    /// `gt_7d`; `''` for the others.
    pub age: String,
    pub tickets: i64,
}

/// Stopped clocks of one metric whose business time falls in one histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoppedClocks {
    pub unit: String,
    pub kind: String,
    pub priority: String,
    /// `acknowledge` or `resolve`.
    pub metric: String,
    /// Index of the first bound the elapsed time does not exceed; the number of bounds
    /// when it exceeds them all.
    pub bucket: i64,
    pub clocks: i64,
    pub elapsed_ms: i64,
}

/// Clocks counted per ticket labels and metric (breaches).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClockCount {
    pub unit: String,
    pub kind: String,
    pub priority: String,
    pub metric: String,
    pub clocks: i64,
}

/// Tickets counted per ticket labels.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketCount {
    pub unit: String,
    pub kind: String,
    pub priority: String,
    pub tickets: i64,
}

/// Resolve clocks stopped in the compliance window, and how many met their target.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Compliance {
    pub unit: String,
    pub kind: String,
    pub priority: String,
    pub clocks: i64,
    pub met: i64,
}

/// The labels of the ticket a clock belongs to.
const CLOCK_LABELS: &str = "COALESCE(i.unit, '') AS unit, i.kind AS kind, \
    COALESCE(i.priority, '') AS priority";

/// Every ticket, grouped. `opened_after` holds the registration times that end the
/// first three age buckets, newest first (now − 1 day, now − 3 days, now − 7 days).
pub async fn ticket_groups(
    pool: &AnyPool,
    opened_after: [i64; 3],
) -> StoreResult<Vec<TicketGroup>> {
    let sql = format!(
        "SELECT COALESCE(unit, '') AS unit, kind, COALESCE(priority, '') AS priority, tier, \
           status, COALESCE(hold_reason, '') AS hold_reason, \
           CAST(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END AS BIGINT) AS resolved, \
           CASE WHEN status IN {INCIDENT_TERMINAL} THEN '' \
                WHEN opened_at > $1 THEN 'lt_1d' \
                WHEN opened_at > $2 THEN '1d_3d' \
                WHEN opened_at > $3 THEN '3d_7d' \
                ELSE 'gt_7d' END AS age, \
           COUNT(*) AS tickets \
         FROM incidents GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    );
    let mut query = sqlx::query_as(&sql);
    for cutoff in opened_after {
        query = query.bind(cutoff);
    }
    Ok(query.fetch_all(pool).await?)
}

/// Stopped clocks by ticket labels, metric and bucket; `bounds_ms` are the buckets'
/// inclusive upper bounds in business milliseconds, ascending.
pub async fn stopped_clocks(pool: &AnyPool, bounds_ms: &[i64]) -> StoreResult<Vec<StoppedClocks>> {
    let sql = format!(
        "SELECT {CLOCK_LABELS}, c.metric AS metric, {} AS bucket, COUNT(*) AS clocks, \
           CAST(SUM(c.elapsed_ms) AS BIGINT) AS elapsed_ms \
         FROM sla_clocks c JOIN incidents i ON i.id = c.ticket_id \
         WHERE c.stopped_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5",
        bucket_case("c.elapsed_ms", bounds_ms.len())
    );
    let mut query = sqlx::query_as(&sql);
    for bound in bounds_ms {
        query = query.bind(*bound);
    }
    Ok(query.fetch_all(pool).await?)
}

/// `CASE WHEN column <= $1 THEN 0 WHEN column <= $2 THEN 1 … ELSE n END`.
fn bucket_case(column: &str, bounds: usize) -> String {
    let whens: String = (0..bounds)
        .map(|i| format!("WHEN {column} <= ${} THEN {i} ", i + 1))
        .collect();
    format!("CAST(CASE {whens}ELSE {bounds} END AS BIGINT)")
}

/// Clocks that breached, running or stopped, by ticket labels and metric.
pub async fn breached_clocks(pool: &AnyPool) -> StoreResult<Vec<ClockCount>> {
    let sql = format!(
        "SELECT {CLOCK_LABELS}, c.metric AS metric, COUNT(*) AS clocks \
         FROM sla_clocks c JOIN incidents i ON i.id = c.ticket_id \
         WHERE c.breached_at IS NOT NULL GROUP BY 1, 2, 3, 4"
    );
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}

/// Open tickets with a running clock past a warning and not breached.
pub async fn tickets_at_risk(pool: &AnyPool) -> StoreResult<Vec<TicketCount>> {
    let sql = format!(
        "SELECT {CLOCK_LABELS}, COUNT(DISTINCT c.ticket_id) AS tickets \
         FROM sla_clocks c JOIN incidents i ON i.id = c.ticket_id \
         WHERE c.running = 1 AND c.warned >= 1 AND c.breached_at IS NULL \
           AND i.status NOT IN {INCIDENT_TERMINAL} \
         GROUP BY 1, 2, 3"
    );
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}

/// Resolve clocks stopped at or after `since`; met: within target and never breached.
pub async fn compliance(pool: &AnyPool, since: i64) -> StoreResult<Vec<Compliance>> {
    let sql = format!(
        "SELECT {CLOCK_LABELS}, COUNT(*) AS clocks, \
           CAST(SUM(CASE WHEN c.elapsed_ms <= c.target_ms AND c.breached_at IS NULL \
                    THEN 1 ELSE 0 END) AS BIGINT) AS met \
         FROM sla_clocks c JOIN incidents i ON i.id = c.ticket_id \
         WHERE c.metric = 'resolve' AND c.stopped_at >= $1 GROUP BY 1, 2, 3"
    );
    Ok(sqlx::query_as(&sql).bind(since).fetch_all(pool).await?)
}
