//! Changes to the registry, checked against what is stored and written in one
//! transaction: a whole import file, or one CI from the API. Nothing is written unless
//! everything is valid.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::import::{validate, Catalog, Existing, ExistingCi, ImportErrors, Located};
use super::model::{ConfigItem, Person, Unit};
use crate::store::cmdb::{self, Written};
use crate::store::people;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(#[from] ImportErrors),
    #[error("CI `{0}` already exists")]
    Exists(String),
    #[error("the registry changed while this change was being checked; send it again")]
    Concurrent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        ChangeError::Store(e.into())
    }
}

/// How many records a write created, updated or found unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl Counts {
    fn add(&mut self, written: Written) {
        match written {
            Written::Created => self.created += 1,
            Written::Updated => self.updated += 1,
            Written::Unchanged => self.unchanged += 1,
        }
    }
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportReport {
    pub units: Counts,
    pub people: Counts,
    pub cis: Counts,
    pub dry_run: bool,
}

/// Validates the whole catalog against the registry and writes it, or nothing.
pub async fn import(
    store: &Store,
    catalog: &Catalog,
    now: i64,
    dry_run: bool,
) -> Result<ImportReport, ChangeError> {
    let (generation, stored_units, stored_cis) = snapshot(store).await?;
    validate(catalog, &existing(&stored_units, &stored_cis))?;
    let mut tx = locked(store, generation).await?;
    let mut report = ImportReport {
        dry_run,
        ..ImportReport::default()
    };
    for Located { item: unit, .. } in &catalog.units {
        let written = match stored_units.get(&unit.code) {
            None => Written::Created,
            Some(old) if old == unit => Written::Unchanged,
            Some(_) => Written::Updated,
        };
        if written != Written::Unchanged && !dry_run {
            cmdb::put_unit(&mut tx, unit, now).await?;
        }
        report.units.add(written);
    }
    let stored_people = people::by_login(&mut tx).await?;
    let listed: Vec<&Person> = catalog.people.iter().map(|l| &l.item).collect();
    let written = if dry_run {
        people::compare(&listed, &stored_people)
    } else {
        people::put(&mut tx, &listed, &stored_people, now).await?
    };
    written.into_iter().for_each(|w| report.people.add(w));
    let cis: Vec<&ConfigItem> = catalog.cis.iter().map(|l| &l.item).collect();
    let written = if dry_run {
        cmdb::compare_cis(&cis, &stored_cis)
    } else {
        cmdb::put_cis(&mut tx, &cis, &stored_cis, now).await?
    };
    written.into_iter().for_each(|w| report.cis.add(w));
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(report)
}

/// Creates or replaces one CI; `must_be_new` refuses to replace.
pub async fn put_ci(
    store: &Store,
    ci: ConfigItem,
    now: i64,
    must_be_new: bool,
) -> Result<Written, ChangeError> {
    let (generation, stored_units, stored_cis) = snapshot(store).await?;
    if must_be_new && stored_cis.contains_key(&ci.id) {
        return Err(ChangeError::Exists(ci.id));
    }
    let catalog = Catalog {
        cis: vec![Located { line: 1, item: ci }],
        ..Catalog::default()
    };
    validate(&catalog, &existing(&stored_units, &stored_cis))?;
    let mut tx = locked(store, generation).await?;
    let cis: Vec<&ConfigItem> = catalog.cis.iter().map(|l| &l.item).collect();
    let written = cmdb::put_cis(&mut tx, &cis, &stored_cis, now).await?;
    tx.commit().await?;
    Ok(written.into_iter().next().unwrap_or(Written::Unchanged))
}

type Snapshot = (
    i64,
    std::collections::BTreeMap<String, Unit>,
    HashMap<String, ConfigItem>,
);

/// The registry as stored, read outside the write lock: with a large registry the read
/// takes seconds, which the intake writer must not wait for.
async fn snapshot(store: &Store) -> Result<Snapshot, ChangeError> {
    let mut conn = store.pool().acquire().await?;
    let (generation, _) = cmdb::generations(&mut conn).await?;
    let units = cmdb::unit_codes(&mut conn).await?;
    let cis = cmdb::cis_by_id(&mut conn).await?;
    // A change committed during the reads shows as a newer generation: read again.
    let (after, _) = cmdb::generations(&mut conn).await?;
    if after != generation {
        return Err(ChangeError::Concurrent);
    }
    Ok((generation, units, cis))
}

/// The write transaction, holding the registry lock, if nothing changed the registry
/// since the snapshot at `generation` was read.
async fn locked(
    store: &Store,
    generation: i64,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, ChangeError> {
    let mut tx = cmdb::begin_registry_write(store).await?;
    let (now, _) = cmdb::generations(&mut tx).await?;
    if now != generation + 1 {
        return Err(ChangeError::Concurrent);
    }
    Ok(tx)
}

fn existing(
    units: &std::collections::BTreeMap<String, Unit>,
    cis: &HashMap<String, ConfigItem>,
) -> Existing {
    Existing {
        units: units.keys().cloned().collect(),
        cis: cis
            .iter()
            .map(|(id, ci)| {
                let entry = ExistingCi {
                    identifiers: ci.identifiers.clone(),
                    depends_on: ci.depends_on.iter().map(|d| d.ci.clone()).collect(),
                };
                (id.clone(), entry)
            })
            .collect(),
    }
}
