//! The CI registry: units, configuration items, their identifiers and dependencies.
//! Every change bumps the `registry` generation in the same transaction, so each
//! replica knows its in-memory copy is out of date.

use std::collections::{BTreeMap, HashMap};

use sqlx::AnyConnection;

use super::batch::{execute_chunked, values};
use super::{Arg, StoreError, StoreResult};
use crate::cmdb::model::{identifier_key, ConfigItem, Dependency, Unit};

pub const REGISTRY: &str = "registry";
pub const SUPPRESSIONS: &str = "suppressions";

/// The current generation of `registry` and `suppressions`.
pub async fn generations(conn: &mut AnyConnection) -> StoreResult<(i64, i64)> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, generation FROM generations")
        .fetch_all(&mut *conn)
        .await?;
    let of = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, generation)| *generation)
    };
    Ok((of(REGISTRY), of(SUPPRESSIONS)))
}

/// Takes the registry's write lock for the rest of the transaction, first thing, so
/// registry writes run one at a time and each reads what the one before committed
/// (PostgreSQL runs READ COMMITTED; SQLite's `BEGIN IMMEDIATE` already serializes).
async fn lock_registry(conn: &mut AnyConnection) -> StoreResult<()> {
    bump(conn, REGISTRY).await
}

/// A write transaction holding the registry lock: what every registry change starts with.
pub async fn begin_registry_write(
    store: &super::Store,
) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
    let mut tx = store.begin_write().await?;
    lock_registry(&mut tx).await?;
    Ok(tx)
}

/// The CIs that depend directly on `id`, as committed.
pub async fn dependants(conn: &mut AnyConnection, id: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT ci_id FROM ci_dependencies WHERE depends_on = $1 ORDER BY ci_id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(ci,)| ci).collect())
}

pub async fn bump(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
    sqlx::query("UPDATE generations SET generation = generation + 1 WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct UnitRow {
    code: String,
    name: String,
    head: Option<String>,
    desk_email: Option<String>,
}

impl From<UnitRow> for Unit {
    fn from(r: UnitRow) -> Unit {
        Unit {
            code: r.code,
            name: r.name,
            head: r.head,
            desk_email: r.desk_email,
        }
    }
}

pub async fn units(conn: &mut AnyConnection) -> StoreResult<Vec<Unit>> {
    let rows: Vec<UnitRow> =
        sqlx::query_as("SELECT code, name, head, desk_email FROM units ORDER BY code")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(Unit::from).collect())
}

pub async fn unit(conn: &mut AnyConnection, code: &str) -> StoreResult<Option<Unit>> {
    let row: Option<UnitRow> =
        sqlx::query_as("SELECT code, name, head, desk_email FROM units WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(Unit::from))
}

/// Inserts or replaces a unit; true if it was new.
pub async fn put_unit(conn: &mut AnyConnection, unit: &Unit, now: i64) -> StoreResult<bool> {
    let existed = self::unit(conn, &unit.code).await?.is_some();
    sqlx::query(
        "INSERT INTO units (code, name, head, desk_email, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, head = excluded.head, \
           desk_email = excluded.desk_email, updated_at = excluded.updated_at",
    )
    .bind(&unit.code)
    .bind(&unit.name)
    .bind(&unit.head)
    .bind(&unit.desk_email)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    bump(conn, REGISTRY).await?;
    Ok(!existed)
}

/// False if there is no such unit. A unit that still owns CIs cannot go.
pub async fn delete_unit(conn: &mut AnyConnection, code: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM units WHERE code = $1")
        .bind(code)
        .execute(&mut *conn)
        .await?;
    bump(conn, REGISTRY).await?;
    Ok(done.rows_affected() > 0)
}

pub async fn cis_of_unit(conn: &mut AnyConnection, code: &str) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM config_items WHERE unit = $1")
        .bind(code)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n)
}

#[derive(sqlx::FromRow)]
struct CiRow {
    id: String,
    name: String,
    kind: String,
    unit: String,
    criticality: String,
    attributes: String,
}

const CI_COLUMNS: &str = "id, name, kind, unit, criticality, attributes";

/// Filters of the CI list; `None` is no filter.
#[derive(Debug, Default)]
pub struct CiFilter {
    pub unit: Option<String>,
    pub kind: Option<String>,
    pub criticality: Option<String>,
    /// Only CIs after this id (the previous page's last id).
    pub after: Option<String>,
    pub limit: i64,
}

/// Every CI, with identifiers and dependencies, ordered by id.
pub async fn all_cis(conn: &mut AnyConnection) -> StoreResult<Vec<ConfigItem>> {
    let rows: Vec<CiRow> = sqlx::query_as(&format!(
        "SELECT {CI_COLUMNS} FROM config_items ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut identifiers = identifiers_by_ci(conn, None).await?;
    let mut dependencies = dependencies_by_ci(conn, None).await?;
    rows.into_iter()
        .map(|row| {
            let ids = identifiers.remove(&row.id).unwrap_or_default();
            let deps = dependencies.remove(&row.id).unwrap_or_default();
            to_ci(row, ids, deps)
        })
        .collect()
}

pub async fn list_cis(conn: &mut AnyConnection, f: &CiFilter) -> StoreResult<Vec<ConfigItem>> {
    let mut filter = super::Filter::default();
    let clauses = [
        ("t.unit = ?", &f.unit),
        ("t.kind = ?", &f.kind),
        ("t.criticality = ?", &f.criticality),
        ("t.id > ?", &f.after),
    ];
    for (clause, value) in clauses {
        if let Some(value) = value {
            filter.push(clause, Arg::text(value));
        }
    }
    let sql = format!(
        "SELECT {CI_COLUMNS} FROM config_items t {} ORDER BY t.id LIMIT {}",
        filter.sql(),
        f.limit.clamp(1, 1000)
    );
    let rows: Vec<CiRow> = filter
        .bind(sqlx::query_as(&sql))
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let ids = identifiers_by_ci(conn, Some(&row.id)).await?;
        let deps = dependencies_by_ci(conn, Some(&row.id)).await?;
        let (ids, deps) = (ids.into_values().next(), deps.into_values().next());
        out.push(to_ci(
            row,
            ids.unwrap_or_default(),
            deps.unwrap_or_default(),
        )?);
    }
    Ok(out)
}

pub async fn ci(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<ConfigItem>> {
    let row: Option<CiRow> = sqlx::query_as(&format!(
        "SELECT {CI_COLUMNS} FROM config_items WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let ids = identifiers_by_ci(conn, Some(id)).await?.remove(id);
    let deps = dependencies_by_ci(conn, Some(id)).await?.remove(id);
    to_ci(row, ids.unwrap_or_default(), deps.unwrap_or_default()).map(Some)
}

fn to_ci(row: CiRow, identifiers: Vec<String>, deps: Vec<Dependency>) -> StoreResult<ConfigItem> {
    Ok(ConfigItem {
        criticality: row
            .criticality
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("CI {}: {e}", row.id)))?,
        attributes: super::json_column(&row.attributes, "attributes")?,
        id: row.id,
        name: row.name,
        kind: row.kind,
        unit: row.unit,
        identifiers,
        depends_on: deps,
    })
}

async fn identifiers_by_ci(
    conn: &mut AnyConnection,
    only: Option<&str>,
) -> StoreResult<HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = match only {
        Some(id) => {
            sqlx::query_as(
                "SELECT ci_id, identifier FROM ci_identifiers WHERE ci_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as("SELECT ci_id, identifier FROM ci_identifiers ORDER BY ci_id, position")
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (ci, identifier) in rows {
        out.entry(ci).or_default().push(identifier);
    }
    Ok(out)
}

async fn dependencies_by_ci(
    conn: &mut AnyConnection,
    only: Option<&str>,
) -> StoreResult<HashMap<String, Vec<Dependency>>> {
    let base = "SELECT ci_id, depends_on, relation FROM ci_dependencies";
    let rows: Vec<(String, String, String)> = match only {
        Some(id) => {
            sqlx::query_as(&format!("{base} WHERE ci_id = $1 ORDER BY position"))
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query_as(&format!("{base} ORDER BY ci_id, position"))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut out: HashMap<String, Vec<Dependency>> = HashMap::new();
    for (ci, target, relation) in rows {
        out.entry(ci).or_default().push(Dependency {
            ci: target,
            relation,
        });
    }
    Ok(out)
}

/// How a write compared with what was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    Unchanged,
}

/// Inserts or replaces CIs (with their identifiers and dependencies), set-based. The
/// caller has validated them against the registry; `existing` is what was stored.
pub async fn put_cis(
    conn: &mut AnyConnection,
    cis: &[&ConfigItem],
    existing: &HashMap<String, ConfigItem>,
    now: i64,
) -> StoreResult<Vec<Written>> {
    let written = compare_cis(cis, existing);
    let changed: Vec<&ConfigItem> = cis
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w != Written::Unchanged)
        .map(|(ci, _)| *ci)
        .collect();
    if changed.is_empty() {
        return Ok(written);
    }
    upsert_rows(conn, &changed, now).await?;
    let ids: Vec<&str> = changed.iter().map(|ci| ci.id.as_str()).collect();
    delete_children(conn, &ids).await?;
    insert_identifiers(conn, &changed).await?;
    insert_dependencies(conn, &changed).await?;
    bump(conn, REGISTRY).await?;
    Ok(written)
}

/// What writing these CIs over `existing` would do to each.
pub fn compare_cis(cis: &[&ConfigItem], existing: &HashMap<String, ConfigItem>) -> Vec<Written> {
    cis.iter()
        .map(|ci| match existing.get(&ci.id) {
            None => Written::Created,
            Some(old) if same_ci(old, ci) => Written::Unchanged,
            Some(_) => Written::Updated,
        })
        .collect()
}

/// Equal as stored: identifiers compare as their keys, attributes as JSON.
fn same_ci(a: &ConfigItem, b: &ConfigItem) -> bool {
    let keys = |ci: &ConfigItem| -> Vec<String> {
        ci.identifiers.iter().map(|i| identifier_key(i)).collect()
    };
    a.name == b.name
        && a.kind == b.kind
        && a.unit == b.unit
        && a.criticality == b.criticality
        && keys(a) == keys(b)
        && a.attributes == b.attributes
        && a.depends_on == b.depends_on
}

async fn upsert_rows(conn: &mut AnyConnection, cis: &[&ConfigItem], now: i64) -> StoreResult<()> {
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO config_items (id, name, kind, unit, criticality, attributes, \
               created_at, updated_at) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
               unit = excluded.unit, criticality = excluded.criticality, \
               attributes = excluded.attributes, updated_at = excluded.updated_at",
            values(conn, n, 8)
        )
    };
    execute_chunked(conn, cis, 8, sql, |ci| {
        vec![
            Arg::text(&ci.id),
            Arg::text(&ci.name),
            Arg::text(&ci.kind),
            Arg::text(&ci.unit),
            Arg::text(ci.criticality.as_str()),
            Arg::Text(super::events::to_json(&ci.attributes)),
            Arg::Int(now),
            Arg::Int(now),
        ]
    })
    .await
    .map(|_| ())
}

async fn delete_children(conn: &mut AnyConnection, ids: &[&str]) -> StoreResult<()> {
    for table in ["ci_identifiers", "ci_dependencies"] {
        let sql = |conn: &AnyConnection, n| {
            format!("DELETE FROM {table} WHERE ci_id IN {}", values(conn, 1, n))
        };
        execute_chunked(conn, ids, 1, sql, |id| vec![Arg::text(id)]).await?;
    }
    Ok(())
}

async fn insert_identifiers(conn: &mut AnyConnection, cis: &[&ConfigItem]) -> StoreResult<()> {
    let rows: Vec<(&str, String, i64)> = cis
        .iter()
        .flat_map(|ci| {
            ci.identifiers
                .iter()
                .enumerate()
                .map(|(i, ident)| (ci.id.as_str(), identifier_key(ident), i as i64))
        })
        .collect();
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO ci_identifiers (ci_id, identifier, position) VALUES {}",
            values(conn, n, 3)
        )
    };
    execute_chunked(conn, &rows, 3, sql, |(ci, ident, pos)| {
        vec![Arg::text(ci), Arg::text(ident), Arg::Int(*pos)]
    })
    .await
    .map(|_| ())
}

async fn insert_dependencies(conn: &mut AnyConnection, cis: &[&ConfigItem]) -> StoreResult<()> {
    let rows: Vec<(&str, &Dependency, i64)> = cis
        .iter()
        .flat_map(|ci| {
            ci.depends_on
                .iter()
                .enumerate()
                .map(|(i, dep)| (ci.id.as_str(), dep, i as i64))
        })
        .collect();
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO ci_dependencies (ci_id, depends_on, relation, position) VALUES {}",
            values(conn, n, 4)
        )
    };
    execute_chunked(conn, &rows, 4, sql, |(ci, dep, pos)| {
        vec![
            Arg::text(ci),
            Arg::text(&dep.ci),
            Arg::text(&dep.relation),
            Arg::Int(*pos),
        ]
    })
    .await
    .map(|_| ())
}

/// Deletes a CI; false if there was none. The caller has checked nothing depends on it.
pub async fn delete_ci(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    delete_children(conn, &[id]).await?;
    let done = sqlx::query("DELETE FROM config_items WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    bump(conn, REGISTRY).await?;
    Ok(done.rows_affected() > 0)
}

/// Every stored CI by id, for comparisons before a write.
pub async fn cis_by_id(conn: &mut AnyConnection) -> StoreResult<HashMap<String, ConfigItem>> {
    Ok(all_cis(conn)
        .await?
        .into_iter()
        .map(|ci| (ci.id.clone(), ci))
        .collect())
}

/// Unit codes by whether they are stored, for imports.
pub async fn unit_codes(conn: &mut AnyConnection) -> StoreResult<BTreeMap<String, Unit>> {
    Ok(units(conn)
        .await?
        .into_iter()
        .map(|u| (u.code.clone(), u))
        .collect())
}
