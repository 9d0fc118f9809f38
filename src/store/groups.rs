//! Tier-3 groups formed by unit heads.

use sqlx::AnyConnection;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub unit: String,
    pub name: String,
    pub created_by: String,
    pub created_at: i64,
}

pub async fn create(conn: &mut AnyConnection, g: &GroupRow, members: &[String]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO desk_groups (id, unit, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&g.id)
    .bind(&g.unit)
    .bind(&g.name)
    .bind(&g.created_by)
    .bind(g.created_at)
    .execute(&mut *conn)
    .await?;
    for login in members {
        sqlx::query("INSERT INTO desk_group_members (group_id, login) VALUES ($1, $2)")
            .bind(&g.id)
            .bind(login)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<GroupRow>> {
    Ok(sqlx::query_as(
        "SELECT id, unit, name, created_by, created_at FROM desk_groups WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn list(conn: &mut AnyConnection, unit: Option<&str>) -> StoreResult<Vec<GroupRow>> {
    Ok(sqlx::query_as(
        "SELECT id, unit, name, created_by, created_at FROM desk_groups \
         WHERE ($1 IS NULL OR unit = $1) ORDER BY id",
    )
    .bind(unit)
    .fetch_all(conn)
    .await?)
}

pub async fn members(conn: &mut AnyConnection, group: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT login FROM desk_group_members WHERE group_id = $1 ORDER BY login")
            .bind(group)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(l,)| l).collect())
}
