//! Group commit for PostgreSQL: a few writer tasks, each running the
//! payments that arrive while it is busy in one transaction, so BEGIN,
//! COMMIT and the commit's WAL flush are shared by the batch. Nobody hears
//! an answer before the commit that holds it has returned, so durability is
//! the same as one transaction per payment (`synchronous_commit` untouched).
//!
//! No savepoint per job (each would cost two more round trips, which is
//! what batching is meant to save). Instead a job that cannot commit (an
//! error, a replayed nonce, a duplicate payment) makes the whole batch roll
//! back, and then every job of that batch is run again alone, in its own
//! transaction: rare cases pay, the common case does not.
//!
//! Jobs are routed to a writer by a key (the card): two payments of one
//! card always share a writer, so no two open batches wait on each other's
//! card rows (locked until COMMIT), which could otherwise deadlock.

use crate::error::{ApiError, ApiResult};
use sqlx::{Any, AnyPool, Transaction};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;

/// Writer tasks, each with one pooled connection while it runs a batch.
/// Enough to keep the server's cores busy while some wait on a commit;
/// few enough to leave most of the pool to everything else.
pub const WRITERS: usize = 4;
/// Most jobs in one transaction: bounds the latency a job can add to the
/// others in its batch.
const MAX_BATCH: usize = 32;
/// Jobs waiting per writer; past this, callers wait for room.
const QUEUE: usize = 1024;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A payment for a writer.
pub trait Job: Send {
    /// Runs the job's statements in `tx` and keeps the result (a re-run
    /// replaces it). `true` if the transaction may commit with them.
    fn run<'a>(&'a mut self, tx: &'a mut Transaction<'static, Any>) -> BoxFut<'a, bool>;
    /// Delivers the kept result, or the commit's error if the transaction
    /// holding a committable result did not commit.
    fn answer(self: Box<Self>, commit: ApiResult<()>);
}

/// Handle to the writer tasks; cheap to clone.
#[derive(Clone)]
pub struct PgWriter {
    queues: Vec<mpsc::Sender<Box<dyn Job>>>,
}

impl std::fmt::Debug for PgWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgWriter(..)")
    }
}

impl PgWriter {
    /// Starts `writers` tasks on the current runtime over `pool`.
    pub fn start(pool: AnyPool, writers: usize) -> PgWriter {
        let queues = (0..writers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(run(pool.clone(), rx));
                tx
            })
            .collect();
        PgWriter { queues }
    }

    /// Queues `job` on the writer for `key`.
    pub async fn submit(&self, key: &str, job: Box<dyn Job>) -> ApiResult<()> {
        // FNV-1a: stable and cheap; the key is already a keyed hash.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let n = u64::try_from(self.queues.len()).unwrap_or(1).max(1);
        let i = usize::try_from(h % n).unwrap_or(0);
        let q = self
            .queues
            .get(i)
            .ok_or_else(|| ApiError::internal("no postgres writer"))?;
        q.send(job)
            .await
            .map_err(|_| ApiError::internal("postgres writer stopped"))
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    // No timer: while one batch runs the next one queues up, so under load
    // batches grow by themselves and a lone payment waits for nobody.
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if batch.len() == 1 {
            for job in batch.drain(..) {
                alone(&pool, job).await;
            }
        } else {
            commit_batch(&pool, &mut batch).await;
        }
    }
}

async fn commit_batch(pool: &AnyPool, batch: &mut Vec<Box<dyn Job>>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let e = ApiError::from(e);
            for job in batch.drain(..) {
                job.answer(Err(e.clone()));
            }
            return;
        }
    };
    let mut all = true;
    for job in batch.iter_mut() {
        if !job.run(&mut tx).await {
            all = false;
            break;
        }
    }
    if all {
        let outcome = tx.commit().await.map_err(ApiError::from);
        for job in batch.drain(..) {
            job.answer(outcome.clone());
        }
        return;
    }
    // Nothing of this batch was committed; each job again, on its own.
    let _ = tx.rollback().await;
    for job in batch.drain(..) {
        alone(pool, job).await;
    }
}

/// One job in a transaction of its own, as without a writer.
async fn alone(pool: &AnyPool, mut job: Box<dyn Job>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return job.answer(Err(e.into())),
    };
    if job.run(&mut tx).await {
        let outcome = tx.commit().await.map_err(ApiError::from);
        job.answer(outcome);
    } else {
        // The job's own result (a replay, a duplicate, an error) is its
        // answer; a failed rollback loses nothing that was promised.
        let _ = tx.rollback().await;
        job.answer(Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;
    use tokio::sync::oneshot;

    struct Insert {
        table: String,
        x: i64,
        result: Option<ApiResult<i64>>,
        reply: oneshot::Sender<ApiResult<i64>>,
    }

    impl Job for Insert {
        fn run<'a>(&'a mut self, tx: &'a mut Transaction<'static, Any>) -> BoxFut<'a, bool> {
            Box::pin(async move {
                let r = sqlx::query(&format!("INSERT INTO {} (x) VALUES ($1)", self.table))
                    .bind(self.x)
                    .execute(&mut **tx)
                    .await;
                let r = match (r, self.x % 10) {
                    (Err(e), _) => Err(ApiError::from(e)),
                    // Writes, then refuses: its row must not stay.
                    (Ok(_), 3) => Err(ApiError::conflict("test", "refused")),
                    // Writes, then breaks the transaction for the batch.
                    (Ok(_), 7) => sqlx::query("SELECT no_such_column")
                        .execute(&mut **tx)
                        .await
                        .map(|_| self.x)
                        .map_err(ApiError::from),
                    (Ok(_), _) => Ok(self.x),
                };
                let ok = r.is_ok();
                self.result = Some(r);
                ok
            })
        }

        fn answer(self: Box<Self>, commit: ApiResult<()>) {
            let this = *self;
            let r = match this.result {
                Some(r) => commit.and(r),
                None => Err(ApiError::internal("not run")),
            };
            let _ = this.reply.send(r);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_jobs_roll_back_alone_and_answers_follow_commits() {
        let Ok(url) = std::env::var("SOFTPOS_TEST_POSTGRES_URL") else {
            eprintln!("notice: SOFTPOS_TEST_POSTGRES_URL not set; skipped");
            return;
        };
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .unwrap();
        let table = format!(
            "pg_writer_test_{}",
            hex::encode(crate::util::random_bytes::<6>())
        );
        sqlx::query(&format!("CREATE TABLE {table} (x BIGINT PRIMARY KEY)"))
            .execute(&pool)
            .await
            .unwrap();
        let w = PgWriter::start(pool.clone(), 2);
        let mut tasks = Vec::new();
        for x in 0..300i64 {
            let (w, pool, table) = (w.clone(), pool.clone(), table.clone());
            tasks.push(tokio::spawn(async move {
                let (reply, answer) = oneshot::channel();
                let job = Insert {
                    table: table.clone(),
                    x,
                    result: None,
                    reply,
                };
                // Few keys, so batches hold several jobs.
                w.submit(&format!("k{}", x % 3), Box::new(job))
                    .await
                    .unwrap();
                let r = answer.await.unwrap();
                // Answered: the row is visible to another connection.
                let seen: Option<i64> =
                    sqlx::query_scalar(&format!("SELECT x FROM {table} WHERE x = $1"))
                        .bind(x)
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
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
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 240);
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
}
