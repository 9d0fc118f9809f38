//! The chat channel: people's accounts on chat platforms, the messages already handled
//! and the senders refused.

use sqlx::AnyConnection;

use super::people::Contact;
use super::StoreResult;

/// A person's account on a platform.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRow {
    pub platform: String,
    pub external_id: String,
    pub person: String,
    pub linked_by: String,
    pub linked_at: i64,
}

/// The person linked to `external_id` on `platform`, with what the desk needs of them.
pub async fn person_of(
    conn: &mut AnyConnection,
    platform: &str,
    external_id: &str,
) -> StoreResult<Option<Contact>> {
    Ok(sqlx::query_as(
        "SELECT p.login, p.name, p.email, p.unit, p.role, p.tier, p.language, p.available, \
           p.organization \
         FROM chat_identities i JOIN people p ON p.login = i.person \
         WHERE i.platform = $1 AND i.external_id = $2",
    )
    .bind(platform)
    .bind(external_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn identities_of(
    conn: &mut AnyConnection,
    person: &str,
) -> StoreResult<Vec<IdentityRow>> {
    Ok(sqlx::query_as(
        "SELECT platform, external_id, person, linked_by, linked_at FROM chat_identities \
         WHERE person = $1 ORDER BY platform",
    )
    .bind(person)
    .fetch_all(conn)
    .await?)
}

/// Who else holds `external_id` on `platform`, if anyone.
pub async fn holder(
    conn: &mut AnyConnection,
    platform: &str,
    external_id: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT person FROM chat_identities WHERE platform = $1 AND external_id = $2",
    )
    .bind(platform)
    .bind(external_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(person,)| person))
}

/// Links the person's account on the platform, replacing the one linked before.
pub async fn link(conn: &mut AnyConnection, row: &IdentityRow) -> StoreResult<()> {
    sqlx::query("DELETE FROM chat_identities WHERE person = $1 AND platform = $2")
        .bind(&row.person)
        .bind(&row.platform)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO chat_identities (platform, external_id, person, linked_by, linked_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.platform)
    .bind(&row.external_id)
    .bind(&row.person)
    .bind(&row.linked_by)
    .bind(row.linked_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Unlinks the person's account on the platform; false when there was none.
pub async fn unlink(conn: &mut AnyConnection, person: &str, platform: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM chat_identities WHERE person = $1 AND platform = $2")
        .bind(person)
        .bind(platform)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A message already handled, and what it got.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub outcome: String,
    pub ticket_id: Option<String>,
    pub reply: String,
}

pub async fn handled(
    conn: &mut AnyConnection,
    platform: &str,
    key: &str,
) -> StoreResult<Option<MessageRow>> {
    Ok(sqlx::query_as(
        "SELECT outcome, ticket_id, reply FROM chat_messages \
         WHERE platform = $1 AND message_key = $2",
    )
    .bind(platform)
    .bind(key)
    .fetch_optional(conn)
    .await?)
}

/// A message being handled.
pub struct NewMessage<'a> {
    pub platform: &'a str,
    pub key: &'a str,
    pub person: Option<&'a str>,
    pub outcome: &'a str,
    pub ticket_id: Option<&'a str>,
    pub reply: &'a str,
    pub now: i64,
}

/// Records a message as handled; false when it already was (a retry: another
/// transaction recorded it first, and this one waited for it on PostgreSQL).
pub async fn claim(conn: &mut AnyConnection, m: &NewMessage<'_>) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO chat_messages \
           (platform, message_key, person, outcome, ticket_id, reply, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (platform, message_key) DO NOTHING",
    )
    .bind(m.platform)
    .bind(m.key)
    .bind(m.person)
    .bind(m.outcome)
    .bind(m.ticket_id)
    .bind(m.reply)
    .bind(m.now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Completes a claimed message with the ticket it opened and its reply.
pub async fn settle(
    conn: &mut AnyConnection,
    platform: &str,
    key: &str,
    ticket_id: &str,
    reply: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE chat_messages SET ticket_id = $3, reply = $4 \
         WHERE platform = $1 AND message_key = $2",
    )
    .bind(platform)
    .bind(key)
    .bind(ticket_id)
    .bind(reply)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefusalRow {
    pub id: String,
    pub platform: String,
    pub external_id: String,
    pub name: Option<String>,
    pub excerpt: String,
    pub received_at: i64,
}

pub async fn insert_refusal(conn: &mut AnyConnection, r: &RefusalRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chat_refusals (id, platform, external_id, name, excerpt, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.id)
    .bind(&r.platform)
    .bind(&r.external_id)
    .bind(&r.name)
    .bind(&r.excerpt)
    .bind(r.received_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Refusals newest first, older than `before` (an id) when given; `limit` at most.
pub async fn refusals(
    conn: &mut AnyConnection,
    before: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<RefusalRow>> {
    Ok(sqlx::query_as(
        "SELECT id, platform, external_id, name, excerpt, received_at FROM chat_refusals \
         WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
