//! Maintenance windows and silences. Every change bumps the `suppressions` generation in
//! the same transaction. A window or silence that is over (ended, expired or canceled) is
//! marked `replayed` once the events it held have been evaluated again.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::cmdb::{bump, SUPPRESSIONS};
use super::{json_column, StoreResult};
use crate::pipeline::noise::{Maintenance, Matcher, MatcherSpec, Silence, Suppressions};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaintenanceRow {
    pub id: String,
    pub ci_id: String,
    pub include_dependants: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
    pub author: String,
    pub created_at: i64,
    pub canceled_at: Option<i64>,
    pub replayed_at: Option<i64>,
}

const MAINTENANCE_COLUMNS: &str = "id, ci_id, include_dependants, starts_at, ends_at, reason, \
    author, created_at, canceled_at, replayed_at";

impl MaintenanceRow {
    /// When it stops holding alerts: its end, or its cancellation if earlier.
    pub fn effective_end(&self) -> i64 {
        self.canceled_at
            .map_or(self.ends_at, |c| c.min(self.ends_at))
    }
}

pub async fn insert_maintenance(conn: &mut AnyConnection, w: &MaintenanceRow) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO maintenance_windows ({MAINTENANCE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&w.id)
    .bind(&w.ci_id)
    .bind(w.include_dependants)
    .bind(w.starts_at)
    .bind(w.ends_at)
    .bind(&w.reason)
    .bind(&w.author)
    .bind(w.created_at)
    .bind(w.canceled_at)
    .bind(w.replayed_at)
    .execute(&mut *conn)
    .await?;
    bump(conn, SUPPRESSIONS).await
}

pub async fn maintenance(
    conn: &mut AnyConnection,
    id: &str,
) -> StoreResult<Option<MaintenanceRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// ` LIMIT n`, or nothing: the pipeline needs every window and silence in force, an
/// API listing only a page.
fn limit_clause(limit: Option<i64>) -> String {
    limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
}

/// Windows newest first; `current_at`: only those not over at that time.
pub async fn list_maintenance(
    conn: &mut AnyConnection,
    current_at: Option<i64>,
    ci: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Vec<MaintenanceRow>> {
    let mut filter = super::Filter::default();
    if let Some(now) = current_at {
        filter.push(
            "t.ends_at > ? AND t.canceled_at IS NULL",
            super::Arg::Int(now),
        );
    }
    if let Some(ci) = ci {
        filter.push("t.ci_id = ?", super::Arg::text(ci));
    }
    let sql = format!(
        "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows t {} ORDER BY t.id DESC{}",
        filter.sql(),
        limit_clause(limit)
    );
    Ok(filter
        .bind(sqlx::query_as(&sql))
        .fetch_all(&mut *conn)
        .await?)
}

/// The two kinds of suppression, which end and replay alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Maintenance,
    Silence,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Maintenance => "maintenance_windows",
            Kind::Silence => "silences",
        }
    }

    /// The prefix of `held_by` for what this kind holds.
    fn tag(self) -> &'static str {
        match self {
            Kind::Maintenance => "maintenance",
            Kind::Silence => "silence",
        }
    }
}

/// Ends a window or expires a silence now; false if it was already over.
pub async fn end_now(
    conn: &mut AnyConnection,
    kind: Kind,
    id: &str,
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET canceled_at = $2 WHERE id = $1 AND canceled_at IS NULL AND ends_at > $2",
        kind.table()
    ))
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    bump(conn, SUPPRESSIONS).await?;
    Ok(done.rows_affected() > 0)
}

/// A silence as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SilenceRow {
    pub id: String,
    pub matchers: Vec<MatcherSpec>,
    pub comment: String,
    pub author: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_at: i64,
    pub canceled_at: Option<i64>,
    pub replayed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SilenceDbRow {
    id: String,
    matchers: String,
    comment: String,
    author: String,
    starts_at: i64,
    ends_at: i64,
    created_at: i64,
    canceled_at: Option<i64>,
    replayed_at: Option<i64>,
}

const SILENCE_COLUMNS: &str =
    "id, matchers, comment, author, starts_at, ends_at, created_at, canceled_at, replayed_at";

impl SilenceDbRow {
    fn into_row(self) -> StoreResult<SilenceRow> {
        Ok(SilenceRow {
            matchers: json_column(&self.matchers, "matchers")?,
            id: self.id,
            comment: self.comment,
            author: self.author,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            created_at: self.created_at,
            canceled_at: self.canceled_at,
            replayed_at: self.replayed_at,
        })
    }
}

impl SilenceRow {
    pub fn effective_end(&self) -> i64 {
        self.canceled_at
            .map_or(self.ends_at, |c| c.min(self.ends_at))
    }
}

pub async fn insert_silence(conn: &mut AnyConnection, s: &SilenceRow) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO silences ({SILENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&s.id)
    .bind(super::events::to_json(&s.matchers))
    .bind(&s.comment)
    .bind(&s.author)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.created_at)
    .bind(s.canceled_at)
    .bind(s.replayed_at)
    .execute(&mut *conn)
    .await?;
    bump(conn, SUPPRESSIONS).await
}

pub async fn silence(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<SilenceRow>> {
    let row: Option<SilenceDbRow> = sqlx::query_as(&format!(
        "SELECT {SILENCE_COLUMNS} FROM silences WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(SilenceDbRow::into_row).transpose()
}

pub async fn list_silences(
    conn: &mut AnyConnection,
    current_at: Option<i64>,
    limit: Option<i64>,
) -> StoreResult<Vec<SilenceRow>> {
    let limit = limit_clause(limit);
    let rows: Vec<SilenceDbRow> = match current_at {
        Some(now) => {
            sqlx::query_as(&format!(
                "SELECT {SILENCE_COLUMNS} FROM silences \
                 WHERE ends_at > $1 AND canceled_at IS NULL ORDER BY id DESC{limit}"
            ))
            .bind(now)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {SILENCE_COLUMNS} FROM silences ORDER BY id DESC{limit}"
            ))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.into_iter().map(SilenceDbRow::into_row).collect()
}

/// The windows and silences not over at `now`, compiled for the pipeline.
pub async fn load(
    conn: &mut AnyConnection,
    generation: i64,
    now: i64,
) -> StoreResult<Suppressions> {
    let maintenance = list_maintenance(conn, Some(now), None, None)
        .await?
        .into_iter()
        .map(|w| Maintenance {
            id: w.id,
            ci: w.ci_id,
            include_dependants: w.include_dependants != 0,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
        })
        .collect();
    let mut silences = Vec::new();
    for row in list_silences(conn, Some(now), None).await? {
        let matchers = row
            .matchers
            .iter()
            .map(Matcher::compile)
            .collect::<Result<Vec<_>, _>>()
            .map_err(super::StoreError::Corrupt)?;
        silences.push(Silence {
            id: row.id,
            matchers,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
        });
    }
    Ok(Suppressions {
        generation,
        maintenance,
        silences,
    })
}

/// Windows and silences over by `now` whose held events were not evaluated again yet:
/// their `held_by` tags.
pub async fn over_not_replayed(conn: &mut AnyConnection, now: i64) -> StoreResult<Vec<String>> {
    let mut tags = Vec::new();
    for kind in [Kind::Maintenance, Kind::Silence] {
        let ids: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT id FROM {} WHERE replayed_at IS NULL \
             AND (ends_at <= $1 OR canceled_at IS NOT NULL) ORDER BY id",
            kind.table()
        ))
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        tags.extend(ids.into_iter().map(|(id,)| format!("{}:{id}", kind.tag())));
    }
    Ok(tags)
}

pub async fn mark_replayed(conn: &mut AnyConnection, tag: &str, now: i64) -> StoreResult<()> {
    let found = tag.split_once(':').and_then(|(prefix, id)| {
        [Kind::Maintenance, Kind::Silence]
            .into_iter()
            .find(|k| k.tag() == prefix)
            .map(|k| (k, id))
    });
    let Some((kind, id)) = found else {
        return Ok(());
    };
    sqlx::query(&format!(
        "UPDATE {} SET replayed_at = $2 WHERE id = $1 AND replayed_at IS NULL",
        kind.table()
    ))
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
