//! Group commit for SQLite: one thread owns a `rusqlite` connection and runs
//! the payment transactions that arrive while it is busy in one SQLite
//! transaction, with one commit (and one fsync under `synchronous=FULL`)
//! for all of them. Nobody hears an answer before the commit that holds it
//! has returned, so durability is the same as one commit per payment.
//!
//! Why not through `sqlx`: its SQLite driver runs each connection on a
//! worker thread and hands every statement and row across threads; with
//! five statements per payment the thread switches cost more CPU than
//! SQLite itself (profiled: over half the server's time in the scheduler).
//! Here a payment costs one hand-off, and SQLite is still single-writer, so
//! one thread loses nothing.
//!
//! Each job runs inside a savepoint: a job that fails is rolled back alone
//! and the others in its batch still commit.

use crate::error::{ApiError, ApiResult};
use crate::store::SqliteSync;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Most jobs in one transaction: bounds the latency a job can add to the
/// others in its batch.
const MAX_BATCH: usize = 128;
/// Jobs waiting; past this, callers wait for room (back-pressure).
const QUEUE: usize = 4096;

/// What a job hands back after running: whether it succeeded (else its
/// savepoint is rolled back), and how to deliver its answer once the
/// commit's outcome is known.
type Finish = (bool, Box<dyn FnOnce(ApiResult<()>) + Send>);
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter(..)")
    }
}

/// A `rusqlite` failure as the API shows it: ours, logged, a 500.
pub fn db(e: rusqlite::Error) -> ApiError {
    ApiError::internal(format_args!("database: {e}"))
}

/// Whether a `rusqlite` error is a unique-key violation.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The store's SQL uses PostgreSQL's `$1` placeholders; SQLite reads `$1`
/// as a *named* parameter numbered by first appearance, while `?1` is
/// positional, which is what `rusqlite`'s parameter lists mean.
pub fn positional(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteWriter {
    /// Opens a second connection to the (already migrated) database file
    /// and starts the writer thread.
    pub fn start(path: &str, sync: SqliteSync) -> Result<SqliteWriter, rusqlite::Error> {
        // `path?mode=rwc` and the like are SQLite URI parameters.
        let conn = if path.contains('?') {
            use rusqlite::OpenFlags as F;
            Connection::open_with_flags(
                format!("file:{path}"),
                F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_CREATE | F::SQLITE_OPEN_URI,
            )?
        } else {
            Connection::open(path)?
        };
        // Same settings as the sqlx connections (see store.rs): WAL, the
        // chosen sync level, and waiting rather than failing on the lock
        // another writer (an operator endpoint via sqlx) may hold.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match sync {
                SqliteSync::Full => "FULL",
                SqliteSync::Normal => "NORMAL",
            },
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(SqliteWriter { jobs: tx })
    }

    /// Runs `f` in the writer's current transaction and answers once that
    /// transaction is committed. An `Err` from `f` rolls back only `f`'s
    /// own writes and is answered as is.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<ApiResult<T>>();
        let job: Job = Box::new(move |conn| {
            let r = f(conn);
            let ok = r.is_ok();
            let finish = Box::new(move |commit: ApiResult<()>| {
                // The caller may have gone (client disconnected); its
                // payment is committed all the same, as with any commit.
                let _ = reply.send(commit.and(r));
            });
            (ok, finish as Box<dyn FnOnce(ApiResult<()>) + Send>)
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::internal("sqlite writer stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("sqlite writer dropped a job"))?
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // No timer: while one batch commits the next one queues up, so under
    // load batches grow by themselves and a lone payment waits for nobody.
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch);
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping the jobs drops their reply senders: each caller gets a
        // 500 for a batch that could not start.
        tracing::error!(error = %e, "sqlite writer could not begin a transaction");
        batch.clear();
        return;
    }
    let mut finishers = Vec::with_capacity(batch.len());
    let mut broken: Option<ApiError> = None;
    for job in batch.drain(..) {
        if broken.is_some() {
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            broken = Some(db(e));
            continue;
        }
        // A job that panicked is rolled back like a failed one and its
        // caller gets a 500 (its reply is dropped); the thread, which every
        // later payment needs, carries on.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
        let (ok, finish) = match run {
            Ok(r) => r,
            Err(_) => {
                tracing::error!("a payment job panicked; rolled back");
                (
                    false,
                    Box::new(|_| {}) as Box<dyn FnOnce(ApiResult<()>) + Send>,
                )
            }
        };
        let end = if ok {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(e) = end {
            broken = Some(db(e));
        }
        finishers.push(finish);
    }
    let outcome = match broken {
        Some(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
        None => conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            db(e)
        }),
    };
    for finish in finishers {
        finish(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> String {
        let f = std::env::temp_dir().join(format!(
            "acquirer-writer-{}.db",
            hex::encode(crate::util::random_bytes::<8>())
        ));
        let path = f.display().to_string();
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        path
    }

    fn count(path: &str) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_and_panicking_jobs_roll_back_alone_and_answers_follow_commits() {
        let path = temp_db();
        let w = SqliteWriter::start(&path, SqliteSync::Full).unwrap();
        let mut tasks = Vec::new();
        for x in 0..200i64 {
            let w = w.clone();
            let p = path.clone();
            tasks.push(tokio::spawn(async move {
                let r = w
                    .run(move |c| {
                        c.execute("INSERT INTO t (x) VALUES (?1)", [x])
                            .map_err(db)?;
                        match x % 10 {
                            // Writes, then fails: its row must not stay.
                            3 => Err(ApiError::conflict("test", "refused")),
                            7 => panic!("job {x} panics"),
                            _ => Ok(x),
                        }
                    })
                    .await;
                // Answered: the row is visible to a connection of its own.
                let seen: Option<i64> = Connection::open(&p)
                    .unwrap()
                    .query_row("SELECT x FROM t WHERE x = ?1", [x], |r| r.get(0))
                    .ok();
                (x, r.map_err(|e| e.status.as_u16()), seen)
            }));
        }
        for t in tasks {
            let (x, r, seen) = t.await.unwrap();
            match x % 10 {
                3 => assert_eq!((r, seen), (Err(409), None)),
                7 => assert_eq!((r, seen), (Err(500), None)),
                _ => assert_eq!((r, seen), (Ok(x), Some(x))),
            }
        }
        assert_eq!(count(&path), 160);
        // The thread survived the panics.
        assert_eq!(w.run(|_| Ok(1)).await.ok(), Some(1));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}
