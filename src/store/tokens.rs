//! API tokens, stored as SHA-256 hashes.

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
}

pub async fn insert(
    pool: &sqlx::AnyPool,
    id: &str,
    name: &str,
    role: &str,
    token_hash: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(name)
    .bind(role)
    .bind(token_hash)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The live (not revoked) token with this hash.
pub async fn find_live(pool: &sqlx::AnyPool, token_hash: &str) -> StoreResult<Option<TokenRow>> {
    Ok(sqlx::query_as(
        "SELECT name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?)
}
