//! Payloads exactly as received, kept for audit and replay.

use sqlx::AnyConnection;

use super::StoreResult;

pub struct NewRawAlert<'a> {
    pub id: &'a str,
    pub source: &'a str,
    /// Name of the token that sent it.
    pub received_by: &'a str,
    /// The rule that read it.
    pub rule: &'a str,
    pub alert_count: usize,
    pub payload: &'a str,
    pub received_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, raw: &NewRawAlert<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO raw_alerts (id, source, received_at, received_by, rule, alert_count, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(raw.id)
    .bind(raw.source)
    .bind(raw.received_at)
    .bind(raw.received_by)
    .bind(raw.rule)
    .bind(i64::try_from(raw.alert_count).unwrap_or(i64::MAX))
    .bind(raw.payload)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
