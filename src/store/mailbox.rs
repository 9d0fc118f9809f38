//! What the desk mailboxes read: one row per message turned into a ticket or a comment,
//! keyed by unit and message so a message is handled once.

use sqlx::AnyConnection;

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub unit: String,
    pub message_key: String,
    pub ticket_id: String,
    /// `registered` or `commented`.
    pub outcome: String,
    pub from_address: String,
    pub from_name: Option<String>,
    pub subject: String,
    pub received_at: i64,
}

const COLUMNS: &str = "unit, message_key, ticket_id, outcome, from_address, from_name, \
    subject, received_at";

/// The ticket a message of the unit already went to, if it was handled.
pub async fn handled(
    conn: &mut AnyConnection,
    unit: &str,
    message_key: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT ticket_id FROM mailbox_messages WHERE unit = $1 AND message_key = $2",
    )
    .bind(unit)
    .bind(message_key)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Records a handled message; false when another replica recorded it first.
pub async fn record(conn: &mut AnyConnection, m: &MessageRow) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO mailbox_messages (unit, message_key, ticket_id, outcome, from_address, \
           from_name, subject, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (unit, message_key) DO NOTHING",
    )
    .bind(&m.unit)
    .bind(&m.message_key)
    .bind(&m.ticket_id)
    .bind(&m.outcome)
    .bind(&m.from_address)
    .bind(&m.from_name)
    .bind(&m.subject)
    .bind(m.received_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The message that opened the ticket, if a desk mailbox registered it.
pub async fn origin(conn: &mut AnyConnection, ticket_id: &str) -> StoreResult<Option<MessageRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mailbox_messages WHERE ticket_id = $1 AND outcome = 'registered'"
    ))
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?)
}
