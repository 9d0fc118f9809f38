//! The notification outbox: deliveries written in a ticket change's transaction and
//! sent afterwards by the dispatcher, which claims due rows for a lease so that of
//! several replicas sharing the database only one sends each.

use sqlx::AnyConnection;

use super::{Backend, Store, StoreResult};

/// A delivery to write; it is due at once.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub id: &'a str,
    /// `email` or `webhook`.
    pub channel: &'a str,
    pub topic: &'a str,
    pub ticket_id: Option<&'a str>,
    /// The mailbox (`Name <address>`) or the webhook's URL.
    pub recipient: &'a str,
    pub subject: Option<&'a str>,
    /// The email's text or the webhook's JSON, exactly as it will be sent.
    pub body: &'a str,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: String,
    pub channel: String,
    pub topic: String,
    pub ticket_id: Option<String>,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    /// Tries made before this one.
    pub attempts: i64,
}

pub async fn insert(conn: &mut AnyConnection, row: &NewDelivery<'_>, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (id, channel, topic, ticket_id, recipient, subject, body, \
           created_at, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8)",
    )
    .bind(row.id)
    .bind(row.channel)
    .bind(row.topic)
    .bind(row.ticket_id)
    .bind(row.recipient)
    .bind(row.subject)
    .bind(row.body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` due deliveries of `channels`, oldest first, by moving their next
/// attempt to `lease_until`: should this process die while sending, they become due
/// again then. One statement, so the claim is its own short transaction. PostgreSQL
/// skips rows another replica is claiming at the same moment; SQLite has one writer,
/// so its statements never interleave.
pub async fn claim(
    store: &Store,
    channels: &[&str],
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<Delivery>> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    // $1 is now and the channels follow; the claim adds the lease's end and the limit.
    let channel_list: Vec<String> = (2..channels.len() + 2).map(|i| format!("${i}")).collect();
    let due = format!(
        "sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND channel IN ({})",
        channel_list.join(", ")
    );
    // Most polls find nothing: a read says so without taking SQLite's write lock from
    // the intake writer.
    let probe = format!("SELECT id FROM outbox WHERE {due} LIMIT 1");
    let found = bind_due(sqlx::query_as::<_, (String,)>(&probe), now, channels)
        .fetch_optional(store.pool())
        .await?;
    if found.is_none() {
        return Ok(Vec::new());
    }
    let lock = match store.backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let (lease, limit_at) = (channels.len() + 2, channels.len() + 3);
    let sql = format!(
        "UPDATE outbox SET next_attempt_at = ${lease} \
         WHERE id IN (SELECT id FROM outbox WHERE {due} \
                      ORDER BY next_attempt_at, id LIMIT ${limit_at} {lock}) \
           AND {due} \
         RETURNING id, channel, topic, ticket_id, recipient, subject, body, attempts"
    );
    let mut claimed = bind_due(sqlx::query_as::<_, Delivery>(&sql), now, channels)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(store.pool())
        .await?;
    // RETURNING gives no order; send the oldest first.
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(claimed)
}

fn bind_due<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    now: i64,
    channels: &[&'q str],
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    channels
        .iter()
        .fold(query.bind(now), |query, channel| query.bind(*channel))
}

pub async fn mark_sent(store: &Store, id: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET sent_at = $1, attempts = attempts + 1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Records a failed try; the delivery is due again at `next_attempt_at`.
pub async fn mark_retry(
    store: &Store,
    id: &str,
    error: &str,
    next_attempt_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 \
         WHERE id = $3",
    )
    .bind(error)
    .bind(next_attempt_at)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Records a failed try after which the delivery is given up.
pub async fn mark_failed(store: &Store, id: &str, error: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, failed_at = $2 \
         WHERE id = $3",
    )
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Deliveries neither sent nor given up, claimed ones included.
pub async fn pending(store: &Store) -> StoreResult<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
            .fetch_one(store.pool())
            .await?;
    Ok(n)
}
