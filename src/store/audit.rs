//! The audit chain: append-only records of every ticket change, each carrying the hash
//! of the record before it. Appends lock the chain's head row, so records chain in one
//! order even with several writers and replicas.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::StoreResult;

/// A change to record. `detail` is JSON (what else the change carried).
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub ticket_id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

/// A record as stored, with its place in the chain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRecord {
    pub seq: i64,
    pub ticket_id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredRecord {
    /// The hash this record's content and its predecessor's hash give.
    pub fn computed_hash(&self) -> String {
        let fields = serde_json::json!([
            self.seq,
            self.ticket_id,
            self.at,
            self.actor,
            self.action,
            self.from_state,
            self.to_state,
            self.comment,
            self.request_id,
            self.detail,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(fields.to_string().as_bytes()))
    }
}

const COLUMNS: &str = "seq, ticket_id, at, actor, action, from_state, to_state, comment, \
    request_id, detail, prev_hash, hash";

/// Appends records in order, in the caller's transaction.
pub async fn append(conn: &mut AnyConnection, records: &[AuditRecord]) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(records.len()).unwrap_or(i64::MAX);
    // Writing the head first takes its lock (a row lock on PostgreSQL, the write lock on
    // SQLite) before reading where the chain ends.
    let (last, mut prev): (i64, String) = sqlx::query_as(
        "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq - $1, hash",
    )
    .bind(count)
    .fetch_one(&mut *conn)
    .await?;
    let sql = format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    for (seq, r) in (last + 1..).zip(records) {
        let mut stored = StoredRecord {
            seq,
            ticket_id: r.ticket_id.clone(),
            at: r.at,
            actor: r.actor.clone(),
            action: r.action.clone(),
            from_state: r.from_state.clone(),
            to_state: r.to_state.clone(),
            comment: r.comment.clone(),
            request_id: r.request_id.clone(),
            detail: r.detail.to_string(),
            prev_hash: prev,
            hash: String::new(),
        };
        stored.hash = stored.computed_hash();
        prev = stored.hash.clone();
        sqlx::query(&sql)
            .bind(stored.seq)
            .bind(stored.ticket_id)
            .bind(stored.at)
            .bind(stored.actor)
            .bind(stored.action)
            .bind(stored.from_state)
            .bind(stored.to_state)
            .bind(stored.comment)
            .bind(stored.request_id)
            .bind(stored.detail)
            .bind(stored.prev_hash)
            .bind(stored.hash)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One ticket's records, oldest first.
pub async fn for_ticket(pool: &sqlx::AnyPool, ticket: &str) -> StoreResult<Vec<StoredRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE ticket_id = $1 ORDER BY seq");
    Ok(sqlx::query_as(&sql).bind(ticket).fetch_all(pool).await?)
}

/// Up to `limit` records after `after`, in chain order.
pub async fn page(pool: &sqlx::AnyPool, after: i64, limit: i64) -> StoreResult<Vec<StoredRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    Ok(sqlx::query_as(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Where the chain's head says it ends: (last seq, last hash).
pub async fn head(pool: &sqlx::AnyPool) -> StoreResult<(i64, String)> {
    Ok(
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await?,
    )
}
