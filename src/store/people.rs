//! The people of the desk, written by registry imports.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::batch::{execute_chunked, values};
use super::cmdb::Written;
use super::{Arg, StoreResult};
use crate::cmdb::model::Person;

#[derive(sqlx::FromRow)]
struct PersonRow {
    login: String,
    name: String,
    email: String,
    unit: String,
    role: String,
    tier: Option<i64>,
}

impl From<PersonRow> for Person {
    fn from(r: PersonRow) -> Person {
        Person {
            login: r.login,
            name: r.name,
            email: r.email,
            unit: r.unit,
            role: r.role,
            tier: r.tier.and_then(|t| u8::try_from(t).ok()),
        }
    }
}

/// People by login, of one unit or of all, ordered by login.
pub async fn list(conn: &mut AnyConnection, unit: Option<&str>) -> StoreResult<Vec<Person>> {
    let base = "SELECT login, name, email, unit, role, tier FROM people";
    let rows: Vec<PersonRow> = match unit {
        Some(unit) => {
            sqlx::query_as(&format!("{base} WHERE unit = $1 ORDER BY login"))
                .bind(unit)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query_as(&format!("{base} ORDER BY login"))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    Ok(rows.into_iter().map(Person::from).collect())
}

pub async fn by_login(conn: &mut AnyConnection) -> StoreResult<HashMap<String, Person>> {
    Ok(list(conn, None)
        .await?
        .into_iter()
        .map(|p| (p.login.clone(), p))
        .collect())
}

/// What writing these people over `existing` would do to each.
pub fn compare(people: &[&Person], existing: &HashMap<String, Person>) -> Vec<Written> {
    people
        .iter()
        .map(|p| match existing.get(&p.login) {
            None => Written::Created,
            Some(old) if old == *p => Written::Unchanged,
            Some(_) => Written::Updated,
        })
        .collect()
}

/// Inserts or replaces the people that changed.
pub async fn put(
    conn: &mut AnyConnection,
    people: &[&Person],
    existing: &HashMap<String, Person>,
    now: i64,
) -> StoreResult<Vec<Written>> {
    let written = compare(people, existing);
    let changed: Vec<&Person> = people
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w != Written::Unchanged)
        .map(|(p, _)| *p)
        .collect();
    let sql = |conn: &AnyConnection, n| {
        format!(
            "INSERT INTO people (login, name, email, unit, role, tier, created_at, updated_at) \
             VALUES {} ON CONFLICT (login) DO UPDATE SET name = excluded.name, \
               email = excluded.email, unit = excluded.unit, role = excluded.role, \
               tier = excluded.tier, updated_at = excluded.updated_at",
            values(conn, n, 8)
        )
    };
    execute_chunked(conn, &changed, 8, sql, |p| {
        vec![
            Arg::text(&p.login),
            Arg::text(&p.name),
            Arg::text(&p.email),
            Arg::text(&p.unit),
            Arg::text(&p.role),
            Arg::OptInt(p.tier.map(i64::from)),
            Arg::Int(now),
            Arg::Int(now),
        ]
    })
    .await?;
    Ok(written)
}

/// What the desk needs of a person: how to reach them, in which language, and whether
/// they take work now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Contact {
    pub login: String,
    pub name: String,
    pub email: String,
    pub unit: String,
    pub role: String,
    pub tier: Option<i64>,
    pub language: String,
    pub available: i64,
    pub organization: Option<String>,
}

const CONTACT: &str =
    "SELECT login, name, email, unit, role, tier, language, available, organization FROM people";

pub async fn contact(conn: &mut AnyConnection, login: &str) -> StoreResult<Option<Contact>> {
    Ok(sqlx::query_as(&format!("{CONTACT} WHERE login = $1"))
        .bind(login)
        .fetch_optional(conn)
        .await?)
}

/// The person with this email address (compared without case), if the registry has one.
pub async fn by_email(conn: &mut AnyConnection, email: &str) -> StoreResult<Option<Contact>> {
    Ok(sqlx::query_as(&format!(
        "{CONTACT} WHERE LOWER(email) = LOWER($1) ORDER BY login LIMIT 1"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

pub async fn contacts(conn: &mut AnyConnection, unit: Option<&str>) -> StoreResult<Vec<Contact>> {
    Ok(sqlx::query_as(&format!(
        "{CONTACT} WHERE ($1 IS NULL OR unit = $1) ORDER BY login"
    ))
    .bind(unit)
    .fetch_all(conn)
    .await?)
}

/// The login of the unit's head, as the registry names it.
pub async fn unit_head(conn: &mut AnyConnection, unit: &str) -> StoreResult<Option<String>> {
    let row: Option<(Option<String>,)> = sqlx::query_as("SELECT head FROM units WHERE code = $1")
        .bind(unit)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(|(head,)| head))
}

/// Adds a person the desk creates itself (a vendor contact of a tier-3 group).
pub async fn insert_contact(conn: &mut AnyConnection, c: &Contact, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO people (login, name, email, unit, role, tier, language, available, \
           organization, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&c.login)
    .bind(&c.name)
    .bind(&c.email)
    .bind(&c.unit)
    .bind(&c.role)
    .bind(c.tier)
    .bind(&c.language)
    .bind(c.available)
    .bind(&c.organization)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a person's availability and language; false when there is no such person.
pub async fn set_preferences(
    conn: &mut AnyConnection,
    login: &str,
    available: Option<bool>,
    language: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE people SET available = COALESCE($2, available), \
           language = COALESCE($3, language), updated_at = $4 WHERE login = $1",
    )
    .bind(login)
    .bind(available.map(i64::from))
    .bind(language)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
