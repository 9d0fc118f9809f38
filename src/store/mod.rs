//! Persistence. SQL lives here only, one file per aggregate. SQLite (embedded default)
//! and PostgreSQL (production) are chosen by the URL scheme and answer the same SQL:
//! `$n` placeholders, `BIGINT` millisecond times, `TEXT` JSON, `ON CONFLICT` upserts.
//! Write functions take a connection inside the caller's transaction.

pub mod attachments;
pub mod audit;
pub mod batch;
pub mod chat;
pub mod cmdb;
pub mod desk_metrics;
pub mod events;
pub mod groups;
pub mod incidents;
pub mod mailbox;
pub mod noise;
pub mod outbox;
pub mod people;
pub mod raw_alerts;
pub mod reports;
pub mod sla;
pub mod sources;
pub mod tickets;
pub mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Terminal incident states: an incident in one of these no longer takes new alerts.
pub const INCIDENT_TERMINAL: &str = "('resolved', 'closed', 'canceled')";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("another writer changed the same alerts concurrently")]
    Raced,
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens the pool (creating the SQLite file if missing). Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres {
                        // Short OLTP statements: compiling them (JIT) costs more than it
                        // saves, and the planner's early estimates on a young table
                        // trigger it for the batch read (10 ms of 17).
                        conn.execute("SET jit = off").await?;
                    }
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes every commit
                        // durable before the HTTP answer (group commit pays for it). A
                        // 64 MiB page cache and in-memory statement journals keep big
                        // batches from spilling to disk before their commit.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA cache_size = -65536",
                            "PRAGMA temp_store = MEMORY",
                            // Checkpoints run in the background (`checkpoint_wal`), not
                            // inside the commit of whichever batch filled the log.
                            "PRAGMA wal_autocheckpoint = 0",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            tokio::spawn(checkpoint_wal(pool.clone()));
        }
        Ok(Store { pool, backend })
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// A transaction for the intake writer. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a batch reads before it writes, and a deferred transaction
    /// would fail outright if another connection wrote in between.
    pub async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        if self.backend == Backend::Sqlite && !self.pool.is_closed() {
            // Leave a small log behind: fold it into the database file now.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await;
        }
        self.pool.close().await;
    }
}

/// Copies the SQLite write-ahead log into the database file every second, on its own
/// connection, so the writer's commits never pay for it. Passive: it never blocks the
/// writer or readers. Ends when the pool closes.
async fn checkpoint_wal(pool: AnyPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = ?e, "WAL checkpoint failed; retrying in a second");
        }
    }
}

/// Decodes a JSON text column written by this crate.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// Filters shared by the event and incident listings; every field is optional.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub source: Option<String>,
    pub unit: Option<String>,
    pub ci: Option<String>,
    /// Incidents only.
    pub priority: Option<String>,
    /// Tickets only: kind, assignee and requester filters.
    pub kind: Option<String>,
    pub assignee: Option<String>,
    pub requester: Option<String>,
    /// Tickets only: the caller's view, when it is not the admin's.
    pub visible_to: Option<Visibility>,
    /// Only items changed at or after this time (ms).
    pub since: Option<i64>,
    /// Only items older than this id (the previous page's last id).
    pub before: Option<String>,
    pub limit: i64,
}

impl ListQuery {
    /// The `WHERE` clause over a table aliased `t`, whose change time is `changed`.
    pub(crate) fn filter(&self, changed: &str) -> Filter {
        let mut filter = Filter::default();
        let text = |v: &Option<String>| v.clone().map(Arg::Text);
        let clauses = [
            ("t.status = ?".to_owned(), text(&self.status)),
            ("t.severity = ?".to_owned(), text(&self.severity)),
            ("t.source = ?".to_owned(), text(&self.source)),
            ("t.unit = ?".to_owned(), text(&self.unit)),
            ("t.ci_id = ?".to_owned(), text(&self.ci)),
            ("t.priority = ?".to_owned(), text(&self.priority)),
            (format!("t.{changed} >= ?"), self.since.map(Arg::Int)),
            ("t.id < ?".to_owned(), text(&self.before)),
            ("t.kind = ?".to_owned(), text(&self.kind)),
            ("t.assignee = ?".to_owned(), text(&self.assignee)),
            ("t.requester = ?".to_owned(), text(&self.requester)),
        ];
        for (clause, arg) in clauses {
            if let Some(arg) = arg {
                filter.push(&clause, arg);
            }
        }
        match &self.visible_to {
            Some(Visibility::Unit { unit, login }) => filter.push_many(
                "(t.unit = ? OR t.assignee = ? OR t.requester = ?)",
                vec![Arg::text(unit), Arg::text(login), Arg::text(login)],
            ),
            Some(Visibility::Own { login }) => filter.push_many(
                "(t.assignee = ? OR t.requester = ?)",
                vec![Arg::text(login), Arg::text(login)],
            ),
            None => {}
        }
        filter
    }

    /// `SELECT {columns} FROM {table} t WHERE … ORDER BY t.id DESC LIMIT …`
    pub(crate) fn select(&self, columns: &str, table: &str, changed: &str) -> (String, Filter) {
        let filter = self.filter(changed);
        let sql = format!(
            "SELECT {columns} FROM {table} t {} ORDER BY t.id DESC LIMIT {}",
            filter.sql(),
            filter.next_placeholder()
        );
        (sql, filter)
    }
}

/// Which tickets a caller who is not the admin may list (see `desk::moves::can_see`).
#[derive(Debug, Clone)]
pub enum Visibility {
    /// Heads and technicians: their unit's, and those assigned to or requested by them.
    Unit { unit: String, login: String },
    /// Requesters: their own.
    Own { login: String },
}

/// Builds `WHERE` clauses with numbered placeholders, portable to both stores.
#[derive(Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

/// A bound value of a dynamically built statement.
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    OptText(Option<String>),
    OptInt(Option<i64>),
}

impl Arg {
    pub fn text(value: &str) -> Self {
        Arg::Text(value.to_owned())
    }

    pub fn bind_to<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::OptText(v) => query.bind(v),
            Arg::OptInt(v) => query.bind(v),
        }
    }

    pub fn bind_to_as<'q, O>(
        self,
        query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
        match self {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::OptText(v) => query.bind(v),
            Arg::OptInt(v) => query.bind(v),
        }
    }
}

impl Filter {
    /// `template` uses `?` for the one argument; it becomes `$n`.
    pub fn push(&mut self, template: &str, arg: Arg) {
        self.args.push(arg);
        let clause = template.replace('?', &format!("${}", self.args.len()));
        self.clauses.push(clause);
    }

    /// `template` uses `?` once per argument, in order.
    pub fn push_many(&mut self, template: &str, args: Vec<Arg>) {
        let mut clause = String::new();
        let mut parts = template.split('?');
        clause.push_str(parts.next().unwrap_or(""));
        for (part, arg) in parts.zip(args) {
            self.args.push(arg);
            clause.push_str(&format!("${}{part}", self.args.len()));
        }
        self.clauses.push(clause);
    }

    pub fn next_placeholder(&self) -> String {
        format!("${}", self.args.len() + 1)
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub fn bind<'q, O>(
        self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
        for arg in self.args {
            query = arg.bind_to_as(query);
        }
        query
    }
}
