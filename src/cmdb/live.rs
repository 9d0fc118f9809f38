//! The registry and the noise controls as the hot path reads them: in memory, replaced
//! whole when the database says they changed (by this replica or another).

use std::sync::{Arc, RwLock};

use sqlx::AnyConnection;

use super::graph::Registry;
use crate::domain::to_millis;
use crate::pipeline::noise::Suppressions;
use crate::store::{cmdb, noise, Store, StoreResult};

#[derive(Default)]
pub struct Live {
    registry: RwLock<Arc<Registry>>,
    suppressions: RwLock<Arc<Suppressions>>,
}

impl Live {
    pub async fn load(store: &Store) -> StoreResult<Live> {
        let live = Live::default();
        live.refresh(store).await?;
        Ok(live)
    }

    pub fn registry(&self) -> Arc<Registry> {
        read(&self.registry)
    }

    pub fn suppressions(&self) -> Arc<Suppressions> {
        read(&self.suppressions)
    }

    /// The registry as the database has it now (reloaded if another replica or the
    /// command line changed it), for answers that must not lag behind.
    pub async fn fresh_registry(&self, store: &Store) -> StoreResult<Arc<Registry>> {
        let mut conn = store.pool().acquire().await?;
        Ok(self.current(&mut conn).await?.0)
    }

    /// Brings the copies up to date after a change this replica committed.
    pub async fn refresh(&self, store: &Store) -> StoreResult<()> {
        let mut conn = store.pool().acquire().await?;
        self.current(&mut conn).await.map(|_| ())
    }

    /// The current copies, reloaded first if the database has a newer generation.
    pub async fn current(
        &self,
        conn: &mut AnyConnection,
    ) -> StoreResult<(Arc<Registry>, Arc<Suppressions>)> {
        let (registry_gen, suppressions_gen) = cmdb::generations(conn).await?;
        let mut registry = self.registry();
        if registry.generation() != registry_gen {
            let units = cmdb::units(conn).await?;
            let cis = cmdb::all_cis(conn).await?;
            registry = Arc::new(Registry::build(registry_gen, units, cis));
            write(&self.registry, registry.clone());
        }
        let mut suppressions = self.suppressions();
        if suppressions.generation != suppressions_gen {
            let now = to_millis(jiff::Timestamp::now());
            suppressions = Arc::new(noise::load(conn, suppressions_gen, now).await?);
            write(&self.suppressions, suppressions.clone());
        }
        Ok((registry, suppressions))
    }
}

fn read<T>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    lock.read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn write<T>(lock: &RwLock<Arc<T>>, value: Arc<T>) {
    *lock
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = value;
}
