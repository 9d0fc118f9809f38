//! Payloads exactly as received, kept for audit and replay.

use sqlx::AnyConnection;

use super::StoreResult;

pub async fn insert(
    conn: &mut AnyConnection,
    id: &str,
    source: &str,
    received_by: &str,
    rule: &str,
    alert_count: usize,
    payload: &str,
    received_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO raw_alerts (id, source, received_at, received_by, rule, alert_count, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(source)
    .bind(received_at)
    .bind(received_by)
    .bind(rule)
    .bind(i64::try_from(alert_count).unwrap_or(i64::MAX))
    .bind(payload)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
