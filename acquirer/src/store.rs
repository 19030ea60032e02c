//! Storage over SQLite or PostgreSQL through `sqlx`'s `Any` driver: one
//! schema, one set of migrations, one set of queries for both. The schema
//! uses only `TEXT` and `BIGINT` (binary as hex, booleans as 0/1) and
//! identifiers made by the application, so it means the same on both.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Ordered migrations. Append only: a released migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_risk.sql")),
    (3, include_str!("../migrations/0003_refund_link.sql")),
    (4, include_str!("../migrations/0004_risk_indexes.sql")),
    (10, include_str!("../migrations/0010_qr.sql")),
    (11, include_str!("../migrations/0011_merchant_review.sql")),
    (12, include_str!("../migrations/0012_payout_files.sql")),
];

#[derive(Clone)]
pub struct Store {
    /// Writes and transactions. On SQLite a single connection: SQLite has
    /// one writer anyway, and queueing in the pool is cheaper than writers
    /// sleeping in SQLite's busy handler.
    pub pool: AnyPool,
    /// Plain reads outside transactions (terminal and merchant lookups on
    /// every request). On SQLite a few more connections, which WAL lets
    /// read while the writer writes; on PostgreSQL the same pool.
    pub read: AnyPool,
    pub backend: Backend,
    /// On SQLite, the thread that commits payments in groups (see
    /// [`crate::sqlite_writer`]); payments on PostgreSQL go through `pool`.
    pub sqlite_writer: Option<crate::sqlite_writer::SqliteWriter>,
    /// On PostgreSQL, the tasks that commit payments in groups (see
    /// [`crate::pg_writer`]).
    pub pg_writer: Option<crate::pg_writer::PgWriter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite's `synchronous` setting, in WAL mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteSync {
    /// The log is synced at every commit: an answered payment survives a
    /// power cut. Each commit waits for the disk, which bounds a single
    /// writer's throughput by the disk's sync latency.
    #[default]
    Full,
    /// The log is synced only at checkpoints: an answered payment survives
    /// a crash of the process but not of the machine or its power, where
    /// the last commits can be lost (the database stays consistent). Only
    /// for disks with a power-safe write cache or for test runs.
    Normal,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (use sqlite:PATH or postgres://...)")]
    Url,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("in-memory SQLite is not supported: give a file (sqlite:PATH)")]
    Memory,
    #[error("database (payment writer): {0}")]
    Writer(#[from] rusqlite::Error),
    #[error("{0}")]
    PgWriter(String),
}

/// PostgreSQL connections by default. More than the machine's cores keeps
/// them busy while others wait on the network or a commit, but each one is
/// a server process: too many and they only take turns on the CPU.
pub const PG_CONNECTIONS: u32 = 16;

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &str, sync: SqliteSync) -> Result<Store, StoreError> {
        Store::open_with(url, sync, PG_CONNECTIONS).await
    }

    /// [`Store::open`] with `pg_connections` in the PostgreSQL pool.
    pub async fn open_with(
        url: &str,
        sync: SqliteSync,
        pg_connections: u32,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let mut writer_path = None;
        let (backend, url, max) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            // An in-memory database is private to each connection, and
            // payments on SQLite go through a connection of their own.
            if path.contains(":memory:") || path.contains("mode=memory") {
                return Err(StoreError::Memory);
            }
            writer_path = Some(path.to_string());
            let url = if path.contains('?') {
                format!("sqlite://{path}")
            } else {
                format!("sqlite://{path}?mode=rwc")
            };
            (Backend::Sqlite, url, 1)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string(), pg_connections.max(1))
        } else {
            return Err(StoreError::Url);
        };
        let options = || {
            AnyPoolOptions::new().after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers proceed during a write. FULL (the
                        // default) syncs the log at every commit: with NORMAL
                        // a power cut can lose the last commits, i.e.
                        // approvals the terminal was already told about and
                        // that would then never be settled.
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute(match sync {
                            SqliteSync::Full => "PRAGMA synchronous=FULL",
                            SqliteSync::Normal => "PRAGMA synchronous=NORMAL",
                        })
                        .await?;
                        conn.execute("PRAGMA busy_timeout=5000").await?;
                    }
                    Ok(())
                })
            })
        };
        // PostgreSQL: every connection open from the start. A connection
        // opened on demand costs its request a TCP and SCRAM handshake (a
        // few ms of key stretching), which showed as the p99 of the first
        // seconds of load.
        let min = if backend == Backend::Postgres { max } else { 0 };
        let pool = options()
            .max_connections(max)
            .min_connections(min)
            .connect(&url)
            .await?;
        let read = match backend {
            Backend::Sqlite => options().max_connections(4).connect(&url).await?,
            Backend::Postgres => pool.clone(),
        };
        let mut store = Store {
            pool,
            read,
            backend,
            sqlite_writer: None,
            pg_writer: None,
        };
        store.migrate().await?;
        if backend == Backend::Postgres {
            store.pg_writer = Some(
                crate::pg_writer::PgWriter::start(
                    store.pool.clone(),
                    &url,
                    crate::terminal::pipeline_sql(),
                    crate::pg_writer::WRITERS,
                )
                .await
                .map_err(StoreError::PgWriter)?,
            );
        }
        if let Some(path) = writer_path {
            store.sqlite_writer = Some(crate::sqlite_writer::SqliteWriter::start(&path, sync)?);
        }
        Ok(store)
    }

    /// Starts a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then
    /// writes fails with SQLITE_BUSY when another writer got in between,
    /// while an immediate one just waits its turn (busy_timeout).
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations \
                 (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
            )
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.begin().await?;
            if self.backend == Backend::Postgres {
                // Several processes (or tests) starting on one database at
                // once: one migrates, the others wait and then skip. (On
                // SQLite, BEGIN IMMEDIATE already serialises them.)
                tx.execute("SELECT pg_advisory_xact_lock(7243001)").await?;
            }
            let done: Option<AnyRow> =
                sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                tx.execute(stmt).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)")
                .bind(*version)
                .bind(crate::util::Clock::System.now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Reads a column, turning a type mismatch into a database error.
pub fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, sqlx::Error>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name)
}

/// Whether an error is a unique-constraint violation (a concurrent insert of
/// the same key), which the callers treat as "already there".
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}
