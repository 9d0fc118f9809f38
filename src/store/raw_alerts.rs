//! Payloads exactly as received, kept for audit and replay.

use std::collections::HashSet;

use sqlx::AnyConnection;

use super::batch::{execute_chunked, values, MAX_PARAMS, MAX_PAYLOAD_BYTES};
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
    /// The message it came from, for channels that may deliver it twice (Kafka).
    pub delivery_id: Option<&'a str>,
}

pub async fn insert(conn: &mut AnyConnection, rows: &[RawInsert<'_>]) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO raw_alerts (id, source, received_at, received_by, rule, alert_count, payload, delivery_id) \
             VALUES {}",
            values(conn, n, 8)
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
            Arg::OptText(r.delivery_id.map(str::to_owned)),
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
        execute_chunked(conn, &rows[start..end], 8, sql, args).await?;
        start = end;
    }
    Ok(())
}

/// Which of `ids` are already recorded with a stored payload.
pub async fn delivered(conn: &mut AnyConnection, ids: &[&str]) -> StoreResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT delivery_id FROM raw_alerts WHERE delivery_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        found.extend(
            query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id),
        );
    }
    Ok(found)
}
