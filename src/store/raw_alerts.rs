//! Payloads exactly as received, kept for audit and replay.

use sqlx::AnyConnection;

use super::batch::{execute_chunked, values, MAX_PAYLOAD_BYTES};
use super::{Arg, StoreResult};

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

pub async fn insert(conn: &mut AnyConnection, rows: &[RawInsert<'_>]) -> StoreResult<()> {
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
