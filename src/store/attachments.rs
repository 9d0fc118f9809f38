//! Files that came with a ticket (by a desk mailbox): kept up to the size limit, listed
//! with `stored = 0` and no content when over it.

use sqlx::AnyConnection;

use super::StoreResult;

#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub id: String,
    pub ticket_id: &'a str,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    /// None when it was over the limit.
    pub content: Option<&'a [u8]>,
    pub sender: &'a str,
    pub added_at: i64,
}

/// An attachment without its content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentInfo {
    pub id: String,
    pub ticket_id: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub stored: i64,
    pub sender: String,
    pub added_at: i64,
}

const INFO: &str = "id, ticket_id, filename, content_type, size_bytes, stored, sender, added_at";

pub async fn insert(conn: &mut AnyConnection, a: &NewAttachment<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ticket_attachments (id, ticket_id, filename, content_type, size_bytes, \
           stored, content, sender, added_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.id)
    .bind(a.ticket_id)
    .bind(a.filename)
    .bind(a.content_type)
    .bind(a.size_bytes)
    .bind(i64::from(a.content.is_some()))
    .bind(a.content.map(<[u8]>::to_vec))
    .bind(a.sender)
    .bind(a.added_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A ticket's attachments, in the order they came.
pub async fn list(conn: &mut AnyConnection, ticket_id: &str) -> StoreResult<Vec<AttachmentInfo>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {INFO} FROM ticket_attachments WHERE ticket_id = $1 ORDER BY added_at, id"
    ))
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

/// One attachment of the ticket with its content (None when it was not kept).
pub async fn content(
    conn: &mut AnyConnection,
    ticket_id: &str,
    id: &str,
) -> StoreResult<Option<(AttachmentInfo, Option<Vec<u8>>)>> {
    let Some(info) = sqlx::query_as::<_, AttachmentInfo>(&format!(
        "SELECT {INFO} FROM ticket_attachments WHERE ticket_id = $1 AND id = $2"
    ))
    .bind(ticket_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let (content,): (Option<Vec<u8>>,) =
        sqlx::query_as("SELECT content FROM ticket_attachments WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?;
    Ok(Some((info, content)))
}
