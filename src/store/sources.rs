//! Sources: one per rule file, registered when the rules are loaded.

use super::StoreResult;

pub async fn register(
    pool: &sqlx::AnyPool,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sources (name, description, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET description = excluded.description",
    )
    .bind(name)
    .bind(description)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
