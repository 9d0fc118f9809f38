//! API tokens, stored as SHA-256 hashes. A person's token reads role, unit and tier from
//! the person's row, so a change of role applies at once.

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub person: Option<String>,
    pub person_role: Option<String>,
    pub unit: Option<String>,
    pub tier: Option<i64>,
}

impl TokenRow {
    pub fn role(&self) -> &str {
        self.person_role.as_deref().unwrap_or(&self.role)
    }
}

pub struct NewTokenRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// `monitor` or `admin`; `person` for a person's token.
    pub role: &'a str,
    pub person: Option<&'a str>,
    pub token_hash: &'a str,
}

pub async fn insert(pool: &sqlx::AnyPool, t: &NewTokenRow<'_>, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, role, person, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.id)
    .bind(t.name)
    .bind(t.role)
    .bind(t.person)
    .bind(t.token_hash)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The live (not revoked) token with this hash.
pub async fn find_live(pool: &sqlx::AnyPool, token_hash: &str) -> StoreResult<Option<TokenRow>> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.name, t.role, t.person, p.role AS person_role, p.unit, p.tier \
         FROM api_tokens t LEFT JOIN people p ON p.login = t.person \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?)
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: String,
    pub person: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn list(pool: &sqlx::AnyPool, person: Option<&str>) -> StoreResult<Vec<TokenInfo>> {
    // `$1 IS NULL` keeps one statement for both: all tokens, or one person's.
    Ok(sqlx::query_as(
        "SELECT id, name, role, person, created_at, revoked_at FROM api_tokens \
         WHERE ($1 IS NULL OR person = $1) ORDER BY id",
    )
    .bind(person)
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &sqlx::AnyPool, id: &str) -> StoreResult<Option<TokenInfo>> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, person, created_at, revoked_at FROM api_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Revokes a token; false when it was already revoked or does not exist.
pub async fn revoke(pool: &sqlx::AnyPool, id: &str, now: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}
